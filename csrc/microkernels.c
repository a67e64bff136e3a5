/* Register-blocked micro-kernels of the packed products (gemm.c), one set per
 * instruction set, chosen at run time (isa.c).
 *
 * A micro-kernel updates one MR x NR tile of C from a packed A panel (kc
 * steps of MR values) and a packed B panel (kc steps of NR values):
 *   sum: c[r][j] = c[r][j] + a[p][r] * b[p][j], p = 0 .. kc-1 in order
 *   max: c[r][j] = max(c[r][j], a[p][r] * b[p][j])
 * starting from the tile's current values (load) or from 0. The SIMD kernels
 * fuse the sum's multiply-add (one rounding); the portable one rounds twice.
 * Each is compiled for its instruction set by a target attribute, so the
 * shipped build needs no -march flag and runs on any x86-64 (or other) CPU.
 */
#include "lrp_internal.h"
#include "microkernels.h"

/* Portable C: small tiles the compiler vectorises with the baseline ISA. */
#define PORTABLE_KERNEL(NAME, T, MR, NR, COMBINE)                                          \
    static void NAME(ptrdiff_t kc, const T *restrict a, const T *restrict b, T *restrict c, \
                     ptrdiff_t ldc, int load)                                               \
    {                                                                                       \
        T acc[MR][NR];                                                                      \
        for (int r = 0; r < MR; r++)                                                        \
            for (int j = 0; j < NR; j++)                                                    \
                acc[r][j] = load ? c[r * ldc + j] : (T)0;                                   \
        for (ptrdiff_t p = 0; p < kc; p++) {                                                \
            for (int r = 0; r < MR; r++) {                                                  \
                const T ar = a[p * MR + r];                                                 \
                for (int j = 0; j < NR; j++) {                                              \
                    const T product = ar * b[p * NR + j];                                   \
                    acc[r][j] = COMBINE(acc[r][j], product);                                \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        for (int r = 0; r < MR; r++)                                                        \
            for (int j = 0; j < NR; j++)                                                    \
                c[r * ldc + j] = acc[r][j];                                                 \
    }

#define ADD(acc, x) ((acc) + (x))
#define MAXIMUM(acc, x) ((x) > (acc) ? (x) : (acc))

PORTABLE_KERNEL(sum_f32_portable, float, 4, 8, ADD)
PORTABLE_KERNEL(max_f32_portable, float, 4, 8, MAXIMUM)
PORTABLE_KERNEL(sum_f64_portable, double, 4, 4, ADD)
PORTABLE_KERNEL(max_f64_portable, double, 4, 4, MAXIMUM)

static const lrp_micro_f32 portable_f32 = {4, 8, sum_f32_portable, max_f32_portable};
static const lrp_micro_f64 portable_f64 = {4, 4, sum_f64_portable, max_f64_portable};

#if LRP_X86_DISPATCH
#include <immintrin.h>

/* Two vectors of B per step, one broadcast of A per row: 2 * MR accumulators. */
#define ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* VEC, WIDTH (lanes), LOADU, STOREU, LOADA (aligned), SET1 and ZERO name the
 * vector type and its operations; each block below defines them. */
#define SIMD_KERNEL(NAME, TARGET, ROWS, MR, T, STEP)                                            \
    TARGET static void NAME(ptrdiff_t kc, const T *restrict a, const T *restrict b,             \
                            T *restrict c, ptrdiff_t ldc, int load)                             \
    {                                                                                           \
        ROWS(DECLARE_ROW)                                                                       \
        if (load) {                                                                             \
            ROWS(LOAD_ROW)                                                                      \
        } else {                                                                                \
            ROWS(ZERO_ROW)                                                                      \
        }                                                                                       \
        for (ptrdiff_t p = 0; p < kc; p++) {                                                    \
            const VEC b0 = LOADA(b), b1 = LOADA(b + WIDTH);                                     \
            ROWS(STEP_ROW##STEP)                                                                \
            a += MR;                                                                            \
            b += 2 * WIDTH;                                                                     \
        }                                                                                       \
        ROWS(STORE_ROW)                                                                         \
    }
#define DECLARE_ROW(r) VEC c##r##0, c##r##1;
#define LOAD_ROW(r) c##r##0 = LOADU(c + (r) * ldc), c##r##1 = LOADU(c + (r) * ldc + WIDTH);
#define ZERO_ROW(r) c##r##0 = ZERO(), c##r##1 = ZERO();
#define STEP_ROWSUM(r)                   \
    {                                    \
        const VEC ar = SET1(a[r]);       \
        c##r##0 = FMADD(ar, b0, c##r##0); \
        c##r##1 = FMADD(ar, b1, c##r##1); \
    }
#define STEP_ROWMAX(r)                                 \
    {                                                  \
        const VEC ar = SET1(a[r]);                     \
        c##r##0 = MAXIMUM_OF(c##r##0, MUL(ar, b0));    \
        c##r##1 = MAXIMUM_OF(c##r##1, MUL(ar, b1));    \
    }
#define STORE_ROW(r) STOREU(c + (r) * ldc, c##r##0), STOREU(c + (r) * ldc + WIDTH, c##r##1);

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#define AVX2 __attribute__((target("avx2,fma")))

#define VEC __m512
#define WIDTH 16
#define LOADU _mm512_loadu_ps
#define STOREU _mm512_storeu_ps
#define LOADA _mm512_load_ps
#define SET1 _mm512_set1_ps
#define ZERO _mm512_setzero_ps
#define FMADD _mm512_fmadd_ps
#define MUL _mm512_mul_ps
#define MAXIMUM_OF _mm512_max_ps
SIMD_KERNEL(sum_f32_avx512, AVX512, ROWS8, 8, float, SUM)
SIMD_KERNEL(max_f32_avx512, AVX512, ROWS8, 8, float, MAX)
#undef VEC
#undef WIDTH
#undef LOADU
#undef STOREU
#undef LOADA
#undef SET1
#undef ZERO
#undef FMADD
#undef MUL
#undef MAXIMUM_OF

#define VEC __m512d
#define WIDTH 8
#define LOADU _mm512_loadu_pd
#define STOREU _mm512_storeu_pd
#define LOADA _mm512_load_pd
#define SET1 _mm512_set1_pd
#define ZERO _mm512_setzero_pd
#define FMADD _mm512_fmadd_pd
#define MUL _mm512_mul_pd
#define MAXIMUM_OF _mm512_max_pd
SIMD_KERNEL(sum_f64_avx512, AVX512, ROWS8, 8, double, SUM)
SIMD_KERNEL(max_f64_avx512, AVX512, ROWS8, 8, double, MAX)
#undef VEC
#undef WIDTH
#undef LOADU
#undef STOREU
#undef LOADA
#undef SET1
#undef ZERO
#undef FMADD
#undef MUL
#undef MAXIMUM_OF

#define VEC __m256
#define WIDTH 8
#define LOADU _mm256_loadu_ps
#define STOREU _mm256_storeu_ps
#define LOADA _mm256_load_ps
#define SET1 _mm256_set1_ps
#define ZERO _mm256_setzero_ps
#define FMADD _mm256_fmadd_ps
#define MUL _mm256_mul_ps
#define MAXIMUM_OF _mm256_max_ps
SIMD_KERNEL(sum_f32_avx2, AVX2, ROWS6, 6, float, SUM)
SIMD_KERNEL(max_f32_avx2, AVX2, ROWS6, 6, float, MAX)
#undef VEC
#undef WIDTH
#undef LOADU
#undef STOREU
#undef LOADA
#undef SET1
#undef ZERO
#undef FMADD
#undef MUL
#undef MAXIMUM_OF

#define VEC __m256d
#define WIDTH 4
#define LOADU _mm256_loadu_pd
#define STOREU _mm256_storeu_pd
#define LOADA _mm256_load_pd
#define SET1 _mm256_set1_pd
#define ZERO _mm256_setzero_pd
#define FMADD _mm256_fmadd_pd
#define MUL _mm256_mul_pd
#define MAXIMUM_OF _mm256_max_pd
SIMD_KERNEL(sum_f64_avx2, AVX2, ROWS6, 6, double, SUM)
SIMD_KERNEL(max_f64_avx2, AVX2, ROWS6, 6, double, MAX)
#undef VEC
#undef WIDTH
#undef LOADU
#undef STOREU
#undef LOADA
#undef SET1
#undef ZERO
#undef FMADD
#undef MUL
#undef MAXIMUM_OF

static const lrp_micro_f32 avx512_f32 = {8, 32, sum_f32_avx512, max_f32_avx512};
static const lrp_micro_f64 avx512_f64 = {8, 16, sum_f64_avx512, max_f64_avx512};
static const lrp_micro_f32 avx2_f32 = {6, 16, sum_f32_avx2, max_f32_avx2};
static const lrp_micro_f64 avx2_f64 = {6, 8, sum_f64_avx2, max_f64_avx2};
#endif

const lrp_micro_f32 *lrp_micro_for_f32(void)
{
#if LRP_X86_DISPATCH
    switch (lrp_current_isa()) {
    case LRP_ISA_AVX512:
        return &avx512_f32;
    case LRP_ISA_AVX2:
        return &avx2_f32;
    default:
        break;
    }
#endif
    return &portable_f32;
}

const lrp_micro_f64 *lrp_micro_for_f64(void)
{
#if LRP_X86_DISPATCH
    switch (lrp_current_isa()) {
    case LRP_ISA_AVX512:
        return &avx512_f64;
    case LRP_ISA_AVX2:
        return &avx2_f64;
    default:
        break;
    }
#endif
    return &portable_f64;
}
