/* simcuda.c: a simulated CUDA device for the tests (configure --with-cuda=sim).
 *
 * Implements the part of the CUDA runtime, cuBLAS, cuSOLVER and NCCL that noodle-run's
 * loader and the plugin (src/la/cuda) call, against CUDA's own headers, so that the
 * plugin's code, unchanged, runs on machines without a GPU: device memory is host memory,
 * cuBLAS and cuSOLVER are BLAS and LAPACKE, NCCL is MPI, a stream runs each call to
 * completion.  It checks what a real device would refuse, so that the plugin's mistakes
 * show here instead of on the next GPU loan:
 *  - every pointer a call treats as device memory must lie, with the extent the call
 *    touches, inside one live allocation, and host pointers must not (a copy's kind);
 *  - leading dimensions, pitches and work sizes as cuBLAS and cuSOLVER require them
 *    (lwork at least what the _bufferSize call returned);
 *  - an NCCL communicator with two ranks on one device is refused, as NCCL does;
 *  - new allocations are filled with NaNs (cudaMalloc does not clear memory), and
 *    allocations beyond the device's memory fail;
 *  - a synchronous cudaMemcpy (the legacy default stream) while work queued on the
 *    plugin's stream is not yet synchronized: that stream is non-blocking, so on a device
 *    the two would race.
 * A violation prints "simcuda: ..." and aborts the process.
 *
 * Environment: NOODLE_SIMCUDA_DEVICES (devices per node, default 1; 0 for none),
 * NOODLE_SIMCUDA_MEM (bytes of memory per device, default 16 GiB; each process counts
 * its own allocations), NOODLE_SIMCUDA_FAULT=RANK:N (on MPI_COMM_WORLD rank RANK, the
 * Nth stream synchronization reports an illegal address, as a faulting kernel would).
 * NCCL communicators are created with MPI_Comm_split over MPI_COMM_WORLD, so every rank
 * of the job must create them in the same order (the plugin does).  docs/gpu.md.
 */
#include <cblas.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>
#include <errno.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <nccl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called by the kernels compiled for the simulator (sim_kernels.h). */
void nd_simcuda_check_device(const void *p, const char *what);
void nd_simcuda_queued(void);

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("simcuda: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* A non-negative integer from the environment, or def; anything else is a test's mistake. */
static long long env_count(const char *name, long long def)
{
    const char *s = getenv(name);
    if (!s) return def;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < 0) die("%s=%s: expected a non-negative integer", name, s);
    return v;
}

/* ---- device memory ------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t bytes;
} block;

static struct {
    bool init;
    int ndev, dev;
    size_t mem, used;
    block *live;
    size_t nlive, caplive;
    cudaError_t last;
    bool queued; /* work "queued" on a stream since its last synchronization */
    long long fault_at, syncs; /* NOODLE_SIMCUDA_FAULT: this rank's Nth sync (0: never) */
} S;

static void sim_init(void)
{
    if (S.init) return;
    S.init = true;
    S.ndev = (int)env_count("NOODLE_SIMCUDA_DEVICES", 1);
    S.mem = (size_t)env_count("NOODLE_SIMCUDA_MEM", 16LL << 30);
    const char *f = getenv("NOODLE_SIMCUDA_FAULT");
    if (f) {
        int rank = -1, me = 0, used = 0;
        long long n = 0;
        if (sscanf(f, "%d:%lld%n", &rank, &n, &used) != 2 || f[used] || rank < 0 || n < 1)
            die("NOODLE_SIMCUDA_FAULT=%s: expected RANK:N", f);
        int up = 0;
        MPI_Initialized(&up);
        if (up) MPI_Comm_rank(MPI_COMM_WORLD, &me);
        if (me == rank) S.fault_at = n;
    }
}

static cudaError_t fail(cudaError_t e)
{
    S.last = e;
    return e;
}

/* The live allocation holding [p, p + bytes), or NULL. */
static const block *find(const void *p, size_t bytes)
{
    const char *c = p;
    for (size_t i = 0; i < S.nlive; i++)
        if (c >= S.live[i].p && c < S.live[i].p + S.live[i].bytes)
            return bytes <= (size_t)(S.live[i].p + S.live[i].bytes - c) ? &S.live[i] : NULL;
    return NULL;
}

static void need_device(const void *p, size_t bytes, const char *what)
{
    if (bytes == 0) return;
    if (!find(p, bytes))
        die("%s: %p (+%zu bytes) is not inside one device allocation", what, p, bytes);
}

static void need_host(const void *p, size_t bytes, const char *what)
{
    if (bytes == 0) return;
    if (!p) die("%s: null host pointer", what);
    if (find(p, 1)) die("%s: %p is device memory where host memory was expected", what, p);
}

void nd_simcuda_check_device(const void *p, const char *what)
{
    if (p) need_device(p, 1, what);
}

void nd_simcuda_queued(void) { S.queued = true; }

/* Bytes of an lda-strided rows x cols array of doubles. */
static size_t extent(int rows, int cols, int ld)
{
    if (rows <= 0 || cols <= 0) return 0;
    return ((size_t)ld * (size_t)(cols - 1) + (size_t)rows) * sizeof(double);
}

cudaError_t cudaGetDeviceCount(int *count)
{
    sim_init();
    *count = S.ndev;
    return S.ndev ? cudaSuccess : fail(cudaErrorNoDevice);
}

cudaError_t cudaSetDevice(int device)
{
    sim_init();
    if (device < 0 || device >= S.ndev) return fail(cudaErrorInvalidDevice);
    S.dev = device;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = S.last;
    S.last = cudaSuccess;
    return e;
}

const char *cudaGetErrorString(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    default: return "unknown error";
    }
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    sim_init();
    if (device < 0 || device >= S.ndev) return fail(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "simulated device (tests/simcuda)");
    prop->totalGlobalMem = S.mem;
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total)
{
    sim_init();
    *total = S.mem;
    *free_b = S.mem - S.used;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **devPtr, size_t size)
{
    sim_init();
    *devPtr = NULL;
    if (size > S.mem - S.used) return fail(cudaErrorMemoryAllocation);
    if (S.nlive == S.caplive) {
        size_t cap = S.caplive ? 2 * S.caplive : 64;
        block *b = realloc(S.live, cap * sizeof *b);
        if (!b) die("out of host memory for the allocation table");
        S.live = b;
        S.caplive = cap;
    }
    size_t bytes = size ? size : 1;
    char *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!p) return fail(cudaErrorMemoryAllocation);
    memset(p, 0xff, bytes); /* all-ones doubles are NaNs: reading before writing shows */
    S.live[S.nlive++] = (block){p, bytes};
    S.used += size;
    *devPtr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *devPtr)
{
    if (!devPtr) return cudaSuccess;
    for (size_t i = 0; i < S.nlive; i++)
        if (S.live[i].p == devPtr) {
            S.used -= S.live[i].bytes;
            free(S.live[i].p);
            S.live[i] = S.live[--S.nlive];
            return cudaSuccess;
        }
    die("cudaFree(%p): not the start of a live device allocation", devPtr);
}

static void check_kind(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                       const char *what)
{
    switch (kind) {
    case cudaMemcpyHostToDevice: need_host(src, bytes, what); need_device(dst, bytes, what); break;
    case cudaMemcpyDeviceToHost: need_device(src, bytes, what); need_host(dst, bytes, what); break;
    case cudaMemcpyDeviceToDevice: need_device(src, bytes, what); need_device(dst, bytes, what); break;
    default: die("%s: copy kind %d is not used by the plugin", what, (int)kind);
    }
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
    if (S.queued) die("cudaMemcpy with unsynchronized work on a non-blocking stream (a race on a device)");
    check_kind(dst, src, count, kind, "cudaMemcpy");
    if (count) memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    S.queued = true;
    check_kind(dst, src, count, kind, "cudaMemcpyAsync");
    if (count) memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                              size_t width, size_t height, enum cudaMemcpyKind kind,
                              cudaStream_t stream)
{
    S.queued = true;
    if (width > dpitch || width > spitch) return fail(cudaErrorInvalidPitchValue);
    if (width == 0 || height == 0) return cudaSuccess;
    check_kind(dst, src, 0, kind, "cudaMemcpy2DAsync");
    size_t dext = dpitch * (height - 1) + width, sext = spitch * (height - 1) + width;
    if (kind != cudaMemcpyHostToDevice) need_device(src, sext, "cudaMemcpy2DAsync (source)");
    if (kind != cudaMemcpyDeviceToHost) need_device(dst, dext, "cudaMemcpy2DAsync (destination)");
    for (size_t r = 0; r < height; r++)
        memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
{
    S.queued = true;
    need_device(devPtr, count, "cudaMemsetAsync");
    if (count) memset(devPtr, value, count);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags)
{
    static int the_stream;
    *pStream = (cudaStream_t)(void *)&the_stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    S.queued = false;
    if (S.fault_at && ++S.syncs == S.fault_at) return fail(cudaErrorIllegalAddress);
    return cudaSuccess;
}

/* ---- cuBLAS -------------------------------------------------------------------------- */

struct cublasContext {
    int unused;
};

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    static struct cublasContext ctx;
    *handle = &ctx;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)
{
    return CUBLAS_STATUS_SUCCESS;
}

static enum CBLAS_TRANSPOSE cb_op(cublasOperation_t op)
{
    return op == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
}

cublasStatus_t cublasDgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
                              cublasOperation_t transb, int m, int n, int k, const double *alpha,
                              const double *A, int lda, const double *B, int ldb,
                              const double *beta, double *C, int ldc)
{
    S.queued = true;
    int ar = transa == CUBLAS_OP_N ? m : k, ac = transa == CUBLAS_OP_N ? k : m;
    int br = transb == CUBLAS_OP_N ? k : n, bc = transb == CUBLAS_OP_N ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) ||
        ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    need_host(alpha, sizeof *alpha, "cublasDgemm alpha");
    need_host(beta, sizeof *beta, "cublasDgemm beta");
    need_device(C, extent(m, n, ldc), "cublasDgemm C");
    if (k > 0) {
        need_device(A, extent(ar, ac, lda), "cublasDgemm A");
        need_device(B, extent(br, bc, ldb), "cublasDgemm B");
    }
    /* With beta = 0, C is not read (it may hold NaNs), as cuBLAS documents. */
    if (*beta == 0.0)
        for (int j = 0; j < n; j++)
            memset(C + (size_t)j * ldc, 0, (size_t)m * sizeof *C);
    if (k == 0) {
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) C[i + (size_t)j * ldc] *= *beta;
        return CUBLAS_STATUS_SUCCESS;
    }
    cblas_dgemm(CblasColMajor, cb_op(transa), cb_op(transb), m, n, k, *alpha, A, lda, B, ldb,
                *beta, C, ldc);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDgeam(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, const double *alpha,
                           const double *A, int lda, const double *beta, const double *B, int ldb,
                           double *C, int ldc)
{
    S.queued = true;
    int ar = transa == CUBLAS_OP_N ? m : n, br = transb == CUBLAS_OP_N ? m : n;
    if (m < 0 || n < 0 || lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) ||
        ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    need_host(alpha, sizeof *alpha, "cublasDgeam alpha");
    need_host(beta, sizeof *beta, "cublasDgeam beta");
    bool ua = *alpha != 0.0, ub = *beta != 0.0; /* a zero factor's operand is not read */
    need_device(C, extent(m, n, ldc), "cublasDgeam C");
    if (ua) need_device(A, extent(ar, transa == CUBLAS_OP_N ? n : m, lda), "cublasDgeam A");
    if (ub) need_device(B, extent(br, transb == CUBLAS_OP_N ? n : m, ldb), "cublasDgeam B");
    /* In place only as cuBLAS allows it: C = B with B not transposed and ldb = ldc. */
    if (ua && A == C) die("cublasDgeam: A and C are the same array");
    if (ub && B == C && (transb != CUBLAS_OP_N || ldb != ldc))
        die("cublasDgeam: C = B in place needs B untransposed and ldb = ldc");
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double a = ua ? (transa == CUBLAS_OP_N ? A[i + (size_t)j * lda] : A[j + (size_t)i * lda]) : 0.0;
            double b = ub ? (transb == CUBLAS_OP_N ? B[i + (size_t)j * ldb] : B[j + (size_t)i * ldb]) : 0.0;
            C[i + (size_t)j * ldc] = (ua ? *alpha * a : 0.0) + (ub ? *beta * b : 0.0);
        }
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- cuSOLVER ------------------------------------------------------------------------ */

/* The work size each _bufferSize call hands out (doubles): generous, and checked. */
#define SOLVER_LWORK(n) (64 * ((n) > 1 ? (n) : 1))

struct cusolverDnContext {
    int unused;
};

cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t *handle)
{
    static struct cusolverDnContext ctx;
    *handle = &ctx;
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t handle, cudaStream_t streamId)
{
    return CUSOLVER_STATUS_SUCCESS;
}

static cusolverStatus_t lwork_of(int m, int n, int lda, int *lwork)
{
    if (m < 0 || n < 0 || lda < (m > 1 ? m : 1)) return CUSOLVER_STATUS_INVALID_VALUE;
    *lwork = SOLVER_LWORK(m > n ? m : n);
    return CUSOLVER_STATUS_SUCCESS;
}

/* The checks every factorization shares; then info is zeroed as on the device. */
static cusolverStatus_t solver_args(int m, int n, const double *A, int lda, const double *work,
                                    int lwork, int need, int *info, const char *what)
{
    if (m < 0 || n < 0 || lda < (m > 1 ? m : 1)) return CUSOLVER_STATUS_INVALID_VALUE;
    if (work || need) {
        if (lwork < need) die("%s: lwork %d is below the %d its _bufferSize returned", what, lwork, need);
        need_device(work, (size_t)lwork * sizeof(double), what);
    }
    need_device(A, extent(m, n, lda), what);
    need_device(info, sizeof *info, what);
    *info = 0;
    return CUSOLVER_STATUS_SUCCESS;
}

/* LAPACKE's info into the device's: argument errors as negative, failures positive. */
static void set_info(int *info, lapack_int r) { *info = (int)r; }

cusolverStatus_t cusolverDnDgetrf_bufferSize(cusolverDnHandle_t handle, int m, int n, double *A,
                                             int lda, int *Lwork)
{
    return lwork_of(m, n, lda, Lwork);
}

cusolverStatus_t cusolverDnDgetrf(cusolverDnHandle_t handle, int m, int n, double *A, int lda,
                                  double *Workspace, int *devIpiv, int *devInfo)
{
    S.queued = true;
    cusolverStatus_t st = solver_args(m, n, A, lda, Workspace, SOLVER_LWORK(m > n ? m : n),
                                      SOLVER_LWORK(m > n ? m : n), devInfo, "getrf");
    if (st != CUSOLVER_STATUS_SUCCESS) return st;
    need_device(devIpiv, (size_t)(m < n ? m : n) * sizeof(int), "getrf pivots");
    if (m && n) set_info(devInfo, LAPACKE_dgetrf(LAPACK_COL_MAJOR, m, n, A, lda, devIpiv));
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDgetrs(cusolverDnHandle_t handle, cublasOperation_t trans, int n,
                                  int nrhs, const double *A, int lda, const int *devIpiv,
                                  double *B, int ldb, int *devInfo)
{
    S.queued = true;
    if (n < 0 || nrhs < 0 || lda < (n > 1 ? n : 1) || ldb < (n > 1 ? n : 1))
        return CUSOLVER_STATUS_INVALID_VALUE;
    need_device(A, extent(n, n, lda), "getrs A");
    need_device(devIpiv, (size_t)n * sizeof(int), "getrs pivots");
    need_device(B, extent(n, nrhs, ldb), "getrs B");
    need_device(devInfo, sizeof *devInfo, "getrs info");
    *devInfo = 0;
    if (n && nrhs)
        set_info(devInfo, LAPACKE_dgetrs(LAPACK_COL_MAJOR, trans == CUBLAS_OP_N ? 'N' : 'T', n,
                                         nrhs, A, lda, devIpiv, B, ldb));
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDpotrf_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t uplo,
                                             int n, double *A, int lda, int *Lwork)
{
    return lwork_of(n, n, lda, Lwork);
}

cusolverStatus_t cusolverDnDpotrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n,
                                  double *A, int lda, double *Workspace, int Lwork, int *devInfo)
{
    S.queued = true;
    cusolverStatus_t st = solver_args(n, n, A, lda, Workspace, Lwork, SOLVER_LWORK(n), devInfo, "potrf");
    if (st != CUSOLVER_STATUS_SUCCESS) return st;
    if (n)
        set_info(devInfo, LAPACKE_dpotrf(LAPACK_COL_MAJOR, uplo == CUBLAS_FILL_MODE_LOWER ? 'L' : 'U',
                                         n, A, lda));
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDsyevd_bufferSize(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                             cublasFillMode_t uplo, int n, const double *A,
                                             int lda, const double *W, int *lwork)
{
    return lwork_of(n, n, lda, lwork);
}

cusolverStatus_t cusolverDnDsyevd(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                  cublasFillMode_t uplo, int n, double *A, int lda, double *W,
                                  double *work, int lwork, int *info)
{
    S.queued = true;
    cusolverStatus_t st = solver_args(n, n, A, lda, work, lwork, SOLVER_LWORK(n), info, "syevd");
    if (st != CUSOLVER_STATUS_SUCCESS) return st;
    need_device(W, (size_t)n * sizeof *W, "syevd W");
    if (n)
        set_info(info, LAPACKE_dsyevd(LAPACK_COL_MAJOR, jobz == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N',
                                      uplo == CUBLAS_FILL_MODE_LOWER ? 'L' : 'U', n, A, lda, W));
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDgeqrf_bufferSize(cusolverDnHandle_t handle, int m, int n, double *A,
                                             int lda, int *lwork)
{
    return lwork_of(m, n, lda, lwork);
}

cusolverStatus_t cusolverDnDgeqrf(cusolverDnHandle_t handle, int m, int n, double *A, int lda,
                                  double *TAU, double *Workspace, int Lwork, int *devInfo)
{
    S.queued = true;
    cusolverStatus_t st = solver_args(m, n, A, lda, Workspace, Lwork, SOLVER_LWORK(m > n ? m : n),
                                      devInfo, "geqrf");
    if (st != CUSOLVER_STATUS_SUCCESS) return st;
    need_device(TAU, (size_t)(m < n ? m : n) * sizeof *TAU, "geqrf tau");
    if (m && n) set_info(devInfo, LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, n, A, lda, TAU));
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDorgqr_bufferSize(cusolverDnHandle_t handle, int m, int n, int k,
                                             const double *A, int lda, const double *tau,
                                             int *lwork)
{
    if (n > m || k > n || k < 0) return CUSOLVER_STATUS_INVALID_VALUE;
    return lwork_of(m, n, lda, lwork);
}

cusolverStatus_t cusolverDnDorgqr(cusolverDnHandle_t handle, int m, int n, int k, double *A,
                                  int lda, const double *tau, double *work, int lwork, int *info)
{
    S.queued = true;
    if (n > m || k > n || k < 0) return CUSOLVER_STATUS_INVALID_VALUE;
    cusolverStatus_t st = solver_args(m, n, A, lda, work, lwork, SOLVER_LWORK(m), info, "orgqr");
    if (st != CUSOLVER_STATUS_SUCCESS) return st;
    need_device(tau, (size_t)k * sizeof *tau, "orgqr tau");
    if (m && n) set_info(info, LAPACKE_dorgqr(LAPACK_COL_MAJOR, m, n, k, A, lda, tau));
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDgesvd_bufferSize(cusolverDnHandle_t handle, int m, int n, int *lwork)
{
    if (m < n) return CUSOLVER_STATUS_INVALID_VALUE; /* cuSOLVER's gesvd needs m >= n */
    return lwork_of(m, n, m, lwork);
}

cusolverStatus_t cusolverDnDgesvd(cusolverDnHandle_t handle, signed char jobu, signed char jobvt,
                                  int m, int n, double *A, int lda, double *S_, double *U,
                                  int ldu, double *VT, int ldvt, double *work, int lwork,
                                  double *rwork, int *info)
{
    S.queued = true;
    if (m < n) return CUSOLVER_STATUS_INVALID_VALUE;
    cusolverStatus_t st = solver_args(m, n, A, lda, work, lwork, SOLVER_LWORK(m), info, "gesvd");
    if (st != CUSOLVER_STATUS_SUCCESS) return st;
    if (jobu != 'S' || jobvt != 'S') die("gesvd: only jobu = jobvt = 'S' is simulated");
    if (ldu < (m > 1 ? m : 1) || ldvt < (n > 1 ? n : 1)) return CUSOLVER_STATUS_INVALID_VALUE;
    need_device(S_, (size_t)n * sizeof *S_, "gesvd S");
    need_device(U, extent(m, n, ldu), "gesvd U");
    need_device(VT, extent(n, n, ldvt), "gesvd VT");
    if (rwork) need_device(rwork, (size_t)(n > 1 ? n - 1 : 1) * sizeof *rwork, "gesvd rwork");
    if (m && n) {
        double *superb = malloc((size_t)(n > 1 ? n : 1) * sizeof *superb);
        if (!superb) die("gesvd: out of host memory");
        set_info(info, LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', m, n, A, lda, S_, U, ldu, VT,
                                      ldvt, superb));
        free(superb);
    }
    return CUSOLVER_STATUS_SUCCESS;
}

/* ---- NCCL ---------------------------------------------------------------------------- */

struct ncclComm {
    MPI_Comm c;
};

static int group_depth;

const char *ncclGetErrorString(ncclResult_t result)
{
    switch (result) {
    case ncclSuccess: return "no error";
    case ncclInvalidUsage: return "invalid usage (simulated: two ranks on one device)";
    case ncclInvalidArgument: return "invalid argument";
    default: return "unhandled system error";
    }
}

ncclResult_t ncclGetVersion(int *version)
{
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

/* An id names the communicator by its creator's world rank and a serial of that rank. */
ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId)
{
    static int serial;
    int me;
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    memset(uniqueId, 0, sizeof *uniqueId);
    int v[2] = {me, ++serial};
    memcpy(uniqueId->internal, v, sizeof v);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)
{
    int v[2];
    memcpy(v, commId.internal, sizeof v);
    if (v[1] >= 1024 || v[0] >= INT_MAX / 1024) die("ncclCommInitRank: too many communicators");
    MPI_Comm c;
    MPI_Comm_split(MPI_COMM_WORLD, v[0] * 1024 + v[1], rank, &c);
    int n, r;
    MPI_Comm_size(c, &n);
    MPI_Comm_rank(c, &r);
    if (n != nranks || r != rank) die("ncclCommInitRank: %d ranks as %d, rank %d as %d", n, nranks, r, rank);
    /* NCCL refuses two ranks of a communicator on one device of one node. */
    char host[MPI_MAX_PROCESSOR_NAME + 16] = {0};
    int len = 0;
    MPI_Get_processor_name(host, &len);
    snprintf(host + len, sizeof host - (size_t)len, "#%d", S.dev);
    char *all = calloc((size_t)n, sizeof host);
    if (!all) die("ncclCommInitRank: out of host memory");
    MPI_Allgather(host, (int)sizeof host, MPI_CHAR, all, (int)sizeof host, MPI_CHAR, c);
    bool dup = false;
    for (int i = 0; i < n; i++)
        if (i != r && strcmp(all + (size_t)i * sizeof host, host) == 0) dup = true;
    free(all);
    if (dup) {
        MPI_Comm_free(&c);
        return ncclInvalidUsage;
    }
    *comm = malloc(sizeof **comm);
    if (!*comm) die("ncclCommInitRank: out of host memory");
    (*comm)->c = c;
    return ncclSuccess;
}

static MPI_Datatype mpi_type(ncclDataType_t t, size_t *size)
{
    switch (t) {
    case ncclDouble: *size = sizeof(double); return MPI_DOUBLE;
    case ncclUint64: *size = sizeof(uint64_t); return MPI_UINT64_T;
    default: die("NCCL data type %d is not used by the plugin", (int)t);
    }
}

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream)
{
    S.queued = true;
    size_t size;
    MPI_Datatype t = mpi_type(datatype, &size);
    int r, n;
    MPI_Comm_rank(comm->c, &r);
    MPI_Comm_size(comm->c, &n);
    if (root < 0 || root >= n) return ncclInvalidArgument;
    need_device(recvbuff, count * size, "ncclBroadcast receive buffer");
    if (r == root) {
        need_device(sendbuff, count * size, "ncclBroadcast send buffer");
        if (sendbuff != recvbuff && count) memmove(recvbuff, sendbuff, count * size);
    }
    for (size_t off = 0; off < count; off += INT_MAX / 8) {
        size_t c = count - off < INT_MAX / 8 ? count - off : INT_MAX / 8;
        MPI_Bcast((char *)recvbuff + off * size, (int)c, t, root, comm->c);
    }
    return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream)
{
    S.queued = true;
    if (op != ncclSum) die("NCCL reduction %d is not used by the plugin", (int)op);
    size_t size;
    MPI_Datatype t = mpi_type(datatype, &size);
    need_device(sendbuff, count * size, "ncclAllReduce send buffer");
    need_device(recvbuff, count * size, "ncclAllReduce receive buffer");
    for (size_t off = 0; off < count; off += INT_MAX / 8) {
        size_t c = count - off < INT_MAX / 8 ? count - off : INT_MAX / 8;
        char *rb = (char *)recvbuff + off * size;
        if (sendbuff == recvbuff)
            MPI_Allreduce(MPI_IN_PLACE, rb, (int)c, t, MPI_SUM, comm->c);
        else
            MPI_Allreduce((const char *)sendbuff + off * size, rb, (int)c, t, MPI_SUM, comm->c);
    }
    return ncclSuccess;
}

/* Calls inside a group run at once, in order: every rank issues the same sequence, each
 * collective among ranks that all reach it, so the order cannot deadlock. */
ncclResult_t ncclGroupStart(void); /* nccl.h declares both without a prototype */
ncclResult_t ncclGroupEnd(void);

ncclResult_t ncclGroupStart(void)
{
    group_depth++;
    return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void)
{
    if (group_depth == 0) return ncclInvalidUsage;
    group_depth--;
    return ncclSuccess;
}
