/*
 * gpu: NVML through dlopen("libnvidia-ml.so.1").  An absent library, a
 * failed nvmlInit or no device means "no GPU information", never a crash.
 * The same code loads the tests' NVML double (tests/fakenvml) when it comes
 * first on LD_LIBRARY_PATH.
 */
#ifndef EDASK_GPU_H
#define EDASK_GPU_H

#include <stddef.h>
#include <stdint.h>

struct gpu_info {
	int	 index;
	char	 name[96];
	char	 uuid[96];
	int	 util;		/* GPU utilization percent, -1 unknown */
	int64_t	 mem_used;	/* bytes, -1 unknown */
	int64_t	 mem_total;	/* bytes, -1 unknown */
};

/*
 * Loads NVML and initialises it.  Returns the device count (>= 0), or -1
 * when NVML is not usable; why is written to err (e.g. "libnvidia-ml.so.1:
 * cannot open shared object file").  Safe to call again after gpu_close().
 */
int gpu_open(char *err, size_t errlen);
/* Device count after a successful gpu_open(), else 0. */
int gpu_count(void);
/* Fills info for device index; 0, or -1 (err says why). */
int gpu_query(int index, struct gpu_info *info, char *err, size_t errlen);
/* nvmlShutdown and dlclose; no-op when not open. */
void gpu_close(void);

#endif
