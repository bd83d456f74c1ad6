/*
 * yamlx: what the YAML readers (spec, config) share: loading one document
 * with the libyaml document API, messages that read "file:line:col:
 * message" (line and column 1-based), quoting user text into them, and
 * small checks on scalar nodes.
 *
 * Every node pointer handed out is borrowed from the document loaded by
 * yamlx_open() and lives until yamlx_close().  Functions that report an
 * error write it to the caller's err buffer (given to yamlx_open()) and
 * return -1, so that a reader can say `return yamlx_errat(...)`.
 */
#ifndef EDASK_YAMLX_H
#define EDASK_YAMLX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "util.h"

#define YAMLX_QUOTE_MAX	48			/* bytes of a value quoted */
#define YAMLX_QUOTE_BUF	(YAMLX_QUOTE_MAX * 6 + 8)	/* room for it */
#define YAMLX_DEPTH_MAX	64	/* nested sequences and mappings */

/* One text being read; the caller owns it, usually on the stack. */
struct yamlx {
	yaml_parser_t	 parser;
	yaml_document_t	 doc;
	const char	*text;
	size_t		 len;
	const char	*what;		/* "spec", "config": for messages */
	const char	*fname;		/* borrowed */
	char		*err;		/* the caller's buffer */
	size_t		 errlen;
};

/*
 * Loads the first document of text[len] (at most maxlen bytes, nesting
 * at most YAMLX_DEPTH_MAX sequences and mappings, in linear time).  On
 * success returns 0 with the root node in *root (NULL for an empty
 * text), and the caller must end with yamlx_close().  On failure returns
 * -1 with the error written and nothing left to close.
 */
int yamlx_open(struct yamlx *x, const char *text, size_t len,
    const char *fname, const char *what, size_t maxlen, char *err,
    size_t errlen, const yaml_node_t **root);
/*
 * Frees the document and the parser.  When rc is 0, also checks that
 * nothing but empty documents follow the first.  Returns rc, or -1.
 */
int yamlx_close(struct yamlx *x, int rc);

/*
 * A kind of YAML text whose root is a mapping (the config, a spec), and
 * the reader that fills arg from it.  read() gets the root, or NULL for
 * an empty text, and returns 0 or -1 with the error set.
 */
struct yamlx_doc {
	const char	*what;		/* "config", "spec" */
	size_t		 maxlen;	/* bytes */
	const char	*example;	/* a line of a valid text */
	int		(*read)(struct yamlx *x, const yaml_node_t *root,
			    void *arg);
};
/*
 * Reads text[len] (named fname; NULL: "<what>") or the file at path as a
 * d: loads it, refuses a root that is no mapping ("config must be a
 * mapping (e.g. listen: ...), got ..."), runs d->read and checks that no
 * second document follows.  0, or -1 with the error in err.
 */
int yamlx_read_text(const struct yamlx_doc *d, const char *text, size_t len,
    const char *fname, void *arg, char *err, size_t errlen);
int yamlx_read_path(const struct yamlx_doc *d, const char *path, void *arg,
    char *err, size_t errlen);

/* Errors: at a 1-based line and column, or at a libyaml mark. */
int yamlx_errpos(struct yamlx *x, size_t line, size_t col, const char *fmt,
    ...) PRINTF(4, 5);
int yamlx_errat(struct yamlx *x, yaml_mark_t m, const char *fmt, ...)
    PRINTF(3, 4);

/* Node i of the document, or NULL. */
const yaml_node_t *yamlx_node(struct yamlx *x, int i);
/*
 * The key and value nodes of pr, a pair of mapping map: 0, or -1 with the
 * error set for a malformed mapping, or, where in is not NULL, for a key
 * that is no scalar: "keys<in> must be strings, got ..." (in: " in api",
 * or "" at the top).
 */
int yamlx_pair(struct yamlx *x, const yaml_node_t *map,
    const yaml_node_pair_t *pr, const char *in, const yaml_node_t **k,
    const yaml_node_t **v);

/*
 * User text for a message, quoted and escaped onto one line, cut after
 * YAMLX_QUOTE_MAX bytes; buf must hold YAMLX_QUOTE_BUF bytes.
 */
const char *yamlx_quote(const unsigned char *s, size_t n, char *buf,
    size_t len);
/* "a mapping", "a sequence" or the quoted scalar: the "got ..." part. */
const char *yamlx_describe(const yaml_node_t *n, char *buf, size_t len);

/* A scalar's text (NUL-terminated by libyaml; see yamlx_has_nul()). */
const char *yamlx_sval(const yaml_node_t *n);
/* True when n is a scalar whose text is exactly s. */
bool yamlx_is_scalar(const yaml_node_t *n, const char *s);
/* True when a scalar holds a NUL byte, so is no C string. */
bool yamlx_has_nul(const yaml_node_t *n);
/* YAML's null: an unquoted empty scalar, "~" or "null". */
bool yamlx_is_null(const yaml_node_t *n);

/*
 * Plain decimal only ("1.5", "0x10", "010", "+1" and "" are -1); overflow
 * saturates so that a range check reports it.
 */
int yamlx_parse_int(const char *s, size_t n, int64_t *v);

/*
 * A scalar fit to be a C string and to go out as JSON: at most maxlen
 * bytes of valid UTF-8 without NUL or control characters other than
 * tab, newline and carriage return.  path names it in the message.
 */
int yamlx_check_text(struct yamlx *x, const yaml_node_t *n,
    const char *path, size_t maxlen);

/*
 * Reads a whole file of at most maxlen bytes into a new buffer (*buf,
 * caller frees; NUL-terminated, length in *len).  Errors read
 * "path: strerror" or "path: file is too large (at most N bytes)".
 */
int yamlx_read_file(const char *path, size_t maxlen, char **buf,
    size_t *len, char *err, size_t errlen);

#endif
