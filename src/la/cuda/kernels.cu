/* kernels.cu: CUDA kernels of the matrix backend (kernels.h).
 *
 * Elementwise + - * / are correctly rounded on the device as on the host, so they give
 * the host's bits; pow and the map functions use CUDA's math library (within 2 ulp of
 * glibc's, docs/gpu.md).  The reduction partials replay the host loop exactly: one
 * thread per block, columns outer, rows inner, and __dmul_rn/__dadd_rn so that nvcc
 * cannot fuse a multiply and an add that the host performs separately.  Launches go
 * through ND_LAUNCH so that the host C++ compiler can build this file for the simulated
 * device of the tests (configure --with-cuda=sim, tests/simcuda).
 */
#include "la/cuda/kernels.h"

#ifdef ND_CUDA_SIM
#include "simcuda/sim_kernels.h" /* configure --with-cuda=sim: host C++ */
#else
#define ND_LAUNCH(kernel, blocks, threads, stream) kernel<<<blocks, threads, 0, stream>>>
#endif

/* The operation codes, from dm.h / dm_layout.h (C headers this C++ file cannot include). */
enum {
    EW_ADD, EW_SUB, EW_MUL, EW_DIV, EW_POW, EW_MOD, EW_FLOORDIV, EW_LT, EW_LE, EW_GT, EW_GE,
    EW_EQ, EW_NE, EW_MAX, EW_MIN, EW_ATAN2
};
enum {
    MAP_NEG, MAP_ABS, MAP_SQRT, MAP_EXP, MAP_LOG, MAP_SIN, MAP_COS, MAP_TANH, MAP_TAN, MAP_ATAN,
    MAP_FLOOR, MAP_CEIL, MAP_ROUND
};
enum { P_SUM, P_SUMSQ, P_MIN, P_MAX, P_DOT };

#define THREADS 256

/* Blocks for n elements with a grid-stride loop: enough to fill the device, capped. */
static unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    if (b > 65535 * 8) b = 65535 * 8;
    return b ? (unsigned)b : 1u;
}

/* Exact like the host's nd_ew_apply except pow and atan2 (CUDA's math library). */
__device__ static double ew_apply(int op, double x, double y)
{
    switch (op) {
    case EW_ADD: return __dadd_rn(x, y);
    case EW_SUB: return __dsub_rn(x, y);
    case EW_MUL: return __dmul_rn(x, y);
    case EW_DIV: return __ddiv_rn(x, y);
    case EW_MOD: {
        double r = fmod(x, y);
        return r != 0 && ((r < 0) != (y < 0)) ? __dadd_rn(r, y) : r;
    }
    case EW_FLOORDIV: return floor(__ddiv_rn(x, y));
    case EW_LT: return x < y ? 1.0 : 0.0;
    case EW_LE: return x <= y ? 1.0 : 0.0;
    case EW_GT: return x > y ? 1.0 : 0.0;
    case EW_GE: return x >= y ? 1.0 : 0.0;
    case EW_EQ: return x == y ? 1.0 : 0.0;
    case EW_NE: return x != y ? 1.0 : 0.0;
    case EW_MAX: return x != x || y != y ? __dadd_rn(x, y) : (x >= y ? x : y);
    case EW_MIN: return x != x || y != y ? __dadd_rn(x, y) : (x <= y ? x : y);
    case EW_ATAN2: return atan2(x, y);
    default: return pow(x, y);
    }
}

__global__ static void ew_kernel(int op, const double *a, const double *b, double *c, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        c[i] = ew_apply(op, a[i], b[i]);
}

__global__ static void ew_scalar_kernel(int op, const double *a, double x, int left, double *c,
                                        size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        c[i] = left ? ew_apply(op, x, a[i]) : ew_apply(op, a[i], x);
}

__global__ static void map_kernel(int f, const double *a, double *c, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double x = a[i], y;
        switch (f) {
        case MAP_NEG: y = -x; break;
        case MAP_ABS: y = fabs(x); break;
        case MAP_SQRT: y = sqrt(x); break;
        case MAP_EXP: y = exp(x); break;
        case MAP_LOG: y = log(x); break;
        case MAP_SIN: y = sin(x); break;
        case MAP_COS: y = cos(x); break;
        case MAP_TAN: y = tan(x); break;
        case MAP_ATAN: y = atan(x); break;
        case MAP_FLOOR: y = floor(x); break;
        case MAP_CEIL: y = ceil(x); break;
        case MAP_ROUND: y = round(x); break;
        default: y = tanh(x); break;
        }
        c[i] = y;
    }
}

/* dm.c's nan_min / nan_max: a NaN, once seen, stays. */
__device__ static double nan_min(double acc, double x)
{
    return (x < acc || isnan(x)) && !isnan(acc) ? x : acc;
}
__device__ static double nan_max(double acc, double x)
{
    return (x > acc || isnan(x)) && !isnan(acc) ? x : acc;
}

__global__ static void partials_kernel(int kind, const double *a, const double *b, int lld,
                                       int mloc, int nloc, int nb, int nprow, int npcol,
                                       int myrow, int mycol, int64_t nbr, double *part)
{
    int tr = (mloc + nb - 1) / nb, tc = (nloc + nb - 1) / nb;
    int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (t >= (int64_t)tr * tc) return;
    int lr = (int)(t % tr), lc = (int)(t / tr);
    int i1 = (lr + 1) * nb < mloc ? (lr + 1) * nb : mloc;
    int j1 = (lc + 1) * nb < nloc ? (lc + 1) * nb : nloc;
    double acc = kind == P_MIN || kind == P_MAX ? a[lr * nb + (size_t)lc * nb * lld] : 0.0;
    for (int lj = lc * nb; lj < j1; lj++)
        for (int li = lr * nb; li < i1; li++) {
            double x = a[li + (size_t)lj * lld];
            switch (kind) {
            case P_SUM: acc = __dadd_rn(acc, x); break;
            case P_SUMSQ: acc = __dadd_rn(acc, __dmul_rn(x, x)); break;
            case P_MIN: acc = nan_min(acc, x); break;
            case P_MAX: acc = nan_max(acc, x); break;
            default: acc = __dadd_rn(acc, __dmul_rn(x, b[li + (size_t)lj * lld])); break;
            }
        }
    int64_t bi = (int64_t)lr * nprow + myrow, bj = (int64_t)lc * npcol + mycol;
    part[bi + bj * nbr] = acc;
}

__global__ static void zero_tri_kernel(double *a, int m, int n, int lld, int upper)
{
    int64_t total = (int64_t)m * n;
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total;
         k += (int64_t)gridDim.x * blockDim.x) {
        int i = (int)(k % m), j = (int)(k / m);
        if (upper ? i < j : i > j) a[i + (size_t)j * lld] = 0.0;
    }
}

extern "C" void nd_cuk_ew(int op, const double *a, const double *b, double *c, size_t n,
                          cudaStream_t s)
{
    ND_LAUNCH(ew_kernel, blocks_for(n), THREADS, s)(op, a, b, c, n);
}

extern "C" void nd_cuk_ew_scalar(int op, const double *a, double x, int scalar_left, double *c,
                                 size_t n, cudaStream_t s)
{
    ND_LAUNCH(ew_scalar_kernel, blocks_for(n), THREADS, s)(op, a, x, scalar_left, c, n);
}

extern "C" void nd_cuk_map(int f, const double *a, double *c, size_t n, cudaStream_t s)
{
    ND_LAUNCH(map_kernel, blocks_for(n), THREADS, s)(f, a, c, n);
}

extern "C" void nd_cuk_partials(int kind, const double *a, const double *b, int lld, int mloc,
                                int nloc, int nb, int nprow, int npcol, int myrow, int mycol,
                                int64_t nbr, double *part, cudaStream_t s)
{
    int64_t tiles = (int64_t)((mloc + nb - 1) / nb) * ((nloc + nb - 1) / nb);
    if (tiles == 0) return;
    /* Few threads per block: each runs a whole nb x nb block serially. */
    unsigned threads = 64, blocks = (unsigned)((tiles + threads - 1) / threads);
    ND_LAUNCH(partials_kernel, blocks, threads, s)(kind, a, b, lld, mloc, nloc, nb, nprow, npcol,
                                               myrow, mycol, nbr, part);
}

extern "C" void nd_cuk_zero_tri(double *a, int m, int n, int lld, int upper, cudaStream_t s)
{
    ND_LAUNCH(zero_tri_kernel, blocks_for((size_t)m * n), THREADS, s)(a, m, n, lld, upper);
}
