/*
 * fakenvml: a test double of NVIDIA's libnvidia-ml.so.1, built under that
 * name so that src/gpu.c loads it through its ordinary dlopen() path when
 * its folder comes first on LD_LIBRARY_PATH.  It exports the functions
 * edask uses with the real NVML ABI.
 *
 * Environment:
 *   FAKE_NVML_FILE  the fake GPUs, re-read on every call so a test can
 *                   change them while the daemon runs (write a new file and
 *                   rename() it over the old one: a half-written file reads
 *                   as malformed).  One GPU per line:
 *                       name util_percent mem_used_bytes mem_total_bytes
 *                   The name may contain blanks (the last three fields are
 *                   the numbers).  A "-" for utilization, or for either
 *                   memory field, makes that query return
 *                   NVML_ERROR_NOT_SUPPORTED.  Blank lines and lines
 *                   starting with '#' are ignored.  Unset or unreadable:
 *                   nvmlInit_v2 fails with NVML_ERROR_LIBRARY_NOT_FOUND.
 *                   A malformed line makes calls fail with
 *                   NVML_ERROR_UNKNOWN.
 *   FAKE_NVML_LOG   when set, the name of every function called is appended
 *                   to this file, one per line: proof the double was loaded.
 *   FAKE_NVML_FAIL  comma-separated function names that return
 *                   NVML_ERROR_UNKNOWN, to drive error paths.
 *
 * UUIDs are "GPU-fake-0000", "GPU-fake-0001", ... by line order.
 *
 * Beyond what edask calls, it answers what pynvml, distributed and
 * dask-cuda ask when a dask-cuda worker starts: nvmlInitWithFlags (as
 * nvmlInit_v2), handles by UUID and their index, memory info _v2, a CPU
 * affinity of every CPU of this machine, MIG mode disabled with no MIG
 * devices, no running compute processes, driver version "999.99.99"
 * (CUDA 12.9).  Each of these is logged too; FAKE_NVML_FAIL names them as
 * it names the others.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	unsigned int	gpu;
	unsigned int	memory;
} nvmlUtilization_t;
typedef struct {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_t;
typedef struct {
	unsigned int	version;	/* nvmlMemory_v2 */
	unsigned long long total;
	unsigned long long reserved;
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_v2_t;
/* nvmlProcessInfo_t of the _v2 and _v3 process queries. */
typedef struct {
	unsigned int	pid;
	unsigned long long usedGpuMemory;
	unsigned int	gpuInstanceId;
	unsigned int	computeInstanceId;
} nvmlProcessInfo_t;

/* NVML_STRUCT_VERSION(Memory, 2): its size, with the version in bits 24+. */
#define nvmlMemory_v2	((unsigned int)(sizeof(nvmlMemory_v2_t) | 2 << 24))

#define NVML_SUCCESS			0
#define NVML_ERROR_UNINITIALIZED	1
#define NVML_ERROR_INVALID_ARGUMENT	2
#define NVML_ERROR_NOT_SUPPORTED	3
#define NVML_ERROR_NOT_FOUND		6
#define NVML_ERROR_INSUFFICIENT_SIZE	7
#define NVML_ERROR_LIBRARY_NOT_FOUND	12
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN		999

#define NVML_DEVICE_MIG_DISABLE		0

#define FAKE_DRIVER_VERSION	"999.99.99"
#define FAKE_CUDA_VERSION	12090	/* 1000 * major + 10 * minor: 12.9 */

#define FAKE_MAX	64	/* GPUs in one file */
#define FAKE_NAME_MAX	96	/* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define FAKE_TOK_MAX	32	/* blank-separated fields in one line */

/* The exported API; prototypes keep -Wmissing-prototypes quiet. */
nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index,
    nvmlDevice_t *device);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name,
    unsigned int length);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid,
    unsigned int length);
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
    nvmlUtilization_t *utilization);
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device,
    nvmlMemory_t *memory);
const char *nvmlErrorString(nvmlReturn_t result);
nvmlReturn_t nvmlInitWithFlags(unsigned int flags);
nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion);
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion);
nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid,
    nvmlDevice_t *device);
nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index);
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device,
    nvmlMemory_v2_t *memory);
nvmlReturn_t nvmlDeviceGetCpuAffinity(nvmlDevice_t device,
    unsigned int cpuSetSize, unsigned long *cpuSet);
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device,
    unsigned int *currentMode, unsigned int *pendingMode);
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device,
    unsigned int *count);
nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device,
    unsigned int *isMigDevice);
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device,
    unsigned int index, nvmlDevice_t *migDevice);
nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(
    nvmlDevice_t migDevice, nvmlDevice_t *device);
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
    unsigned int *infoCount, nvmlProcessInfo_t *infos);
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
    unsigned int *infoCount, nvmlProcessInfo_t *infos);

struct fake_gpu {
	char			name[FAKE_NAME_MAX];
	bool			has_util;
	unsigned int		util;
	bool			has_mem;
	unsigned long long	used;
	unsigned long long	total;
};

static int init_count;
/* A device handle is the address of its slot here. */
static char handles[FAKE_MAX];

static void
fake_log(const char *fn)
{
	const char *path = getenv("FAKE_NVML_LOG");
	char line[128];
	int fd, n;

	if (path == NULL || *path == '\0')
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	n = snprintf(line, sizeof(line), "%s\n", fn);
	if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, n) != n)
		fprintf(stderr, "fakenvml: short write to %s\n", path);
	close(fd);
}

/* True when fn is listed in FAKE_NVML_FAIL. */
static bool
fake_forced_fail(const char *fn)
{
	const char *s = getenv("FAKE_NVML_FAIL");
	size_t n = strlen(fn);

	while (s != NULL && *s != '\0') {
		const char *e = strchr(s, ',');
		size_t len = e != NULL ? (size_t)(e - s) : strlen(s);

		if (len == n && strncmp(s, fn, n) == 0)
			return true;
		s = e != NULL ? e + 1 : NULL;
	}
	return false;
}

/* Every call starts here: log it, then maybe fail on request. */
static nvmlReturn_t
fake_enter(const char *fn)
{
	fake_log(fn);
	if (fake_forced_fail(fn))
		return NVML_ERROR_UNKNOWN;
	if (init_count == 0 && strcmp(fn, "nvmlInit_v2") != 0 &&
	    strcmp(fn, "nvmlInitWithFlags") != 0)
		return NVML_ERROR_UNINITIALIZED;
	return NVML_SUCCESS;
}

static bool
fake_number(const char *s, unsigned long long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	*v = strtoull(s, &end, 10);
	return *end == '\0';
}

/* Parses one non-comment line into g; false when malformed. */
static bool
fake_parse_line(char *line, struct fake_gpu *g)
{
	char *tok[FAKE_TOK_MAX], *save = NULL, *t;
	unsigned long long v;
	size_t ntok = 0, i, len = 0;

	memset(g, 0, sizeof(*g));
	for (t = strtok_r(line, " \t", &save); t != NULL;
	    t = strtok_r(NULL, " \t", &save)) {
		if (ntok == FAKE_TOK_MAX)
			return false;
		tok[ntok++] = t;
	}
	if (ntok < 4)
		return false;
	for (i = 0; i < ntok - 3; i++) {
		size_t tl = strlen(tok[i]);

		if (len + tl + 2 > sizeof(g->name))
			return false;
		if (i > 0)
			g->name[len++] = ' ';
		memcpy(g->name + len, tok[i], tl);
		len += tl;
	}
	g->name[len] = '\0';

	if (strcmp(tok[ntok - 3], "-") != 0) {
		if (!fake_number(tok[ntok - 3], &v) || v > UINT32_MAX)
			return false;
		g->has_util = true;
		g->util = (unsigned int)v;
	}
	if (strcmp(tok[ntok - 2], "-") != 0 &&
	    strcmp(tok[ntok - 1], "-") != 0) {
		if (!fake_number(tok[ntok - 2], &g->used) ||
		    !fake_number(tok[ntok - 1], &g->total))
			return false;
		g->has_mem = true;
	}
	return true;
}

/* Reads FAKE_NVML_FILE into gpus[FAKE_MAX]; count in *n. */
static nvmlReturn_t
fake_load(struct fake_gpu *gpus, unsigned int *n)
{
	const char *path = getenv("FAKE_NVML_FILE");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned int lineno = 0;
	nvmlReturn_t r = NVML_SUCCESS;
	FILE *f;

	*n = 0;
	if (path == NULL || *path == '\0' || (f = fopen(path, "re")) == NULL)
		return NVML_ERROR_LIBRARY_NOT_FOUND;
	while ((len = getline(&line, &cap, f)) != -1) {
		char *s = line;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		if (*n == FAKE_MAX || !fake_parse_line(s, &gpus[*n])) {
			fprintf(stderr, "fakenvml: %s:%u: malformed line or "
			    "too many GPUs\n", path, lineno);
			r = NVML_ERROR_UNKNOWN;
			break;
		}
		(*n)++;
	}
	free(line);
	fclose(f);
	if (r != NVML_SUCCESS)
		*n = 0;
	return r;
}

/* Loads the file and resolves a handle to its GPU. */
static nvmlReturn_t
fake_device(nvmlDevice_t dev, struct fake_gpu *gpus, unsigned int *index)
{
	uintptr_t p = (uintptr_t)dev, base = (uintptr_t)handles;
	unsigned int n;
	nvmlReturn_t r;

	if (p < base || p >= base + FAKE_MAX)
		return NVML_ERROR_INVALID_ARGUMENT;
	if ((r = fake_load(gpus, &n)) != NVML_SUCCESS)
		return r;
	*index = (unsigned int)(p - base);
	if (*index >= n)
		return NVML_ERROR_INVALID_ARGUMENT;
	return NVML_SUCCESS;
}

/* NVML_ERROR_INVALID_ARGUMENT unless ok. */
static nvmlReturn_t
fake_args(bool ok)
{
	return ok ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

/*
 * The start of every call on a device handle: fake_enter(fn), then args
 * (the check of the other arguments, fake_args()), then the handle's GPU
 * into *g and its index into *index (either may be NULL).
 */
static nvmlReturn_t
fake_gpu_call(const char *fn, nvmlDevice_t device, nvmlReturn_t args,
    struct fake_gpu *g, unsigned int *index)
{
	struct fake_gpu gpus[FAKE_MAX];
	unsigned int i;
	nvmlReturn_t r;

	if ((r = fake_enter(fn)) != NVML_SUCCESS)
		return r;
	if (args != NVML_SUCCESS)
		return args;
	if ((r = fake_device(device, gpus, &i)) != NVML_SUCCESS)
		return r;
	if (g != NULL)
		*g = gpus[i];
	if (index != NULL)
		*index = i;
	return NVML_SUCCESS;
}

/* A device query whose answer is always value, into *out. */
static nvmlReturn_t
fake_constant(const char *fn, nvmlDevice_t device, unsigned int *out,
    unsigned int value)
{
	nvmlReturn_t r;

	r = fake_gpu_call(fn, device, fake_args(out != NULL), NULL, NULL);
	if (r == NVML_SUCCESS)
		*out = value;
	return r;
}

/* nvmlInit_v2 and pynvml's nvmlInitWithFlags: the file must be readable. */
static nvmlReturn_t
fake_init(const char *fn)
{
	struct fake_gpu gpus[FAKE_MAX];
	unsigned int n;
	nvmlReturn_t r;

	if ((r = fake_enter(fn)) != NVML_SUCCESS)
		return r;
	if ((r = fake_load(gpus, &n)) != NVML_SUCCESS)
		return r;
	init_count++;
	return NVML_SUCCESS;
}

/*
 * Both memory queries, after fake_gpu_call(fn, device, args): the GPU's
 * total and used into *m, free what used leaves of total.
 */
static nvmlReturn_t
fake_memory(const char *fn, nvmlDevice_t device, nvmlReturn_t args,
    nvmlMemory_t *m)
{
	struct fake_gpu g;
	nvmlReturn_t r;

	if ((r = fake_gpu_call(fn, device, args, &g, NULL)) != NVML_SUCCESS)
		return r;
	if (!g.has_mem)
		return NVML_ERROR_NOT_SUPPORTED;
	m->total = g.total;
	m->used = g.used;
	m->free = g.used <= g.total ? g.total - g.used : 0;
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlInit_v2(void)
{
	return fake_init("nvmlInit_v2");
}

nvmlReturn_t
nvmlShutdown(void)
{
	nvmlReturn_t r;

	if ((r = fake_enter("nvmlShutdown")) != NVML_SUCCESS)
		return r;
	init_count--;
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetCount_v2(unsigned int *count)
{
	struct fake_gpu gpus[FAKE_MAX];
	nvmlReturn_t r;

	if ((r = fake_enter("nvmlDeviceGetCount_v2")) != NVML_SUCCESS)
		return r;
	if (count == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	return fake_load(gpus, count);
}

nvmlReturn_t
nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	struct fake_gpu gpus[FAKE_MAX];
	unsigned int n;
	nvmlReturn_t r;

	if ((r = fake_enter("nvmlDeviceGetHandleByIndex_v2")) != NVML_SUCCESS)
		return r;
	if (device == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if ((r = fake_load(gpus, &n)) != NVML_SUCCESS)
		return r;
	if (index >= n)
		return NVML_ERROR_INVALID_ARGUMENT;
	*device = (nvmlDevice_t)(void *)&handles[index];
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	struct fake_gpu g;
	nvmlReturn_t r;

	r = fake_gpu_call("nvmlDeviceGetName", device, fake_args(name != NULL),
	    &g, NULL);
	if (r != NVML_SUCCESS)
		return r;
	if (strlen(g.name) >= length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(name, g.name, strlen(g.name) + 1);
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
	unsigned int i;
	nvmlReturn_t r;
	int n;

	r = fake_gpu_call("nvmlDeviceGetUUID", device, fake_args(uuid != NULL),
	    NULL, &i);
	if (r != NVML_SUCCESS)
		return r;
	n = snprintf(uuid, length, "GPU-fake-%04u", i);
	if (n < 0 || (unsigned int)n >= length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
    nvmlUtilization_t *utilization)
{
	struct fake_gpu g;
	nvmlReturn_t r;

	r = fake_gpu_call("nvmlDeviceGetUtilizationRates", device,
	    fake_args(utilization != NULL), &g, NULL);
	if (r != NVML_SUCCESS)
		return r;
	if (!g.has_util)
		return NVML_ERROR_NOT_SUPPORTED;
	utilization->gpu = g.util;
	utilization->memory = g.util;
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	return fake_memory("nvmlDeviceGetMemoryInfo", device,
	    fake_args(memory != NULL), memory);
}

const char *
nvmlErrorString(nvmlReturn_t result)
{
	switch (result) {
	case NVML_SUCCESS:
		return "Success";
	case NVML_ERROR_UNINITIALIZED:
		return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT:
		return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED:
		return "Not Supported";
	case NVML_ERROR_INSUFFICIENT_SIZE:
		return "Insufficient Size";
	case NVML_ERROR_LIBRARY_NOT_FOUND:
		return "NVML Shared Library Not Found (fakenvml: "
		    "FAKE_NVML_FILE unset or unreadable)";
	case NVML_ERROR_NOT_FOUND:
		return "Not Found";
	case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
		return "Argument version mismatch";
	default:
		return "Unknown Error";
	}
}

/*
 * What follows is what pynvml, distributed and dask-cuda call beyond
 * edask's set.
 */

/* pynvml's nvmlInit(): as nvmlInit_v2, flags ignored. */
nvmlReturn_t
nvmlInitWithFlags(unsigned int flags)
{
	(void)flags;
	return fake_init("nvmlInitWithFlags");
}

nvmlReturn_t
nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	nvmlReturn_t r;

	if ((r = fake_enter("nvmlSystemGetDriverVersion")) != NVML_SUCCESS)
		return r;
	if (version == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (sizeof(FAKE_DRIVER_VERSION) > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(version, FAKE_DRIVER_VERSION, sizeof(FAKE_DRIVER_VERSION));
	return NVML_SUCCESS;
}

static nvmlReturn_t
fake_cuda_version(const char *fn, int *cudaDriverVersion)
{
	nvmlReturn_t r;

	if ((r = fake_enter(fn)) != NVML_SUCCESS)
		return r;
	if (cudaDriverVersion == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	*cudaDriverVersion = FAKE_CUDA_VERSION;
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
	return fake_cuda_version("nvmlSystemGetCudaDriverVersion",
	    cudaDriverVersion);
}

nvmlReturn_t
nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
	return fake_cuda_version("nvmlSystemGetCudaDriverVersion_v2",
	    cudaDriverVersion);
}

/* Accepts the UUIDs nvmlDeviceGetUUID gives: "GPU-fake-%04u". */
nvmlReturn_t
nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
	struct fake_gpu gpus[FAKE_MAX];
	char want[32];
	unsigned int n, i;
	nvmlReturn_t r;

	if ((r = fake_enter("nvmlDeviceGetHandleByUUID")) != NVML_SUCCESS)
		return r;
	if (uuid == NULL || device == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if ((r = fake_load(gpus, &n)) != NVML_SUCCESS)
		return r;
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "GPU-fake-%04u", i);
		if (strcmp(uuid, want) == 0) {
			*device = (nvmlDevice_t)(void *)&handles[i];
			return NVML_SUCCESS;
		}
	}
	return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t
nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
	return fake_gpu_call("nvmlDeviceGetIndex", device,
	    fake_args(index != NULL), NULL, index);
}

nvmlReturn_t
nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
	nvmlMemory_t m;
	nvmlReturn_t r;

	r = fake_memory("nvmlDeviceGetMemoryInfo_v2", device,
	    memory == NULL ? NVML_ERROR_INVALID_ARGUMENT :
	    memory->version != nvmlMemory_v2 ?
	    NVML_ERROR_ARGUMENT_VERSION_MISMATCH : NVML_SUCCESS, &m);
	if (r != NVML_SUCCESS)
		return r;
	memory->total = m.total;
	memory->reserved = 0;
	memory->free = m.free;
	memory->used = m.used;
	return NVML_SUCCESS;
}

/*
 * Every CPU this machine has (configured, online or not) is "near" every
 * GPU; a mask longer than cpuSetSize words is cut, as NVML does.
 */
nvmlReturn_t
nvmlDeviceGetCpuAffinity(nvmlDevice_t device, unsigned int cpuSetSize,
    unsigned long *cpuSet)
{
	const unsigned int bits = sizeof(*cpuSet) * 8;
	unsigned int cpu;
	long ncpu;
	nvmlReturn_t r;

	r = fake_gpu_call("nvmlDeviceGetCpuAffinity", device,
	    fake_args(cpuSet != NULL && cpuSetSize > 0), NULL, NULL);
	if (r != NVML_SUCCESS)
		return r;
	if ((ncpu = sysconf(_SC_NPROCESSORS_CONF)) < 1)
		ncpu = 1;
	memset(cpuSet, 0, cpuSetSize * sizeof(*cpuSet));
	for (cpu = 0; cpu < (unsigned long)ncpu && cpu / bits < cpuSetSize;
	    cpu++)
		cpuSet[cpu / bits] |= 1UL << (cpu % bits);
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
    unsigned int *pendingMode)
{
	nvmlReturn_t r;

	r = fake_gpu_call("nvmlDeviceGetMigMode", device,
	    fake_args(currentMode != NULL && pendingMode != NULL), NULL, NULL);
	if (r == NVML_SUCCESS)
		*currentMode = *pendingMode = NVML_DEVICE_MIG_DISABLE;
	return r;
}

nvmlReturn_t
nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
	return fake_constant("nvmlDeviceGetMaxMigDeviceCount", device, count,
	    0);
}

/* No handle is a MIG device's: there are none. */
nvmlReturn_t
nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
	return fake_constant("nvmlDeviceIsMigDeviceHandle", device,
	    isMigDevice, 0);
}

nvmlReturn_t
nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
    nvmlDevice_t *migDevice)
{
	nvmlReturn_t r;

	(void)index;
	r = fake_gpu_call("nvmlDeviceGetMigDeviceHandleByIndex", device,
	    fake_args(migDevice != NULL), NULL, NULL);
	return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_FOUND;
}

/* Every handle is a whole GPU's, never a MIG device's. */
nvmlReturn_t
nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice,
    nvmlDevice_t *device)
{
	nvmlReturn_t r;

	(void)migDevice;
	(void)device;
	if ((r = fake_enter("nvmlDeviceGetDeviceHandleFromMigDeviceHandle")) !=
	    NVML_SUCCESS)
		return r;
	return NVML_ERROR_INVALID_ARGUMENT;
}

/* No process runs on a fake GPU. */
static nvmlReturn_t
fake_processes(const char *fn, nvmlDevice_t device, unsigned int *infoCount,
    nvmlProcessInfo_t *infos)
{
	(void)infos;
	return fake_constant(fn, device, infoCount, 0);
}

nvmlReturn_t
nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
    unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
	return fake_processes("nvmlDeviceGetComputeRunningProcesses_v2",
	    device, infoCount, infos);
}

nvmlReturn_t
nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
    unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
	return fake_processes("nvmlDeviceGetComputeRunningProcesses_v3",
	    device, infoCount, infos);
}
