/*
 * pyprobe: which Dask an instance's Python has, asked before edask drives
 * it (and which Jupyter Notebook).  The spec's python runs a few lines
 * that read installed versions
 * from package metadata (importlib.metadata: nothing is imported, so it
 * answers in tens of milliseconds) and print them as "key=value" lines.
 *
 * edask supports distributed from PYPROBE_DASK_OLDEST (Debian 12's
 * python3-distributed) to PYPROBE_DASK_NEWEST (the pin of the project's
 * .venv, the newest it is tested with).  Older is refused; newer runs with
 * a warning.  The parser is pure and fuzzed (fuzz/fuzz_pyprobe.c).
 */
#ifndef EDASK_PYPROBE_H
#define EDASK_PYPROBE_H

#include <stdbool.h>
#include <stddef.h>

#define PYPROBE_DASK_OLDEST	"2022.12.1"
#define PYPROBE_DASK_NEWEST	"2026.7.1"
#define PYPROBE_VERSION_MAX	32	/* longest version kept, with the NUL */
#define PYPROBE_REPLY_MAX	4096	/* a longer reply is an error */
#define PYPROBE_TIMEOUT_MS	10000

/* Versions; "" where the package is not installed. */
struct pyprobe {
	char	python[PYPROBE_VERSION_MAX];
	char	distributed[PYPROBE_VERSION_MAX];
	char	dask_cuda[PYPROBE_VERSION_MAX];
	char	bokeh[PYPROBE_VERSION_MAX];
	char	notebook[PYPROBE_VERSION_MAX];	/* Jupyter Notebook */
};

/*
 * The probe's output: lines "key=value" (python, distributed, dask_cuda,
 * bokeh, notebook; other keys are skipped), each value at most 31 bytes of
 * [0-9A-Za-z.+_-]; "python=" must be there.  0, or -1 with err.
 */
int pyprobe_parse(const char *buf, size_t len, struct pyprobe *out,
    char *err, size_t errlen);

/*
 * Compares the leading release numbers of two versions ("2026.7.1",
 * "2022.12.1+ds.1", "2026.8.0.dev3": suffixes after the numbers are not
 * compared): <0, 0 or >0 as a is older, the same, newer.
 */
int pyprobe_version_cmp(const char *a, const char *b);

/*
 * Runs the probe: python with the extra environment env ("KEY=VALUE",
 * NULL-terminated, may be NULL), its output through a file in dir.  Blocks
 * for at most PYPROBE_TIMEOUT_MS (the child is killed then).  0, or -1 with
 * err (cannot run, timed out, exit status with the last line it printed,
 * bad output).
 */
int pyprobe_run(const char *python, char **env, const char *dir,
    struct pyprobe *out, char *err, size_t errlen);

/*
 * Whether edask can drive this Python: -1 (err says why: no distributed,
 * or one older than the range), 0 within the range, 1 newer than the
 * newest tested (err holds the warning to show).
 */
int pyprobe_check(const struct pyprobe *p, const char *python, char *err,
    size_t errlen);

#endif
