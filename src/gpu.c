/*
 * gpu: NVML through dlopen.  See gpu.h.
 *
 * Why dlopen rather than linking with -lnvidia-ml: libnvidia-ml.so.1 ships
 * with the NVIDIA driver, not with a build package, and edask must start on
 * CPU-only hosts and in CI.  Only the few NVML functions below are used, so
 * their types are declared here to match the NVML ABI (nvml.h) instead of
 * needing the CUDA headers at build time.
 *
 * What the library returns is treated as outside input: strings are forced
 * to be terminated and printable, numbers are range checked, and a value
 * that makes no sense is reported as unknown (-1) rather than passed on.
 */
#include "gpu.h"
#include "util.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define NVML_LIB	"libnvidia-ml.so.1"
#define NVML_SUCCESS	0
/* More devices than this means the library is broken. */
#define GPU_MAX		1024

/* The subset of nvml.h that edask uses; layouts match the real ABI. */
typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	unsigned int	gpu;		/* percent of time a kernel ran */
	unsigned int	memory;		/* percent of time memory was busy */
} nvmlUtilization_t;
typedef struct {
	unsigned long long total;	/* bytes */
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_t;

typedef nvmlReturn_t (*nvml_init_fn)(void);
typedef nvmlReturn_t (*nvml_shutdown_fn)(void);
typedef nvmlReturn_t (*nvml_count_fn)(unsigned int *);
typedef nvmlReturn_t (*nvml_handle_fn)(unsigned int, nvmlDevice_t *);
typedef nvmlReturn_t (*nvml_string_fn)(nvmlDevice_t, char *, unsigned int);
typedef nvmlReturn_t (*nvml_util_fn)(nvmlDevice_t, nvmlUtilization_t *);
typedef nvmlReturn_t (*nvml_memory_fn)(nvmlDevice_t, nvmlMemory_t *);
typedef const char *(*nvml_errstr_fn)(nvmlReturn_t);

/*
 * Module state.  NVML is process-wide, and so is this; it is not locked:
 * gpu_* are called from one thread.
 */
static struct {
	void			*lib;		/* NULL: closed */
	bool			 inited;	/* nvmlInit_v2 succeeded */
	int			 count;		/* devices, 0 unless open */
	nvml_init_fn		 init;
	nvml_shutdown_fn	 shutdown;
	nvml_count_fn		 get_count;
	nvml_handle_fn		 get_handle;
	nvml_string_fn		 get_name;
	nvml_string_fn		 get_uuid;
	nvml_util_fn		 get_util;
	nvml_memory_fn		 get_memory;
	nvml_errstr_fn		 error_string;	/* optional */
} nv;

/*
 * dlsym() gives a void *; POSIX guarantees it converts to a function
 * pointer, ISO C does not, hence the cast in one place.
 */
#define NVML_LOAD(field, type, sym)					\
	do {								\
		void *p_ = nvml_sym(sym, err, errlen);			\
									\
		if (p_ == NULL)						\
			goto fail;					\
		nv.field = (type)p_;					\
	} while (0)

static void *
nvml_sym(const char *sym, char *err, size_t errlen)
{
	void *p;

	dlerror();
	p = dlsym(nv.lib, sym);
	if (p == NULL)
		seterr(err, errlen, "%s: symbol %s not found (driver too old?)",
		    NVML_LIB, sym);
	return p;
}

/* Writes "fn: <NVML's text> (code)" into err; returns -1. */
static int
nvml_fail(const char *fn, nvmlReturn_t r, char *err, size_t errlen)
{
	const char *s = NULL;

	if (nv.error_string != NULL)
		s = nv.error_string(r);
	if (s == NULL)
		s = "NVML error";
	return seterr(err, errlen, "%s: %.120s (NVML error %d)", fn, s, r);
}

/*
 * Forces termination and replaces anything but printable ASCII: names end
 * up in logs and in JSON, where a stray control byte or bad UTF-8 would
 * do harm.
 */
static void
gpu_sanitize(char *s, size_t size)
{
	size_t i;

	s[size - 1] = '\0';
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			s[i] = '?';
}

int
gpu_open(char *err, size_t errlen)
{
	unsigned int n = 0;
	nvmlReturn_t r;
	const char *e;

	gpu_close();
	dlerror();
	nv.lib = dlopen(NVML_LIB, RTLD_NOW | RTLD_LOCAL);
	if (nv.lib == NULL) {
		e = dlerror();
		return seterr(err, errlen, "%s", e != NULL ? e :
		    NVML_LIB ": cannot load");
	}
	NVML_LOAD(init, nvml_init_fn, "nvmlInit_v2");
	NVML_LOAD(shutdown, nvml_shutdown_fn, "nvmlShutdown");
	NVML_LOAD(get_count, nvml_count_fn, "nvmlDeviceGetCount_v2");
	NVML_LOAD(get_handle, nvml_handle_fn, "nvmlDeviceGetHandleByIndex_v2");
	NVML_LOAD(get_name, nvml_string_fn, "nvmlDeviceGetName");
	NVML_LOAD(get_uuid, nvml_string_fn, "nvmlDeviceGetUUID");
	NVML_LOAD(get_util, nvml_util_fn, "nvmlDeviceGetUtilizationRates");
	NVML_LOAD(get_memory, nvml_memory_fn, "nvmlDeviceGetMemoryInfo");
	nv.error_string = (nvml_errstr_fn)dlsym(nv.lib, "nvmlErrorString");

	r = nv.init();
	if (r != NVML_SUCCESS) {
		nvml_fail("nvmlInit_v2", r, err, errlen);
		goto fail;
	}
	nv.inited = true;
	r = nv.get_count(&n);
	if (r != NVML_SUCCESS) {
		nvml_fail("nvmlDeviceGetCount_v2", r, err, errlen);
		goto fail;
	}
	if (n > GPU_MAX) {
		seterr(err, errlen, "nvmlDeviceGetCount_v2: %u devices, more "
		    "than %d", n, GPU_MAX);
		goto fail;
	}
	nv.count = (int)n;
	return nv.count;
fail:
	gpu_close();
	return -1;
}

int
gpu_count(void)
{
	return nv.count;
}

int
gpu_query(int index, struct gpu_info *info, char *err, size_t errlen)
{
	nvmlDevice_t dev = NULL;
	nvmlUtilization_t u;
	nvmlMemory_t m;
	nvmlReturn_t r;

	ASSERT(info != NULL);
	memset(info, 0, sizeof(*info));
	info->index = index;
	info->util = -1;
	info->mem_used = -1;
	info->mem_total = -1;
	if (!nv.inited)
		return seterr(err, errlen, "NVML is not open");
	if (index < 0 || index >= nv.count)
		return seterr(err, errlen, "GPU index %d out of range (%d "
		    "devices)", index, nv.count);
	r = nv.get_handle((unsigned int)index, &dev);
	if (r != NVML_SUCCESS)
		return nvml_fail("nvmlDeviceGetHandleByIndex_v2", r, err,
		    errlen);
	if (dev == NULL)
		return seterr(err, errlen, "nvmlDeviceGetHandleByIndex_v2: "
		    "NULL handle for GPU %d", index);

	/* Name, UUID, utilization and memory are each optional. */
	if (nv.get_name(dev, info->name, sizeof(info->name)) != NVML_SUCCESS)
		info->name[0] = '\0';
	gpu_sanitize(info->name, sizeof(info->name));
	if (nv.get_uuid(dev, info->uuid, sizeof(info->uuid)) != NVML_SUCCESS)
		info->uuid[0] = '\0';
	gpu_sanitize(info->uuid, sizeof(info->uuid));

	memset(&u, 0, sizeof(u));
	if (nv.get_util(dev, &u) == NVML_SUCCESS && u.gpu <= 100)
		info->util = (int)u.gpu;

	memset(&m, 0, sizeof(m));
	if (nv.get_memory(dev, &m) == NVML_SUCCESS &&
	    m.total <= (unsigned long long)INT64_MAX && m.used <= m.total) {
		info->mem_used = (int64_t)m.used;
		info->mem_total = (int64_t)m.total;
	}
	return 0;
}

void
gpu_close(void)
{
	if (nv.inited)
		nv.shutdown();
	if (nv.lib != NULL)
		dlclose(nv.lib);
	memset(&nv, 0, sizeof(nv));
}
