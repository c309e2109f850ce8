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

#include <string.h>

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
enum { AXP_SUM, AXP_SQDEV, AXP_MIN, AXP_MAX, AXP_NNZ, AXP_ARGMIN, AXP_ARGMAX };

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

__global__ static void where_kernel(const double *m, double ms, const double *a, double as,
                                   const double *b, double bs, double *c, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        c[i] = (m ? m[i] : ms) != 0.0 ? (a ? a[i] : as) : (b ? b[i] : bs);
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

/* ---- axis partials: arr_axis.c's host loops, one thread per line and block ---------- */

__device__ static int64_t global_index(int64_t l, int nb, int p, int np)
{
    return (l / nb * np + p) * nb + l % nb;
}

/* arr_axis.c block_sum: 8 lanes, then ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). */
__device__ static double block_sum(const double *c, int n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int q = 0; q < 8; q++) acc[q] = __dadd_rn(acc[q], c[i + q]);
    for (int q = 0; i + q < n; q++) acc[q] = __dadd_rn(acc[q], c[i + q]);
    return __dadd_rn(__dadd_rn(__dadd_rn(acc[0], acc[1]), __dadd_rn(acc[2], acc[3])),
                     __dadd_rn(__dadd_rn(acc[4], acc[5]), __dadd_rn(acc[6], acc[7])));
}

/* arr_axis.c block_ext: lanes for a block without NaN or infinity, else the exact fold. */
__device__ static double block_ext(const double *c, int n, bool is_max)
{
    double v = c[0];
    int i = 1;
    if (n >= 16) {
        double l[8];
        bool bad = false;
        for (int q = 0; q < 8; q++) l[q] = c[q];
        for (i = 8; i + 8 <= n; i += 8)
            for (int q = 0; q < 8; q++) {
                double x = c[i + q];
                bad = bad || isnan(__dsub_rn(x, x));
                l[q] = (is_max ? x > l[q] : x < l[q]) ? x : l[q];
            }
        for (int q = 0; q < 8; q++) bad = bad || isnan(__dsub_rn(l[q], l[q]));
        if (bad) {
            v = c[0];
            i = 1;
        } else {
            v = l[0];
            for (int q = 1; q < 8; q++) v = (is_max ? l[q] > v : l[q] < v) ? l[q] : v;
        }
    }
    for (; i < n; i++) v = is_max ? nan_max(v, c[i]) : nan_min(v, c[i]);
    return v;
}

/* arr_axis.c beats: a NaN first (the earlier one), then the extreme, then the earlier. */
__device__ static bool beats(bool is_max, double xv, int64_t xf, double yv, int64_t yf)
{
    if (xf < 0) return false;
    if (yf < 0) return true;
    bool xn = isnan(xv), yn = isnan(yv);
    if (xn || yn) return xn && (!yn || xf < yf);
    if (xv != yv) return is_max ? xv > yv : xv < yv;
    return xf < yf;
}

/* Lines are storage columns (rows 0: the block is a run of a column) or rows (rows 1: the
 * block is a run of a row, stride lld).  The elements of a block go in storage order. */
__global__ static void axis_partials_kernel(int kind, int rows, const double *a, int lld,
                                            int mloc, int nloc, int nb, int nprow, int npcol,
                                            int myrow, int mycol, int64_t nblk,
                                            const double *mean, double *part)
{
    int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t nl = rows ? mloc : nloc, nbk = rows ? (nloc + nb - 1) / nb : (mloc + nb - 1) / nb;
    if (t >= nl * nbk) return;
    int l = (int)(t % nl), b = (int)(t / nl);
    int64_t line = rows ? global_index(l, nb, myrow, nprow) : global_index(l, nb, mycol, npcol);
    int64_t blk = rows ? (int64_t)b * npcol + mycol : (int64_t)b * nprow + myrow;
    int64_t k = blk + line * nblk;
    int len = rows ? (nloc - b * nb < nb ? nloc - b * nb : nb) : (mloc - b * nb < nb ? mloc - b * nb : nb);
    size_t stride = rows ? (size_t)lld : 1;
    const double *c = rows ? a + l + (size_t)b * nb * lld : a + (size_t)l * lld + (size_t)b * nb;
    if (kind == AXP_ARGMIN || kind == AXP_ARGMAX) {
        double bv = 0.0;
        int64_t bf = -1;
        for (int i = 0; i < len; i++) {
            int64_t f = rows ? global_index((int64_t)b * nb + i, nb, mycol, npcol)
                             : global_index((int64_t)b * nb + i, nb, myrow, nprow);
            double x = c[i * stride];
            if (bf < 0 || beats(kind == AXP_ARGMAX, x, f, bv, bf)) bv = x, bf = f;
        }
        int64_t f1 = bf + 1;
        part[2 * k] = bv;
        memcpy(&part[2 * k + 1], &f1, sizeof f1);
        return;
    }
    double acc = 0.0;
    if (!rows && (kind == AXP_SUM || kind == AXP_MIN || kind == AXP_MAX)) {
        acc = kind == AXP_SUM ? block_sum(c, len) : block_ext(c, len, kind == AXP_MAX);
    } else if (kind == AXP_MIN || kind == AXP_MAX) {
        acc = c[0];
        for (int i = 1; i < len; i++)
            acc = kind == AXP_MAX ? nan_max(acc, c[i * stride]) : nan_min(acc, c[i * stride]);
    } else {
        for (int i = 0; i < len; i++) {
            double x = c[i * stride];
            if (kind == AXP_SUM) {
                acc = __dadd_rn(acc, x);
            } else if (kind == AXP_NNZ) {
                acc = __dadd_rn(acc, x != 0.0 ? 1.0 : 0.0);
            } else {
                double d = __dsub_rn(x, mean[line]);
                acc = __dadd_rn(acc, __dmul_rn(d, d));
            }
        }
    }
    part[k] = acc;
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

extern "C" void nd_cuk_where(const double *m, double ms, const double *a, double as,
                             const double *b, double bs, double *c, size_t n, cudaStream_t s)
{
    ND_LAUNCH(where_kernel, blocks_for(n), THREADS, s)(m, ms, a, as, b, bs, c, n);
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

extern "C" void nd_cuk_axis_partials(int kind, int rows, const double *a, int lld, int mloc,
                                     int nloc, int nb, int nprow, int npcol, int myrow,
                                     int mycol, int64_t nblk, const double *mean, double *part,
                                     cudaStream_t s)
{
    int64_t nl = rows ? mloc : nloc, nbk = rows ? (nloc + nb - 1) / nb : (mloc + nb - 1) / nb;
    int64_t n = nl * nbk;
    if (n == 0) return;
    unsigned threads = 64, blocks = (unsigned)((n + threads - 1) / threads);
    ND_LAUNCH(axis_partials_kernel, blocks, threads, s)(kind, rows, a, lld, mloc, nloc, nb, nprow,
                                                    npcol, myrow, mycol, nblk, mean, part);
}

extern "C" void nd_cuk_zero_tri(double *a, int m, int n, int lld, int upper, cudaStream_t s)
{
    ND_LAUNCH(zero_tri_kernel, blocks_for((size_t)m * n), THREADS, s)(a, m, n, lld, upper);
}
