/* This machine's peak of fused multiply-adds, for the GFLOP/s column of
 * bench/bench_speed.py: independent AVX-512 (or AVX2) FMA chains on every
 * thread, counted as 2 flops per lane.
 *
 *   cc -O3 -pthread bench/fma_peak.c -o fma_peak && ./fma_peak [threads]
 *
 * Prints one JSON line: {"isa": ..., "threads": n, "gflops_f32": x, "gflops_f64": y}. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12 /* enough independent FMAs to cover latency 4 x 2 ports */
#define STEPS 200000000L

static int use_avx512;

/* CHAINS independent accumulators of type VEC (LANES values of T), each
 * updated acc = acc * x + y per step; returns their sum so nothing is elided. */
#define FMA_CHAINS(NAME, TARGET, T, VEC, LANES, W, S)                                  \
    __attribute__((target(TARGET))) static double NAME(long steps)                    \
    {                                                                                 \
        VEC acc[CHAINS];                                                              \
        const VEC x = _mm##W##_set1_##S((T)0.999999), y = _mm##W##_set1_##S((T)1e-7); \
        for (int c = 0; c < CHAINS; c++)                                              \
            acc[c] = _mm##W##_set1_##S((T)c);                                         \
        for (long i = 0; i < steps; i++)                                              \
            _Pragma("GCC unroll 16") for (int c = 0; c < CHAINS; c++)                 \
                acc[c] = _mm##W##_fmadd_##S(acc[c], x, y);                            \
        T out[LANES], sum = 0;                                                        \
        for (int c = 0; c < CHAINS; c++) {                                            \
            _mm##W##_storeu_##S(out, acc[c]);                                         \
            for (int l = 0; l < LANES; l++)                                           \
                sum += out[l];                                                        \
        }                                                                             \
        return sum;                                                                   \
    }

FMA_CHAINS(run_avx512_ps, "avx512f,fma", float, __m512, 16, 512, ps)
FMA_CHAINS(run_avx512_pd, "avx512f,fma", double, __m512d, 8, 512, pd)
FMA_CHAINS(run_avx2_ps, "avx2,fma", float, __m256, 8, 256, ps)
FMA_CHAINS(run_avx2_pd, "avx2,fma", double, __m256d, 4, 256, pd)

static int single;
static volatile double sink;

static void *worker(void *arg)
{
    long steps = *(long *)arg;
    if (use_avx512)
        sink = single ? run_avx512_ps(steps) : run_avx512_pd(steps);
    else
        sink = single ? run_avx2_ps(steps) : run_avx2_pd(steps);
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double gflops(int threads, int lanes)
{
    long steps = STEPS / 4;
    pthread_t ids[256];
    double start = now();
    for (int t = 0; t < threads; t++)
        pthread_create(&ids[t], NULL, worker, &steps);
    for (int t = 0; t < threads; t++)
        pthread_join(ids[t], NULL);
    double seconds = now() - start;
    return 2.0 * lanes * CHAINS * (double)steps * threads / seconds / 1e9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 256)
        threads = 1;
    __builtin_cpu_init();
    use_avx512 = __builtin_cpu_supports("avx512f");
    if (!use_avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        printf("{\"isa\": \"none\"}\n");
        return 1;
    }
    int lanes32 = use_avx512 ? 16 : 8;
    single = 1;
    gflops(threads, lanes32); /* warm-up: frequency settles */
    /* the best of several runs: a peak, on a machine whose speed drifts
     * (one run has read 200 GFLOP/s where the best of the hour was 354) */
    double f32 = 0, f64 = 0;
    for (int run = 0; run < 5; run++) {
        const double g = gflops(threads, lanes32);
        f32 = g > f32 ? g : f32;
    }
    single = 0;
    for (int run = 0; run < 5; run++) {
        const double g = gflops(threads, lanes32 / 2);
        f64 = g > f64 ? g : f64;
    }
    printf("{\"isa\": \"%s\", \"threads\": %d, \"gflops_f32\": %.1f, \"gflops_f64\": %.1f}\n",
           use_avx512 ? "avx512" : "avx2", threads, f32, f64);
    return 0;
}
