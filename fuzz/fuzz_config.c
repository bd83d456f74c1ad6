/*
 * fuzz_config: libFuzzer target for config_parse().
 *
 * Beyond "no crash, no leak", an accepted config must hold what config.h
 * promises (valid unique pool names, at most one local pool, each pool's
 * fields set for its backend and only those), config_pool() must find
 * every pool, and config_to_json() dumped as JSON must parse back (JSON
 * being YAML) to an equal config.  A rejected one must say where, as
 * "file:line:col: ", on one line.  Parsing with no out pointer must give
 * the same answer.
 */
#include "config.h"
#include "fuzz.h"
#include "spec.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
check_pool(const struct config *c, const struct config_pool *p, size_t i)
{
	size_t j;

	ASSERT(spec_name_valid(p->name));
	ASSERT(config_pool(c, p->name) == p);
	for (j = 0; j < i; j++)
		ASSERT(strcmp(c->pools[j].name, p->name) != 0);
	if (strcmp(p->backend, "local") == 0) {
		ASSERT(p->gpus == CONFIG_GPUS_AUTO ||
		    (p->gpus >= 1 && p->gpus <= CONFIG_GPUS_MAX));
		ASSERT(p->slots == 0 && p->partition == NULL &&
		    p->account == NULL && p->gpus_per_job == 0 &&
		    p->time_limit == NULL && p->nsbatch_args == 0 &&
		    p->scheduler_host == NULL);
		for (j = 0; j < i; j++)
			ASSERT(strcmp(c->pools[j].backend, "local") != 0);
		return;
	}
	ASSERT(strcmp(p->backend, "slurm") == 0);
	ASSERT(p->gpus == 0);
	ASSERT(p->slots >= 1 && p->slots <= CONFIG_SLOTS_MAX);
	ASSERT(p->scheduler_host != NULL && p->scheduler_host[0] != '\0');
	ASSERT(p->partition == NULL || p->partition[0] != '\0');
	ASSERT(p->account == NULL || p->account[0] != '\0');
	ASSERT(p->gpus_per_job >= 1 &&
	    p->gpus_per_job <= CONFIG_GPUS_PER_JOB_MAX &&
	    p->slots % p->gpus_per_job == 0);
	ASSERT(p->time_limit == NULL || p->time_limit[0] != '\0');
	for (j = 0; j < p->nsbatch_args; j++)
		ASSERT(p->sbatch_args[j] != NULL &&
		    p->sbatch_args[j][0] != '\0');
}

FUZZ_ROUNDTRIP(config)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c;
	char err[1024], err2[1024];
	size_t i;
	int rc;

	rc = config_parse((const char *)data, size, "fuzz.yaml", &c, err,
	    sizeof(err));
	ASSERT(config_parse((const char *)data, size, "fuzz.yaml", NULL, err2,
	    sizeof(err2)) == rc);
	if (rc == -1) {
		ASSERT(c == NULL);
		fuzz_check_where(err);
		ASSERT(strcmp(err, err2) == 0);
		return 0;
	}
	ASSERT(c != NULL);
	ASSERT(c->listen != NULL && c->state_dir != NULL);
	ASSERT(c->state_dir[0] == '/');
	ASSERT(c->log_file == NULL || c->log_file[0] == '/');
	ASSERT(c->npools >= 1 && c->npools <= CONFIG_POOLS_MAX);
	for (i = 0; i < c->npools; i++)
		check_pool(c, &c->pools[i], i);
	fuzz_roundtrip_config(c, 0);
	fuzz_roundtrip_config(c, JSON_COMPACT);
	fuzz_roundtrip_config(c, JSON_INDENT(2));
	config_free(c);
	return 0;
}
