/*
 * fuzz_slurm: libFuzzer target for the parsers in slurm.c.  The first
 * input byte picks the parser (modulo 3: squeue --json, sbatch --parsable,
 * comment tag), the rest is the input.  Besides crashes, it aborts when a
 * parser reports success with output that breaks its contract: job ids
 * out of range, strings not terminated within their fields, a phase other
 * than slurm_phase_of(state), a tag that does not read back the same.
 * Seeds live in fuzz/corpus/slurm/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "slurm.h"
#include "util.h"

#define DAEMON		"0123456789abcdef"
#define TAG_MAX		512	/* comment bytes tried as a tag */

/* err must come back terminated, whatever the parser wrote. */
static void
check_err(const char *err, size_t errlen)
{
	ASSERT(memchr(err, '\0', errlen) != NULL);
}

static void
check_gres(const char *g)
{
	size_t i;

	for (i = 0; g[i] != '\0'; i++)
		ASSERT((g[i] >= '0' && g[i] <= '9') || g[i] == '-' ||
		    (g[i] == ',' && i > 0 && g[i + 1] != '\0' &&
		    g[i + 1] != ','));
}

static void
check_job(const struct slurm_job *j)
{
	ASSERT(j->id > 0 && j->id <= INT64_C(4294967295));
	ASSERT(memchr(j->name, '\0', sizeof(j->name)) != NULL);
	ASSERT(memchr(j->comment, '\0', sizeof(j->comment)) != NULL);
	ASSERT(memchr(j->state, '\0', sizeof(j->state)) != NULL);
	ASSERT(memchr(j->reason, '\0', sizeof(j->reason)) != NULL);
	ASSERT(memchr(j->node, '\0', sizeof(j->node)) != NULL);
	ASSERT(memchr(j->gres, '\0', sizeof(j->gres)) != NULL);
	ASSERT(strcmp(j->reason, "None") != 0);
	/* a COMPLETING flag makes an ended state ENDING */
	ASSERT(j->phase == slurm_phase_of(j->state) ||
	    (j->phase == SLURM_ENDING &&
	    slurm_phase_of(j->state) == SLURM_ENDED));
	ASSERT(j->submit_time >= 0 && j->start_time >= 0);
	ASSERT(j->phase != SLURM_PENDING || j->start_time == 0);
	check_gres(j->gres);
}

/* A tag read back is written again identically, and read back again. */
static void
check_tag(const char *comment)
{
	char inst[SLURM_NAME_MAX], buf[SLURM_COMMENT_MAX];
	char inst2[SLURM_NAME_MAX];
	int w = 0, w2 = 0;

	if (slurm_tag_parse(comment, DAEMON, inst, sizeof(inst), &w) == -1) {
		ASSERT(inst[0] == '\0' && w == -1);
		return;
	}
	ASSERT(w >= 0);
	slurm_tag(buf, sizeof(buf), DAEMON, inst, w);
	ASSERT(strcmp(buf, comment) == 0);
	ASSERT(slurm_tag_parse(buf, DAEMON, inst2, sizeof(inst2), &w2) == 0);
	ASSERT(strcmp(inst, inst2) == 0 && w == w2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slurm_job *jobs = NULL;
	const char *buf;
	char err[128], *s;
	size_t len, n = 0, i;
	int64_t id = -1;
	int rc;

	if (!fuzz_split(data, size, &buf, &len, err, sizeof(err)))
		return 0;
	switch (data[0] % 3) {
	case 0:
		rc = slurm_parse_squeue(buf, len, &jobs, &n, err, sizeof(err));
		ASSERT(rc == 0 || rc == -1);
		if (rc == -1 || n == 0) {
			ASSERT(jobs == NULL && n == 0);
			break;
		}
		ASSERT(jobs != NULL && n <= SLURM_JOBS_MAX);
		for (i = 0; i < n; i++) {
			check_job(&jobs[i]);
			check_tag(jobs[i].comment);
		}
		free(jobs);
		break;
	case 1:
		rc = slurm_parse_sbatch(buf, len, &id, err, sizeof(err));
		ASSERT(rc == 0 || rc == -1);
		ASSERT(rc == -1 ? id == 0 : id > 0 &&
		    id <= INT64_C(4294967295));
		break;
	default:
		if (len > TAG_MAX)
			len = TAG_MAX;
		s = xstrndup(buf, len);
		check_tag(s);
		free(s);
		break;
	}
	check_err(err, sizeof(err));
	return 0;
}
