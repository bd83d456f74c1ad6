/*
 * test_slurm: the Slurm output parsers and job tags, table driven.  The
 * sample is real `squeue --json` output of Slurm 22.05.8 (Debian 12,
 * openapi v0.0.38), trimmed to a few fields per job; the newer shapes
 * (job_state arrays, number objects) follow, then edge cases and garbage.
 * Inputs are written with ' where the wire has "; tu_dq() swaps them back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm.h"
#include "testutil.h"
#include "util.h"

/* ---------------------------------------------------------------------- */
/* squeue --json */

#define SQ_HEAD								\
	"{'meta':{'plugin':{'type':'openapi/v0.0.38',"			\
	"'name':'Slurm OpenAPI v0.0.38'},'Slurm':{'version':"		\
	"{'major':22,'micro':8,'minor':5},'release':'22.05.8'}},"	\
	"'errors':[],'jobs':["

/*
 * Jobs 1 to 12 from one squeue call, 10 and 13 from one a minute later
 * (by then the backfill scheduler had estimated job 10's start).
 */
#define SQ_SAMPLE SQ_HEAD						\
	"{'job_id':1,'name':'edask-t-1','comment':'edask abc t 1',"	\
	"'job_state':'COMPLETED','state_reason':'None',"		\
	"'batch_host':'edasknode','nodes':'edasknode','gres_detail':[],"\
	"'submit_time':1795618135,'start_time':1795618137,"		\
	"'end_time':1795618167,'partition':'gpu','priority':4294901759,"\
	"'array_task_id':null,'time_limit':null,"			\
	"'tres_per_node':'gres:gpu:1','flags':['TRES_STR_CALC']},"	\
	"{'job_id':5,'name':'edask-t-5','comment':'edask abc t 5',"	\
	"'job_state':'RUNNING','state_reason':'None',"			\
	"'batch_host':'edasknode','nodes':'edasknode',"			\
	"'gres_detail':['gpu:1(IDX:0)'],'submit_time':1795618135,"	\
	"'start_time':1795618168,'end_time':1827154168,"		\
	"'partition':'gpu','priority':4294901755,'array_task_id':null,"	\
	"'time_limit':null,'tres_per_node':'gres:gpu:1',"		\
	"'flags':['JOB_WAS_RUNNING']},"					\
	"{'job_id':6,'name':'edask.t.1',"				\
	"'comment':'edask:0123456789abcdef:t:1','job_state':'RUNNING',"	\
	"'state_reason':'None','batch_host':'edasknode',"		\
	"'nodes':'edasknode','gres_detail':['gpu:1(IDX:1)'],"		\
	"'submit_time':1795618195,'start_time':1795618195,"		\
	"'end_time':1827154195,'partition':'gpu','priority':4294901754,"\
	"'array_task_id':null,'time_limit':null,"			\
	"'tres_per_node':'gres:gpu:1','flags':['JOB_WAS_RUNNING']},"	\
	"{'job_id':9,'name':'edask.t.4',"				\
	"'comment':'edask:0123456789abcdef:t:4','job_state':'PENDING',"	\
	"'state_reason':'Resources','batch_host':'','nodes':'',"	\
	"'gres_detail':[],'submit_time':1795618195,'start_time':0,"	\
	"'end_time':0,'partition':'gpu','priority':4294901751,"		\
	"'array_task_id':null,'time_limit':null,"			\
	"'tres_per_node':'gres:gpu:1','flags':[]},"			\
	"{'job_id':10,'name':'edask.t.5',"				\
	"'comment':'edask:0123456789abcdef:t:5','job_state':'PENDING',"	\
	"'state_reason':'Resources','batch_host':'','nodes':'',"	\
	"'gres_detail':[],'submit_time':1795618195,"			\
	"'start_time':1827154198,'end_time':6122121434,"		\
	"'partition':'gpu','priority':4294901750,'array_task_id':null,"	\
	"'time_limit':null,'tres_per_node':'gres:gpu:1','flags':[]},"	\
	"{'job_id':11,'name':'quick','comment':'','job_state':'PENDING',"\
	"'state_reason':'Priority','batch_host':'','nodes':'',"		\
	"'gres_detail':[],'submit_time':1795618195,'start_time':0,"	\
	"'end_time':0,'partition':'gpu','priority':4294901749,"		\
	"'array_task_id':null,'time_limit':null,'tres_per_node':'',"	\
	"'flags':[]},"							\
	"{'job_id':12,'name':'tocancel','comment':'',"			\
	"'job_state':'CANCELLED','state_reason':'Priority',"		\
	"'batch_host':'','nodes':'','gres_detail':[],"			\
	"'submit_time':1795618195,'start_time':1795618197,"		\
	"'end_time':1795618197,'partition':'gpu','priority':4294901748,"\
	"'array_task_id':null,'time_limit':null,"			\
	"'tres_per_node':'gres:gpu:1','flags':[]},"			\
	"{'job_id':13,'name':'w.sh','comment':'','job_state':'FAILED',"	\
	"'state_reason':'BadConstraints','batch_host':'','nodes':'',"	\
	"'gres_detail':[],'submit_time':1795618198,"			\
	"'start_time':1795618198,'end_time':1795618198,"		\
	"'partition':'gpu','priority':4294901747,'array_task_id':null,"	\
	"'time_limit':null,'tres_per_node':'gres:gpu:9','flags':[]}]}"

#define TAG	"edask:0123456789abcdef:t:"

static const struct slurm_job sample_want[] = {
	{ 1, "edask-t-1", "edask abc t 1", "COMPLETED", SLURM_ENDED, "",
	    "edasknode", "", 1795618135, 1795618137 },
	{ 5, "edask-t-5", "edask abc t 5", "RUNNING", SLURM_RUNNING, "",
	    "edasknode", "0", 1795618135, 1795618168 },
	{ 6, "edask.t.1", TAG "1", "RUNNING", SLURM_RUNNING, "",
	    "edasknode", "1", 1795618195, 1795618195 },
	{ 9, "edask.t.4", TAG "4", "PENDING", SLURM_PENDING, "Resources",
	    "", "", 1795618195, 0 },
	/* start_time is an estimate for a pending job: 0 */
	{ 10, "edask.t.5", TAG "5", "PENDING", SLURM_PENDING, "Resources",
	    "", "", 1795618195, 0 },
	{ 11, "quick", "", "PENDING", SLURM_PENDING, "Priority", "", "",
	    1795618195, 0 },
	/* cancelled while pending: Slurm sets start_time to the cancel */
	{ 12, "tocancel", "", "CANCELLED", SLURM_ENDED, "Priority", "", "",
	    1795618195, 1795618197 },
	{ 13, "w.sh", "", "FAILED", SLURM_ENDED, "BadConstraints", "", "",
	    1795618198, 1795618198 },
};

static void
check_job(const char *cname, size_t i, const struct slurm_job *g,
    const struct slurm_job *w)
{
	if (g->id != w->id || strcmp(g->name, w->name) != 0 ||
	    strcmp(g->comment, w->comment) != 0 ||
	    strcmp(g->state, w->state) != 0 || g->phase != w->phase ||
	    strcmp(g->reason, w->reason) != 0 ||
	    strcmp(g->node, w->node) != 0 || strcmp(g->gres, w->gres) != 0 ||
	    g->submit_time != w->submit_time ||
	    g->start_time != w->start_time)
		fail_msg("%s: job %zu: got id %lld name '%s' comment '%s' "
		    "state '%s' phase %d reason '%s' node '%s' gres '%s' "
		    "submit %lld start %lld", cname, i, (long long)g->id,
		    g->name, g->comment, g->state, g->phase, g->reason,
		    g->node, g->gres, (long long)g->submit_time,
		    (long long)g->start_time);
}

static void
test_squeue_sample(void **state)
{
	struct slurm_job *j;
	char err[256] = "";
	size_t n, i;
	char *in;

	(void)state;
	in = tu_dq(SQ_SAMPLE);
	if (slurm_parse_squeue(in, strlen(in), &j, &n, err, sizeof(err)) != 0)
		fail_msg("sample: %s", err);
	assert_int_equal(n, ARRAY_LEN(sample_want));
	for (i = 0; i < n; i++)
		check_job("sample", i, &j[i], &sample_want[i]);
	free(j);
	free(in);
}

/* A job with the given fields after job_id. */
#define ONE(fields)	"{'jobs':[{'job_id':7" fields "}]}"
#define NUMOBJ(n)	"{'set':true,'infinite':false,'number':" #n "}"

#define NONE		{ 0, "", "", "", 0, "", "", "", 0, 0 }
#define BARE(id)	{ id, "", "", "", SLURM_RUNNING, "", "", "", 0, 0 }
#define GRES(g)		{ 7, "", "", "", SLURM_RUNNING, "", "", g, 0, 0 }

static const struct squeue_case {
	const char		*name;
	const char		*in;
	int			 rc;
	size_t			 n;
	struct slurm_job	 want[3];
	const char		*errsub;	/* in err when rc == -1 */
} squeue_cases[] = {
	{ "no jobs", SQ_HEAD "]}", 0, 0, { NONE }, NULL },
	{ "only jobs", "{'jobs':[]}", 0, 0, { NONE }, NULL },
	{ "errors with jobs: no listing", "{'errors':[{'error':'x',"
	    "'errno':5}],'jobs':[{'job_id':3}]}", -1, 0, { NONE },
	    "reports an error; squeue says: x" },
	{ "controller down: empty jobs and an error (22.05)",
	    "{'errors':[{'error':'Unable to contact slurm controller "
	    "(connect failure)','errno':1007}],'jobs':[]}", -1, 0, { NONE },
	    "squeue says: Unable to contact slurm controller" },
	{ "errors not an array", "{'errors':{},'jobs':[]}", -1, 0, { NONE },
	    "reports an error" },
	{ "bare job: defaults", ONE(""), 0, 1, { BARE(7) }, NULL },
	{ "nulls count as absent", ONE(",'name':null,'comment':null,"
	    "'job_state':null,'state_reason':null,'batch_host':null,"
	    "'nodes':null,'gres_detail':null,'submit_time':null,"
	    "'start_time':null"), 0, 1, { BARE(7) }, NULL },
	{ "data_parser v0.0.40 shape",
	    "{'jobs':[{'job_id':" NUMOBJ(4242) ",'name':'edask.a.0',"
	    "'comment':'edask:00000000000000ff:a:0','job_state':['RUNNING'],"
	    "'state_reason':'None','batch_host':'n1','nodes':'n1',"
	    "'gres_detail':['gpu:a100:1(IDX:3)'],"
	    "'submit_time':" NUMOBJ(1700000000) ","
	    "'start_time':" NUMOBJ(1700000005) ",'end_time':{'set':true,"
	    "'infinite':true,'number':0}},"
	    "{'job_id':4243,'job_state':['PENDING','REQUEUED'],"
	    "'state_reason':'BeginTime','submit_time':" NUMOBJ(1700000001)
	    ",'start_time':" NUMOBJ(1700009999) "},"
	    "{'job_id':4244,'job_state':['COMPLETED','COMPLETING'],"
	    "'batch_host':'n2','submit_time':{'set':false,'infinite':false,"
	    "'number':0},'start_time':{'set':true,'infinite':true,"
	    "'number':0}}]}", 0, 3, {
	    { 4242, "edask.a.0", "edask:00000000000000ff:a:0", "RUNNING",
	    SLURM_RUNNING, "", "n1", "3", 1700000000, 1700000005 },
	    { 4243, "", "", "PENDING", SLURM_PENDING, "BeginTime", "", "",
	    1700000001, 0 },
	    { 4244, "", "", "COMPLETED", SLURM_ENDING, "", "n2", "", 0, 0 } },
	    NULL },
	{ "number object without set and infinite",
	    ONE(",'submit_time':{'number':12}"), 0, 1,
	    { { 7, "", "", "", SLURM_RUNNING, "", "", "", 12, 0 } }, NULL },
	{ "empty job_state array", ONE(",'job_state':[]"), 0, 1,
	    { BARE(7) }, NULL },
	{ "unknown state runs", ONE(",'job_state':'BURNING'"), 0, 1,
	    { { 7, "", "", "BURNING", SLURM_RUNNING, "", "", "", 0, 0 } },
	    NULL },
	{ "state names are case sensitive", ONE(",'job_state':'pending',"
	    "'start_time':5"), 0, 1,
	    { { 7, "", "", "pending", SLURM_RUNNING, "", "", "", 0, 5 } },
	    NULL },
	{ "nodes when batch_host is empty or absent",
	    "{'jobs':[{'job_id':1,'batch_host':'','nodes':'a[1-2]'},"
	    "{'job_id':2,'nodes':'b'},{'job_id':3,'batch_host':'c1',"
	    "'nodes':'c[1-4]'}]}", 0, 3, {
	    { 1, "", "", "", SLURM_RUNNING, "", "a[1-2]", "", 0, 0 },
	    { 2, "", "", "", SLURM_RUNNING, "", "b", "", 0, 0 },
	    { 3, "", "", "", SLURM_RUNNING, "", "c1", "", 0, 0 } }, NULL },
	{ "reason None only", ONE(",'state_reason':'Nonexistent'"), 0, 1,
	    { { 7, "", "", "", SLURM_RUNNING, "Nonexistent", "", "", 0,
	    0 } }, NULL },
	{ "gres range", ONE(",'gres_detail':['gpu:2(IDX:0-1)']"), 0, 1,
	    { GRES("0-1") }, NULL },
	{ "gres typed list", ONE(",'gres_detail':['gpu:tesla:2(IDX:0,2)']"),
	    0, 1, { GRES("0,2") }, NULL },
	{ "gres across entries", ONE(",'gres_detail':['gpu:1(IDX:5)',"
	    "'gpu:2(IDX:0,7-8)']"), 0, 1, { GRES("5,0,7-8") }, NULL },
	{ "gres untyped, no count", ONE(",'gres_detail':['gpu(IDX:4)']"), 0,
	    1, { GRES("4") }, NULL },
	{ "gres N/A and other kinds skipped", ONE(",'gres_detail':["
	    "'gpu:1(IDX:N/A)','mps:100(IDX:0)','gpus:1(IDX:3)',"
	    "'shard:gpu:1(IDX:6)','gpu:1','gpu:1(IDX:2','gpu:1(IDX:)',"
	    "'gpu:1(IDX:1)']"), 0, 1, { GRES("1") }, NULL },
	{ "gres empty items dropped", ONE(",'gres_detail':"
	    "['gpu:3(IDX:,1,,2,)']"), 0, 1, { GRES("1,2") }, NULL },
	{ "largest job id", ONE("}, {'job_id':4294967295"), 0, 2,
	    { BARE(7), BARE(4294967295) }, NULL },
	{ "UTF-8 name", ONE(",'name':'gr\\u00fcn'"), 0, 1,
	    { { 7, "gr\xc3\xbcn", "", "", SLURM_RUNNING, "", "", "", 0, 0 } },
	    NULL },
	{ "deep nesting elsewhere", ONE(",'x':[[[[[[[[[[[[[[[[[[[[[[[[["
	    "]]]]]]]]]]]]]]]]]]]]]]]]]"), 0, 1, { BARE(7) }, NULL },

	{ "empty", "", -1, 0, { NONE }, "bad JSON" },
	{ "truncated", SQ_HEAD "{'job_id':1", -1, 0, { NONE }, "bad JSON" },
	{ "html", "<html>502</html>", -1, 0, { NONE }, "bad JSON" },
	{ "duplicate key", ONE(",'job_id':8"), -1, 0, { NONE }, "bad JSON" },
	{ "NUL in string", ONE(",'name':'a\\u0000b'"), -1, 0, { NONE },
	    "bad JSON" },
	{ "integer beyond int64", ONE(",'priority':18446744073709551615"),
	    -1, 0, { NONE }, "bad JSON" },
	{ "root array", "[]", -1, 0, { NONE }, "not a JSON object" },
	{ "jobs missing", "{'meta':{},'errors':[]}", -1, 0, { NONE },
	    "\"jobs\" missing or not an array" },
	{ "jobs missing, squeue's error",
	    "{'errors':[{'error':'Unable to contact slurm controller',"
	    "'errno':1007}]}", -1, 0, { NONE },
	    "squeue says: Unable to contact slurm controller" },
	{ "jobs missing, newer error", "{'errors':[{'description':'x y',"
	    "'error_number':1,'error':5}]}", -1, 0, { NONE },
	    "squeue says: x y" },
	{ "jobs object", "{'jobs':{}}", -1, 0, { NONE }, "not an array" },
	{ "job not object", "{'jobs':[{'job_id':1},[]]}", -1, 0, { NONE },
	    "jobs[1] is not an object" },
	{ "job_id missing", "{'jobs':[{'name':'x'}]}", -1, 0, { NONE },
	    "jobs[0]: \"job_id\" missing" },
	{ "job_id not set", "{'jobs':[{'job_id':{'set':false,'number':3}}]}",
	    -1, 0, { NONE }, "\"job_id\" missing" },
	{ "job_id 0", "{'jobs':[{'job_id':0}]}", -1, 0, { NONE },
	    "\"job_id\" 0 out of range [1, 4294967295]" },
	{ "job_id negative", "{'jobs':[{'job_id':-3}]}", -1, 0, { NONE },
	    "out of range" },
	{ "job_id above uint32", "{'jobs':[{'job_id':4294967296}]}", -1, 0,
	    { NONE }, "out of range" },
	{ "job_id string", "{'jobs':[{'job_id':'7'}]}", -1, 0, { NONE },
	    "\"job_id\" is neither an integer nor a number object" },
	{ "job_id float", "{'jobs':[{'job_id':7.0}]}", -1, 0, { NONE },
	    "neither an integer" },
	{ "job_id bool", "{'jobs':[{'job_id':true}]}", -1, 0, { NONE },
	    "neither an integer" },
	{ "number object without number", "{'jobs':[{'job_id':{'set':true}}]}",
	    -1, 0, { NONE }, "without an integer \"number\"" },
	{ "number object with string number",
	    "{'jobs':[{'job_id':{'number':'7'}}]}", -1, 0, { NONE },
	    "without an integer \"number\"" },
	{ "number object, set not bool",
	    ONE(",'start_time':{'set':1,'number':2}"), -1, 0, { NONE },
	    "\"start_time\" has a \"set\" or \"infinite\"" },
	{ "number object, infinite not bool",
	    ONE(",'start_time':{'infinite':'no','number':2}"), -1, 0,
	    { NONE }, "\"start_time\" has a \"set\" or \"infinite\"" },
	{ "name number", ONE(",'name':5"), -1, 0, { NONE },
	    "jobs[0]: \"name\" is not a string" },
	{ "comment array", ONE(",'comment':['x']"), -1, 0, { NONE },
	    "\"comment\" is not a string" },
	{ "job_state number", ONE(",'job_state':1"), -1, 0, { NONE },
	    "\"job_state\" is neither a string nor an array" },
	{ "job_state object", ONE(",'job_state':{}"), -1, 0, { NONE },
	    "\"job_state\" is neither" },
	{ "job_state array of numbers", ONE(",'job_state':[1]"), -1, 0,
	    { NONE }, "\"job_state\" has an element" },
	{ "job_state flag not string", ONE(",'job_state':['RUNNING',null]"),
	    -1, 0, { NONE }, "\"job_state\" has an element" },
	{ "state_reason bool", ONE(",'state_reason':true"), -1, 0, { NONE },
	    "\"state_reason\" is not a string" },
	{ "batch_host number", ONE(",'batch_host':5,'nodes':'n'"), -1, 0,
	    { NONE }, "\"batch_host\" is not a string" },
	{ "nodes object", ONE(",'batch_host':'h','nodes':{}"), -1, 0,
	    { NONE }, "\"nodes\" is not a string" },
	{ "gres_detail string", ONE(",'gres_detail':'gpu:1(IDX:0)'"), -1, 0,
	    { NONE }, "\"gres_detail\" is not an array" },
	{ "gres_detail element", ONE(",'gres_detail':['gpu:1(IDX:0)',1]"),
	    -1, 0, { NONE }, "\"gres_detail\" has an element" },
	{ "submit_time string", ONE(",'submit_time':'1700000000'"), -1, 0,
	    { NONE }, "\"submit_time\" is neither" },
	{ "submit_time negative", ONE(",'submit_time':-1"), -1, 0, { NONE },
	    "\"submit_time\" -1 out of range" },
	{ "start_time fraction", ONE(",'start_time':1.5"), -1, 0, { NONE },
	    "\"start_time\" is neither" },
	{ "start_time negative number object",
	    ONE(",'start_time':" NUMOBJ(-5)), -1, 0, { NONE },
	    "\"start_time\" -5 out of range" },
	{ "error names the job's index", "{'jobs':[{'job_id':1},"
	    "{'job_id':2},{'job_id':3,'name':[]}]}", -1, 0, { NONE },
	    "jobs[2]: \"name\"" },
};

/* slurm_parse_squeue as a tu_list_parser */
static int
parse_squeue(const char *in, size_t len, void **list, size_t *n, char *err,
    size_t errlen)
{
	struct slurm_job *j = *list;
	int rc = slurm_parse_squeue(in, len, &j, n, err, errlen);

	*list = j;
	return rc;
}

static void
test_squeue_table(void **state)
{
	const struct squeue_case *c;
	struct slurm_job *j;
	size_t i, k, n;

	(void)state;
	for (i = 0; i < ARRAY_LEN(squeue_cases); i++) {
		c = &squeue_cases[i];
		j = tu_parse_list_dq(c->name, c->in, parse_squeue, c->rc,
		    c->errsub, c->n, &n);
		if (n == 0)
			assert_null(j);
		for (k = 0; k < n; k++)
			check_job(c->name, k, &j[k], &c->want[k]);
		free(j);
	}
}

/* squeue output (what: its name in a failure) that must be refused with
 * errsub in the message, and nothing out. */
static void
squeue_refused(const char *what, const char *buf, size_t len,
    const char *errsub)
{
	size_t n;

	tu_parse_list(what, buf, len, parse_squeue, -1, errsub, 0, &n);
}

/* Length, not NUL, ends the input. */
static void
test_squeue_length(void **state)
{
	static const char nul[] = "{\"jobs\":[]}\0garbage";
	const char *s = "{\"jobs\":[{\"job_id\":7}]} ";
	size_t n;

	(void)state;
	squeue_refused("NUL inside", nul, sizeof(nul) - 1, "bad JSON");
	free(tu_parse_list("up to the NUL", nul, strlen(nul), parse_squeue, 0,
	    NULL, 0, &n));
	squeue_refused("no closing brace", s, strlen(s) - 2, "bad JSON");
	squeue_refused("NULL", NULL, 0, "bad JSON");
}

static struct slurm_job *
parse_one(const char *fields, size_t *n)
{
	struct slurm_job *j;
	char err[256] = "";
	char *in, *json;

	json = xasprintf("{'jobs':[{'job_id':7%s}]}", fields);
	in = tu_dq(json);
	if (slurm_parse_squeue(in, strlen(in), &j, n, err, sizeof(err)) != 0)
		fail_msg("%.60s...: %s", fields, err);
	free(json);
	free(in);
	return j;
}

/* The one job of {'job_id':7<head><rep times n><tail>}. */
static struct slurm_job *
parse_repeated(const char *head, const char *rep, size_t times,
    const char *tail)
{
	char *fields = tu_repeat(head, rep, times, tail);
	struct slurm_job *j;
	size_t n;

	j = parse_one(fields, &n);
	assert_int_equal(n, 1);
	free(fields);
	return j;
}

/* Strings longer than their field are cut, never overflow. */
static void
test_squeue_cut(void **state)
{
	static const struct {
		const char	*key;
		size_t		 off;
		size_t		 size;
	} fields[] = {
		{ "name", offsetof(struct slurm_job, name), SLURM_NAME_MAX },
		{ "comment", offsetof(struct slurm_job, comment),
		    SLURM_COMMENT_MAX },
		{ "job_state", offsetof(struct slurm_job, state),
		    SLURM_STATE_MAX },
		{ "state_reason", offsetof(struct slurm_job, reason),
		    SLURM_REASON_MAX },
		{ "batch_host", offsetof(struct slurm_job, node),
		    SLURM_NODE_MAX },
	};
	struct slurm_job *j;
	const char *got;
	size_t i, len;
	char *head;

	(void)state;
	for (i = 0; i < ARRAY_LEN(fields); i++) {
		head = xasprintf(",'%s':'", fields[i].key);
		for (len = fields[i].size - 1; len <= fields[i].size + 1;
		    len++) {
			j = parse_repeated(head, "a", len, "'");
			got = (const char *)j + fields[i].off;
			assert_non_null(memchr(got, '\0', fields[i].size));
			assert_int_equal(strlen(got), fields[i].size - 1);
			assert_int_equal(strspn(got, "a"), fields[i].size - 1);
			free(j);
		}
		free(head);
	}
	/* A long state is an unknown one. */
	j = parse_repeated(",'job_state':'", "P", 100, "'");
	assert_int_equal(j[0].phase, SLURM_RUNNING);
	free(j);
	/* nodes, when it stands in for batch_host */
	j = parse_repeated(",'nodes':'", "n", 1000, "'");
	assert_int_equal(strlen(j[0].node), SLURM_NODE_MAX - 1);
	free(j);
}

/* A cut backs off to a UTF-8 character boundary. */
static void
test_squeue_cut_utf8(void **state)
{
	struct slurm_job *j;

	(void)state;
	/* 2-byte characters: 127 bytes would keep half of the 64th. */
	j = parse_repeated(",'name':'", "\\u00e9", 100, "'");
	assert_int_equal(strlen(j[0].name), SLURM_NAME_MAX - 2);
	assert_int_equal((unsigned char)j[0].name[SLURM_NAME_MAX - 3], 0xa9);
	free(j);

	/* 4-byte characters from the start of a 32-byte state. */
	j = parse_repeated(",'job_state':'", "\\ud83d\\ude00", 10, "'");
	assert_int_equal(strlen(j[0].state), 28);
	assert_int_equal((unsigned char)j[0].state[0], 0xf0);
	free(j);
}

/* gres keeps whole items only. */
static void
test_squeue_gres_cut(void **state)
{
	struct strbuf b = { 0 };
	struct slurm_job *j;
	size_t i, n;

	(void)state;
	/* "10,11,...": 3 bytes an item, 21 fit in 63, the 22nd does not */
	strbuf_printf(&b, ",'gres_detail':['gpu:40(IDX:10");
	for (i = 11; i < 50; i++)
		strbuf_printf(&b, ",%zu", i);
	strbuf_printf(&b, ")','gpu:1(IDX:7)']");
	j = parse_one(b.p, &n);
	assert_int_equal(strlen(j[0].gres), 62);
	assert_string_equal(j[0].gres + 54, "28,29,30");
	free(j);
	free(b.p);

	/* one item longer than the whole field */
	j = parse_repeated(",'gres_detail':['gpu:1(IDX:", "1", 70,
	    ")','gpu:1(IDX:2)']");
	assert_string_equal(j[0].gres, "");
	free(j);

	/* 61 bytes, then ",22" would need the NUL's byte: stop there */
	j = parse_repeated(",'gres_detail':['gpu:1(IDX:1", ",2", 30,
	    ")','gpu:1(IDX:22)','gpu:1(IDX:3)']");
	assert_int_equal(strlen(j[0].gres), 61);
	assert_string_equal(j[0].gres + 58, "2,2");
	free(j);

	/* exactly 63 bytes fit */
	j = parse_repeated(",'gres_detail':['gpu:1(IDX:1", ",2", 31,
	    ")','gpu:1(IDX:3)']");
	assert_int_equal(strlen(j[0].gres), SLURM_GRES_MAX - 1);
	free(j);
}

/* The i-th of generated jobs: SLURM_JOBS_MAX parse, one more does not. */
static void
job_item(struct strbuf *b, size_t i)
{
	strbuf_printf(b, "{\"job_id\":%zu}", i + 1);
}

static void
test_squeue_max_jobs(void **state)
{
	struct slurm_job *j;
	size_t n;
	char *buf;

	(void)state;
	buf = tu_join("{\"jobs\":[", SLURM_JOBS_MAX, job_item, "]}");
	j = tu_parse_list("most jobs", buf, strlen(buf), parse_squeue, 0, NULL,
	    SLURM_JOBS_MAX, &n);
	assert_int_equal(j[n - 1].id, SLURM_JOBS_MAX);
	free(j);
	free(buf);

	buf = tu_join("{\"jobs\":[", SLURM_JOBS_MAX + 1, job_item, "]}");
	squeue_refused("one job too many", buf, strlen(buf),
	    "100001 jobs, more than 100000");
	free(buf);
}

/* Over 256 MiB is refused before any parsing. */
static void
test_squeue_too_big(void **state)
{
	size_t big = (256u << 20) + 1;
	char *buf;

	(void)state;
	buf = xmalloc(big);
	memset(buf, ' ', big);
	squeue_refused("256 MiB and a byte", buf, big, "more than");
	free(buf);
}

/* ---------------------------------------------------------------------- */
/* sbatch --parsable */

static void
test_sbatch_table(void **state)
{
	static const struct tu_int_case cases[] = {
		{ "123", 0, 123, NULL },
		{ "123\n", 0, 123, NULL },
		{ "123;cluster\n", 0, 123, NULL },
		{ "  \t42\r\n", 0, 42, NULL },
		{ "\n7;edasktest\n\n", 0, 7, NULL },
		{ "0007", 0, 7, NULL },
		{ "4294967295", 0, INT64_C(4294967295), NULL },
		{ "1;c-1.x_y", 0, 1, NULL },
		{ "", -1, 0, "sbatch: no job id in \"\"" },
		{ " \n ", -1, 0, "no job id in \" \\n \"" },
		{ "abc", -1, 0, "no job id in \"abc\"" },
		{ "12x", -1, 0, "\"12x\"" },
		{ "0", -1, 0, "\"0\"" },
		{ "-5", -1, 0, "\"-5\"" },
		{ "+5", -1, 0, "\"+5\"" },
		{ "4294967296", -1, 0, "\"4294967296\"" },
		{ "99999999999999999999999999", -1, 0, "no job id" },
		{ "12 34", -1, 0, "no job id" },
		{ "123\nSubmitted batch job 123\n", -1, 0,
		    "\"123\\nSubmitted batch job 123\\n\"" },
		{ "sbatch: error: Batch job submission failed: Invalid "
		    "account\n", -1, 0, "\"sbatch: error: Batch job "
		    "submission fail...\"" },
		{ "123;", -1, 0, "no job id" },
		{ ";c", -1, 0, "no job id" },
		{ "123;a b", -1, 0, "no job id" },
		{ "123;a;b", -1, 0, "no job id" },
		{ "123;\x01", -1, 0, "\"123;\\x01\"" },
		{ "12\"3", -1, 0, "\"12\\\"3\"" },
	};

	(void)state;
	tu_check_int_cases(cases, ARRAY_LEN(cases), false, slurm_parse_sbatch);
}

/* NUL bytes are input like any other; length ends it. */
static void
test_sbatch_length(void **state)
{
	static const char nul[] = "12\0003";
	char err[128];
	int64_t id;

	(void)state;
	assert_int_equal(slurm_parse_sbatch(nul, sizeof(nul) - 1, &id, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "\"12\\x003\""));
	assert_int_equal(slurm_parse_sbatch(nul, 2, &id, err, sizeof(err)),
	    0);
	assert_int_equal(id, 12);
	assert_int_equal(slurm_parse_sbatch("1234", 3, &id, err,
	    sizeof(err)), 0);
	assert_int_equal(id, 123);
	assert_int_equal(slurm_parse_sbatch(NULL, 0, &id, err, sizeof(err)),
	    -1);
	assert_int_equal(id, 0);
}

/* ---------------------------------------------------------------------- */
/* job states */

/*
 * The expectations are written from Slurm's documentation of job states
 * (squeue(1), JOB STATE CODES), in its order, not copied from slurm.c:
 * what each documented state means for the worker the job runs.  A job
 * that still holds its allocation (suspended or stopped included) counts
 * as running, so that edask waits for it instead of replacing it.
 */
static void
test_phase_of(void **state)
{
	static const struct {
		const char		*code;	/* squeue's compact form */
		const char		*name;
		enum slurm_phase	 want;
	} documented[] = {
		/* launch failure (node could not boot) */
		{ "BF", "BOOT_FAIL", SLURM_ENDED },
		/* cancelled by the user or an administrator */
		{ "CA", "CANCELLED", SLURM_ENDED },
		/* all processes ended with exit code 0 */
		{ "CD", "COMPLETED", SLURM_ENDED },
		/* allocated, waiting for its nodes to be ready */
		{ "CF", "CONFIGURING", SLURM_RUNNING },
		/* ending, some processes still active: not over yet */
		{ "CG", "COMPLETING", SLURM_ENDING },
		/* ended on reaching its deadline */
		{ "DL", "DEADLINE", SLURM_ENDED },
		/* non-zero exit code or other failure */
		{ "F", "FAILED", SLURM_ENDED },
		/* one of its nodes failed */
		{ "NF", "NODE_FAIL", SLURM_ENDED },
		/* hit its memory limit */
		{ "OOM", "OUT_OF_MEMORY", SLURM_ENDED },
		/* waiting for an allocation */
		{ "PD", "PENDING", SLURM_PENDING },
		/* ended by preemption */
		{ "PR", "PREEMPTED", SLURM_ENDED },
		/* has an allocation */
		{ "R", "RUNNING", SLURM_RUNNING },
		/* held after its reservation was deleted */
		{ "RD", "RESV_DEL_HOLD", SLURM_PENDING },
		/* being requeued by a federation */
		{ "RF", "REQUEUE_FED", SLURM_PENDING },
		/* held job being requeued */
		{ "RH", "REQUEUE_HOLD", SLURM_PENDING },
		/* completing job being requeued: it will wait again */
		{ "RQ", "REQUEUED", SLURM_PENDING },
		/* about to change size */
		{ "RS", "RESIZING", SLURM_RUNNING },
		/* a federation sibling removed: another cluster runs it */
		{ "RV", "REVOKED", SLURM_ENDED },
		/* being signalled */
		{ "SI", "SIGNALING", SLURM_RUNNING },
		/* requeued in a special state after its exit value: it
		 * will not run again by itself */
		{ "SE", "SPECIAL_EXIT", SLURM_ENDED },
		/* staging out files, still allocated */
		{ "SO", "STAGE_OUT", SLURM_RUNNING },
		/* SIGSTOPped, keeps its CPUs */
		{ "ST", "STOPPED", SLURM_RUNNING },
		/* stopped, its CPUs lent to other jobs */
		{ "S", "SUSPENDED", SLURM_RUNNING },
		/* reached its time limit */
		{ "TO", "TIMEOUT", SLURM_ENDED },
		/* flags newer Slurm can print in job_state's place; the job
		 * holds its allocation meanwhile */
		{ "-", "POWER_UP_NODE", SLURM_RUNNING },
		{ "-", "UPDATE_DB", SLURM_RUNNING },
		/* not Slurm states: unknown, so edask waits */
		{ "-", "", SLURM_RUNNING },
		{ "-", "pending", SLURM_RUNNING },
		{ "-", "PENDING ", SLURM_RUNNING },
		{ "-", "PEND", SLURM_RUNNING },
		{ "-", "PD", SLURM_RUNNING },
		{ "-", "LAUNCH_FAILED", SLURM_RUNNING },
	};
	enum slurm_phase got;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(documented); i++) {
		got = slurm_phase_of(documented[i].name);
		if (got != documented[i].want)
			fail_msg("\"%s\" (%s): phase %d, want %d",
			    documented[i].name, documented[i].code, got,
			    documented[i].want);
	}
}

/* ---------------------------------------------------------------------- */
/* comment tags */

#define DAEMON	"0123456789abcdef"

static void
test_tag_round_trip(void **state)
{
	static const struct {
		const char	*instance;
		int		 worker;
		const char	*tag;
	} cases[] = {
		{ "t", 1, "edask:" DAEMON ":t:1" },
		{ "xgb", 0, "edask:" DAEMON ":xgb:0" },
		{ "a-1-b", 12345, "edask:" DAEMON ":a-1-b:12345" },
		{ "abcdefghijabcdefghijabcdefghij12", INT_MAX,
		    "edask:" DAEMON ":abcdefghijabcdefghijabcdefghij12:"
		    "2147483647" },
	};
	char buf[SLURM_COMMENT_MAX], inst[SLURM_NAME_MAX];
	size_t i;
	int w;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		slurm_tag(buf, sizeof(buf), DAEMON, cases[i].instance,
		    cases[i].worker);
		assert_string_equal(buf, cases[i].tag);
		assert_int_equal(slurm_tag_parse(buf, DAEMON, inst,
		    sizeof(inst), &w), 0);
		assert_string_equal(inst, cases[i].instance);
		assert_int_equal(w, cases[i].worker);
	}
	/* the real sample's comments */
	assert_int_equal(slurm_tag_parse(sample_want[2].comment, DAEMON,
	    inst, sizeof(inst), &w), 0);
	assert_string_equal(inst, "t");
	assert_int_equal(w, 1);
	assert_int_equal(slurm_tag_parse(sample_want[0].comment, DAEMON,
	    inst, sizeof(inst), &w), -1);
}

static void
test_tag_parse_table(void **state)
{
	static const struct {
		const char	*comment;
		size_t		 instlen;
		int		 rc;
	} cases[] = {
		{ "edask:" DAEMON ":t:1", 2, 0 },
		{ "edask:" DAEMON ":t:1", 1, -1 },	/* inst does not fit */
		{ "edask:" DAEMON ":tt:1", 2, -1 },
		{ "edask:" DAEMON ":t:2147483648", 64, -1 },
		{ "edask:" DAEMON ":t:99999999999999999999", 64, -1 },
		{ "edask:" DAEMON ":t:-1", 64, -1 },
		{ "edask:" DAEMON ":t:+1", 64, -1 },
		{ "edask:" DAEMON ":t:01", 64, -1 },
		{ "edask:" DAEMON ":t:1x", 64, -1 },
		{ "edask:" DAEMON ":t:1 ", 64, -1 },
		{ "edask:" DAEMON ":t:1\n", 64, -1 },
		{ "edask:" DAEMON ":t:1:2", 64, -1 },
		{ "edask:" DAEMON ":t:", 64, -1 },
		{ "edask:" DAEMON ":t", 64, -1 },
		{ "edask:" DAEMON "::1", 64, -1 },
		{ "edask:" DAEMON ":T:1", 64, -1 },
		{ "edask:" DAEMON ":1t:1", 64, -1 },
		{ "edask:" DAEMON ":a_b:1", 64, -1 },
		{ "edask:" DAEMON ":abcdefghijabcdefghijabcdefghij123:1", 64,
		    -1 },
		{ "edask:" DAEMON "0:t:1", 64, -1 },
		{ "edask:" "0123456789abcde:t:1", 64, -1 },
		{ "edask:" "1123456789abcdef:t:1", 64, -1 },
		{ "edask::t:1", 64, -1 },
		{ "edask:" DAEMON, 64, -1 },
		{ "Edask:" DAEMON ":t:1", 64, -1 },
		{ " edask:" DAEMON ":t:1", 64, -1 },
		{ "edask abc t 1", 64, -1 },
		{ "edask.t.1", 64, -1 },
		{ "", 64, -1 },
	};
	char inst[64];
	size_t i;
	int rc, w;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		w = 77;
		memset(inst, 'x', sizeof(inst));
		rc = slurm_tag_parse(cases[i].comment, DAEMON, inst,
		    cases[i].instlen, &w);
		if (rc != cases[i].rc)
			fail_msg("case %zu \"%s\": rc %d", i, cases[i].comment,
			    rc);
		if (rc == -1 && (inst[0] != '\0' || w != -1))
			fail_msg("case %zu: outputs not cleared", i);
	}
}

/* A NULL or short err buffer is fine. */
static void
test_err_buffers(void **state)
{
	struct slurm_job *j;
	char err[4] = "abc";
	int64_t id;
	size_t n;

	(void)state;
	assert_int_equal(slurm_parse_squeue("[]", 2, &j, &n, NULL, 0), -1);
	assert_int_equal(slurm_parse_squeue("[]", 2, &j, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(strlen(err), 3);
	assert_int_equal(slurm_parse_sbatch("x", 1, &id, NULL, 0), -1);
	assert_int_equal(slurm_parse_sbatch("x", 1, &id, err, sizeof(err)),
	    -1);
	assert_int_equal(strlen(err), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_squeue_sample),
		cmocka_unit_test(test_squeue_table),
		cmocka_unit_test(test_squeue_length),
		cmocka_unit_test(test_squeue_cut),
		cmocka_unit_test(test_squeue_cut_utf8),
		cmocka_unit_test(test_squeue_gres_cut),
		cmocka_unit_test(test_squeue_max_jobs),
		cmocka_unit_test(test_squeue_too_big),
		cmocka_unit_test(test_sbatch_table),
		cmocka_unit_test(test_sbatch_length),
		cmocka_unit_test(test_phase_of),
		cmocka_unit_test(test_tag_round_trip),
		cmocka_unit_test(test_tag_parse_table),
		cmocka_unit_test(test_err_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
