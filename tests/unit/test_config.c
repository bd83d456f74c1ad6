/*
 * test_config: the daemon config parser.  Table driven like test_spec:
 * each row is one input and what must come out of it, errors compared
 * whole, position included.
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
#include <unistd.h>

#include "config.h"
#include "testutil.h"
#include "util.h"

#define FNAME	"d.yaml"

static const char full_yaml[] =
    "# every key set\n"
    "listen: \"[::1]:9000\"\n"
    "state_dir: /srv/edask\n"
    "log_file: /var/log/edask.log\n"
    "pools:\n"
    "  - {name: local, backend: local, gpus: 4}\n"
    "  - name: cluster\n"
    "    backend: slurm\n"
    "    slots: 16\n"
    "    partition: gpu\n"
    "    time_limit: \"8:00:00\"\n"
    "    sbatch_args: [--account=ml, --qos, high]\n"
    "    scheduler_host: 10.0.0.5\n"
    "  - scheduler_host: login-1.example.org\n"
    "    slots: 1\n"
    "    backend: slurm\n"
    "    name: small\n";

TU_DEFINE_PARSE_OK(parse_ok, config, config_parse, FNAME)

/* yaml parsed, seen through config_to_json(). */
TU_DEFINE_PARSED_JSON(parsed_json, config, parse_ok, config_to_json,
    config_free)

/* Defaults */

static void
check_defaults(const struct config *c)
{
	assert_string_equal(c->listen, "127.0.0.1:8780");
	assert_string_equal(c->state_dir, "/var/lib/edask");
	assert_null(c->log_file);
	assert_int_equal(c->npools, 1);
	assert_string_equal(c->pools[0].name, "local");
	assert_string_equal(c->pools[0].backend, "local");
	assert_int_equal(c->pools[0].gpus, CONFIG_GPUS_AUTO);
	assert_int_equal(c->pools[0].slots, 0);
	assert_null(c->pools[0].partition);
	assert_null(c->pools[0].time_limit);
	assert_int_equal(c->pools[0].nsbatch_args, 0);
	assert_null(c->pools[0].scheduler_host);
}

static void
test_defaults(void **state)
{
	static const char *const empty[] = {
		"", "\n", "# nothing\n", "---\n", "~\n", "null\n", "{}\n",
		"pools:\n", "pools: ~\n", "log_file:\n", "log_file: null\n",
		"---\n...\n---\n",
	};
	struct config *d = config_default(), *c;
	size_t i;

	(void)state;
	check_defaults(d);
	for (i = 0; i < ARRAY_LEN(empty); i++) {
		c = parse_ok(empty[i]);
		check_defaults(c);
		assert_true(config_equal(c, d));
		config_free(c);
	}
	config_free(d);
	config_free(NULL);
}

static void
test_full(void **state)
{
	struct config *c = parse_ok(full_yaml);
	const struct config_pool *p;

	(void)state;
	assert_string_equal(c->listen, "[::1]:9000");
	assert_string_equal(c->state_dir, "/srv/edask");
	assert_string_equal(c->log_file, "/var/log/edask.log");
	assert_int_equal(c->npools, 3);

	p = &c->pools[0];
	assert_string_equal(p->name, "local");
	assert_string_equal(p->backend, "local");
	assert_int_equal(p->gpus, 4);
	assert_int_equal(p->slots, 0);
	assert_null(p->partition);
	assert_null(p->time_limit);
	assert_int_equal(p->nsbatch_args, 0);
	assert_null(p->scheduler_host);

	p = &c->pools[1];
	assert_string_equal(p->name, "cluster");
	assert_string_equal(p->backend, "slurm");
	assert_int_equal(p->gpus, 0);
	assert_int_equal(p->slots, 16);
	assert_string_equal(p->partition, "gpu");
	assert_string_equal(p->time_limit, "8:00:00");
	assert_int_equal(p->nsbatch_args, 3);
	assert_string_equal(p->sbatch_args[0], "--account=ml");
	assert_string_equal(p->sbatch_args[1], "--qos");
	assert_string_equal(p->sbatch_args[2], "high");
	assert_string_equal(p->scheduler_host, "10.0.0.5");

	p = &c->pools[2];
	assert_string_equal(p->name, "small");
	assert_string_equal(p->backend, "slurm");
	assert_int_equal(p->slots, 1);
	assert_null(p->partition);
	assert_null(p->time_limit);
	assert_int_equal(p->nsbatch_args, 0);
	assert_string_equal(p->scheduler_host, "login-1.example.org");

	assert_ptr_equal(config_pool(c, "local"), &c->pools[0]);
	assert_ptr_equal(config_pool(c, "cluster"), &c->pools[1]);
	assert_ptr_equal(config_pool(c, "small"), &c->pools[2]);
	assert_null(config_pool(c, "nope"));
	assert_null(config_pool(c, NULL));
	assert_null(config_pool(NULL, "local"));
	config_free(c);
}

/* Accepted values, seen through config_to_json() */


#define SLURM	"pools: [{name: c, backend: slurm, slots: 2, " \
		"scheduler_host: h, "

static const struct tu_value_case value_cases[] = {
	{ "listen: 0.0.0.0:0\n", "listen", "\"0.0.0.0:0\"" },
	{ "listen: localhost:65535\n", "listen", "\"localhost:65535\"" },
	{ "listen: \"[::]:8780\"\n", "listen", "\"[::]:8780\"" },
	{ "listen: \"[fe80::1:2]:1\"\n", "listen", "\"[fe80::1:2]:1\"" },
	{ "listen: my_host.lan:80\n", "listen", "\"my_host.lan:80\"" },
	{ "state_dir: /\n", "state_dir", "\"/\"" },
	{ "state_dir: \"/a b/c\"\n", "state_dir", "\"/a b/c\"" },
	{ "log_file: /tmp/x.log\n", "log_file", "\"/tmp/x.log\"" },
	{ "log_file: ~\n", "log_file", "null" },
	{ "listen: 1.2.3.4:5\n", "api.open_reads", "true" },
	{ "api: {open_reads: false}\n", "api.open_reads", "false" },
	{ "api: {open_reads: true}\n", "api.open_reads", "true" },
	{ "api: ~\n", "api.open_reads", "true" },
	{ "pools: [{name: a, backend: local}]\n", "pools.0.gpus",
	    "\"auto\"" },
	{ "pools: [{name: a, backend: local, gpus: auto}]\n", "pools.0.gpus",
	    "\"auto\"" },
	{ "pools: [{name: a, backend: local, gpus: 1}]\n", "pools.0.gpus",
	    "1" },
	{ "pools: [{name: a, backend: local, gpus: 1024}]\n", "pools.0.gpus",
	    "1024" },
	{ "pools: [{backend: local, name: z-9}]\n", "pools.0.name",
	    "\"z-9\"" },
	{ "pools: [{name: c, backend: slurm, slots: 1, "
	    "scheduler_host: h}]\n", "pools.0.slots", "1" },
	{ "pools: [{name: c, backend: slurm, slots: 100000, "
	    "scheduler_host: h}]\n", "pools.0.slots", "100000" },
	{ SLURM "partition: gpu}]\n", "pools.0.partition", "\"gpu\"" },
	{ SLURM "partition: \"gpu,gpu2\"}]\n", "pools.0.partition",
	    "\"gpu,gpu2\"" },
	{ SLURM "partition: ~}]\n", "pools.0.partition", "null" },
	{ SLURM "account: ml}]\n", "pools.0.account", "\"ml\"" },
	{ SLURM "account: ~}]\n", "pools.0.account", "null" },
	{ "pools: [{name: c, backend: slurm, slots: 4, gpus_per_job: 2, "
	    "scheduler_host: h}]\n", "pools.0.gpus_per_job", "2" },
	{ "pools: [{name: c, backend: slurm, slots: 4, "
	    "scheduler_host: h}]\n", "pools.0.gpus_per_job", "1" },
	{ SLURM "time_limit: 30}]\n", "pools.0.time_limit", "\"30\"" },
	{ SLURM "time_limit: \"30:00\"}]\n", "pools.0.time_limit",
	    "\"30:00\"" },
	{ SLURM "time_limit: \"08:00:00\"}]\n", "pools.0.time_limit",
	    "\"08:00:00\"" },
	{ SLURM "time_limit: \"100:00:00\"}]\n", "pools.0.time_limit",
	    "\"100:00:00\"" },
	{ SLURM "time_limit: 2-12}]\n", "pools.0.time_limit", "\"2-12\"" },
	{ SLURM "time_limit: \"2-12:30\"}]\n", "pools.0.time_limit",
	    "\"2-12:30\"" },
	{ SLURM "time_limit: \"1-00:00:01\"}]\n", "pools.0.time_limit",
	    "\"1-00:00:01\"" },
	{ SLURM "time_limit: \"0:1\"}]\n", "pools.0.time_limit",
	    "\"0:1\"" },
	{ SLURM "time_limit: ~}]\n", "pools.0.time_limit", "null" },
	/* retire_before_limit: 2 minutes, at most a quarter of the limit,
	 * unless written */
	{ SLURM "time_limit: \"30:00\"}]\n", "pools.0.retire_before_limit",
	    "\"120s\"" },
	{ SLURM "time_limit: \"1:00\"}]\n", "pools.0.retire_before_limit",
	    "\"15s\"" },
	{ SLURM "time_limit: ~}]\n", "pools.0.retire_before_limit",
	    "\"0s\"" },
	{ SLURM "time_limit: \"1:00\", retire_before_limit: 45s}]\n",
	    "pools.0.retire_before_limit", "\"45s\"" },
	{ SLURM "time_limit: \"30:00\", retire_before_limit: 0s}]\n",
	    "pools.0.retire_before_limit", "\"0s\"" },
	{ SLURM "retire_before_limit: 1500ms}]\n",
	    "pools.0.retire_before_limit", "\"1500ms\"" },
	{ SLURM "sbatch_args: []}]\n", "pools.0.sbatch_args", "[]" },
	{ SLURM "sbatch_args: ~}]\n", "pools.0.sbatch_args", "[]" },
	{ SLURM "sbatch_args: [\"--mem 4G\"]}]\n", "pools.0.sbatch_args",
	    "[\"--mem 4G\"]" },
	{ "pools: [{name: c, backend: slurm, slots: 2, "
	    "scheduler_host: \"fd00::5\"}]\n", "pools.0.scheduler_host",
	    "\"fd00::5\"" },
	{ "pools: [{name: c, backend: slurm, slots: 2, "
	    "scheduler_host: node_7}]\n", "pools.0.scheduler_host",
	    "\"node_7\"" },
	/* a local pool next to slurm ones, in any order */
	{ "pools:\n"
	  "  - {name: b, backend: slurm, slots: 2, scheduler_host: h}\n"
	  "  - {name: a, backend: local}\n"
	  "  - {name: c, backend: slurm, slots: 3, scheduler_host: h}\n",
	    "pools.2.slots", "3" },
	/* anchors and aliases are fine */
	{ "pools:\n"
	  "  - {name: a, backend: slurm, slots: &n 4, scheduler_host: h}\n"
	  "  - {name: b, backend: slurm, slots: *n, scheduler_host: h}\n",
	    "pools.1.slots", "4" },
	/* JSON is YAML */
	{ "{\"listen\": \"127.0.0.1:1\", \"pools\": [{\"name\": \"l\", "
	    "\"backend\": \"local\", \"gpus\": 2}]}", "pools.0.gpus", "2" },
};

static void
test_values(void **state)
{
	(void)state;
	tu_check_values(value_cases, ARRAY_LEN(value_cases), parsed_json);
}

/* Refused configs, with the whole message */

#define L0	"pools: [{name: a, backend: local, "
#define S0	"pools: [{name: c, backend: slurm, slots: 2, " \
		"scheduler_host: h, "

static const struct tu_error_case error_cases[] = {
	/* the document */
	{ "- a\n",
	    "d.yaml:1:1: config must be a mapping (e.g. listen: "
	    "127.0.0.1:8780), got a sequence" },
	{ "hello\n",
	    "d.yaml:1:1: config must be a mapping (e.g. listen: "
	    "127.0.0.1:8780), got \"hello\"" },
	{ "listen: [\n",
	    "d.yaml:2:1: did not find expected node content (while parsing "
	    "a flow node at 2:1)" },
	{ "listen: 1:2\n---\nlisten: 1:3\n",
	    "d.yaml:2:1: only one document per config file" },
	{ "a: \"\\xff\"\n\xff",
	    "d.yaml:2:1: invalid leading UTF-8 octet (0xff)" },

	/* top-level keys */
	{ "listen: 127.0.0.1:1\nport: 2\n",
	    "d.yaml:2:1: unknown key \"port\" (expected one of: listen, "
	    "state_dir, log_file, pools, api)" },
	{ "api: [open_reads]\n",
	    "d.yaml:1:6: api must be a mapping (e.g. api: {open_reads: "
	    "false}), got a sequence" },
	{ "api: {open_reads: yes}\n",
	    "d.yaml:1:19: api.open_reads must be true or false, got \"yes\"" },
	{ "api: {open: false}\n",
	    "d.yaml:1:7: unknown key \"open\" in api (expected open_reads)" },
	{ "api: {open_reads: true, open_reads: false}\n",
	    "d.yaml:1:25: duplicate key open_reads in api" },
	{ "state_dir: /a\nstate_dir: /b\n",
	    "d.yaml:2:1: duplicate key \"state_dir\" (first at line 1)" },
	{ "[a]: 1\n",
	    "d.yaml:1:1: keys must be strings, got a sequence" },
	{ "? {a: 1}\n: 2\n",
	    "d.yaml:1:3: keys must be strings, got a mapping" },

	/* listen */
	{ "listen: 8780\n",
	    "d.yaml:1:9: listen must be HOST:PORT or [IPv6]:PORT (e.g. "
	    "127.0.0.1:8780), got \"8780\"" },
	{ "listen:\n",
	    "d.yaml:1:8: listen must be HOST:PORT or [IPv6]:PORT (e.g. "
	    "127.0.0.1:8780), got \"\"" },
	{ "listen: {a: 1}\n",
	    "d.yaml:1:9: listen must be HOST:PORT or [IPv6]:PORT (e.g. "
	    "127.0.0.1:8780), got a mapping" },
	{ "listen: ::1:80\n",
	    "d.yaml:1:9: listen must be HOST:PORT or [IPv6]:PORT (e.g. "
	    "127.0.0.1:8780), got \"::1:80\"" },
	{ "listen: \"[::1]80\"\n",
	    "d.yaml:1:9: listen must be HOST:PORT or [IPv6]:PORT (e.g. "
	    "127.0.0.1:8780), got \"[::1]80\"" },
	{ "listen: \"[::1]\"\n",
	    "d.yaml:1:9: listen must be HOST:PORT or [IPv6]:PORT (e.g. "
	    "127.0.0.1:8780), got \"[::1]\"" },
	{ "listen: 127.0.0.1:65536\n",
	    "d.yaml:1:9: listen port must be an integer between 0 and 65535, "
	    "got \"127.0.0.1:65536\"" },
	{ "listen: 'h:'\n",
	    "d.yaml:1:9: listen port must be an integer between 0 and 65535, "
	    "got \"h:\"" },
	{ "listen: h:-1\n",
	    "d.yaml:1:9: listen port must be an integer between 0 and 65535, "
	    "got \"h:-1\"" },
	{ "listen: h:080\n",
	    "d.yaml:1:9: listen port must be an integer between 0 and 65535, "
	    "got \"h:080\"" },
	{ "listen: h:http\n",
	    "d.yaml:1:9: listen port must be an integer between 0 and 65535, "
	    "got \"h:http\"" },
	{ "listen: :8780\n",
	    "d.yaml:1:9: listen host must be a host name or address, got "
	    "\":8780\"" },
	{ "listen: \"a b:1\"\n",
	    "d.yaml:1:9: listen host must be a host name or address, got "
	    "\"a b:1\"" },
	{ "listen: -h:1\n",
	    "d.yaml:1:9: listen host must be a host name or address, got "
	    "\"-h:1\"" },
	{ "listen: \"[]:1\"\n",
	    "d.yaml:1:9: listen host must be a host name or address, got "
	    "\"[]:1\"" },
	{ "listen: \"[1.2.3.4]:1\"\n",
	    "d.yaml:1:9: listen host must be a host name or address, got "
	    "\"[1.2.3.4]:1\"" },
	{ "listen: \"[::g]:1\"\n",
	    "d.yaml:1:9: listen host must be a host name or address, got "
	    "\"[::g]:1\"" },
	{ "listen: \"h\\0:1\"\n",
	    "d.yaml:1:9: listen contains a NUL byte" },

	/* paths */
	{ "state_dir: var/lib\n",
	    "d.yaml:1:12: state_dir must be an absolute path, got "
	    "\"var/lib\"" },
	{ "state_dir:\n",
	    "d.yaml:1:11: state_dir must be an absolute path, got \"\"" },
	{ "state_dir: [/a]\n",
	    "d.yaml:1:12: state_dir must be an absolute path, got a "
	    "sequence" },
	{ "log_file: x.log\n",
	    "d.yaml:1:11: log_file must be an absolute path, got \"x.log\"" },
	{ "log_file: \"/a\\nb\"\n",
	    "d.yaml:1:11: log_file contains control character U+000A" },
	{ "log_file: \"/a\\x01\"\n",
	    "d.yaml:1:11: log_file contains control character U+0001" },

	/* pools */
	{ "pools: local\n",
	    "d.yaml:1:8: pools must be a sequence of pools, got \"local\"" },
	{ "pools: {name: a}\n",
	    "d.yaml:1:8: pools must be a sequence of pools, got a mapping" },
	{ "pools: []\n",
	    "d.yaml:1:8: pools must list at least one pool" },
	{ "pools: [local]\n",
	    "d.yaml:1:9: pools[0] must be a mapping (e.g. {name: local, "
	    "backend: local}), got \"local\"" },
	{ "pools:\n  - {name: a, backend: local}\n  -\n",
	    "d.yaml:3:4: pools[1] must be a mapping (e.g. {name: local, "
	    "backend: local}), got \"\"" },
	{ "pools:\n  - name: a\n    backend: local\n    size: 3\n",
	    "d.yaml:4:5: unknown key \"size\" in pools[0] (expected one of: "
	    "name, backend, gpus)" },
	{ "pools:\n  - name: a\n    backend: slurm\n    size: 3\n",
	    "d.yaml:4:5: unknown key \"size\" in pools[0] (expected one of: "
	    "name, backend, slots, partition, time_limit, sbatch_args, "
	    "scheduler_host, account, gpus_per_job, retire_before_limit)" },
	{ "pools: [{name: a, size: 3}]\n",
	    "d.yaml:1:19: unknown key \"size\" in pools[0] (expected one of: "
	    "name, backend, gpus, slots, partition, time_limit, sbatch_args, "
	    "scheduler_host, account, gpus_per_job, retire_before_limit)" },
	{ "pools: [{name: a, backend: local, name: b}]\n",
	    "d.yaml:1:35: duplicate key \"name\" in pools[0] (first at line "
	    "1)" },
	{ "pools:\n  - backend: local\n    name: a\n    backend: local\n",
	    "d.yaml:4:5: duplicate key \"backend\" in pools[0] (first at "
	    "line 2)" },
	{ "pools: [{[x]: 1}]\n",
	    "d.yaml:1:10: keys in pools[0] must be strings, got a sequence" },
	{ "pools: [{backend: local}]\n",
	    "d.yaml:1:9: missing required key \"name\" in pools[0]" },
	{ "pools:\n  - {name: a, backend: local}\n  - name: b\n",
	    "d.yaml:3:5: missing required key \"backend\" in pools[1]" },
	{ "pools: [{name: c, backend: slurm, scheduler_host: h}]\n",
	    "d.yaml:1:9: missing required key \"slots\" in pools[0]" },
	{ "pools: [{name: c, backend: slurm, slots: 4}]\n",
	    "d.yaml:1:9: missing required key \"scheduler_host\" in "
	    "pools[0]" },

	/* backend and the keys it allows */
	{ "pools: [{name: a, backend: kubernetes}]\n",
	    "d.yaml:1:28: pools[0].backend must be one of: local, slurm, got "
	    "\"kubernetes\"" },
	{ "pools: [{name: a, backend: [local]}]\n",
	    "d.yaml:1:28: pools[0].backend must be one of: local, slurm, got "
	    "a sequence" },
	{ "pools: [{slots: 3, name: a, backend: local}]\n",
	    "d.yaml:1:10: key \"slots\" is only for backend slurm (pools[0] "
	    "is local)" },
	{ "pools:\n  - name: a\n    backend: local\n    partition: gpu\n",
	    "d.yaml:4:5: key \"partition\" is only for backend slurm "
	    "(pools[0] is local)" },
	{ L0 "scheduler_host: h}]\n",
	    "d.yaml:1:35: key \"scheduler_host\" is only for backend slurm "
	    "(pools[0] is local)" },
	{ L0 "sbatch_args: []}]\n",
	    "d.yaml:1:35: key \"sbatch_args\" is only for backend slurm "
	    "(pools[0] is local)" },
	{ L0 "time_limit: 5}]\n",
	    "d.yaml:1:35: key \"time_limit\" is only for backend slurm "
	    "(pools[0] is local)" },
	{ S0 "gpus: 2}]\n",
	    "d.yaml:1:64: key \"gpus\" is only for backend local (pools[0] "
	    "is slurm)" },

	/* names */
	{ "pools: [{name: Local, backend: local}]\n",
	    "d.yaml:1:16: pools[0].name \"Local\" is invalid: use a-z, 0-9 "
	    "and '-', starting with a letter, at most 32 characters" },
	{ "pools: [{name: abcdefghijklmnopqrstuvwxyz0123456, "
	    "backend: local}]\n",
	    "d.yaml:1:16: pools[0].name \"abcdefghijklmnopqrstuvwxyz0123456\" "
	    "is invalid: use a-z, 0-9 and '-', starting with a letter, at "
	    "most 32 characters" },
	{ "pools: [{name: ~, backend: local}]\n",
	    "d.yaml:1:16: pools[0].name must be a string, got \"~\"" },
	{ "pools: [{name: {}, backend: local}]\n",
	    "d.yaml:1:16: pools[0].name must be a string, got a mapping" },
	{ "pools:\n"
	  "  - {name: a, backend: local}\n"
	  "  - {name: b, backend: slurm, slots: 1, scheduler_host: h}\n"
	  "  - {name: a, backend: slurm, slots: 1, scheduler_host: h}\n",
	    "d.yaml:4:12: duplicate pool name \"a\" (first at line 2)" },
	{ "pools:\n"
	  "  - {name: a, backend: local}\n"
	  "  - {name: b, backend: local}\n",
	    "d.yaml:3:24: only one local pool per daemon (first at line 2)" },
	{ "pools:\n"
	  "  - &p {name: a, backend: local}\n"
	  "  - *p\n",
	    "d.yaml:2:15: duplicate pool name \"a\" (first at line 2)" },

	/* gpus */
	{ L0 "gpus: 0}]\n",
	    "d.yaml:1:41: pools[0].gpus must be \"auto\" or an integer >= 1, "
	    "got \"0\"" },
	{ L0 "gpus: 1025}]\n",
	    "d.yaml:1:41: pools[0].gpus must be an integer <= 1024, got "
	    "\"1025\"" },
	{ L0 "gpus: all}]\n",
	    "d.yaml:1:41: pools[0].gpus must be \"auto\" or an integer >= 1, "
	    "got \"all\"" },
	{ L0 "gpus: 1.5}]\n",
	    "d.yaml:1:41: pools[0].gpus must be \"auto\" or an integer >= 1, "
	    "got \"1.5\"" },
	{ L0 "gpus: 99999999999999999999}]\n",
	    "d.yaml:1:41: pools[0].gpus must be an integer <= 1024, got "
	    "\"99999999999999999999\"" },

	/* slots */
	{ "pools:\n"
	  "  - {name: local, backend: local, gpus: auto}\n"
	  "  - name: cluster\n"
	  "    backend: slurm\n"
	  "    slots: many\n",
	    "d.yaml:5:12: pools[1].slots must be an integer >= 1, got "
	    "\"many\"" },
	{ "pools: [{name: c, backend: slurm, slots: 0}]\n",
	    "d.yaml:1:42: pools[0].slots must be an integer >= 1, got \"0\"" },
	{ "pools: [{name: c, backend: slurm, slots: 100001}]\n",
	    "d.yaml:1:42: pools[0].slots must be an integer <= 100000, got "
	    "\"100001\"" },
	{ "pools: [{name: c, backend: slurm, slots: [1]}]\n",
	    "d.yaml:1:42: pools[0].slots must be an integer >= 1, got a "
	    "sequence" },

	/* partition, time_limit, sbatch_args, scheduler_host */
	{ S0 "partition: \"\"}]\n",
	    "d.yaml:1:75: pools[0].partition must be a non-empty string, got "
	    "\"\"" },
	{ S0 "partition: \"g p\"}]\n",
	    "d.yaml:1:75: pools[0].partition must be a partition name without "
	    "blanks, got \"g p\"" },
	{ S0 "account: \"a b\"}]\n",
	    "d.yaml:1:73: pools[0].account must be an account name without "
	    "blanks, got \"a b\"" },
	{ S0 "gpus_per_job: 0}]\n",
	    "d.yaml:1:78: pools[0].gpus_per_job must be an integer >= 1, got "
	    "\"0\"" },
	{ S0 "gpus_per_job: 65}]\n",
	    "d.yaml:1:78: pools[0].gpus_per_job must be an integer <= 64, got "
	    "\"65\"" },
	{ "pools: [{name: c, backend: slurm, slots: 6, gpus_per_job: 4, "
	    "scheduler_host: h}]\n",
	    "d.yaml:1:42: pools[0].slots (6) must be a multiple of "
	    "gpus_per_job (4): a worker is one job of gpus_per_job GPUs" },
	{ S0 "time_limit: \"1:00\", retire_before_limit: 1m}]\n",
	    "d.yaml:1:105: pools[0].retire_before_limit must be shorter than "
	    "time_limit (1:00)" },
	{ S0 "retire_before_limit: soon}]\n",
	    "d.yaml:1:85: pools[0].retire_before_limit must be a duration "
	    "from 0s to 24h (e.g. 2m, 90s), got \"soon\"" },
	{ S0 "retire_before_limit: 25h}]\n",
	    "d.yaml:1:85: pools[0].retire_before_limit must be a duration "
	    "from 0s to 24h (e.g. 2m, 90s), got \"25h\"" },
	{ S0 "time_limit: 8h}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit \"8h\" (use MM, "
	    "MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: \"1:60\"}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit \"1:60\" (use "
	    "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: \"1:2:3:4\"}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit \"1:2:3:4\" "
	    "(use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: \"1-24\"}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit \"1-24\" (use "
	    "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: \"-1\"}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit \"-1\" (use "
	    "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: \"1::00\"}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit \"1::00\" (use "
	    "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: \"1:00:000\"}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit \"1:00:000\" "
	    "(use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: \"\"}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit \"\" (use MM, "
	    "MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: {}}]\n",
	    "d.yaml:1:76: pools[0].time_limit: bad time limit a mapping (use "
	    "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)" },
	{ S0 "time_limit: \"0:00:00\"}]\n",
	    "d.yaml:1:76: pools[0].time_limit must be more than zero, got "
	    "\"0:00:00\"" },
	{ S0 "sbatch_args: --qos=high}]\n",
	    "d.yaml:1:77: pools[0].sbatch_args must be a sequence of strings, "
	    "got \"--qos=high\"" },
	{ S0 "sbatch_args: [a, [b]]}]\n",
	    "d.yaml:1:81: pools[0].sbatch_args[1] must be a non-empty string, "
	    "got a sequence" },
	{ S0 "sbatch_args: [\"\"]}]\n",
	    "d.yaml:1:78: pools[0].sbatch_args[0] must be a non-empty string, "
	    "got \"\"" },
	{ S0 "sbatch_args: [\"a\\x7f\"]}]\n",
	    "d.yaml:1:78: pools[0].sbatch_args[0] contains control character "
	    "U+007F" },
	{ "pools: [{name: c, backend: slurm, slots: 1, "
	    "scheduler_host: \"a b\"}]\n",
	    "d.yaml:1:61: pools[0].scheduler_host must be a host name or "
	    "address, got \"a b\"" },
	{ "pools: [{name: c, backend: slurm, slots: 1, "
	    "scheduler_host: \"[::1]\"}]\n",
	    "d.yaml:1:61: pools[0].scheduler_host must be a host name or "
	    "address, got \"[::1]\"" },
	{ "pools: [{name: c, backend: slurm, slots: 1, "
	    "scheduler_host: ~}]\n",
	    "d.yaml:1:61: pools[0].scheduler_host must be a non-empty string, "
	    "got \"~\"" },
};

static int
refuse(const char *yaml, char *err, size_t errlen)
{
	struct config *c = (struct config *)&c;
	int rc;

	rc = config_parse(yaml, strlen(yaml), FNAME, &c, err, errlen);
	if (rc == -1)
		assert_null(c);
	else
		config_free(c);
	return rc;
}

static void
test_errors(void **state)
{
	(void)state;
	tu_check_errors(error_cases, ARRAY_LEN(error_cases), refuse);
}

/* Limits and odd arguments */

static void
test_limits(void **state)
{
	struct config *c;
	char err[512], *y, *big;
	size_t i, n;

	(void)state;

	/* 64 pools are fine, 65 are not */
	for (n = 64; n <= 65; n++) {
		y = xstrdup("pools:\n");
		for (i = 0; i < n; i++) {
			char *t = xasprintf("%s  - {name: p%zu, backend: "
			    "slurm, slots: 1, scheduler_host: h}\n", y, i);

			free(y);
			y = t;
		}
		if (n == 64) {
			c = parse_ok(y);
			assert_int_equal(c->npools, 64);
			assert_non_null(config_pool(c, "p63"));
			config_free(c);
		} else {
			assert_int_equal(config_parse(y, strlen(y), FNAME, &c,
			    err, sizeof(err)), -1);
			assert_string_equal(err, "d.yaml:2:3: pools has 65 "
			    "entries, at most 64");
		}
		free(y);
	}

	/* 64 sbatch_args are fine, 65 are not */
	y = tu_repeat(S0 "sbatch_args: [", "-x, ", 64, "]}]\n");
	c = parse_ok(y);
	assert_int_equal(c->pools[0].nsbatch_args, 64);
	config_free(c);
	free(y);
	y = tu_repeat(S0 "sbatch_args: [", "-x, ", 65, "]}]\n");
	assert_int_equal(config_parse(y, strlen(y), FNAME, &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "d.yaml:1:77: pools[0].sbatch_args has 65 "
	    "entries, at most 64");
	free(y);

	/* a path of 4096 bytes is too long */
	y = tu_repeat("state_dir: /", "a", 4095, "\n");
	assert_int_equal(config_parse(y, strlen(y), FNAME, &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "d.yaml:1:12: state_dir is too long (4096 "
	    "bytes, at most 4095)");
	free(y);

	/* the whole text */
	big = tu_repeat("", "#", 1024 * 1024 + 1, "");
	assert_int_equal(config_parse(big, strlen(big), FNAME, &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "d.yaml:1:1: config is too large (1048577 "
	    "bytes, at most 1048576)");
	free(big);

	/* NULL text, NULL name, NULL out */
	assert_int_equal(config_parse(NULL, 0, NULL, &c, err, sizeof(err)),
	    0);
	check_defaults(c);
	config_free(c);
	assert_int_equal(config_parse(NULL, 3, NULL, &c, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "<config>:1:1: no text");
	assert_int_equal(config_parse("listen: x\n", 10, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "<config>:1:9: listen must be HOST:PORT or "
	    "[IPv6]:PORT (e.g. 127.0.0.1:8780), got \"x\"");
	assert_int_equal(config_parse(full_yaml, strlen(full_yaml), NULL,
	    NULL, err, sizeof(err)), 0);
	/* a tiny buffer is cut, not overrun */
	assert_int_equal(config_parse("x: 1\n", 5, FNAME, &c, err, 8), -1);
	assert_string_equal(err, "d.yaml:");
}

/* config_to_json() reads back to the same config. */
static void
test_roundtrip(void **state)
{
	static const char *const inputs[] = { full_yaml, "", SLURM "}]\n",
	    "log_file: /l\npools: [{name: x, backend: local, gpus: 3}]\n" };
	struct config *a, *b;
	char err[512], *text;
	json_t *j;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(inputs); i++) {
		a = parse_ok(inputs[i]);
		j = config_to_json(a);
		text = json_dumps(j, JSON_INDENT(2));
		if (config_parse(text, strlen(text), "rt.json", &b, err,
		    sizeof(err)) != 0)
			fail_msg("%s\n%s", err, text);
		assert_true(config_equal(a, b));
		free(text);
		json_decref(j);
		config_free(a);
		config_free(b);
	}
	a = parse_ok(full_yaml);
	b = config_default();
	assert_false(config_equal(a, b));
	assert_true(config_equal(NULL, NULL));
	assert_false(config_equal(a, NULL));
	assert_null(config_to_json(NULL));
	config_free(a);
	config_free(b);
}

static void
test_load(void **state)
{
	char dir[64], path[96], err[512];
	struct config *c;

	(void)state;
	tu_mkdtemp(dir, sizeof(dir), "test_config");
	snprintf(path, sizeof(path), "%s/edask.yaml", dir);
	tu_write_file(path, full_yaml, strlen(full_yaml));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->npools, 3);
	config_free(c);

	tu_write_file(path, "pools: 1\n", 9);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_null(c);
	tu_check_textf(err, "%s:1:8: pools must be a sequence of pools, got "
	    "\"1\"", path);

	tu_write_filled(path, '#', 1024 * 1024 + 1);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	tu_check_textf(err, "%s: file is too large (at most 1048576 bytes)",
	    path);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	tu_check_textf(err, "%s: %s", path, strerror(ENOENT));
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
