/* token: see token.h. */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int
token_valid(const char *t)
{
	size_t i;

	if (strlen(t) != TOKEN_LEN)
		return 0;
	for (i = 0; i < TOKEN_LEN; i++)
		if (!((t[i] >= '0' && t[i] <= '9') ||
		    (t[i] >= 'a' && t[i] <= 'f')))
			return 0;
	return 1;
}

/* Reads path; checks_mode: refuse a file others can read or write. */
static int
read_token(const char *path, int check_mode, char *buf, size_t len,
    char *err, size_t errlen)
{
	char tmp[TOKEN_LEN + 8];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return seterr(err, errlen, "%s: not a regular file", path);
	}
	if (check_mode && (st.st_mode & 077) != 0) {
		close(fd);
		return seterr(err, errlen, "token file %s has mode %04o: others "
		    "could read it; refusing to start (chmod 600 %s)", path,
		    (unsigned)(st.st_mode & 07777), path);
	}
	n = read(fd, tmp, sizeof(tmp) - 1);
	close(fd);
	if (n < 0)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	tmp[n] = '\0';
	tmp[strcspn(tmp, "\r\n")] = '\0';
	if (!token_valid(tmp))
		return seterr(err, errlen, "%s does not hold a valid token (64 "
		    "hex characters)", path);
	if (len < TOKEN_LEN + 1)
		return seterr(err, errlen, "token buffer too small");
	memcpy(buf, tmp, TOKEN_LEN + 1);
	return 0;
}

int
token_load_or_create(const char *dir, char *buf, size_t len, char *err,
    size_t errlen)
{
	char *path = xasprintf("%s/token", dir);
	char line[TOKEN_LEN + 2];
	int rc = -1;

	if (access(path, F_OK) == 0) {
		rc = read_token(path, 1, buf, len, err, errlen);
		free(path);
		return rc;
	}
	if (len < TOKEN_LEN + 1) {
		seterr(err, errlen, "token buffer too small");
		goto out;
	}
	if (util_random_hex(line, sizeof(line), TOKEN_LEN, err, errlen) == -1)
		goto out;
	line[TOKEN_LEN] = '\n';
	line[TOKEN_LEN + 1] = '\0';
	if (util_write_file(path, line, TOKEN_LEN + 1, 0600, err,
	    errlen) == -1)
		goto out;
	memcpy(buf, line, TOKEN_LEN);
	buf[TOKEN_LEN] = '\0';
	rc = 0;
out:
	explicit_bzero(line, sizeof(line));
	free(path);
	return rc;
}

int
token_read(const char *dir, char *buf, size_t len, char *err, size_t errlen)
{
	char *path = xasprintf("%s/token", dir);
	int rc = read_token(path, 0, buf, len, err, errlen);

	free(path);
	return rc;
}
