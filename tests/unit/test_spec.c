/*
 * test_spec: the instance spec parser.  Table driven: each table row is
 * one input and what must come out of it, errors compared whole, position
 * included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec.h"
#include "testutil.h"
#include "util.h"
#include "yamlx.h"

#define FNAME	"x.yaml"

static const char full_yaml[] =
    "# every field set\n"
    "name: xgb\n"
    "workers:\n"
    "  min: 2\n"
    "  max: 8\n"
    "  gpus: 2\n"
    "  threads: 4\n"
    "  memory: 16GiB\n"
    "  command: dask worker --nthreads 4\n"
    "scaling:\n"
    "  interval: 500ms\n"
    "  idle_timeout: 2m\n"
    "  scale_down_delay: 15s\n"
    "  start_timeout: 1.5m\n"
    "  gpu_idle_util: 7\n"
    "sharing: {owned: 1, share: 3, reclaim_grace: 1h}\n"
    "scheduler: {host: 10.0.0.5, port: 8786, dashboard_port: 8787}\n"
    "notebook: {enabled: true, port: 8888}\n"
    "pool: cluster\n"
    "python: /opt/conda/bin/python\n"
    "env:\n"
    "  OMP_NUM_THREADS: 4\n"
    "  DASK_LOGGING__DISTRIBUTED: \"info\"\n"
    "  EMPTY:\n";

TU_DEFINE_PARSE_OK(parse_ok, spec, spec_parse, FNAME)

/* yaml parsed, seen through spec_to_json(). */
TU_DEFINE_PARSED_JSON(parsed_json, spec, parse_ok, spec_to_json, spec_free)

/*
 * Checks every field of s against want (a spec written out in the test),
 * naming the first that differs: one list of fields, so that a field
 * added to struct spec is added here once.
 */
static void
check_spec(const char *what, const struct spec *s, const struct spec *want)
{
	size_t i;

#define INT_FIELD(f)							\
	if ((int64_t)s->f != (int64_t)want->f)				\
		fail_msg("%s: " #f " is %lld, want %lld", what,		\
		    (long long)s->f, (long long)want->f)
#define STR_FIELD(f)							\
	if (strcmp(s->f, want->f) != 0)					\
		fail_msg("%s: " #f " is \"%s\", want \"%s\"", what,	\
		    s->f, want->f)
	STR_FIELD(name);
	INT_FIELD(workers.min);
	INT_FIELD(workers.max);
	INT_FIELD(workers.gpus);
	INT_FIELD(workers.threads);
	INT_FIELD(workers.memory);
	STR_FIELD(workers.command);
	STR_FIELD(workers.imports);
	STR_FIELD(workers.type);
	STR_FIELD(workers.device_memory_limit);
	STR_FIELD(workers.rmm_pool_size);
	INT_FIELD(scaling.interval_ms);
	INT_FIELD(scaling.idle_timeout_ms);
	INT_FIELD(scaling.scale_down_delay_ms);
	INT_FIELD(scaling.start_timeout_ms);
	INT_FIELD(scaling.gpu_idle_util);
	INT_FIELD(sharing.owned);
	INT_FIELD(sharing.share);
	INT_FIELD(sharing.reclaim_grace_ms);
	STR_FIELD(scheduler.host);
	INT_FIELD(scheduler.port);
	INT_FIELD(scheduler.dashboard_port);
	INT_FIELD(notebook.enabled);
	INT_FIELD(notebook.port);
	INT_FIELD(security.tls);
	STR_FIELD(pool);
	STR_FIELD(python);
	INT_FIELD(nenv);
	for (i = 0; i < s->nenv; i++) {
		STR_FIELD(env[i].key);
		STR_FIELD(env[i].value);
	}
#undef INT_FIELD
#undef STR_FIELD
}

/* Defaults */

/* What "name: dask" must come out as, written out field by field. */
static struct spec
default_want(void)
{
	struct spec want = {
		.name = "dask",
		.workers = { .min = 1, .max = SPEC_MAX_ALL, .gpus = 1,
		    .threads = 1, .memory = 0, .command = "auto",
		    .imports = "", .type = "auto", .device_memory_limit = "",
		    .rmm_pool_size = "" },
		.scaling = { .interval_ms = 1000, .idle_timeout_ms = 30000,
		    .scale_down_delay_ms = 10000, .start_timeout_ms = 60000,
		    .gpu_idle_util = 5 },
		.sharing = { .owned = 0, .share = 1,
		    .reclaim_grace_ms = 30000 },
		.scheduler = { .host = "127.0.0.1", .port = 0,
		    .dashboard_port = 0 },
		.notebook = { .enabled = false, .port = 0 },
		.security = { .tls = true },
		.pool = "local",
		.python = (char *)spec_python_auto(),
		.nenv = 0,
	};

	return want;
}

static void
test_defaults(void **state)
{
	struct spec *s = parse_ok("name: dask\n"), *d = spec_default("dask");
	struct spec want = default_want();

	(void)state;
	check_spec("defaults", s, &want);
	assert_true(spec_equal(s, d));
	spec_free(s);
	spec_free(d);
}

/* full_yaml: the defaults with what it sets. */
static void
test_full(void **state)
{
	struct spec *s = parse_ok(full_yaml);
	struct spec_env env[] = {
		{ "OMP_NUM_THREADS", "4" },
		{ "DASK_LOGGING__DISTRIBUTED", "info" },
		{ "EMPTY", "" },
	};
	struct spec want = default_want();

	(void)state;
	want.name = "xgb";
	want.workers.min = 2;
	want.workers.max = 8;
	want.workers.gpus = 2;
	want.workers.threads = 4;
	want.workers.memory = INT64_C(16) << 30;
	want.workers.command = "dask worker --nthreads 4";
	want.scaling.interval_ms = 500;
	want.scaling.idle_timeout_ms = 120000;
	want.scaling.scale_down_delay_ms = 15000;
	want.scaling.start_timeout_ms = 90000;
	want.scaling.gpu_idle_util = 7;
	want.sharing.owned = 1;
	want.sharing.share = 3;
	want.sharing.reclaim_grace_ms = 3600000;
	want.scheduler.host = "10.0.0.5";
	want.scheduler.port = 8786;
	want.scheduler.dashboard_port = 8787;
	want.notebook.enabled = true;
	want.notebook.port = 8888;
	want.pool = "cluster";
	want.python = "/opt/conda/bin/python";
	want.nenv = ARRAY_LEN(env);
	want.env = env;
	check_spec("full", s, &want);
	spec_free(s);
}

/* Accepted values, seen through spec_to_json() */


static const struct tu_value_case value_cases[] = {
	{ "name: a\n", "name", "\"a\"" },
	{ "name: a-1\n", "name", "\"a-1\"" },
	{ "name: abcdefghijklmnopqrstuvwxyz012345\n", "name",
	    "\"abcdefghijklmnopqrstuvwxyz012345\"" },
	{ "name: \"q\"\n", "name", "\"q\"" },
	{ "name: a\n", "workers.max", "null" },
	{ "name: a\nworkers: {max: null}\n", "workers.max", "null" },
	{ "name: a\nworkers: {max: ~}\n", "workers.max", "null" },
	{ "name: a\nworkers: {max: all}\n", "workers.max", "null" },
	{ "name: a\nworkers: {max: 1}\n", "workers.max", "1" },
	{ "name: a\nworkers: {max: 1024}\n", "workers.max", "1024" },
	{ "name: a\nworkers: {min: 0}\n", "workers.min", "0" },
	{ "name: a\nworkers: {min: 1024}\n", "workers.min", "1024" },
	{ "name: a\nworkers: {min: 8, max: 8}\n", "workers.min", "8" },
	{ "name: a\nworkers: {min: \"3\"}\n", "workers.min", "3" },
	{ "name: a\nworkers: {gpus: 0}\n", "workers.gpus", "0" },
	{ "name: a\nworkers: {gpus: 16}\n", "workers.gpus", "16" },
	{ "name: a\nworkers: {threads: 256}\n", "workers.threads", "256" },
	{ "name: a\nworkers: {memory: auto}\n", "workers.memory", "\"auto\"" },
	{ "name: a\nworkers: {memory: 64MiB}\n", "workers.memory",
	    "67108864" },
	{ "name: a\nworkers: {memory: 67108864}\n", "workers.memory",
	    "67108864" },
	{ "name: a\nworkers: {memory: 2gb}\n", "workers.memory",
	    "2000000000" },
	{ "name: a\nworkers: {memory: 1.5GiB}\n", "workers.memory",
	    "1610612736" },
	{ "name: a\nworkers: {memory: 64TiB}\n", "workers.memory",
	    "70368744177664" },
	{ "name: a\nworkers: {command: \"auto\"}\n", "workers.command",
	    "\"auto\"" },
	{ "name: a\nworkers:\n  command: >-\n    dask worker\n"
	    "    --lifetime 1h\n",
	    "workers.command", "\"dask worker --lifetime 1h\"" },
	{ "name: a\nscaling: {interval: 100ms}\n", "scaling.interval",
	    "\"100ms\"" },
	{ "name: a\nscaling: {interval: 1.5s}\n", "scaling.interval",
	    "\"1500ms\"" },
	{ "name: a\nscaling: {interval: 60m}\n", "scaling.interval",
	    "\"1h\"" },
	{ "name: a\nscaling: {idle_timeout: 0s}\n", "scaling.idle_timeout",
	    "\"0s\"" },
	{ "name: a\nscaling: {idle_timeout: 90s}\n", "scaling.idle_timeout",
	    "\"90s\"" },
	{ "name: a\nscaling: {idle_timeout: auto}\n", "scaling.idle_timeout",
	    "\"auto\"" },
	{ "name: a\nscaling: {scale_down_delay: 168h}\n",
	    "scaling.scale_down_delay", "\"168h\"" },
	{ "name: a\nscaling: {start_timeout: 1s}\n", "scaling.start_timeout",
	    "\"1s\"" },
	{ "name: a\nscaling: {gpu_idle_util: 100}\n", "scaling.gpu_idle_util",
	    "100" },
	{ "name: a\nsharing: {share: 1000}\n", "sharing.share", "1000" },
	{ "name: a\nsharing: {owned: 4}\n", "sharing.owned", "4" },
	{ "name: a\nsharing: {reclaim_grace: 2m}\n", "sharing.reclaim_grace",
	    "\"2m\"" },
	{ "name: a\nscheduler: {host: \"::1\"}\n", "scheduler.host",
	    "\"::1\"" },
	{ "name: a\nscheduler: {port: 65535}\n", "scheduler.port", "65535" },
	{ "name: a\nscheduler: {dashboard_port: 0}\n",
	    "scheduler.dashboard_port", "0" },
	{ "name: a\nworkers: {imports: xgboost}\n", "workers.imports",
	    "\"xgboost\"" },
	{ "name: a\nworkers: {imports: \"\"}\n", "workers.imports", "\"\"" },
	{ "name: a\nworkers: {imports: \"xgboost, cupy,dask_ml.xgboost\"}\n",
	    "workers.imports", "\"xgboost, cupy,dask_ml.xgboost\"" },
	{ "name: a\nnotebook: {enabled: true}\n", "notebook.enabled",
	    "true" },
	{ "name: a\nnotebook: {enabled: false}\n", "notebook.enabled",
	    "false" },
	{ "name: a\nnotebook: {port: 8888}\n", "notebook.port", "8888" },
	{ "name: a\npool: cluster\n", "pool", "\"cluster\"" },
	{ "name: a\nworkers: {type: dask-cuda}\n", "workers.type",
	    "\"dask-cuda\"" },
	{ "name: a\nworkers: {type: dask}\n", "workers.type", "\"dask\"" },
	{ "name: a\nworkers: {device_memory_limit: 0.8, rmm_pool_size: "
	    "16GB}\n", "workers.device_memory_limit", "\"0.8\"" },
	{ "name: a\nworkers: {type: dask-cuda, rmm_pool_size: 0.9}\n",
	    "workers.rmm_pool_size", "\"0.9\"" },
	{ "name: a\nworkers: {device_memory_limit: auto}\n",
	    "workers.device_memory_limit", "\"auto\"" },
	{ "name: a\nworkers: {device_memory_limit: 0}\n",
	    "workers.device_memory_limit", "\"0\"" },
	{ "name: a\nworkers: {device_memory_limit: 1.0}\n",
	    "workers.device_memory_limit", "\"1.0\"" },
	{ "name: a\npython: /usr/bin/python3.11\n", "python",
	    "\"/usr/bin/python3.11\"" },
	{ "name: a\npython: python3\n", "python", "\"python3\"" },
	{ "name: a\n", "security.tls", "\"on\"" },
	{ "name: a\nsecurity: {tls: off}\n", "security.tls", "\"off\"" },
	{ "name: a\nsecurity: {tls: on}\n", "security.tls", "\"on\"" },
	{ "name: a\nsecurity: {tls: false}\n", "security.tls", "\"off\"" },
	{ "name: a\nworkers:\nscaling: ~\nsharing: null\nenv:\n", "workers.min",
	    "1" },
	{ "name: a\nenv: {}\n", "env", "{}" },
	{ "name: a\nenv: {_X1: \"a\\tb\\n\", Y: 5, Z: }\n", "env",
	    "{\"_X1\":\"a\\tb\\n\",\"Y\":\"5\",\"Z\":\"\"}" },
	{ "name: a\nenv: {U: \"\\u00e9\"}\n", "env.U", "\"\xc3\xa9\"" },
	/* aliases are resolved */
	{ "name: &n a\nenv: {N: *n}\n", "env.N", "\"a\"" },
	/* JSON is YAML: what spec_to_json() writes reads back */
	{ "{\"name\":\"j\",\"workers\":{\"max\":null,\"memory\":\"auto\"}}",
	    "name", "\"j\"" },
	{ "---\nname: a\n...\n", "name", "\"a\"" },
	{ "name: a\n# comment\n---\n# only comments after\n", "name",
	    "\"a\"" },
	{ "name: a\n---\n...\n--- ~\n", "name", "\"a\"" },
};

static void
test_values(void **state)
{
	(void)state;
	tu_check_values(value_cases, ARRAY_LEN(value_cases), parsed_json);
}

/* Rejected specs: the whole message, position included */

static const struct tu_error_case error_cases[] = {
	/* unknown keys */
	{ "name: a\nworkers: {mn: 1}\n",
	    "x.yaml:2:11: unknown key \"mn\" in workers (expected one of: min, "
	    "max, gpus, threads, memory, command, imports, type, "
	    "device_memory_limit, rmm_pool_size)" },
	{ "name: a\nworkers:\n  min: 1\n  mn: 1\n",
	    "x.yaml:4:3: unknown key \"mn\" in workers (expected one of: min, "
	    "max, gpus, threads, memory, command, imports, type, "
	    "device_memory_limit, rmm_pool_size)" },
	{ "name: a\nfoo: 1\n",
	    "x.yaml:2:1: unknown key \"foo\" (expected one of: name, workers, "
	    "scaling, sharing, scheduler, notebook, security, pool, python, "
	    "env)" },
	{ "name: a\nscaling: {intervall: 1s}\n",
	    "x.yaml:2:11: unknown key \"intervall\" in scaling (expected one "
	    "of: interval, idle_timeout, scale_down_delay, start_timeout, "
	    "gpu_idle_util)" },
	{ "name: a\nsharing: {weight: 2}\n",
	    "x.yaml:2:11: unknown key \"weight\" in sharing (expected one of: "
	    "owned, share, reclaim_grace)" },
	{ "name: a\nscheduler: {addr: x}\n",
	    "x.yaml:2:13: unknown key \"addr\" in scheduler (expected one of: "
	    "host, port, dashboard_port)" },
	{ "name: a\n<<: {pool: x}\n",
	    "x.yaml:2:1: unknown key \"<<\" (expected one of: name, workers, "
	    "scaling, sharing, scheduler, notebook, security, pool, python, "
	    "env)" },
	{ "name: a\nworkers: {\"mn\\x1b\\u0085\": 1}\n",
	    "x.yaml:2:11: unknown key \"mn\\x1b\\u0085\" in workers (expected "
	    "one of: min, max, gpus, threads, memory, command, imports, type, "
	    "device_memory_limit, rmm_pool_size)" },
	/* integers */
	{ "name: a\nworkers:\n  min: abc\n",
	    "x.yaml:3:8: workers.min must be an integer >= 0, got \"abc\"" },
	{ "name: a\nworkers: {min: -1}\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got \"-1\"" },
	{ "name: a\nworkers: {min: 1.5}\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got \"1.5\"" },
	{ "name: a\nworkers: {min: 0x10}\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got \"0x10\"" },
	{ "name: a\nworkers: {min: 010}\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got \"010\"" },
	{ "name: a\nworkers: {min: +1}\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got \"+1\"" },
	{ "name: a\nworkers: {min: \"\"}\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got \"\"" },
	{ "name: a\nworkers: {min: }\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got \"\"" },
	{ "name: a\nworkers: {min: 2000}\n",
	    "x.yaml:2:16: workers.min must be an integer <= 1024, got "
	    "\"2000\"" },
	{ "name: a\nworkers: {min: 99999999999999999999}\n",
	    "x.yaml:2:16: workers.min must be an integer <= 1024, got "
	    "\"99999999999999999999\"" },
	{ "name: a\nworkers: {min: -99999999999999999999}\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got "
	    "\"-99999999999999999999\"" },
	{ "name: a\nworkers: {max: 0}\n",
	    "x.yaml:2:16: workers.max must be an integer >= 1 (or null for all "
	    "slots), got \"0\"" },
	{ "name: a\nworkers: {max: 1025}\n",
	    "x.yaml:2:16: workers.max must be an integer <= 1024, got "
	    "\"1025\"" },
	{ "name: a\nworkers: {gpus: 17}\n",
	    "x.yaml:2:17: workers.gpus must be an integer <= 16, got \"17\"" },
	{ "name: a\nworkers: {threads: 0}\n",
	    "x.yaml:2:20: workers.threads must be an integer >= 1, got \"0\"" },
	{ "name: a\nworkers: {threads: 257}\n",
	    "x.yaml:2:20: workers.threads must be an integer <= 256, got "
	    "\"257\"" },
	{ "name: a\nscaling: {gpu_idle_util: 101}\n",
	    "x.yaml:2:26: scaling.gpu_idle_util must be an integer <= 100, got "
	    "\"101\"" },
	{ "name: a\nsharing: {share: 0}\n",
	    "x.yaml:2:18: sharing.share must be an integer >= 1, got \"0\"" },
	{ "name: a\nsharing: {owned: -2}\n",
	    "x.yaml:2:18: sharing.owned must be an integer >= 0, got \"-2\"" },
	{ "name: a\nworkers: {imports: \"xgboost,\"}\n",
	    "x.yaml:2:20: workers.imports \"xgboost,\" must be Python module "
	    "names separated by commas (e.g. \"xgboost, cupy\")" },
	{ "name: a\nworkers: {imports: \"os; rm\"}\n",
	    "x.yaml:2:20: workers.imports \"os; rm\" must be Python module "
	    "names separated by commas (e.g. \"xgboost, cupy\")" },
	{ "name: a\nworkers: {imports: 9lives}\n",
	    "x.yaml:2:20: workers.imports \"9lives\" must be Python module "
	    "names separated by commas (e.g. \"xgboost, cupy\")" },
	{ "name: a\nworkers: {imports: \"a..b\"}\n",
	    "x.yaml:2:20: workers.imports \"a..b\" must be Python module "
	    "names separated by commas (e.g. \"xgboost, cupy\")" },
	{ "name: a\nnotebook: {enabled: yes}\n",
	    "x.yaml:2:21: notebook.enabled must be true or false, got "
	    "\"yes\"" },
	{ "name: a\nnotebook: {enabled: 1}\n",
	    "x.yaml:2:21: notebook.enabled must be true or false, got \"1\"" },
	{ "name: a\nnotebook: {enabled: [true]}\n",
	    "x.yaml:2:21: notebook.enabled must be true or false, got a "
	    "sequence" },
	{ "name: a\nnotebook: {port: 65536}\n",
	    "x.yaml:2:18: notebook.port must be an integer <= 65535, got "
	    "\"65536\"" },
	{ "name: a\nnotebook: {url: x}\n",
	    "x.yaml:2:12: unknown key \"url\" in notebook (expected one of: "
	    "enabled, port)" },
	{ "name: a\nnotebook: true\n",
	    "x.yaml:2:11: notebook must be a mapping, got \"true\"" },
	{ "name: a\nscheduler: {port: 70000}\n",
	    "x.yaml:2:19: scheduler.port must be an integer <= 65535, got "
	    "\"70000\"" },
	{ "name: a\nscheduler: {dashboard_port: -1}\n",
	    "x.yaml:2:29: scheduler.dashboard_port must be an integer >= 0, "
	    "got \"-1\"" },
	/* min > max points at min */
	{ "name: a\nworkers:\n  min: 5\n  max: 2\n",
	    "x.yaml:3:8: workers.min (5) is greater than workers.max (2)" },
	{ "workers: {min: 5, max: 2}\nname: a\n",
	    "x.yaml:1:16: workers.min (5) is greater than workers.max (2)" },
	{ "name: a\nworkers: {max: 2, min: 3}\n",
	    "x.yaml:2:24: workers.min (3) is greater than workers.max (2)" },
	/* durations */
	{ "name: a\nscaling: {interval: 3x}\n",
	    "x.yaml:2:21: scaling.interval: bad duration \"3x\" (use e.g. "
	    "500ms, 30s, 2m, 1h)" },
	{ "name: a\nscaling: {interval: 30}\n",
	    "x.yaml:2:21: scaling.interval: bad duration \"30\" (use e.g. "
	    "500ms, 30s, 2m, 1h)" },
	{ "name: a\nsharing: {reclaim_grace: -1s}\n",
	    "x.yaml:2:26: sharing.reclaim_grace: bad duration \"-1s\" (use "
	    "e.g. 500ms, 30s, 2m, 1h)" },
	{ "name: a\nscaling: {interval: 50ms}\n",
	    "x.yaml:2:21: scaling.interval must be between 100ms and 1h, got "
	    "\"50ms\"" },
	{ "name: a\nscaling: {interval: 61m}\n",
	    "x.yaml:2:21: scaling.interval must be between 100ms and 1h, got "
	    "\"61m\"" },
	{ "name: a\nscaling: {start_timeout: 0s}\n",
	    "x.yaml:2:26: scaling.start_timeout must be between 1s and 168h, "
	    "got \"0s\"" },
	{ "name: a\nscaling: {idle_timeout: 169h}\n",
	    "x.yaml:2:25: scaling.idle_timeout must be between 0s and 168h, "
	    "got \"169h\"" },
	{ "name: a\nscaling: {scale_down_delay: 99999999999999999999h}\n",
	    "x.yaml:2:29: scaling.scale_down_delay: bad duration "
	    "\"99999999999999999999h\" (use e.g. 500ms, 30s, 2m, 1h)" },
	{ "name: a\nscaling: {interval: [1s]}\n",
	    "x.yaml:2:21: scaling.interval must be a duration (e.g. 500ms, "
	    "30s, 2m, 1h), got a sequence" },
	/* sizes */
	{ "name: a\nworkers: {memory: 4QB}\n",
	    "x.yaml:2:19: workers.memory: bad size \"4QB\" (use e.g. 512MiB, "
	    "4GiB, 2GB, or bytes)" },
	{ "name: a\nworkers: {memory: -4GiB}\n",
	    "x.yaml:2:19: workers.memory: bad size \"-4GiB\" (use e.g. 512MiB, "
	    "4GiB, 2GB, or bytes)" },
	{ "name: a\nworkers: {memory: 1MiB}\n",
	    "x.yaml:2:19: workers.memory must be \"auto\" or a size between "
	    "64MiB and 64TiB, got \"1MiB\"" },
	{ "name: a\nworkers: {memory: 65TiB}\n",
	    "x.yaml:2:19: workers.memory must be \"auto\" or a size between "
	    "64MiB and 64TiB, got \"65TiB\"" },
	{ "name: a\nworkers: {memory: {}}\n",
	    "x.yaml:2:19: workers.memory must be \"auto\" or a size (e.g. "
	    "512MiB, 4GiB), got a mapping" },
	/* name */
	{ "name: Bad_Name\n",
	    "x.yaml:1:7: name \"Bad_Name\" is invalid: use a-z, 0-9 and '-', "
	    "starting with a letter, at most 32 characters" },
	{ "name: 1abc\n",
	    "x.yaml:1:7: name \"1abc\" is invalid: use a-z, 0-9 and '-', "
	    "starting with a letter, at most 32 characters" },
	{ "name: abcdefghijklmnopqrstuvwxyz0123456\n",
	    "x.yaml:1:7: name \"abcdefghijklmnopqrstuvwxyz0123456\" is "
	    "invalid: use a-z, 0-9 and '-', starting with a letter, at most 32 "
	    "characters" },
	{ "name: \"a\\0b\"\n",
	    "x.yaml:1:7: name \"a\\x00b\" is invalid: use a-z, 0-9 and '-', "
	    "starting with a letter, at most 32 characters" },
	{ "name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    "x.yaml:1:7: name "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is "
	    "invalid: use a-z, 0-9 and '-', starting with a letter, at most 32 "
	    "characters" },
	{ "name:\n", "x.yaml:1:6: name must be a string, got \"\"" },
	{ "name: {a: 1}\n",
	    "x.yaml:1:7: name must be a string, got a mapping" },
	{ "workers: {min: 1}\n",
	    "x.yaml:1:1: missing required key \"name\"" },
	{ "# a comment\n\npool: local\n",
	    "x.yaml:1:1: missing required key \"name\"" },
	/* worker types and dask-cuda's sizes */
	{ "name: a\nworkers: {type: cuda}\n",
	    "x.yaml:2:17: workers.type \"cuda\" must be auto, dask or "
	    "dask-cuda" },
	{ "name: a\nworkers: {device_memory_limit: 1.5}\n",
	    "x.yaml:2:32: workers.device_memory_limit \"1.5\" must be auto, "
	    "a size (16GB), a fraction of the GPU's memory (0.8), or 0 for no "
	    "spilling" },
	{ "name: a\nworkers: {rmm_pool_size: auto}\n",
	    "x.yaml:2:26: workers.rmm_pool_size \"auto\" must be a size "
	    "(16GB) or a fraction of the GPU's memory (0.9)" },
	{ "name: a\nworkers: {rmm_pool_size: 0}\n",
	    "x.yaml:2:26: workers.rmm_pool_size \"0\" must be a size "
	    "(16GB) or a fraction of the GPU's memory (0.9)" },
	{ "name: a\nworkers: {type: dask, rmm_pool_size: 1GB}\n",
	    "x.yaml:2:38: workers.rmm_pool_size is for dask-cuda workers, "
	    "but workers.type is dask" },
	/* strings */
	{ "name: a\npython: \"\"\n",
	    "x.yaml:2:9: python must be a non-empty string, got \"\"" },
	{ "name: a\nsecurity: {tls: no}\n",
	    "x.yaml:2:17: security.tls must be on or off, got \"no\"" },
	{ "name: a\nsecurity: {ssl: on}\n",
	    "x.yaml:2:12: unknown key \"ssl\" in security (expected one of: "
	    "tls)" },
	{ "name: a\npython: ../../bin/sh\n",
	    "x.yaml:2:9: python must be auto, an absolute path or a command on "
	    "PATH, got \"../../bin/sh\" (a relative path)" },
	{ "name: a\npython: venv/bin/python\n",
	    "x.yaml:2:9: python must be auto, an absolute path or a command on "
	    "PATH, got \"venv/bin/python\" (a relative path)" },
	{ "name: a\npython: [x]\n",
	    "x.yaml:2:9: python must be a non-empty string, got a sequence" },
	{ "name: a\nworkers: {command: ~}\n",
	    "x.yaml:2:20: workers.command must be a non-empty string, got "
	    "\"~\"" },
	{ "name: a\npool: null\n",
	    "x.yaml:2:7: pool must be a non-empty string, got \"null\"" },
	{ "name: a\nscheduler: {host: \"\"}\n",
	    "x.yaml:2:19: scheduler.host must be a non-empty string, got "
	    "\"\"" },
	{ "name: a\nscheduler: {host: \"a b\"}\n",
	    "x.yaml:2:19: scheduler.host must be a host name or address, got "
	    "\"a b\"" },
	{ "name: a\npython: \"/bin/\\0x\"\n",
	    "x.yaml:2:9: python contains a NUL byte" },
	{ "name: a\nworkers: {command: \"a\\x07\"}\n",
	    "x.yaml:2:20: workers.command contains control character U+0007" },
	{ "name: a\nenv: {A: \"x\\u2028y\"}\n",
	    "x.yaml:2:10: env.A contains control character U+2028" },
	/* env */
	{ "name: a\nenv: {1X: a}\n",
	    "x.yaml:2:7: env key \"1X\" is invalid: use A-Z, a-z, 0-9 and '_', "
	    "not starting with a digit" },
	{ "name: a\nenv: {\"A-B\": a}\n",
	    "x.yaml:2:7: env key \"A-B\" is invalid: use A-Z, a-z, 0-9 and "
	    "'_', not starting with a digit" },
	{ "name: a\nenv: {A: {b: 1}}\n",
	    "x.yaml:2:10: env.A must be a string, got a mapping" },
	{ "name: a\nenv: [A]\n",
	    "x.yaml:2:6: env must be a mapping of NAME: value, got a "
	    "sequence" },
	{ "name: a\nenv: {[A]: 1}\n",
	    "x.yaml:2:7: keys in env must be strings, got a sequence" },
	{ "name: a\nenv:\n  A: 1\n  B: 2\n  A: 3\n  B: 4\n",
	    "x.yaml:5:3: duplicate key \"A\" in env (first at line 3)" },
	/* duplicate keys */
	{ "name: a\nname: b\n",
	    "x.yaml:2:1: duplicate key \"name\" (first at line 1)" },
	{ "name: a\nworkers:\n  min: 1\n  min: 2\n",
	    "x.yaml:4:3: duplicate key \"min\" in workers (first at line 3)" },
	{ "name: a\nworkers: {}\nworkers: {}\n",
	    "x.yaml:3:1: duplicate key \"workers\" (first at line 2)" },
	/* wrong shapes */
	{ "name: a\nworkers: [1, 2]\n",
	    "x.yaml:2:10: workers must be a mapping, got a sequence" },
	{ "name: a\nscaling: 5\n",
	    "x.yaml:2:10: scaling must be a mapping, got \"5\"" },
	{ "name: a\nworkers: {min: {a: 1}}\n",
	    "x.yaml:2:16: workers.min must be an integer >= 0, got a mapping" },
	{ "name: a\nsharing: {share: [1]}\n",
	    "x.yaml:2:18: sharing.share must be an integer >= 1, got a "
	    "sequence" },
	{ "name: a\n? [a]\n: 1\n",
	    "x.yaml:2:3: keys must be strings, got a sequence" },
	{ "name: a\nworkers: {{a: 1}: 1}\n",
	    "x.yaml:2:11: keys in workers must be strings, got a mapping" },
	{ "- name: a\n",
	    "x.yaml:1:1: spec must be a mapping (e.g. name: xgb), got a "
	    "sequence" },
	{ "hello\n",
	    "x.yaml:1:1: spec must be a mapping (e.g. name: xgb), got "
	    "\"hello\"" },
	/* empty */
	{ "", "x.yaml:1:1: spec is empty (expected a mapping with at least "
	    "\"name\")" },
	{ "# nothing\n", "x.yaml:1:1: spec is empty (expected a mapping with "
	    "at least \"name\")" },
	{ "---\n", "x.yaml:1:1: spec is empty (expected a mapping with at "
	    "least \"name\")" },
	{ "~\n", "x.yaml:1:1: spec is empty (expected a mapping with at least "
	    "\"name\")" },
	/* documents */
	{ "name: a\n---\nname: b\n",
	    "x.yaml:2:1: only one document per spec file" },
	{ "name: a\n---\n---\n---\n---\nname: b\n",
	    "x.yaml:5:1: only one document per spec file" },
	{ "name: a\n...\n---\n5\n",
	    "x.yaml:3:1: only one document per spec file" },
	{ "name: a\n---\n[\n",
	    "x.yaml:4:1: did not find expected node content (while parsing a "
	    "flow node at 4:1)" },
	/* syntax, from libyaml */
	{ "name: [a\n",
	    "x.yaml:2:1: did not find expected ',' or ']' (while parsing a "
	    "flow sequence at 1:7)" },
	{ "name: a\n\tworkers: {}\n",
	    "x.yaml:2:1: found a tab character that violates indentation "
	    "(while scanning a plain scalar at 1:7)" },
	{ "name: a\n  pool: x\n",
	    "x.yaml:2:7: mapping values are not allowed in this context" },
	{ "name: a\nworkers:\n  min: \x01\n",
	    "x.yaml:3:8: control characters are not allowed (0x1)" },
	{ "name: \"\xff\"\n",
	    "x.yaml:1:8: invalid leading UTF-8 octet (0xff)" },
	{ "name: *x\n", "x.yaml:1:7: found undefined alias" },
	/* aliases: resolved, and checked where the anchor is */
	{ "name: a\nworkers: &w {min: 2}\nscaling: *w\n",
	    "x.yaml:2:14: unknown key \"min\" in scaling (expected one of: "
	    "interval, idle_timeout, scale_down_delay, start_timeout, "
	    "gpu_idle_util)" },
	{ "name: a\nenv: &e {A: *e}\n",
	    "x.yaml:2:6: env.A must be a string, got a mapping" },
	{ "&r {name: a, workers: *r}\n",
	    "x.yaml:1:5: unknown key \"name\" in workers (expected one of: "
	    "min, max, gpus, threads, memory, command, imports, type, "
	    "device_memory_limit, rmm_pool_size)" },
};

/* Refused with no spec out, and validating only (no out pointer) gives
 * the same message. */
static int
refuse(const char *yaml, char *err, size_t errlen)
{
	struct spec *s = (struct spec *)1;
	char again[512];
	int rc;

	rc = spec_parse(yaml, strlen(yaml), FNAME, &s, err, errlen);
	if (rc != -1) {
		spec_free(s);
		return rc;
	}
	if (s != NULL)
		fail_msg("<<%s>>: refused, but a spec came out", yaml);
	if (spec_parse(yaml, strlen(yaml), FNAME, NULL, again,
	    sizeof(again)) != -1 || strcmp(again, err) != 0)
		fail_msg("<<%s>>: validating only says: %s", yaml, again);
	return rc;
}

static void
test_errors(void **state)
{
	(void)state;
	tu_check_errors(error_cases, ARRAY_LEN(error_cases), refuse);
}

/* Raw input: NUL bytes, no terminator, size limits */

static void
test_raw_input(void **state)
{
	static const char nul[] = "name: a\0b\n";
	static const char lead[] = "\0name: a\n";
	struct spec *s;
	char err[256], *big;
	size_t n;

	(void)state;
	assert_int_equal(spec_parse(nul, sizeof(nul) - 1, FNAME, &s, err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "x.yaml:1:8: control characters are not allowed (0x0)");
	assert_int_equal(spec_parse(lead, sizeof(lead) - 1, FNAME, &s, err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "x.yaml:1:1: control characters are not allowed (0x0)");

	/* len bounds the text: no terminator needed, none read past */
	assert_int_equal(spec_parse("name: abXYZ", 8, FNAME, &s, err,
	    sizeof(err)), 0);
	assert_string_equal(s->name, "ab");
	spec_free(s);

	/* NULL text with no length is the empty spec; NULL fname works */
	assert_int_equal(spec_parse(NULL, 0, NULL, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "<spec>:1:1: spec is empty (expected a "
	    "mapping with at least \"name\")");

	/* err may be NULL or short */
	assert_int_equal(spec_parse("x", 1, FNAME, &s, NULL, 0), -1);
	assert_int_equal(spec_parse("x", 1, FNAME, &s, err, 8), -1);
	assert_string_equal(err, "x.yaml:");

	n = 1024 * 1024 + 1;
	big = xmalloc(n);
	memset(big, '#', n);
	assert_int_equal(spec_parse(big, n, FNAME, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "x.yaml:1:1: spec is too large (1048577 "
	    "bytes, at most 1048576)");
	free(big);
}

/* Deep nesting and alias fan-out: rejected, quickly, without a crash */
static void
test_hostile(void **state)
{
	struct spec *s;
	char err[256], *deep;
	size_t depth = 100000, i, o = 0;
	const char *bomb =
	    "a: &a [x, x, x, x, x, x, x, x, x]\n"
	    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	    "name: a\n";

	(void)state;
	deep = xmalloc(16 + 2 * depth);
	o += (size_t)sprintf(deep, "name: a\nenv: ");
	for (i = 0; i < depth; i++)
		deep[o++] = '[';
	for (i = 0; i < depth; i++)
		deep[o++] = ']';
	/* refused at the nesting limit, in linear time (libyaml alone
	 * takes the square of the depth: 11 s here) */
	assert_int_equal(spec_parse(deep, o, FNAME, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "x.yaml:2:69: spec nests deeper than 64 "
	    "levels");
	/* at the limit (the spec's mapping and 63 sequences), read on */
	o = (size_t)sprintf(deep, "name: a\nenv: ");
	for (i = 0; i < 63; i++)
		deep[o++] = '[';
	for (i = 0; i < 63; i++)
		deep[o++] = ']';
	assert_int_equal(spec_parse(deep, o, FNAME, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "x.yaml:2:6: env must be a mapping of NAME: "
	    "value, got a sequence");
	free(deep);

	assert_int_equal(spec_parse(bomb, strlen(bomb), FNAME, &s, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "x.yaml:1:1: unknown key \"a\" (expected one "
	    "of: name, workers, scaling, sharing, scheduler, notebook, "
	    "security, pool, python, env)");
}

/* Round trip: spec_to_json(), dumped, parses back to an equal spec */

static void
test_roundtrip(void **state)
{
	static const size_t flags[] = {
		0, JSON_COMPACT, JSON_INDENT(2), JSON_SORT_KEYS,
	};
	struct spec *s, *t;
	char err[512], *text;
	json_t *j;
	size_t i, k, n = ARRAY_LEN(value_cases) + 1;
	const char *yaml;

	(void)state;
	for (i = 0; i < n; i++) {
		yaml = i < ARRAY_LEN(value_cases) ? value_cases[i].yaml :
		    full_yaml;
		s = parse_ok(yaml);
		j = spec_to_json(s);
		for (k = 0; k < ARRAY_LEN(flags); k++) {
			text = json_dumps(j, flags[k]);
			assert_non_null(text);
			if (spec_parse(text, strlen(text), "rt.json", &t, err,
			    sizeof(err)) != 0)
				fail_msg("case %zu: %s\n%s", i, err, text);
			if (!spec_equal(s, t))
				fail_msg("case %zu differs: %s", i, text);
			spec_free(t);
			free(text);
		}
		json_decref(j);
		spec_free(s);
	}
}

/* Duration, size and name parsers */

struct num_case {
	const char	*in;
	int		 rc;
	int64_t		 want;
};

static const struct num_case duration_cases[] = {
	{ "500ms", 0, 500 },
	{ "1s", 0, 1000 },
	{ "1.5s", 0, 1500 },
	{ "0.001s", 0, 1 },
	{ "1.50000000000000000000000000s", 0, 1500 },
	{ "2m", 0, 120000 },
	{ "1h", 0, 3600000 },
	{ "0s", 0, 0 },
	{ "0ms", 0, 0 },
	{ "05s", 0, 5000 },
	{ "9223372036854775807ms", 0, INT64_MAX },
	{ "2562047788015h", 0, INT64_C(2562047788015) * 3600000 },
	{ "9223372036854775808ms", -1, 0 },
	{ "2562047788016h", -1, 0 },
	{ "99999999999999999999999s", -1, 0 },
	{ "0.0005s", -1, 0 },
	{ "1.5ms", -1, 0 },
	{ "0.1234567890123456789s", -1, 0 },
	{ "30", -1, 0 },
	{ "", -1, 0 },
	{ "s", -1, 0 },
	{ "-1s", -1, 0 },
	{ "+1s", -1, 0 },
	{ "1.s", -1, 0 },
	{ ".5s", -1, 0 },
	{ "1S", -1, 0 },
	{ "1 s", -1, 0 },
	{ " 1s", -1, 0 },
	{ "1s ", -1, 0 },
	{ "1d", -1, 0 },
	{ "1e3ms", -1, 0 },
	{ "1m30s", -1, 0 },
	{ "3x", -1, 0 },
};

static const struct num_case size_cases[] = {
	{ "0", 0, 0 },
	{ "1024", 0, 1024 },
	{ "1.0", 0, 1 },
	{ "1B", 0, 1 },
	{ "1b", 0, 1 },
	{ "2KB", 0, 2000 },
	{ "2kb", 0, 2000 },
	{ "2MB", 0, 2000000 },
	{ "2GB", 0, 2000000000 },
	{ "1TB", 0, INT64_C(1000000000000) },
	{ "1KiB", 0, 1024 },
	{ "512MiB", 0, INT64_C(512) << 20 },
	{ "4GiB", 0, INT64_C(4) << 30 },
	{ "4gib", 0, INT64_C(4) << 30 },
	{ "4GIB", 0, INT64_C(4) << 30 },
	{ "1.5GiB", 0, INT64_C(3) << 29 },
	{ "1TiB", 0, INT64_C(1) << 40 },
	{ "9223372036854775807", 0, INT64_MAX },
	{ "8388607TiB", 0, (INT64_C(8388607)) << 40 },
	{ "9223372036854775808", -1, 0 },
	{ "8388608TiB", -1, 0 },
	{ "99999999999999999999999", -1, 0 },
	{ "1.5", -1, 0 },
	{ "1.3KiB", -1, 0 },
	{ "4QB", -1, 0 },
	{ "4 GiB", -1, 0 },
	{ "-1", -1, 0 },
	{ "+1", -1, 0 },
	{ "", -1, 0 },
	{ "GiB", -1, 0 },
	{ "0x10", -1, 0 },
	{ "1k", -1, 0 },
	{ "1PiB", -1, 0 },
	{ "1e9", -1, 0 },
};

static void
run_num_cases(const struct num_case *cases, size_t n,
    int (*fn)(const char *, int64_t *))
{
	int64_t v;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		v = -12345;
		rc = fn(cases[i].in, &v);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d, want %d", cases[i].in, rc,
			    cases[i].rc);
		if (rc == 0 && v != cases[i].want)
			fail_msg("\"%s\": %lld, want %lld", cases[i].in,
			    (long long)v, (long long)cases[i].want);
	}
	assert_int_equal(fn(NULL, &v), -1);
}

static void
test_duration(void **state)
{
	(void)state;
	run_num_cases(duration_cases, ARRAY_LEN(duration_cases),
	    spec_parse_duration);
}

static void
test_size(void **state)
{
	(void)state;
	run_num_cases(size_cases, ARRAY_LEN(size_cases), spec_parse_size);
}

static const struct {
	const char	*name;
	bool		 ok;
} name_cases[] = {
	{ "a", true },
	{ "xgb", true },
	{ "a-1", true },
	{ "a-", true },
	{ "abcdefghijklmnopqrstuvwxyz012345", true },
	{ "abcdefghijklmnopqrstuvwxyz0123456", false },
	{ "", false },
	{ "1a", false },
	{ "-a", false },
	{ "Bad_Name", false },
	{ "aB", false },
	{ "a_b", false },
	{ "a b", false },
	{ "a.b", false },
	{ "\xc3\xa9", false },
	{ NULL, false },
};

static void
test_name(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(name_cases); i++)
		if (spec_name_valid(name_cases[i].name) != name_cases[i].ok)
			fail_msg("\"%s\": want %d", name_cases[i].name ?
			    name_cases[i].name : "(null)", name_cases[i].ok);
}

/* dup, equal, free */

/* Changes field i of s, so that it no longer equals what it was. */
static void
mutate(struct spec *s, int i)
{
	char **str[] = {
		&s->name, &s->workers.command, &s->scheduler.host, &s->pool,
		&s->python,
	};
	int *num[] = {
		&s->workers.min, &s->workers.max, &s->workers.gpus,
		&s->workers.threads, &s->scaling.gpu_idle_util,
		&s->sharing.owned, &s->sharing.share, &s->scheduler.port,
		&s->scheduler.dashboard_port,
	};
	int64_t *num64[] = {
		&s->workers.memory, &s->scaling.interval_ms,
		&s->scaling.idle_timeout_ms, &s->scaling.scale_down_delay_ms,
		&s->scaling.start_timeout_ms, &s->sharing.reclaim_grace_ms,
	};
	size_t n;

	if ((size_t)i < ARRAY_LEN(str)) {
		n = strlen(*str[i]);
		*str[i] = xrealloc(*str[i], n + 2);
		strcpy(*str[i] + n, "x");
		return;
	}
	i -= (int)ARRAY_LEN(str);
	if ((size_t)i < ARRAY_LEN(num)) {
		(*num[i])++;
		return;
	}
	i -= (int)ARRAY_LEN(num);
	if ((size_t)i < ARRAY_LEN(num64)) {
		(*num64[i])++;
		return;
	}
	i -= (int)ARRAY_LEN(num64);
	switch (i) {
	case 0:
		free(s->env[0].value);
		s->env[0].value = xstrdup("5");
		break;
	case 1:
		free(s->env[0].key);
		s->env[0].key = xstrdup("B");
		break;
	case 2:
		s->nenv--;
		free(s->env[s->nenv].key);
		free(s->env[s->nenv].value);
		break;
	case 3:
		free(s->workers.command);
		s->workers.command = NULL;
		break;
	default:
		fail();
	}
}

#define NMUTATIONS	(5 + 9 + 6 + 4)

static void
test_dup_equal(void **state)
{
	struct spec *s = parse_ok(full_yaml), *d, *a, *b;
	int i;

	(void)state;
	d = spec_dup(s);
	assert_true(d != s && d->name != s->name && d->env != s->env);
	assert_true(spec_equal(s, d));
	assert_true(spec_equal(s, s));
	spec_free(d);
	for (i = 0; i < NMUTATIONS; i++) {
		d = spec_dup(s);
		mutate(d, i);
		if (spec_equal(s, d) || spec_equal(d, s))
			fail_msg("mutation %d not seen", i);
		spec_free(d);
	}

	/* the environment is compared as a set */
	a = parse_ok("name: a\nenv: {A: 1, B: 2}\n");
	b = parse_ok("name: a\nenv: {B: 2, A: 1}\n");
	assert_true(spec_equal(a, b));
	spec_free(b);
	b = parse_ok("name: a\nenv: {B: 1, A: 2}\n");
	assert_false(spec_equal(a, b));
	spec_free(a);
	spec_free(b);

	assert_true(spec_equal(NULL, NULL));
	assert_false(spec_equal(s, NULL));
	assert_false(spec_equal(NULL, s));
	assert_null(spec_dup(NULL));
	assert_null(spec_to_json(NULL));
	spec_free(NULL);
	spec_free(s);

	s = spec_default(NULL);
	assert_string_equal(s->name, "");
	spec_free(s);
}

/*
 * The table, row by row.  This list is written out apart from spec.c's on
 * purpose: a row added there without one here, a default or a LIVE or
 * RESTART flag changed by mistake, fails below.  yaml changes the row's
 * field alone (checked); restart is what spec_restart_fields() must name
 * for that change, NULL when it applies live.
 */
#define PY_AUTO	"<spec_python_auto()>"	/* def: the resolved default */

struct row_case {
	const char	*path;
	const char	*type;
	const char	*def;		/* JSON; NULL for a section */
	const char	*yaml;
	const char	*restart;
};

static const struct row_case row_cases[] = {
	{ "name", "name", "\"a\"", "name: b\n", NULL },
	{ "workers", "section", NULL, NULL, NULL },
	{ "workers.min", "int", "1", "workers: {min: 0}", NULL },
	{ "workers.max", "max", "null", "workers: {max: 4}", NULL },
	{ "workers.gpus", "int", "1", "workers: {gpus: 2}", "workers.gpus" },
	{ "workers.threads", "int", "1", "workers: {threads: 2}",
	    "workers.threads" },
	{ "workers.memory", "size", "\"auto\"", "workers: {memory: 1GiB}",
	    "workers.memory" },
	{ "workers.command", "string", "\"auto\"",
	    "workers: {command: dask worker}", "workers.command" },
	{ "workers.imports", "string", "\"\"", "workers: {imports: xgboost}",
	    "workers.imports" },
	{ "workers.type", "string", "\"auto\"", "workers: {type: dask-cuda}",
	    "workers.type" },
	{ "workers.device_memory_limit", "string", "\"\"",
	    "workers: {device_memory_limit: \"0.5\"}",
	    "workers.device_memory_limit" },
	{ "workers.rmm_pool_size", "string", "\"\"",
	    "workers: {rmm_pool_size: 1GB}", "workers.rmm_pool_size" },
	{ "scaling", "section", NULL, NULL, NULL },
	{ "scaling.interval", "duration", "\"1s\"", "scaling: {interval: 2s}",
	    NULL },
	{ "scaling.idle_timeout", "duration", "\"30s\"",
	    "scaling: {idle_timeout: 1m}", NULL },
	{ "scaling.scale_down_delay", "duration", "\"10s\"",
	    "scaling: {scale_down_delay: 5s}", NULL },
	{ "scaling.start_timeout", "duration", "\"1m\"",
	    "scaling: {start_timeout: 2m}", NULL },
	{ "scaling.gpu_idle_util", "int", "5", "scaling: {gpu_idle_util: 10}",
	    NULL },
	{ "sharing", "section", NULL, NULL, NULL },
	{ "sharing.owned", "int", "0", "sharing: {owned: 1}", NULL },
	{ "sharing.share", "int", "1", "sharing: {share: 2}", NULL },
	{ "sharing.reclaim_grace", "duration", "\"30s\"",
	    "sharing: {reclaim_grace: 1m}", NULL },
	{ "scheduler", "section", NULL, NULL, NULL },
	{ "scheduler.host", "host", "\"127.0.0.1\"",
	    "scheduler: {host: 10.0.0.1}", "scheduler" },
	{ "scheduler.port", "int", "0", "scheduler: {port: 8786}",
	    "scheduler" },
	{ "scheduler.dashboard_port", "int", "0",
	    "scheduler: {dashboard_port: 8787}", "scheduler" },
	{ "notebook", "section", NULL, NULL, NULL },
	{ "notebook.enabled", "bool", "false", "notebook: {enabled: true}",
	    NULL },
	{ "notebook.port", "int", "0", "notebook: {port: 8888}",
	    "notebook.port" },
	{ "security", "section", NULL, NULL, NULL },
	{ "security.tls", "switch", "\"on\"", "security: {tls: off}",
	    "security" },
	{ "pool", "string", "\"local\"", "pool: cluster", "pool" },
	{ "python", "string", PY_AUTO, "python: /opt/py/bin/python",
	    "python" },
	{ "env", "map", "{}", "env: {A: b}", "env" },
};

/* What spec_restart_fields() names when every field changes at once. */
#define ALL_RESTART	"workers.gpus, workers.threads, workers.memory, " \
	"workers.command, workers.imports, workers.type, " \
	"workers.device_memory_limit, workers.rmm_pool_size, scheduler, " \
	"notebook.port, security, pool, python, env"

/* The spec of row_cases[i]: "name: a" and the row's change. */
static struct spec *
row_changed(size_t i)
{
	char yaml[256];

	if (strcmp(row_cases[i].path, "name") == 0)
		snprintf(yaml, sizeof(yaml), "%s", row_cases[i].yaml);
	else
		snprintf(yaml, sizeof(yaml), "name: a\n%s\n",
		    row_cases[i].yaml);
	return parse_ok(yaml);
}

static void
test_table_rows(void **state)
{
	struct spec_field f;
	size_t i;

	(void)state;
	for (i = 0; spec_field_at(i, &f); i++) {
		if (i >= ARRAY_LEN(row_cases))
			fail_msg("row %zu (%s) has no case", i, f.path);
		assert_string_equal(f.path, row_cases[i].path);
		assert_string_equal(f.type, row_cases[i].type);
		assert_string_equal(f.restart != NULL ? f.restart : "(live)",
		    row_cases[i].restart != NULL ? row_cases[i].restart :
		    "(live)");
	}
	assert_int_equal(i, ARRAY_LEN(row_cases));
}

static void
test_table_fields(void **state)
{
	struct spec *d = spec_default("a"), *s, *c;
	json_t *dj = spec_to_json(d), *sj, *want;
	struct spec_field f;
	char buf[512];
	size_t i, j;

	(void)state;
	s = parse_ok("name: a\n");
	assert_true(spec_equal(s, d));
	spec_free(s);
	for (i = 0; i < ARRAY_LEN(row_cases); i++) {
		const struct row_case *r = &row_cases[i];

		if (r->def == NULL)
			continue;
		/* the default */
		if (strcmp(r->def, PY_AUTO) == 0)
			want = json_string(spec_python_auto());
		else
			want = json_loads(r->def, JSON_DECODE_ANY, NULL);
		assert_non_null(want);
		if (!json_equal(tu_json_at(dj, r->path), want))
			fail_msg("%s: default is not %s", r->path, r->def);
		json_decref(want);

		/* the change is seen, and is the only one */
		s = row_changed(i);
		sj = spec_to_json(s);
		for (j = 0; j < ARRAY_LEN(row_cases); j++)
			if (row_cases[j].def != NULL &&
			    json_equal(tu_json_at(sj, row_cases[j].path),
			    tu_json_at(dj, row_cases[j].path)) != (i != j))
				fail_msg("%s: changes %s", r->path,
				    row_cases[j].path);
		json_decref(sj);
		if (spec_equal(d, s) || spec_equal(s, d))
			fail_msg("%s: spec_equal misses the change", r->path);
		c = spec_dup(s);
		assert_true(spec_equal(c, s));
		spec_free(c);

		/* what a change needs, both ways */
		assert_true(spec_field_at(i, &f));
		spec_restart_fields(d, s, buf, sizeof(buf));
		assert_string_equal(buf, r->restart != NULL ? r->restart : "");
		assert_string_equal(buf, f.restart != NULL ? f.restart : "");
		spec_restart_fields(s, d, buf, sizeof(buf));
		assert_string_equal(buf, r->restart != NULL ? r->restart : "");
		spec_restart_fields(s, s, buf, sizeof(buf));
		assert_string_equal(buf, "");
		spec_free(s);
	}
	json_decref(dj);
	spec_free(d);
}

/* Every field changed at once; and the live ones alone. */
static void
test_restart_fields(void **state)
{
	struct spec *d = spec_default("a"), *s, *all, *live;
	json_t *aj = spec_to_json(d), *lj = spec_to_json(d), *sj;
	char buf[512], *text, small[12];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(row_cases); i++) {
		const struct row_case *r = &row_cases[i];
		const char *dot = strchr(r->path, '.');
		char sect[64];
		json_t *o;

		if (r->def == NULL)
			continue;
		s = row_changed(i);
		sj = spec_to_json(s);
		snprintf(sect, sizeof(sect), "%.*s", dot != NULL ?
		    (int)(dot - r->path) : 0, r->path);
		o = dot != NULL ? json_object_get(aj, sect) : aj;
		json_object_set(o, dot != NULL ? dot + 1 : r->path,
		    tu_json_at(sj, r->path));
		if (r->restart == NULL) {
			o = dot != NULL ? json_object_get(lj, sect) : lj;
			json_object_set(o, dot != NULL ? dot + 1 : r->path,
			    tu_json_at(sj, r->path));
		}
		json_decref(sj);
		spec_free(s);
	}
	text = json_dumps(aj, 0);
	all = parse_ok(text);
	free(text);
	text = json_dumps(lj, 0);
	live = parse_ok(text);
	free(text);

	spec_restart_fields(d, all, buf, sizeof(buf));
	assert_string_equal(buf, ALL_RESTART);
	spec_restart_fields(all, d, buf, sizeof(buf));
	assert_string_equal(buf, ALL_RESTART);
	spec_restart_fields(d, live, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_false(spec_equal(d, live));
	spec_restart_fields(live, all, buf, sizeof(buf));
	assert_string_equal(buf, ALL_RESTART);

	/* a short buffer is cut, never overrun */
	memset(small, 'x', sizeof(small));
	spec_restart_fields(d, all, small, 8);
	assert_string_equal(small, "workers");
	assert_int_equal(small[8], 'x');

	/* env is a set here too */
	s = parse_ok("name: a\nenv: {A: 1, B: 2}\n");
	spec_free(live);
	live = parse_ok("name: a\nenv: {B: 2, A: 1}\n");
	spec_restart_fields(s, live, buf, sizeof(buf));
	assert_string_equal(buf, "");
	spec_free(s);

	json_decref(aj);
	json_decref(lj);
	spec_free(all);
	spec_free(live);
	spec_free(d);
}

/* spec_load */

static void
test_load(void **state)
{
	char dir[64], path[256], err[512];
	struct spec *s;

	(void)state;
	tu_mkdtemp(dir, sizeof(dir), "test_spec");

	snprintf(path, sizeof(path), "%s/ok.yaml", dir);
	tu_write_file(path, full_yaml, strlen(full_yaml));
	assert_int_equal(spec_load(path, &s, err, sizeof(err)), 0);
	assert_string_equal(s->name, "xgb");
	spec_free(s);
	assert_int_equal(unlink(path), 0);

	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	tu_write_file(path, "name: a\nworkers: {mn: 1}\n", 25);
	s = (struct spec *)1;
	assert_int_equal(spec_load(path, &s, err, sizeof(err)), -1);
	assert_null(s);
	tu_check_textf(err, "%s:2:11: unknown key \"mn\" in workers (expected "
	    "one of: min, max, gpus, threads, memory, command, imports, type, "
	    "device_memory_limit, rmm_pool_size)", path);
	assert_int_equal(unlink(path), 0);

	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	tu_write_filled(path, '#', 1024 * 1024 + 1);
	assert_int_equal(spec_load(path, &s, err, sizeof(err)), -1);
	tu_check_textf(err, "%s: file is too large (at most 1048576 bytes)",
	    path);
	assert_int_equal(unlink(path), 0);

	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(spec_load(path, &s, err, sizeof(err)), -1);
	tu_check_textf(err, "%s: No such file or directory", path);

	assert_int_equal(spec_load(dir, &s, err, sizeof(err)), -1);
	tu_check_textf(err, "%s: not a regular file (a folder)", dir);

	/* a named pipe with no writer: refused at once, never waited on */
	snprintf(path, sizeof(path), "%s/pipe.yaml", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(spec_load(path, &s, err, sizeof(err)), -1);
	tu_check_textf(err, "%s: not a regular file (a named pipe)", path);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(rmdir(dir), 0);
}

/*
 * spec_check_text, the string check config shares: each row is one YAML
 * document whose root is the value, read as "k" with at most 4 bytes.
 */
static void
test_check_text(void **state)
{
	static const struct {
		const char	*yaml;
		const char	*err;		/* NULL: taken */
	} rows[] = {
		{ "abcd", NULL },
		{ "\"a b\"", NULL },
		{ "abcde", "t.yaml:1:1: k is too long (5 bytes, at most 4)" },
		{ "\"\"", "t.yaml:1:1: k must be a non-empty string, got "
		    "\"\"" },
		{ "~", "t.yaml:1:1: k must be a non-empty string, got \"~\"" },
		{ "[a]", "t.yaml:1:1: k must be a non-empty string, got a "
		    "sequence" },
		{ "\"a\\tb\\x01\"", "t.yaml:1:1: k contains control "
		    "character U+0001" },
	};
	const yaml_node_t *root;
	struct yamlx x;
	char err[256];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		err[0] = '\0';
		assert_int_equal(yamlx_open(&x, rows[i].yaml,
		    strlen(rows[i].yaml), "t.yaml", "spec", 1024, err,
		    sizeof(err), &root), 0);
		assert_non_null(root);
		rc = yamlx_close(&x, spec_check_text(&x, "k", root, 4));
		if (rows[i].err == NULL)
			assert_int_equal(rc, 0);
		else {
			assert_int_equal(rc, -1);
			assert_string_equal(err, rows[i].err);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_raw_input),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_dup_equal),
		cmocka_unit_test(test_table_rows),
		cmocka_unit_test(test_table_fields),
		cmocka_unit_test(test_restart_fields),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_check_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
