/*
 * test_dask_parse: the scheduler reply parsers, table driven.  Samples are
 * real replies of the Debian Dask 2022.12.1 scheduler, then edge cases and
 * garbage.  To keep the tables readable, inputs are written with ' where
 * the wire has "; tu_dq() swaps them back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dask_parse.h"
#include "testutil.h"
#include "util.h"

/* ---------------------------------------------------------------------- */
/* GET /metrics */

#define METRICS_SAMPLE							\
	"# HELP python_gc_objects_collected_total Objects collected " \
	    "during gc\n"						\
	"# TYPE python_gc_objects_collected_total counter\n"		\
	"python_gc_objects_collected_total{generation='0'} 21877.0\n"	\
	"# HELP dask_scheduler_clients Number of clients connected\n"	\
	"# TYPE dask_scheduler_clients gauge\n"				\
	"dask_scheduler_clients 1.0\n"					\
	"# HELP dask_scheduler_desired_workers Number of workers " \
	    "scheduler needs for task graph\n"				\
	"# TYPE dask_scheduler_desired_workers gauge\n"			\
	"dask_scheduler_desired_workers 4.0\n"				\
	"# HELP dask_scheduler_workers Number of workers known by " \
	    "scheduler\n"						\
	"# TYPE dask_scheduler_workers gauge\n"				\
	"dask_scheduler_workers{state='idle'} 0.0\n"			\
	"dask_scheduler_workers{state='saturated'} 1.0\n"		\
	"dask_scheduler_workers{state='connected'} 1.0\n"		\
	"# HELP dask_scheduler_tasks Number of tasks known by " \
	    "scheduler\n"						\
	"# TYPE dask_scheduler_tasks gauge\n"				\
	"dask_scheduler_tasks{state='released'} 0.0\n"			\
	"dask_scheduler_tasks{state='processing'} 2.0\n"		\
	"dask_scheduler_tasks{state='memory'} 2.0\n"			\
	"dask_scheduler_tasks{state='erred'} 0.0\n"			\
	"dask_scheduler_tasks{state='waiting'} 0.0\n"			\
	"dask_scheduler_tasks{state='queued'} 36.0\n"			\
	"dask_scheduler_tasks{state='no-worker'} 1.0\n"			\
	"dask_scheduler_tasks{state='forgotten'} 0.0\n"			\
	"# HELP dask_scheduler_tasks_suspicious_total Total number " \
	    "of times a task has been marked suspicious\n"		\
	"# TYPE dask_scheduler_tasks_suspicious_total counter\n"	\
	"dask_scheduler_tasks_suspicious_total{task_prefix_name=" \
	    "'lambda'} 0.0\n"

static const struct metrics_case {
	const char	*name;
	const char	*in;
	int		 rc;
	bool		 have_tasks;
	int		 queued, processing, no_worker, waiting, memory;
	int		 workers;
	const char	*errsub;	/* in err when rc == -1 */
} metrics_cases[] = {
	{ "real sample", METRICS_SAMPLE, 0, true, 36, 2, 1, 0, 2, 1, NULL },
	{ "no prometheus_client",
	    "# Prometheus metrics are not available, see: https://docs.dask"
	    ".org/en/stable/how-to/setup-prometheus.html#setup-prometheus-"
	    "monitoring", 0, false, 0, 0, 0, 0, 0, 0, NULL },
	{ "empty", "", 0, false, 0, 0, 0, 0, 0, 0, NULL },
	{ "blank lines only", "\n\n  \n\t\n", 0, false, 0, 0, 0, 0, 0, 0,
	    NULL },
	{ "CRLF, no final newline",
	    "dask_scheduler_tasks{state='queued'} 3.0\r\n"
	    "dask_scheduler_workers{state='connected'} 2\r\n"
	    "dask_scheduler_tasks{state='waiting'} 4.0",
	    0, true, 3, 0, 0, 4, 0, 2, NULL },
	{ "timestamp", "dask_scheduler_tasks{state='queued'} 3 1700000000000\n"
	    "dask_scheduler_tasks{state='memory'} 5 -12\n",
	    0, true, 3, 0, 0, 0, 5, 0, NULL },
	{ "blanks, extra labels, escapes, trailing comma",
	    "  dask_scheduler_tasks { instance = 'a\\'b\\\\c\\n' , "
	    "state='processing', }\t 4.0  \n",
	    0, true, 0, 4, 0, 0, 0, 0, NULL },
	{ "samples of one state add up",
	    "dask_scheduler_tasks{state='queued',prefix='a'} 3.0\n"
	    "dask_scheduler_tasks{state='queued',prefix='b'} 4.0\n",
	    0, true, 7, 0, 0, 0, 0, 0, NULL },
	{ "only states we do not use", "dask_scheduler_tasks{state="
	    "'released'} 5.0\ndask_scheduler_workers{state='gone'} 3\n",
	    0, true, 0, 0, 0, 0, 0, 0, NULL },
	/* 2024.7 on: no "connected"; each worker in one of these states */
	{ "worker states since 2024.7",
	    "dask_scheduler_workers{state=\"idle\"} 1.0\n"
	    "dask_scheduler_workers{state=\"partially_saturated\"} 0.0\n"
	    "dask_scheduler_workers{state=\"saturated\"} 2.0\n"
	    "dask_scheduler_workers{state=\"paused\"} 0.0\n"
	    "dask_scheduler_workers{state=\"retiring\"} 1.0\n",
	    0, false, 0, 0, 0, 0, 0, 4, NULL },
	{ "worker states 2023.1 to 2024.6",
	    "dask_scheduler_workers{state=\"idle\"} 1.0\n"
	    "dask_scheduler_workers{state=\"partially_saturated\"} 1.0\n"
	    "dask_scheduler_workers{state=\"saturated\"} 0.0\n"
	    "dask_scheduler_workers{state=\"paused_or_retiring\"} 1.0\n",
	    0, false, 0, 0, 0, 0, 0, 3, NULL },
	{ "connected wins over states (2022.12)",
	    "dask_scheduler_workers{state='idle'} 0.0\n"
	    "dask_scheduler_workers{state='saturated'} 1.0\n"
	    "dask_scheduler_workers{state='connected'} 1.0\n",
	    0, false, 0, 0, 0, 0, 0, 1, NULL },
	{ "no labels", "dask_scheduler_tasks 5\n", 0, true, 0, 0, 0, 0, 0, 0,
	    NULL },
	{ "empty labels", "dask_scheduler_tasks{} 5\n", 0, true, 0, 0, 0, 0,
	    0, 0, NULL },
	{ "state value longer than any we know",
	    "dask_scheduler_tasks{state='queuedqueuedqueuedqueuedqueuedqueued"
	    "queuedqueuedqueuedqueuedqueued'} 5\n",
	    0, true, 0, 0, 0, 0, 0, 0, NULL },
	{ "suspicious_total is another metric",
	    "dask_scheduler_tasks_suspicious_total{task_prefix_name="
	    "'lambda'} 0.0\ndask_scheduler_tasksx{state='queued'} 3\n",
	    0, false, 0, 0, 0, 0, 0, 0, NULL },
	{ "garbage in other lines is ignored",
	    "<html>\n}}} {{{ 'x\n\\\\\n1.0\nfoo{state='queued'} NaN\n",
	    0, false, 0, 0, 0, 0, 0, 0, NULL },
	{ "1e9 is the largest", "dask_scheduler_tasks{state='queued'} 1e9\n",
	    0, true, 1000000000, 0, 0, 0, 0, 0, NULL },
	{ "fraction truncated", "dask_scheduler_tasks{state='queued'} 2.7\n",
	    0, true, 2, 0, 0, 0, 0, 0, NULL },
	{ "negative zero", "dask_scheduler_tasks{state='queued'} -0.0\n",
	    0, true, 0, 0, 0, 0, 0, 0, NULL },

	{ "NaN", "dask_scheduler_tasks{state='queued'} NaN\n", -1, false,
	    0, 0, 0, 0, 0, 0, "not finite" },
	{ "+Inf", "dask_scheduler_tasks{state='queued'} +Inf\n", -1, false,
	    0, 0, 0, 0, 0, 0, "not finite" },
	{ "negative", "dask_scheduler_workers{state='connected'} -1.0\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "out of range" },
	{ "huge", "dask_scheduler_tasks{state='queued'} 1e10\n", -1, false,
	    0, 0, 0, 0, 0, 0, "out of range" },
	{ "just above 1e9", "dask_scheduler_tasks{state='queued'} "
	    "1000000000.5\n", -1, false, 0, 0, 0, 0, 0, 0, "out of range" },
	{ "1e400", "dask_scheduler_tasks{state='queued'} 1e400\n", -1, false,
	    0, 0, 0, 0, 0, 0, "not finite" },
	{ "sum above 1e9", "dask_scheduler_tasks{state='queued',a='1'} 1e9\n"
	    "dask_scheduler_tasks{state='queued',a='2'} 1\n", -1, false,
	    0, 0, 0, 0, 0, 0, "line 2: sum" },
	{ "not a number", "\n\ndask_scheduler_tasks{state='queued'} abc\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "line 3: value is not a number" },
	{ "number then junk", "dask_scheduler_tasks{state='queued'} 1.0x\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "not a number" },
	{ "value missing", "dask_scheduler_tasks{state='queued'}\n", -1,
	    false, 0, 0, 0, 0, 0, 0, "value missing" },
	{ "value missing after blanks", "dask_scheduler_tasks{state="
	    "'queued'}   \n", -1, false, 0, 0, 0, 0, 0, 0, "value missing" },
	{ "no blank before value", "dask_scheduler_tasks{state='queued'}1\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "blank expected" },
	{ "value too long", "dask_scheduler_tasks{state='queued'} "
	    "1.000000000000000000000000000000000000000000000000000000000000000"
	    "0000\n", -1, false, 0, 0, 0, 0, 0, 0, "too long" },
	{ "unterminated label", "dask_scheduler_tasks{state='queued} 1\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "unterminated" },
	{ "unterminated escape", "dask_scheduler_tasks{state='queued\\",
	    -1, false, 0, 0, 0, 0, 0, 0, "unterminated" },
	{ "unclosed labels", "dask_scheduler_tasks{state='queued' 1\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "',' or '}'" },
	{ "bad escape", "dask_scheduler_tasks{state='a\\x'} 1\n", -1, false,
	    0, 0, 0, 0, 0, 0, "bad escape" },
	{ "duplicate state", "dask_scheduler_tasks{state='queued',state="
	    "'memory'} 1\n", -1, false, 0, 0, 0, 0, 0, 0, "duplicate" },
	{ "label without =", "dask_scheduler_tasks{state 'queued'} 1\n", -1,
	    false, 0, 0, 0, 0, 0, 0, "'='" },
	{ "unquoted label", "dask_scheduler_tasks{state=queued} 1\n", -1,
	    false, 0, 0, 0, 0, 0, 0, "not quoted" },
	{ "bad label name", "dask_scheduler_tasks{1state='queued'} 1\n", -1,
	    false, 0, 0, 0, 0, 0, 0, "bad label name" },
	{ "trailing junk", "dask_scheduler_tasks{state='queued'} 1 2 3\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "trailing" },
	{ "bad timestamp", "dask_scheduler_tasks{state='queued'} 1 12a\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "timestamp" },
	{ "lone minus timestamp", "dask_scheduler_tasks{state='queued'} 1 -\n",
	    -1, false, 0, 0, 0, 0, 0, 0, "timestamp" },
};

static void
check_metrics(const struct metrics_case *c, const char *buf, size_t len)
{
	struct dask_metrics m;
	char err[256] = "";
	int rc;

	rc = dask_parse_metrics(buf, len, &m, err, sizeof(err));
	if (tu_check_rc(c->name, rc, c->rc, err, c->errsub))
		return;
	if (m.have_tasks != c->have_tasks || m.queued != c->queued ||
	    m.processing != c->processing || m.no_worker != c->no_worker ||
	    m.waiting != c->waiting || m.memory != c->memory ||
	    m.workers != c->workers)
		fail_msg("%s: got have_tasks %d queued %d processing %d "
		    "no_worker %d waiting %d memory %d workers %d", c->name,
		    m.have_tasks, m.queued, m.processing, m.no_worker,
		    m.waiting, m.memory, m.workers);
}

static void
test_metrics_table(void **state)
{
	size_t i;
	char *in;

	(void)state;
	for (i = 0; i < ARRAY_LEN(metrics_cases); i++) {
		in = tu_dq(metrics_cases[i].in);
		check_metrics(&metrics_cases[i], in, strlen(in));
		free(in);
	}
}

/* Length, not NUL, ends the input; NUL bytes inside are handled. */
static void
test_metrics_nul_and_length(void **state)
{
	static const char withnul[] =
	    "dask_scheduler_tasks{state=\"queued\"} 3\0 4\n";
	static const char labelnul[] =
	    "dask_scheduler_tasks{state=\"que\0ued\"} 3\n";
	static const char othernul[] = "foo\0bar\n"
	    "dask_scheduler_tasks{state=\"queued\"} 3\n";
	struct dask_metrics m;
	char err[128];
	const char *s = "dask_scheduler_tasks{state=\"queued\"} 35";

	assert_int_equal(dask_parse_metrics(withnul, sizeof(withnul) - 1, &m,
	    err, sizeof(err)), -1);
	assert_int_equal(dask_parse_metrics(labelnul, sizeof(labelnul) - 1,
	    &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	assert_int_equal(dask_parse_metrics(othernul, sizeof(othernul) - 1,
	    &m, err, sizeof(err)), 0);
	assert_int_equal(m.queued, 3);
	/* The same buffer, cut short: "... 3" instead of "... 35". */
	assert_int_equal(dask_parse_metrics(s, strlen(s) - 1, &m, err,
	    sizeof(err)), 0);
	assert_int_equal(m.queued, 3);
	assert_int_equal(dask_parse_metrics(NULL, 0, &m, err, sizeof(err)),
	    0);
	assert_false(m.have_tasks);
	(void)state;
}

static void
test_metrics_long_lines(void **state)
{
	size_t big = 1u << 20, off;
	struct dask_metrics m;
	char err[128];
	char *buf;

	(void)state;
	/* A 1 MiB line of another metric, then ours. */
	buf = xmalloc(big + 100);
	memset(buf, 'x', big);
	off = big;
	off += (size_t)sprintf(buf + off,
	    "\ndask_scheduler_tasks{state=\"queued\"} 9\n");
	assert_int_equal(dask_parse_metrics(buf, off, &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.queued, 9);

	/* Ours with a 1 MiB label value: matches no state, no error. */
	off = (size_t)sprintf(buf, "dask_scheduler_tasks{state=\"");
	memset(buf + off, 'q', big - off);
	off = big;
	off += (size_t)sprintf(buf + off, "\"} 9\n");
	assert_int_equal(dask_parse_metrics(buf, off, &m, err, sizeof(err)),
	    0);
	assert_true(m.have_tasks);
	assert_int_equal(m.queued, 0);

	/* Ours with a 1 MiB value. */
	off = (size_t)sprintf(buf, "dask_scheduler_tasks{state=\"q\"} ");
	memset(buf + off, '1', big - off);
	assert_int_equal(dask_parse_metrics(buf, big, &m, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "too long"));
	free(buf);
}

/* Over 16 MiB is refused before any parsing. */
static void
test_reply_too_big(void **state)
{
	size_t big = (16u << 20) + 1, n;
	struct dask_worker_info *w;
	struct dask_metrics m;
	char err[128];
	char *buf;
	int t;

	(void)state;
	buf = xmalloc(big);
	memset(buf, '\n', big);
	assert_int_equal(dask_parse_metrics(buf, big, &m, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "more than"));
	memset(buf, ' ', big);
	buf[0] = '{';
	buf[big - 1] = '}';
	assert_int_equal(dask_parse_target(buf, big, &t, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "more than"));
	assert_int_equal(dask_parse_identity(buf, big, &w, &n, err,
	    sizeof(err)), -1);
	assert_null(w);
	assert_int_equal(dask_parse_retire(buf, big, "tcp://a:1", err,
	    sizeof(err)), -1);
	/* One byte less is parsed (an empty object). */
	assert_int_equal(dask_parse_retire(buf, big - 1, "tcp://a:1", err,
	    sizeof(err)), -1);
	buf[big - 2] = '}';
	assert_int_equal(dask_parse_retire(buf, big - 1, "tcp://a:1", err,
	    sizeof(err)), 0);
	free(buf);
}

/* ---------------------------------------------------------------------- */
/* GET /api/v1/adaptive_target */

static const struct tu_int_case target_cases[] = {
	{ "{'workers': 4}", 0, 4, NULL },
	{ "{'workers': 0}", 0, 0, NULL },
	{ "{'workers': 4.0}", 0, 4, NULL },
	{ " {\"workers\" : 1000000, 'other': [1, 2]}\n", 0, 1000000, NULL },
	{ "{'workers': 1e3}", 0, 1000, NULL },
	{ "{'workers': 1000001}", -1, 0,
	    "\"workers\" must be an integer in [0, 1000000]" },
	{ "{'workers': -1}", -1, 0, "must be an integer" },
	{ "{'workers': 4.5}", -1, 0, "must be an integer" },
	{ "{'workers': 1e300}", -1, 0, "must be an integer" },
	{ "{'workers': 99999999999999999999}", -1, 0, "bad JSON" },
	{ "{'workers': '4'}", -1, 0, "must be an integer" },
	{ "{'workers': null}", -1, 0, "must be an integer" },
	{ "{'workers': true}", -1, 0, "must be an integer" },
	{ "{'workers': [4]}", -1, 0, "must be an integer" },
	{ "{'workers': NaN}", -1, 0, "bad JSON" },
	{ "{'target': 4}", -1, 0, "no \"workers\"" },
	{ "{'error': 'x', 'workers': 4}", -1, 0, "adaptive_target: x" },
	{ "{'workers': 4, 'workers': 5}", -1, 0, "bad JSON" },
	{ "[4]", -1, 0, "not a JSON object" },
	{ "4", -1, 0, "bad JSON" },
	{ "null", -1, 0, "bad JSON" },
	{ "", -1, 0, "bad JSON" },
	{ "{'workers': 4", -1, 0, "bad JSON" },
	{ "{'workers': 4} trailing", -1, 0, "bad JSON" },
	{ "<html>404</html>", -1, 0, "bad JSON" },
};

/* dask_parse_target and dask_parse_forked (an int out), through the
 * int64_t of tu_check_int_cases */
static int
parse_target(const char *in, size_t len, int64_t *out, char *err,
    size_t errlen)
{
	int t = (int)*out, rc = dask_parse_target(in, len, &t, err, errlen);

	*out = t;
	return rc;
}

static int
parse_forked(const char *in, size_t len, int64_t *out, char *err,
    size_t errlen)
{
	int pid = (int)*out, rc = dask_parse_forked(in, len, &pid, err, errlen);

	*out = pid;
	return rc;
}

static void
test_target_table(void **state)
{
	(void)state;
	tu_check_int_cases(target_cases, ARRAY_LEN(target_cases), true,
	    parse_target);
}

/* ---------------------------------------------------------------------- */
/* GET /json/identity.json */

#define ID_WORKER_SAMPLE						\
	"'tcp://127.0.0.1:35319':{'type':'Worker','id':'dask-0',"	\
	"'host':'127.0.0.1','resources':{'GPU':1.0},"			\
	"'local_directory':'/tmp/edask/w/dask-worker-space/worker-x',"	\
	"'name':'dask-0','nthreads':1,'memory_limit':12638031872,"	\
	"'last_seen':1795595197.3,'services':{'dashboard':46789},"	\
	"'metrics':{'task_counts':{'executing':1,'long-running':0,"	\
	"'memory':2,'ready':1,'constrained':0,'waiting':0,'fetch':0,"	\
	"'missing':0,'flight':0,'other':0},'managed_bytes':56,"		\
	"'spilled_bytes':{'memory':0,'disk':0},'cpu':4.0,"		\
	"'memory':91705344,'num_fds':16},'status':'running',"		\
	"'nanny':null}"

#define ID_HEAD								\
	"{'type':'Scheduler','id':'Scheduler-5d1e',"			\
	"'address':'tcp://127.0.0.1:18786',"				\
	"'services':{'dashboard':18787},'started':1795595190.15,"	\
	"'workers':{"

#define ID_SAMPLE	ID_HEAD ID_WORKER_SAMPLE "}}"

/* A minimal worker entry with the given extra fields. */
#define ID_ONE(addr, fields)						\
	ID_HEAD "'" addr "':{'nthreads':2" fields "}}}"

#define X10	"xxxxxxxxxx"
/* 127 bytes, the longest address accepted (DASK_ADDR_MAX - 1). */
#define ADDR_127 "tcp://" X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 \
	"xxxxxxxxx:1"

#define NO_WORKER	{ "", "", 0, 0, 0, 0, 0, 0 }
/* A just-registered worker: no metrics. */
#define BARE(addr, name, nthreads)					\
	{ addr, name, nthreads, 0, 0, 0, -1, -1 }

/* What a case expects of a worker (all of struct dask_worker_info but
 * unique_keys, which test_identity_unique_keys checks). */
struct want_worker {
	const char	*address;
	const char	*name;
	int		 nthreads, busy, keys;
	int64_t		 bytes, rss, memory_limit;
};

static const struct identity_case {
	const char		*name;
	const char		*in;
	int			 rc;
	size_t			 n;
	struct want_worker	 want[3];
	const char		*errsub;
} identity_cases[] = {
	{ "real sample", ID_SAMPLE, 0, 1, {
	    { "tcp://127.0.0.1:35319", "dask-0", 1, 2, 2, 56, 91705344,
	    12638031872 } }, NULL },
	/* edask's preload, GET /api/v1/edask/workers (distributed 2026.7.1,
	 * two tasks processing, one result held) */
	{ "edask preload's workers", "{\"workers\": {\"tcp://127.0.0.1:39483"
	    "\": {\"name\": \"dask-0\", \"nthreads\": 1, \"memory_limit\": "
	    "12637986816, \"resources\": {\"GPU\": 1.0}, \"status\": "
	    "\"running\", \"metrics\": {\"task_counts\": {\"processing\": 2, "
	    "\"memory\": 1}, \"managed_bytes\": 1000, \"memory\": 73682944}}}}",
	    0, 1, {
	    { "tcp://127.0.0.1:39483", "dask-0", 1, 2, 1, 1000, 73682944,
	    12637986816 } }, NULL },
	{ "no workers", ID_HEAD "}}", 0, 0, { NO_WORKER }, NULL },
	{ "only workers key", "{'workers':{}}", 0, 0, { NO_WORKER }, NULL },
	{ "sorted by address, int and null names",
	    ID_HEAD
	    "'tcp://10.0.0.2:1':{'name':7,'nthreads':1},"
	    "'tcp://10.0.0.1:9':{'name':-3,'nthreads':4,'metrics':{}},"
	    "'inproc://host/1/2':{'name':null,'nthreads':8,"
	    "'metrics':{'managed_bytes':1e3,'memory':null}}}}",
	    0, 3, {
	    { "inproc://host/1/2", "", 8, 0, 0, 1000, -1, -1 },
	    BARE("tcp://10.0.0.1:9", "-3", 4),
	    BARE("tcp://10.0.0.2:1", "7", 1) }, NULL },
	{ "tls and ucx, every busy state",
	    ID_HEAD
	    "'ucx://10.0.0.1:5':{'nthreads':1,'memory_limit':0,"
	    "'metrics':{'task_counts':{'executing':1,'long-running':2,"
	    "'ready':4,'constrained':8,'waiting':16,'fetch':32,"
	    "'flight':64,'missing':128,'memory':256,'other':512,"
	    "'future-state':1024}}},"
	    "'tls://10.0.0.1:5':{'nthreads':1,'memory_limit':null,"
	    "'metrics':{'task_counts':null,'managed_bytes':0}}}}",
	    0, 2, {
	    { "tls://10.0.0.1:5", "", 1, 0, 0, 0, -1, -1 },
	    { "ucx://10.0.0.1:5", "", 1, 255, 256, 0, -1, -1 } }, NULL },
	{ "longest address and name",
	    ID_ONE(ADDR_127,
	    ",'name':'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnn'"),
	    0, 1, {
	    BARE(ADDR_127,
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnn", 2) }, NULL },
	{ "UTF-8 name", ID_ONE("tcp://h:1", ",'name':'gpu-\\u00e9'"), 0, 1, {
	    BARE("tcp://h:1", "gpu-\xc3\xa9", 2) }, NULL },
	{ "largest int name",
	    ID_ONE("tcp://h:1", ",'name':-9223372036854775808"), 0, 1, {
	    BARE("tcp://h:1", "-9223372036854775808", 2) }, NULL },

	{ "address too long", ID_ONE(ADDR_127 "0", ""), -1, 0, { NO_WORKER },
	    "address longer than 127" },
	{ "bad scheme", ID_ONE("http://h:1", ""), -1, 0, { NO_WORKER },
	    "address scheme" },
	{ "bare name as address", ID_ONE("dask-0", ""), -1, 0, { NO_WORKER },
	    "address scheme" },
	{ "scheme only", ID_ONE("tcp://", ""), -1, 0, { NO_WORKER },
	    "nothing after" },
	{ "blank in address", ID_ONE("tcp://h :1", ""), -1, 0, { NO_WORKER },
	    "not printable" },
	{ "control in address", ID_ONE("tcp://h\\n:1", ""), -1, 0,
	    { NO_WORKER }, "not printable" },
	{ "non-ASCII address", ID_ONE("tcp://h\\u00e9:1", ""), -1, 0,
	    { NO_WORKER }, "not printable" },
	{ "name too long", ID_ONE("tcp://h:1",
	    ",'name':'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnnn'"), -1, 0, { NO_WORKER }, "tcp://h:1: \"name\" longer" },
	{ "float name", ID_ONE("tcp://h:1", ",'name':1.5"), -1, 0,
	    { NO_WORKER }, "neither a string" },
	{ "bool name", ID_ONE("tcp://h:1", ",'name':true"), -1, 0,
	    { NO_WORKER }, "neither a string" },
	{ "list name", ID_ONE("tcp://h:1", ",'name':['a']"), -1, 0,
	    { NO_WORKER }, "neither a string" },
	{ "control in name", ID_ONE("tcp://h:1", ",'name':'a\\u001bb'"), -1,
	    0, { NO_WORKER }, "control character" },
	{ "NUL in name", ID_ONE("tcp://h:1", ",'name':'a\\u0000b'"), -1,
	    0, { NO_WORKER }, "bad JSON" },
	{ "nthreads missing", ID_HEAD "'tcp://h:1':{}}}", -1, 0,
	    { NO_WORKER }, "\"nthreads\" missing" },
	{ "nthreads 0", ID_HEAD "'tcp://h:1':{'nthreads':0}}}", -1, 0,
	    { NO_WORKER }, "\"nthreads\"" },
	{ "nthreads string", ID_HEAD "'tcp://h:1':{'nthreads':'1'}}}", -1,
	    0, { NO_WORKER }, "\"nthreads\"" },
	{ "memory_limit negative", ID_ONE("tcp://h:1",
	    ",'memory_limit':-5"), -1, 0, { NO_WORKER }, "memory_limit" },
	{ "memory_limit string", ID_ONE("tcp://h:1",
	    ",'memory_limit':'4GiB'"), -1, 0, { NO_WORKER }, "memory_limit" },
	{ "memory_limit 2^63 as float", ID_ONE("tcp://h:1",
	    ",'memory_limit':9223372036854775808.0"), -1, 0, { NO_WORKER },
	    "memory_limit" },
	{ "metrics not object", ID_ONE("tcp://h:1", ",'metrics':[]"), -1, 0,
	    { NO_WORKER }, "\"metrics\" is not an object" },
	{ "task_counts not object", ID_ONE("tcp://h:1",
	    ",'metrics':{'task_counts':3}"), -1, 0, { NO_WORKER },
	    "\"task_counts\" is not an object" },
	{ "task count negative", ID_ONE("tcp://h:1",
	    ",'metrics':{'task_counts':{'executing':-1}}"), -1, 0,
	    { NO_WORKER }, "task count" },
	{ "task count fraction", ID_ONE("tcp://h:1",
	    ",'metrics':{'task_counts':{'ready':0.5}}"), -1, 0,
	    { NO_WORKER }, "task count" },
	{ "task count huge", ID_ONE("tcp://h:1",
	    ",'metrics':{'task_counts':{'ready':1000000001}}"), -1, 0,
	    { NO_WORKER }, "task count" },
	{ "busy sum huge", ID_ONE("tcp://h:1",
	    ",'metrics':{'task_counts':{'ready':1000000000,'fetch':1}}"), -1,
	    0, { NO_WORKER }, "busy task count" },
	{ "keys string", ID_ONE("tcp://h:1",
	    ",'metrics':{'task_counts':{'memory':'2'}}"), -1, 0,
	    { NO_WORKER }, "\"memory\" task count" },
	{ "managed_bytes negative", ID_ONE("tcp://h:1",
	    ",'metrics':{'managed_bytes':-1}"), -1, 0, { NO_WORKER },
	    "managed_bytes" },
	{ "managed_bytes null", ID_ONE("tcp://h:1",
	    ",'metrics':{'managed_bytes':null}"), -1, 0, { NO_WORKER },
	    "managed_bytes" },
	{ "rss string", ID_ONE("tcp://h:1", ",'metrics':{'memory':'x'}"), -1,
	    0, { NO_WORKER }, "\"memory\" is not" },
	{ "worker not object", ID_HEAD "'tcp://h:1':[]}}", -1, 0,
	    { NO_WORKER }, "not an object" },
	{ "workers not object", "{'workers':[]}", -1, 0, { NO_WORKER },
	    "\"workers\" missing or not an object" },
	{ "workers missing", "{'type':'Scheduler'}", -1, 0, { NO_WORKER },
	    "\"workers\" missing" },
	{ "type Worker", "{'type':'Worker','workers':{}}", -1, 0,
	    { NO_WORKER }, "\"type\"" },
	{ "type number", "{'type':1,'workers':{}}", -1, 0, { NO_WORKER },
	    "\"type\"" },
	{ "duplicate worker", ID_HEAD "'tcp://h:1':{'nthreads':1},"
	    "'tcp://h:1':{'nthreads':1}}}", -1, 0, { NO_WORKER },
	    "bad JSON" },
	{ "root array", "[]", -1, 0, { NO_WORKER }, "not a JSON object" },
	{ "truncated", ID_HEAD "'tcp://h:1':{'nthreads':1", -1, 0,
	    { NO_WORKER }, "bad JSON" },
	{ "empty", "", -1, 0, { NO_WORKER }, "bad JSON" },
	{ "deep nesting", "{'workers':{},'x':[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, 0, { NO_WORKER }, NULL },
};

/* dask_parse_identity as a tu_list_parser */
static int
parse_identity(const char *in, size_t len, void **list, size_t *n,
    char *err, size_t errlen)
{
	struct dask_worker_info *w = *list;
	int rc = dask_parse_identity(in, len, &w, n, err, errlen);

	*list = w;
	return rc;
}

static void
check_worker(const char *cname, size_t i, const struct dask_worker_info *g,
    const struct want_worker *w)
{
	if (strcmp(g->address, w->address) != 0 ||
	    strcmp(g->name, w->name) != 0 || g->nthreads != w->nthreads ||
	    g->busy != w->busy || g->keys != w->keys ||
	    g->bytes != w->bytes || g->rss != w->rss ||
	    g->memory_limit != w->memory_limit)
		fail_msg("%s: worker %zu: got %s name '%s' nthreads %d busy %d "
		    "keys %d bytes %lld rss %lld limit %lld", cname, i,
		    g->address, g->name, g->nthreads, g->busy, g->keys,
		    (long long)g->bytes, (long long)g->rss,
		    (long long)g->memory_limit);
}

/* unique_keys: edask's preload tells what only this worker holds. */
static void
test_identity_unique_keys(void **state)
{
	static const struct {
		const char	*in;
		int		 rc;
		int		 unique;
		const char	*errsub;
	} rows[] = {
		{ ID_ONE("tcp://h:1", ",'unique_keys':3,'metrics':{"
		    "'task_counts':{'memory':5}}"), 0, 3, NULL },
		{ ID_ONE("tcp://h:1", ",'unique_keys':0"), 0, 0, NULL },
		{ ID_ONE("tcp://h:1", ""), 0, -1, NULL },	/* identity.json */
		{ ID_ONE("tcp://h:1", ",'unique_keys':2,'metrics':{"
		    "'task_counts':{'memory':1}}"), -1, 0, "more than the keys" },
		{ ID_ONE("tcp://h:1", ",'unique_keys':'1'"), -1, 0,
		    "\"unique_keys\" is not" },
		{ ID_ONE("tcp://h:1", ",'unique_keys':-1"), -1, 0,
		    "\"unique_keys\" is not" },
	};
	struct dask_worker_info *w;
	size_t i, n;

	(void)state;
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		/* one worker when accepted */
		w = tu_parse_list_dq(rows[i].in, rows[i].in, parse_identity,
		    rows[i].rc, rows[i].errsub, 1, &n);
		if (rows[i].rc != -1)
			assert_int_equal(w[0].unique_keys, rows[i].unique);
		free(w);
	}
}

static void
test_identity_table(void **state)
{
	const struct identity_case *c;
	struct dask_worker_info *w;
	size_t i, j, n;

	(void)state;
	for (i = 0; i < ARRAY_LEN(identity_cases); i++) {
		c = &identity_cases[i];
		w = tu_parse_list_dq(c->name, c->in, parse_identity, c->rc,
		    c->errsub, c->n, &n);
		if (c->rc == -1)
			continue;
		assert_non_null(w);
		for (j = 0; j < n; j++)
			check_worker(c->name, j, &w[j], &c->want[j]);
		free(w);
	}
}

/* dask_parse_workers as a tu_list_parser of its departures */
static int
parse_departed(const char *in, size_t len, void **list, size_t *n,
    char *err, size_t errlen)
{
	struct dask_worker_info *w = NULL;
	struct dask_departure *d = *list;
	size_t nw = 99;
	int rc = dask_parse_workers(in, len, &w, &nw, &d, n, err, errlen);

	assert_true(rc == 0 ? w != NULL || nw == 0 : w == NULL && nw == 0);
	free(w);
	*list = d;
	return rc;
}

#define DEP(addr, keys, unique, bytes)					\
	"'" addr "':{'keys':" #keys ",'unique_keys':" #unique		\
	",'bytes':" #bytes "}"

/* "departed": what each worker removed lately held then; sorted, found by
 * address, and refused whole when one entry is wrong. */
static void
test_workers_departed(void **state)
{
	static const struct {
		const char	*in;
		int		 rc;
		size_t		 n;
		const char	*errsub;
	} rows[] = {
		{ "{'workers':{},'departed':{" DEP("tls://10.0.0.2:9", 5, 2,
		    4096) "," DEP("tcp://h:1", 0, 0, 0) "}}", 0, 2, NULL },
		{ "{'workers':{}}", 0, 0, NULL },
		{ "{'workers':{},'departed':{}}", 0, 0, NULL },
		{ "{'workers':{},'departed':[]}", -1, 0, "not an object" },
		{ "{'workers':{},'departed':{'tcp://h:1':3}}", -1, 0,
		    "departed tcp://h:1: departure is not an object" },
		{ "{'workers':{},'departed':{'h:1':{}}}", -1, 0,
		    "departed address" },
		{ "{'workers':{},'departed':{'tcp://h:1':{'unique_keys':0,"
		    "'bytes':0}}}", -1, 0, "\"keys\" missing" },
		{ "{'workers':{},'departed':{" DEP("tcp://h:1", 1, 2, 0) "}}",
		    -1, 0, "more than the keys" },
		{ "{'workers':{},'departed':{" DEP("tcp://h:1", 1, -1, 0) "}}",
		    -1, 0, "\"unique_keys\" missing or not" },
		{ "{'workers':{},'departed':{" DEP("tcp://h:1", 1, 1, -5) "}}",
		    -1, 0, "\"bytes\" missing or not" },
		{ "{'workers':{},'departed':{'tcp://h:1':{'keys':1,"
		    "'unique_keys':1}}}", -1, 0, "\"bytes\" missing" },
		/* a bad worker is refused before its departures are read */
		{ "{'workers':{'tcp://h:2':{}},'departed':{}}", -1, 0,
		    "nthreads" },
	};
	struct dask_departure *d;
	size_t i, n;

	(void)state;
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		d = tu_parse_list_dq(rows[i].in, rows[i].in, parse_departed,
		    rows[i].rc, rows[i].errsub, rows[i].n, &n);
		if (i == 0) {
			assert_string_equal(d[0].address, "tcp://h:1");
			assert_string_equal(d[1].address, "tls://10.0.0.2:9");
			assert_int_equal(d[1].keys, 5);
			assert_int_equal(d[1].unique_keys, 2);
			assert_int_equal(d[1].bytes, 4096);
			assert_ptr_equal(dask_departure_find(d, n,
			    "tls://10.0.0.2:9"), &d[1]);
			assert_ptr_equal(dask_departure_find(d, n,
			    "tcp://h:1"), &d[0]);
			assert_null(dask_departure_find(d, n, "tcp://h:2"));
		}
		free(d);
	}
	assert_null(dask_departure_find(NULL, 0, "tcp://h:1"));
}

/* The i-th of generated workers: DASK_WORKERS_MAX parse, one more does
 * not. */
static void
worker_item(struct strbuf *b, size_t i)
{
	strbuf_printf(b, "\"tcp://10.0.%zu.%zu:4000\":{\"nthreads\":1}",
	    i / 256, i % 256);
}

static void
test_identity_max_workers(void **state)
{
	struct dask_worker_info *w;
	size_t n, i;
	char *buf;

	(void)state;
	buf = tu_join("{\"workers\":{", DASK_WORKERS_MAX, worker_item, "}}");
	w = tu_parse_list("most workers", buf, strlen(buf), parse_identity, 0,
	    NULL, DASK_WORKERS_MAX, &n);
	for (i = 1; i < n; i++)
		assert_true(strcmp(w[i - 1].address, w[i].address) < 0);
	free(w);
	free(buf);

	buf = tu_join("{\"workers\":{", DASK_WORKERS_MAX + 1, worker_item,
	    "}}");
	tu_parse_list("one worker too many", buf, strlen(buf), parse_identity,
	    -1, "4097 workers, more than 4096", 0, &n);
	free(buf);
}

/* ---------------------------------------------------------------------- */
/* POST /api/v1/retire_workers */

static const struct retire_case {
	const char	*in;
	const char	*address;
	int		 rc;
	const char	*errsub;
} retire_cases[] = {
	{ "{" ID_WORKER_SAMPLE "}", "tcp://127.0.0.1:35319", 1, NULL },
	{ "{" ID_WORKER_SAMPLE ",'tcp://127.0.0.1:1':{}}",
	    "tcp://127.0.0.1:1", 1, NULL },
	{ "{}", "tcp://127.0.0.1:35319", 0, NULL },
	{ "{" ID_WORKER_SAMPLE "}", "tcp://127.0.0.1:3531", 0, NULL },
	{ "{" ID_WORKER_SAMPLE "}", "dask-0", 0, NULL },
	{ "{'tcp://127.0.0.1:35319': 5}", "tcp://127.0.0.1:35319", -1,
	    "not an object" },
	{ "{'tcp://h:1': null}", "tcp://h:2", -1, "not an object" },
	{ "[]", "tcp://h:1", -1, "not a JSON object" },
	{ "['tcp://h:1']", "tcp://h:1", -1, "not a JSON object" },
	{ "null", "tcp://h:1", -1, "bad JSON" },
	{ "'tcp://h:1'", "tcp://h:1", -1, "bad JSON" },
	{ "", "tcp://h:1", -1, "bad JSON" },
	{ "{'tcp://h:1': {}", "tcp://h:1", -1, "bad JSON" },
	{ "Internal Server Error", "tcp://h:1", -1, "bad JSON" },
};

static void
test_retire_table(void **state)
{
	char err[256];
	size_t i;
	char *in;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_LEN(retire_cases); i++) {
		in = tu_dq(retire_cases[i].in);
		err[0] = '\0';
		rc = dask_parse_retire(in, strlen(in), retire_cases[i].address,
		    err, sizeof(err));
		tu_check_rc(in, rc, retire_cases[i].rc, err,
		    retire_cases[i].errsub);
		free(in);
	}
}

/* ---------------------------------------------------------------------- */
/* POST /api/v1/edask/drain (edask's scheduler preload) */

#define DRAIN_A	"'tcp://127.0.0.1:35319': {'status': 'closing_gracefully', " \
	"'processing': 2, 'keys': 10, 'unique_keys': 3}"

/* gone: the scheduler removed the worker since (status closed), and the
 * counts are what it held then, with its bytes (else bytes is -1). */
static const struct drain_case {
	const char	*in;
	int		 rc;
	bool		 draining;
	int		 processing, keys, unique;
	const char	*errsub;
	bool		 gone;
	int64_t		 bytes;
} drain_cases[] = {
	{ "{" DRAIN_A "}", 1, true, 2, 10, 3, NULL, false, 0 },
	{ "{'tcp://127.0.0.1:35319': {'status': 'running', 'processing': 0,"
	    " 'keys': 0, 'unique_keys': 0}}", 1, false, 0, 0, 0, NULL, false,
	    0 },
	/* Python may send a count as a float */
	{ "{'tcp://127.0.0.1:35319': {'status': 'running', 'processing': 1.0,"
	    " 'keys': 4, 'unique_keys': 4}}", 1, false, 1, 4, 4, NULL, false,
	    0 },
	{ "{'tcp://h:1': {'status': 'running', 'processing': 0, 'keys': 0,"
	    " 'unique_keys': 0}}", 0, false, 0, 0, 0, NULL, false, 0 },
	{ "{}", 0, false, 0, 0, 0, NULL, false, 0 },
	{ "{'tcp://127.0.0.1:35319': {'processing': 1, 'keys': 1,"
	    " 'unique_keys': 0}}", -1, false, 0, 0, 0, "no status", false, 0 },
	{ "{'tcp://127.0.0.1:35319': {'status': 'running', 'processing': -1,"
	    " 'keys': 1, 'unique_keys': 0}}", -1, false, 0, 0, 0,
	    "processing must be", false, 0 },
	{ "{'tcp://127.0.0.1:35319': {'status': 'running', 'processing': 0,"
	    " 'keys': 1}}", -1, false, 0, 0, 0, "unique_keys must be", false,
	    0 },
	{ "{'tcp://127.0.0.1:35319': {'status': 'running', 'processing': 0,"
	    " 'keys': 1, 'unique_keys': 2}}", -1, false, 0, 0, 0,
	    "unique_keys above keys", false, 0 },
	{ "{'tcp://127.0.0.1:35319': {'status': 'running', 'processing': 0,"
	    " 'keys': 'x', 'unique_keys': 0}}", -1, false, 0, 0, 0,
	    "keys must be", false, 0 },
	{ "{'tcp://h:1': 3}", -1, false, 0, 0, 0, "not an object", false, 0 },
	{ "[]", -1, false, 0, 0, 0, "not a JSON object", false, 0 },
	{ "<html>404</html>", -1, false, 0, 0, 0, "bad JSON", false, 0 },
	{ "{'tcp://127.0.0.1:35319': {'status': 'closed', 'processing': 0, "
	    "'keys': 4, 'unique_keys': 3, 'bytes': 2048}}", 1, false, 0, 4, 3,
	    NULL, true, 2048 },
	{ "{'tcp://127.0.0.1:35319': {'status': 'closed', 'processing': 0, "
	    "'keys': 4, 'unique_keys': 3, 'bytes': -1}}", -1, false, 0, 0, 0,
	    "bytes must be", false, 0 },
};

static void
test_drain_table(void **state)
{
	struct dask_drain_info di;
	char err[256];
	size_t i;
	char *in;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_LEN(drain_cases); i++) {
		const struct drain_case *c = &drain_cases[i];

		in = tu_dq(c->in);
		err[0] = '\0';
		memset(&di, 0x55, sizeof(di));
		rc = dask_parse_drain(in, strlen(in), "tcp://127.0.0.1:35319",
		    &di, err, sizeof(err));
		tu_check_rc(in, rc, c->rc, err, c->errsub);
		if (di.draining != c->draining ||
		    di.processing != c->processing || di.keys != c->keys ||
		    di.unique_keys != c->unique || di.gone != c->gone ||
		    (rc == 1 && di.bytes != (c->gone ? c->bytes : -1)))
			fail_msg("%s: got %d/%d/%d/%d, gone %d, %lld bytes", in,
			    di.draining, di.processing, di.keys,
			    di.unique_keys, di.gone, (long long)di.bytes);
		free(in);
	}
}

/* GET /api/v1/edask/changes */
static void
test_changes_table(void **state)
{
	static const struct tu_int_case cases[] = {
		{ "{'seq': 0}", 0, 0, NULL },
		{ "{'seq': 9007199254740993}", 0, INT64_C(9007199254740993),
		    NULL },
		{ "{'seq': 3.0}", 0, 3, NULL },
		{ "{'seq': -1}", -1, 0, "must be an integer" },
		{ "{'seq': 1.5}", -1, 0, "must be an integer" },
		{ "{'seq': '4'}", -1, 0, "must be an integer" },
		{ "{}", -1, 0, "edask/changes: no \"seq\"" },
		{ "{'error': 'gone'}", -1, 0, "edask/changes: gone" },
		{ "[4]", -1, 0, "not a JSON object" },
		{ "", -1, 0, "bad JSON" },
	};

	(void)state;
	tu_check_int_cases(cases, ARRAY_LEN(cases), true, dask_parse_changes);
}

/* The worker forker's reply (src/py/edask_forker.py) */
static void
test_forked_table(void **state)
{
	static const struct tu_int_case cases[] = {
		{ "{'pid': 4242}", 0, 4242, NULL },
		{ "{'pid': 2}", 0, 2, NULL },
		{ "{'pid': 1}", -1, 0, "must be an integer > 1" },
		{ "{'pid': 0}", -1, 0, "must be an integer > 1" },
		{ "{'pid': 2147483648}", -1, 0, "must be an integer > 1" },
		{ "{'pid': '7'}", -1, 0, "must be an integer > 1" },
		{ "{'error': 'bad request'}", -1, 0, "forker: bad request" },
		{ "{'error': 'x', 'pid': 5}", -1, 0, "forker: x" },
		{ "{'error': 'a\\nb\\u0007'}", -1, 0, "forker: a?b?" },
		{ "{}", -1, 0, "forker: no \"pid\"" },
		{ "", -1, 0, "bad JSON" },
	};

	(void)state;
	tu_check_int_cases(cases, ARRAY_LEN(cases), true, parse_forked);
}

/* A NULL or short err buffer is fine. */
static void
test_err_buffers(void **state)
{
	struct dask_metrics m;
	char err[4] = "abc";
	int t;

	(void)state;
	assert_int_equal(dask_parse_target("[]", 2, &t, NULL, 0), -1);
	assert_int_equal(dask_parse_target("[]", 2, &t, err, sizeof(err)),
	    -1);
	assert_int_equal(strlen(err), 3);
	assert_int_equal(dask_parse_metrics("dask_scheduler_tasks x", 22, &m,
	    NULL, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_table),
		cmocka_unit_test(test_metrics_nul_and_length),
		cmocka_unit_test(test_metrics_long_lines),
		cmocka_unit_test(test_reply_too_big),
		cmocka_unit_test(test_target_table),
		cmocka_unit_test(test_identity_table),
		cmocka_unit_test(test_identity_unique_keys),
		cmocka_unit_test(test_identity_max_workers),
		cmocka_unit_test(test_workers_departed),
		cmocka_unit_test(test_retire_table),
		cmocka_unit_test(test_drain_table),
		cmocka_unit_test(test_changes_table),
		cmocka_unit_test(test_forked_table),
		cmocka_unit_test(test_err_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
