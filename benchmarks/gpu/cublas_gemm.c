/* cublas_gemm.c: the direct cuBLAS baseline of benchmarks/gpu/run.sh (issue 9): C = A @ B
 * with cublasDgemm on N x N doubles already in device memory, 1 warm-up and REPS timed runs,
 * each timed with CUDA events around the call alone (no transfers).  Prints one line
 *   cublas N SECONDS GFLOP/s        (the fastest run; 2 N^3 flops)
 * and "# cublas N times: t1 t2 ..." with every run.  Without a device it prints
 * "cublas N no-device" and exits 3; --devices prints the device count.
 * Built with gcc against CUDA's headers (benchmarks/gpu/bundle.sh): no nvcc needed. */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(call)                                                                       \
    do {                                                                               \
        cudaError_t e_ = (call);                                                       \
        if (e_ != cudaSuccess) {                                                       \
            fprintf(stderr, "cublas_gemm: %s: %s\n", #call, cudaGetErrorString(e_));   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)
#define CB(call)                                                                       \
    do {                                                                               \
        cublasStatus_t s_ = (call);                                                    \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                             \
            fprintf(stderr, "cublas_gemm: %s: status %d\n", #call, (int)s_);           \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* Uniform [0,1) from a 64-bit xorshift: the values only need to be non-trivial. */
static void fill(double *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (double)(s >> 11) * 0x1.0p-53;
    }
}

int main(int argc, char **argv)
{
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess)
        ndev = 0;
    if (argc > 1 && strcmp(argv[1], "--devices") == 0) {
        printf("%d\n", ndev);
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: cublas_gemm N [REPS]   |   cublas_gemm --devices\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 1 || reps < 1) {
        fprintf(stderr, "cublas_gemm: bad N or REPS\n");
        return 2;
    }
    if (ndev == 0) {
        printf("cublas %ld no-device\n", n);
        if (e != cudaSuccess)
            fprintf(stderr, "cublas_gemm: %s\n", cudaGetErrorString(e));
        return 3;
    }
    size_t nn = (size_t)n * (size_t)n, bytes = nn * sizeof(double);
    double *h = malloc(bytes);
    if (!h) {
        fprintf(stderr, "cublas_gemm: out of host memory\n");
        return 1;
    }
    double *a, *b, *c;
    CK(cudaSetDevice(0));
    CK(cudaMalloc((void **)&a, bytes));
    CK(cudaMalloc((void **)&b, bytes));
    CK(cudaMalloc((void **)&c, bytes));
    fill(h, nn, 1);
    CK(cudaMemcpy(a, h, bytes, cudaMemcpyHostToDevice));
    fill(h, nn, 2);
    CK(cudaMemcpy(b, h, bytes, cudaMemcpyHostToDevice));
    cublasHandle_t hd;
    CB(cublasCreate(&hd));
    cudaEvent_t t0, t1;
    CK(cudaEventCreate(&t0));
    CK(cudaEventCreate(&t1));
    const double one = 1.0, zero = 0.0;
    double best = 1e300;
    printf("# cublas %ld times:", n);
    for (int r = 0; r <= reps; r++) {
        CK(cudaEventRecord(t0, 0));
        CB(cublasDgemm(hd, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)n, (int)n, &one, a, (int)n,
                       b, (int)n, &zero, c, (int)n));
        CK(cudaEventRecord(t1, 0));
        CK(cudaEventSynchronize(t1));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, t0, t1));
        if (r == 0)
            continue; /* warm-up: cuBLAS picks and loads its kernel here */
        printf(" %.6f", ms / 1e3);
        if (ms / 1e3 < best)
            best = ms / 1e3;
    }
    /* One element back, so a failed product cannot pass silently. */
    double c00 = 0;
    CK(cudaMemcpy(&c00, c, sizeof c00, cudaMemcpyDeviceToHost));
    printf(" (C[0,0] = %.6g)\n", c00);
    printf("cublas %ld %.6f %.1f\n", n, best, 2.0 * (double)n * (double)n * (double)n / best / 1e9);
    cublasDestroy(hd);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    free(h);
    return 0;
}
