/* util: see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_level = LOG_LEVEL_INFO;

void
util_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "edask: assertion failed: %s (%s:%d)\n", expr, file,
	    line);
	abort();
}

static NORETURN void
oom(void)
{
	fputs("edask: out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom();
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		oom();
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return s;
}

void
log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

/* The rest of a log or fatal line: the message, ": suffix", newline. */
static void vline(const char *, va_list, const char *)
    __attribute__((format(printf, 1, 0)));

static void
vline(const char *fmt, va_list ap, const char *suffix)
{
	vfprintf(stderr, fmt, ap);
	if (suffix != NULL)
		fprintf(stderr, ": %s", suffix);
	fputc('\n', stderr);
}

void
log_at(enum log_level lvl, bool with_errno, const char *fmt, ...)
{
	static const char *const tag[] = {
		[LOG_LEVEL_WARN] = "warning: ",
		[LOG_LEVEL_INFO] = "",
		[LOG_LEVEL_DEBUG] = "debug: ",
	};
	int saved = errno;
	char stamp[40];
	va_list ap;

	if (log_level < lvl)
		return;
	fprintf(stderr, "%s %s", util_time_iso(wall_ms(), stamp,
	    sizeof(stamp)), tag[lvl]);
	va_start(ap, fmt);
	vline(fmt, ap, with_errno ? strerror(saved) : NULL);
	va_end(ap);
	fflush(stderr);
	errno = saved;
}

void
fatal_at(bool with_errno, const char *fmt, ...)
{
	const char *why = with_errno ? strerror(errno) : NULL;
	va_list ap;

	fputs("edask: ", stderr);
	va_start(ap, fmt);
	vline(fmt, ap, why);
	va_end(ap);
	exit(1);
}

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 :
		    (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		unsigned cp = n == 2 ? *p & 0x1fu : n == 3 ? *p & 0x0fu :
		    *p & 0x07u;
		size_t i;

		for (i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				break;
			cp = cp << 6 | (p[i] & 0x3fu);
		}
		/* overlong forms, surrogates and past U+10FFFF are invalid
		 * too (jansson refuses them) */
		if (n == 0 || i < n || (n == 2 && cp < 0x80) ||
		    (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

size_t
strlcpy_(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

bool
util_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

const char *
util_next_line(const char *buf, size_t len, size_t *pos, size_t *n)
{
	const char *line, *nl;

	if (*pos >= len)
		return NULL;
	line = buf + *pos;
	nl = memchr(line, '\n', len - *pos);
	*n = nl != NULL ? (size_t)(nl - line) : len - *pos;
	*pos += *n + 1;
	return line;
}

int
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *
fmt_bytes(int64_t bytes, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_LEN(unit)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", (long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

const char *
fmt_duration(int64_t ms, char *buf, size_t len)
{
	if (ms < 0)
		ms = 0;
	if (ms < 10000 && ms % 1000 != 0)
		snprintf(buf, len, "%.1fs", (double)ms / 1000);
	else if (ms < 60000)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else if (ms < 3600000)
		snprintf(buf, len, "%lldm%02llds", (long long)(ms / 60000),
		    (long long)(ms / 1000 % 60));
	else
		snprintf(buf, len, "%lldh%02lldm", (long long)(ms / 3600000),
		    (long long)(ms / 60000 % 60));
	return buf;
}

int
mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path);
	char *s;
	int rc = 0;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST) {
			rc = -1;
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) == -1 && errno != EEXIST)
		rc = -1;
out:
	free(p);
	return rc;
}

/* Open addressing, linear probing, at most half full. */
struct strindex_slot {
	const char	*s;		/* NULL: empty */
	size_t		 i;
	uint32_t	 h;
};

struct strindex {
	struct strindex_slot *slot;
	size_t		 mask;		/* size - 1, a power of two */
	size_t		 n, max;
};

/* FNV-1a, 32 bits. */
static uint32_t
strindex_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

struct strindex *
strindex_new(size_t n)
{
	struct strindex *x = xcalloc(1, sizeof(*x));
	size_t size = 8;

	while (size < 2 * n)
		size *= 2;
	x->slot = xcalloc(size, sizeof(*x->slot));
	x->mask = size - 1;
	x->max = n;
	return x;
}

void
strindex_free(struct strindex *x)
{
	if (x == NULL)
		return;
	free(x->slot);
	free(x);
}

void
strindex_add(struct strindex *x, const char *s, size_t i)
{
	uint32_t h = strindex_hash(s);
	size_t k;

	ASSERT(s != NULL);
	for (k = h & x->mask; x->slot[k].s != NULL; k = (k + 1) & x->mask)
		if (x->slot[k].h == h && strcmp(x->slot[k].s, s) == 0)
			return;
	ASSERT(x->n < x->max);
	x->slot[k].s = s;
	x->slot[k].i = i;
	x->slot[k].h = h;
	x->n++;
}

ssize_t
strindex_get(const struct strindex *x, const char *s)
{
	uint32_t h = strindex_hash(s);
	size_t k;

	for (k = h & x->mask; x->slot[k].s != NULL; k = (k + 1) & x->mask)
		if (x->slot[k].h == h && strcmp(x->slot[k].s, s) == 0)
			return (ssize_t)x->slot[k].i;
	return -1;
}


void
strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->p == NULL) {
		b->cap = 4096;
		b->p = xmalloc(b->cap);
		b->p[0] = '\0';
	}
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, room, fmt, ap);
		va_end(ap);
		ASSERT(n >= 0);
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
}

ssize_t
util_read_small(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd, saved;

	ASSERT(size > 0);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

int
util_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO;	/* would loop forever */
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync of the folder that holds path, so that a rename in it is on disk;
 * 0 or -1 with errno. */
static int
fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = 0, e;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd == -1)
		return -1;
	/* EINVAL: a file system that cannot sync a folder (nothing to do) */
	if (fsync(fd) == -1 && errno != EINVAL)
		rc = -1;
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

int
util_write_file(const char *path, const void *data, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd, e;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	/* fchmod: the exact mode, whatever the umask or a stale PATH.tmp
	 * had */
	if (fchmod(fd, mode) == -1 || util_write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1) {
		e = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) == -1) {
		e = errno;
		goto fail;
	}
	if (rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		free(tmp);
		return seterr(err, errlen, "%s: %s", path, strerror(e));
	}
	free(tmp);
	if (fsync_dir_of(path) == -1)
		return seterr(err, errlen, "%s: fsync of its folder: %s", path,
		    strerror(errno));
	return 0;
fail:
	unlink(tmp);
	seterr(err, errlen, "%s: %s", tmp, strerror(e));
	free(tmp);
	return -1;
}

int
util_random_bytes(void *buf, size_t len, char *err, size_t errlen)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return seterr(err, errlen, "getrandom: %s",
			    strerror(n == 0 ? EIO : errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
util_random_hex(char *buf, size_t size, size_t ndigits, char *err,
    size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t i = 0, k, n;

	ASSERT(size > ndigits);
	while (i < ndigits) {
		n = (ndigits - i + 1) / 2;
		if (n > sizeof(raw))
			n = sizeof(raw);
		if (util_random_bytes(raw, n, err, errlen) == -1)
			return -1;
		for (k = 0; k < n; k++) {
			buf[i++] = hex[raw[k] >> 4];
			if (i < ndigits)
				buf[i++] = hex[raw[k] & 15];
		}
	}
	buf[ndigits] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

const char *
util_exit_text(int status, char *buf, size_t len)
{
	if (status != -1 && WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (status != -1 && WIFSIGNALED(status))
		snprintf(buf, len, "exited on signal %d (%s%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "exited with unknown status");
	return buf;
}

const char *
util_time_iso(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char date[32];
	long off;

	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	off = tm.tm_gmtoff;
	snprintf(buf, len, "%s.%03d%c%02ld:%02ld", date, (int)(ms % 1000),
	    off < 0 ? '-' : '+', labs(off) / 3600, labs(off) / 60 % 60);
	return buf;
}
