/* probe.h: CUDA device discovery (probe.cu; built only with configure's CUDA). */
#ifndef ND_CUDA_PROBE_H
#define ND_CUDA_PROBE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Rank-local: the number of CUDA devices visible to this process (0 without a driver
 * or a device). */
int nd_cuda_device_count(void);

#ifdef __cplusplus
}
#endif

#endif
