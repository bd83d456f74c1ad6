/*
 * util: allocation that aborts on failure, logging, clocks, small helpers.
 *
 * Allocation failure aborts here so call sites stay readable.  Logging goes
 * to stderr (foreground) with a timestamp; log_warn() appends strerror(errno).
 */
#ifndef EDASK_UTIL_H
#define EDASK_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PRINTF(a, b) __attribute__((format(printf, a, b)))
#define NORETURN __attribute__((noreturn))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define EDASK_VERSION "0.1.0"

/* Never compiled out: invariants hold in release builds too. */
#define ASSERT(x)							\
	do {								\
		if (!(x))						\
			util_assert_fail(#x, __FILE__, __LINE__);	\
	} while (0)
NORETURN void util_assert_fail(const char *expr, const char *file, int line);

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* New string; caller frees. */
char *xasprintf(const char *fmt, ...) PRINTF(1, 2);

enum log_level { LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
void log_set_level(enum log_level lvl);
/*
 * One line at lvl, dropped when the level set is lower; with_errno appends
 * strerror(errno) and keeps errno.  Called through the four names below.
 */
void log_at(enum log_level lvl, bool with_errno, const char *fmt, ...)
    PRINTF(3, 4);
#define log_warn(...)	log_at(LOG_LEVEL_WARN, true, __VA_ARGS__)
#define log_warnx(...)	log_at(LOG_LEVEL_WARN, false, __VA_ARGS__)
#define log_info(...)	log_at(LOG_LEVEL_INFO, false, __VA_ARGS__)
#define log_debug(...)	log_at(LOG_LEVEL_DEBUG, false, __VA_ARGS__)
/* Start-up only: print (with strerror(errno) when with_errno) and exit(1). */
NORETURN void fatal_at(bool with_errno, const char *fmt, ...) PRINTF(2, 3);
#define fatal(...)	fatal_at(true, __VA_ARGS__)
#define fatalx(...)	fatal_at(false, __VA_ARGS__)

/* Milliseconds: monotonic (for deadlines) and wall clock (for display). */
int64_t mono_ms(void);
int64_t wall_ms(void);

/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t strlcpy_(char *dst, const char *src, size_t size);
/* strcmp() == 0 for strings that may be unset: two NULLs are equal, NULL
 * and a string (even "") are not. */
bool util_str_eq(const char *a, const char *b);
/* Makes s valid UTF-8 in place: each byte that starts no valid sequence
 * (a stray byte, a sequence cut short) becomes '?'. */
void utf8_scrub(char *s);
/*
 * The line of buf[len] that starts at *pos, for a loop over a reply's
 * lines: returns its start (borrowed from buf) with its length, less the
 * '\n', in *n, and moves *pos past it; NULL once *pos reaches len.
 */
const char *util_next_line(const char *buf, size_t len, size_t *pos,
    size_t *n);
/* snprintf into err[errlen] and return -1: `return seterr(err, len, ...)`. */
int seterr(char *err, size_t errlen, const char *fmt, ...) PRINTF(3, 4);

/* Formats bytes as "1.5 GiB" into buf. */
const char *fmt_bytes(int64_t bytes, char *buf, size_t len);
/* Formats a duration in ms as "1.5s", "30s", "2m10s". */
const char *fmt_duration(int64_t ms, char *buf, size_t len);

/*
 * An index of strings, for lookups by value in O(1) instead of a strcmp
 * against each: strindex_new(n) has room for n strings; strindex_add()
 * records i for s unless s is there already (the first one stays, as a
 * loop that stops at the first match would find); strindex_get() is the
 * index recorded for s, or -1.  The strings are borrowed: they must
 * outlive the index, unchanged.  strindex_free(NULL) is a no-op.
 */
struct strindex;
struct strindex *strindex_new(size_t n);
void strindex_free(struct strindex *x);
void strindex_add(struct strindex *x, const char *s, size_t i);
ssize_t strindex_get(const struct strindex *x, const char *s);

/* A growable string: start zeroed ({0}); p is NUL-terminated once
 * anything was appended; the caller frees p. */
struct strbuf {
	char	*p;
	size_t	 len, cap;
};
void strbuf_printf(struct strbuf *b, const char *fmt, ...) PRINTF(2, 3);

/* mkdir -p; 0 or -1 with errno. */
int mkdir_p(const char *path, unsigned mode);

/* Writes all of data to fd, through short writes and EINTR; 0 or -1 with
 * errno. */
int util_write_all(int fd, const void *data, size_t len);

/*
 * The start of a small file the daemon or the kernel wrote (daemon.id, a
 * pid file, /proc/PID/stat): at most size - 1 bytes into buf, then a NUL.
 * The count, or -1 with errno.
 */
ssize_t util_read_small(const char *path, char *buf, size_t size);

/*
 * Replaces path with data[len] so that no reader, and no crash, ever sees
 * half a file: the bytes go to PATH.tmp in the same folder (never through
 * a link), which is fsynced, given mode (exactly: the umask does not
 * apply; 0600 for the daemon's files), renamed over path, and then the
 * folder is fsynced so that the rename itself survives a crash.  0, or -1
 * with err ("PATH: why"; PATH.tmp is removed then).
 */
int util_write_file(const char *path, const void *data, size_t len,
    mode_t mode, char *err, size_t errlen);

/* len random bytes from getrandom(2), through EINTR and short reads; 0,
 * or -1 with err. */
int util_random_bytes(void *buf, size_t len, char *err, size_t errlen);
/*
 * ndigits random lowercase hex digits and a NUL into buf (size >
 * ndigits): API tokens, notebook tokens, the daemon id.  0, or -1 with
 * err.
 */
int util_random_hex(char *buf, size_t size, size_t ndigits, char *err,
    size_t errlen);

/*
 * How a process ended, from its waitpid() status (-1: unknown, as
 * loop_pid_watch() reports for a process that is not our child), as the
 * words after its name: "exited with status 3", "exited on signal 9
 * (Killed)", "exited on signal 11 (Segmentation fault, core dumped)",
 * "exited with unknown status".  Returns buf.
 */
const char *util_exit_text(int status, char *buf, size_t len);

/*
 * A wall-clock time in ms as ISO 8601 local time with its UTC offset,
 * "2026-12-03T13:45:01.123+01:00" (what the log lines start with).
 * Returns buf (32 bytes are enough).
 */
const char *util_time_iso(int64_t ms, char *buf, size_t len);

#endif
