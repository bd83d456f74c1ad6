/*
 * yamlx: see yamlx.h.
 *
 * These are the pieces of the spec reader that the daemon config reader
 * needs too, kept here so that both files read alike and say things the
 * same way.
 */
#include "yamlx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Messages */

static int PRINTF(4, 0)
verr(struct yamlx *x, size_t line, size_t col, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return seterr(x->err, x->errlen, "%s:%zu:%zu: %s", x->fname, line, col,
	    msg);
}

int
yamlx_errpos(struct yamlx *x, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(x, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

int
yamlx_errat(struct yamlx *x, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(x, m.line + 1, m.column + 1, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * At most YAMLX_QUOTE_MAX bytes, cut on a character boundary, with quotes,
 * backslashes and control characters escaped so that a message stays one
 * clean line on a terminal.
 */
const char *
yamlx_quote(const unsigned char *s, size_t n, char *buf, size_t len)
{
	size_t i = 0, o = 0, cl, k;

	ASSERT(len >= YAMLX_QUOTE_BUF);
	buf[o++] = '"';
	while (i < n) {
		cl = 1;
		if (s[i] >= 0x80)
			while (i + cl < n && (s[i + cl] & 0xc0) == 0x80 &&
			    cl < 4)
				cl++;
		if (i + cl > YAMLX_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (s[i] == '"' || s[i] == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)s[i];
		} else if (s[i] == '\n') {
			memcpy(buf + o, "\\n", 2);
			o += 2;
		} else if (s[i] == '\t') {
			memcpy(buf + o, "\\t", 2);
			o += 2;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x",
			    s[i]);
		} else if (cl == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0) {
			/* C1 control character */
			o += (size_t)snprintf(buf + o, len - o, "\\u%04x",
			    s[i + 1]);
		} else {
			for (k = 0; k < cl; k++)
				buf[o++] = (char)s[i + k];
		}
		i += cl;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *
yamlx_describe(const yaml_node_t *n, char *buf, size_t len)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_SCALAR_NODE:
		return yamlx_quote(n->data.scalar.value, n->data.scalar.length,
		    buf, len);
	default:
		return "nothing";
	}
}

/* Scalars */

const yaml_node_t *
yamlx_node(struct yamlx *x, int i)
{
	return yaml_document_get_node(&x->doc, i);
}

int
yamlx_pair(struct yamlx *x, const yaml_node_t *map,
    const yaml_node_pair_t *pr, const char *in, const yaml_node_t **k,
    const yaml_node_t **v)
{
	char q[YAMLX_QUOTE_BUF];

	*k = yamlx_node(x, pr->key);
	*v = yamlx_node(x, pr->value);
	if (*k == NULL || *v == NULL)
		return yamlx_errat(x, map->start_mark, "malformed mapping");
	if (in != NULL && (*k)->type != YAML_SCALAR_NODE)
		return yamlx_errat(x, (*k)->start_mark, "keys%s must be "
		    "strings, got %s", in, yamlx_describe(*k, q, sizeof(q)));
	return 0;
}

const char *
yamlx_sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

bool
yamlx_is_scalar(const yaml_node_t *n, const char *s)
{
	return n->type == YAML_SCALAR_NODE &&
	    n->data.scalar.length == strlen(s) &&
	    memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

bool
yamlx_has_nul(const yaml_node_t *n)
{
	return memchr(n->data.scalar.value, '\0', n->data.scalar.length) !=
	    NULL;
}

bool
yamlx_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return yamlx_is_scalar(n, "") || yamlx_is_scalar(n, "~") ||
	    yamlx_is_scalar(n, "null") || yamlx_is_scalar(n, "Null") ||
	    yamlx_is_scalar(n, "NULL");
}

int
yamlx_parse_int(const char *s, size_t n, int64_t *v)
{
	uint64_t acc = 0;
	bool neg = false, sat = false;
	size_t i = 0;

	if (i < n && s[i] == '-') {
		neg = true;
		i++;
	}
	if (i == n || (s[i] == '0' && n - i > 1))
		return -1;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (acc > (UINT64_MAX - 9) / 10)
			sat = true;
		else
			acc = acc * 10 + (uint64_t)(s[i] - '0');
	}
	if (sat || acc > INT64_MAX)
		*v = neg ? INT64_MIN : INT64_MAX;
	else
		*v = neg ? -(int64_t)acc : (int64_t)acc;
	return 0;
}

/* Decodes one UTF-8 character; -1 on a malformed sequence. */
static int
utf8_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp)
{
	uint32_t c = s[*i], min;
	size_t k, cl;

	if (c < 0x80) {
		*cp = c;
		(*i)++;
		return 0;
	} else if ((c & 0xe0) == 0xc0) {
		cl = 2, min = 0x80, c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		cl = 3, min = 0x800, c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		cl = 4, min = 0x10000, c &= 0x07;
	} else
		return -1;
	if (n - *i < cl)
		return -1;
	for (k = 1; k < cl; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		c = (c << 6) | (s[*i + k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*cp = c;
	*i += cl;
	return 0;
}

/*
 * Strings go back out as JSON and are read again as YAML, where a NUL, a
 * control character or a Unicode line separator would not survive;
 * nothing needs one in a path, a host, a command or a variable.  Tab,
 * newline and carriage return are let through for env values.
 */
int
yamlx_check_text(struct yamlx *x, const yaml_node_t *n, const char *path,
    size_t maxlen)
{
	const unsigned char *s = n->data.scalar.value;
	size_t len = n->data.scalar.length, i = 0;
	uint32_t cp;

	if (len > maxlen)
		return yamlx_errat(x, n->start_mark, "%s is too long (%zu "
		    "bytes, at most %zu)", path, len, maxlen);
	while (i < len) {
		if (utf8_next(s, len, &i, &cp) == -1)
			return yamlx_errat(x, n->start_mark, "%s is not valid "
			    "UTF-8", path);
		if (cp == 0)
			return yamlx_errat(x, n->start_mark, "%s contains a "
			    "NUL byte", path);
		if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
		    (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
		    cp == 0xffff)
			return yamlx_errat(x, n->start_mark, "%s contains "
			    "control character U+%04X", path, (unsigned)cp);
	}
	return 0;
}

/* Documents */

/*
 * libyaml's reader reports a byte offset rather than a mark; count lines
 * and characters up to it so that the error still reads file:line:col.
 */
static void
offset_pos(const char *text, size_t len, size_t off, size_t *line,
    size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if ((text[i] & 0xc0) != 0x80)
			(*col)++;
	}
}

static int
syntax_error(struct yamlx *x)
{
	const yaml_parser_t *p = &x->parser;
	const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
	size_t line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return yamlx_errpos(x, 1, 1, "out of memory reading YAML");
	case YAML_READER_ERROR:
		offset_pos(x->text, x->len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			return yamlx_errpos(x, line, col, "%s (0x%x)", problem,
			    (unsigned)p->problem_value);
		return yamlx_errpos(x, line, col, "%s", problem);
	default:
		if (p->context != NULL)
			return yamlx_errat(x, p->problem_mark, "%s (%s at "
			    "%zu:%zu)", problem, p->context,
			    p->context_mark.line + 1,
			    p->context_mark.column + 1);
		return yamlx_errat(x, p->problem_mark, "%s", problem);
	}
}

/*
 * What follows the first document must be nothing but empty documents (a
 * stray "---" is harmless): a second spec or config in the file would
 * otherwise be silently dropped, and a syntax error after the first would
 * go unseen.
 */
static int
check_rest(struct yamlx *x)
{
	yaml_document_t doc;
	yaml_node_t *root;
	bool end;
	int rc = 0;

	for (;;) {
		if (!yaml_parser_load(&x->parser, &doc))
			return syntax_error(x);
		root = yaml_document_get_root_node(&doc);
		end = root == NULL;
		if (!end && !yamlx_is_null(root))
			rc = yamlx_errat(x, doc.start_mark,
			    "only one document per %s file", x->what);
		yaml_document_delete(&doc);
		if (end || rc == -1)
			return rc;
	}
}

/*
 * libyaml's scanner looks at every open flow level for each token, so a
 * text of nested brackets costs the square of its depth (100k levels:
 * 11 s).  A first pass over the events stops at YAMLX_DEPTH_MAX, having
 * read no more than that many levels.  Syntax errors are left to the
 * load that follows, which words them.
 */
static int
check_depth(struct yamlx *x)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0;
	bool done = false;

	if (!yaml_parser_initialize(&p))
		return yamlx_errpos(x, 1, 1, "out of memory reading YAML");
	yaml_parser_set_input_string(&p, (const unsigned char *)x->text,
	    x->len);
	while (!done && yaml_parser_parse(&p, &ev)) {
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > YAMLX_DEPTH_MAX) {
				rc = yamlx_errat(x, ev.start_mark, "%s nests "
				    "deeper than %d levels", x->what,
				    YAMLX_DEPTH_MAX);
				done = true;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

int
yamlx_open(struct yamlx *x, const char *text, size_t len, const char *fname,
    const char *what, size_t maxlen, char *err, size_t errlen,
    const yaml_node_t **root)
{
	memset(x, 0, sizeof(*x));
	x->what = what;
	x->fname = fname;
	x->err = err;
	x->errlen = errlen;
	*root = NULL;
	if (text == NULL && len > 0)
		return yamlx_errpos(x, 1, 1, "no text");
	if (text == NULL)
		text = "";
	x->text = text;
	x->len = len;
	if (len > maxlen)
		return yamlx_errpos(x, 1, 1, "%s is too large (%zu bytes, at "
		    "most %zu)", what, len, maxlen);
	if (check_depth(x) == -1)
		return -1;
	if (!yaml_parser_initialize(&x->parser))
		return yamlx_errpos(x, 1, 1, "out of memory reading YAML");
	yaml_parser_set_input_string(&x->parser, (const unsigned char *)text,
	    len);
	if (!yaml_parser_load(&x->parser, &x->doc)) {
		syntax_error(x);
		yaml_parser_delete(&x->parser);
		return -1;
	}
	*root = yaml_document_get_root_node(&x->doc);
	return 0;
}

int
yamlx_close(struct yamlx *x, int rc)
{
	yaml_document_delete(&x->doc);
	if (rc == 0)
		rc = check_rest(x);
	yaml_parser_delete(&x->parser);
	return rc;
}

int
yamlx_read_text(const struct yamlx_doc *d, const char *text, size_t len,
    const char *fname, void *arg, char *err, size_t errlen)
{
	const yaml_node_t *root;
	struct yamlx x;
	char anon[32], q[YAMLX_QUOTE_BUF];
	int rc = -1;

	if (fname == NULL) {
		snprintf(anon, sizeof(anon), "<%s>", d->what);
		fname = anon;
	}
	if (yamlx_open(&x, text, len, fname, d->what, d->maxlen, err, errlen,
	    &root) == -1)
		return -1;
	if (root == NULL || yamlx_is_null(root))
		rc = d->read(&x, NULL, arg);
	else if (root->type != YAML_MAPPING_NODE)
		yamlx_errat(&x, root->start_mark, "%s must be a mapping "
		    "(e.g. %s), got %s", d->what, d->example,
		    yamlx_describe(root, q, sizeof(q)));
	else
		rc = d->read(&x, root, arg);
	return yamlx_close(&x, rc);
}

int
yamlx_read_path(const struct yamlx_doc *d, const char *path, void *arg,
    char *err, size_t errlen)
{
	char *buf;
	size_t n;
	int rc;

	if (yamlx_read_file(path, d->maxlen, &buf, &n, err, errlen) == -1)
		return -1;
	rc = yamlx_read_text(d, buf, n, path, arg, err, errlen);
	free(buf);
	return rc;
}

int
yamlx_read_file(const char *path, size_t maxlen, char **bufp, size_t *lenp,
    char *err, size_t errlen)
{
	char *buf;
	size_t n = 0;
	ssize_t r;
	int fd, saved;

	struct stat st;

	*bufp = NULL;
	*lenp = 0;
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		return seterr(err, errlen, "%s: %s", path, strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return seterr(err, errlen, "%s: not a regular file (%s)", path,
		    S_ISDIR(st.st_mode) ? "a folder" :
		    S_ISFIFO(st.st_mode) ? "a named pipe" :
		    S_ISCHR(st.st_mode) ? "a character device" :
		    S_ISSOCK(st.st_mode) ? "a socket" :
		    S_ISBLK(st.st_mode) ? "a block device" : "not a file");
	}
	if (fcntl(fd, F_SETFL, 0) == -1) {
		saved = errno;
		close(fd);
		return seterr(err, errlen, "%s: %s", path, strerror(saved));
	}
	buf = xmalloc(maxlen + 1);
	for (;;) {
		r = read(fd, buf + n, maxlen + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			saved = errno;
			close(fd);
			free(buf);
			return seterr(err, errlen, "%s: %s", path,
			    strerror(saved));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > maxlen) {
			close(fd);
			free(buf);
			return seterr(err, errlen, "%s: file is too large (at "
			    "most %zu bytes)", path, maxlen);
		}
	}
	close(fd);
	buf[n] = '\0';
	*bufp = buf;
	*lenp = n;
	return 0;
}
