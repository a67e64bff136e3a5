/* Register-blocked micro-kernels of the packed products (products/products.h), one set per
 * instruction set, chosen at run time (isa.c).
 *
 * A micro-kernel updates one MR x NR tile of C from a packed A panel (kc
 * steps of MR values) and a packed B panel (kc steps of NR values):
 *   sum: c[r][j] = c[r][j] + a[p][r] * b[p][j], p = 0 .. kc-1 in order
 *   max: c[r][j] = max(c[r][j], a[p][r] * b[p][j])
 * starting from the tile's current values (load) or from 0; `rows` and
 * `cols` are the sum with A read in place from a row-major or column-major
 * matrix. The SIMD kernels
 * fuse the sum's multiply-add (one rounding); the portable one rounds twice.
 * Each is compiled for its instruction set by a target attribute, so the
 * shipped build needs no -march flag and runs on any x86-64 (or other) CPU.
 */
#include "products/microkernels.h"
#include "runtime/isa_dispatch.h"

/* Where a kernel finds A. PACKED: the panel of FN(pack_a), mr values per
 * step. IN_PLACE: a row-major matrix with row stride lda (a batch of
 * activations, which then needs no packing). */
#define A_PARAMS_PACKED(T) const T *restrict a,
#define A_PARAMS_IN_PLACE(T) const T *restrict a, ptrdiff_t lda,
#define A_AT_PACKED(p, r, MR) a[(p) * (MR) + (r)]
#define A_AT_IN_PLACE(p, r, MR) a[(r) * lda + (p)]
/* COLUMNS: a column-major matrix with column stride lda (Winograd's V,
 * whose rows are tiles: the wide form reads it where the input step wrote
 * it). */
#define A_PARAMS_COLUMNS(T) const T *restrict a, ptrdiff_t lda,
#define A_AT_COLUMNS(p, r, MR) a[(p) * lda + (r)]

/* Portable C: small tiles the compiler vectorises with the baseline ISA. */
#define PORTABLE_KERNEL(NAME, T, MR, NR, COMBINE, LAYOUT)                                  \
    static void NAME(ptrdiff_t kc, A_PARAMS_##LAYOUT(T) const T *restrict b, T *restrict c, \
                     ptrdiff_t ldc, int load)                                               \
    {                                                                                       \
        T acc[MR][NR];                                                                      \
        for (int r = 0; r < MR; r++)                                                        \
            for (int j = 0; j < NR; j++)                                                    \
                acc[r][j] = load ? c[r * ldc + j] : (T)0;                                   \
        for (ptrdiff_t p = 0; p < kc; p++) {                                                \
            for (int r = 0; r < MR; r++) {                                                  \
                const T ar = A_AT_##LAYOUT(p, r, MR);                                       \
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

PORTABLE_KERNEL(sum_f32_portable, float, 4, 8, ADD, PACKED)
PORTABLE_KERNEL(max_f32_portable, float, 4, 8, MAXIMUM, PACKED)
PORTABLE_KERNEL(rows_f32_portable, float, 4, 8, ADD, IN_PLACE)
PORTABLE_KERNEL(cols_f32_portable, float, 4, 8, ADD, COLUMNS)
PORTABLE_KERNEL(sum_f64_portable, double, 4, 4, ADD, PACKED)
PORTABLE_KERNEL(max_f64_portable, double, 4, 4, MAXIMUM, PACKED)
PORTABLE_KERNEL(rows_f64_portable, double, 4, 4, ADD, IN_PLACE)
PORTABLE_KERNEL(cols_f64_portable, double, 4, 4, ADD, COLUMNS)

static const lrp_micro_f32 portable_f32 = {4, 8, sum_f32_portable, max_f32_portable,
                                           rows_f32_portable, cols_f32_portable};
static const lrp_micro_f64 portable_f64 = {4, 4, sum_f64_portable, max_f64_portable,
                                           rows_f64_portable, cols_f64_portable};

#if LRP_X86_DISPATCH
#include <immintrin.h>

/* Two vectors of B per step, one broadcast of A per row: 2 * MR accumulators.
 * A flavour is the intrinsics' width W (512, 256) and suffix S (ps, pd):
 * INTRIN(W, op, S) names _mm<W>_<op>_<S>; LANES values of T fill a vector. */
#define INTRIN(W, op, S) _mm##W##_##op##_##S
#define ROWS8(X, ...) X(0, __VA_ARGS__) X(1, __VA_ARGS__) X(2, __VA_ARGS__) X(3, __VA_ARGS__) \
                      X(4, __VA_ARGS__) X(5, __VA_ARGS__) X(6, __VA_ARGS__) X(7, __VA_ARGS__)
#define ROWS6(X, ...) X(0, __VA_ARGS__) X(1, __VA_ARGS__) X(2, __VA_ARGS__) X(3, __VA_ARGS__) \
                      X(4, __VA_ARGS__) X(5, __VA_ARGS__)

#define SIMD_KERNEL(NAME, TARGET, ROWS, MR, T, VEC, W, S, LANES, STEP, LAYOUT)                   \
    TARGET static void NAME(ptrdiff_t kc, A_PARAMS_##LAYOUT(T) const T *restrict b,             \
                            T *restrict c, ptrdiff_t ldc, int load)                             \
    {                                                                                           \
        ROWS(DECLARE_ROW, VEC)                                                                  \
        if (load) {                                                                             \
            ROWS(LOAD_ROW, W, S, LANES)                                                         \
        } else {                                                                                \
            ROWS(ZERO_ROW, W, S)                                                                \
        }                                                                                       \
        for (ptrdiff_t p = 0; p < kc; p++) {                                                    \
            const VEC b0 = INTRIN(W, load, S)(b), b1 = INTRIN(W, load, S)(b + LANES);           \
            ROWS(STEP_ROW##STEP, VEC, W, S, LAYOUT, MR)                                         \
            b += 2 * LANES;                                                                     \
        }                                                                                       \
        ROWS(STORE_ROW, W, S, LANES)                                                            \
    }
#define DECLARE_ROW(r, VEC) VEC c##r##0, c##r##1;
#define LOAD_ROW(r, W, S, LANES) \
    c##r##0 = INTRIN(W, loadu, S)(c + (r) * ldc), c##r##1 = INTRIN(W, loadu, S)(c + (r) * ldc + LANES);
#define ZERO_ROW(r, W, S) c##r##0 = INTRIN(W, setzero, S)(), c##r##1 = INTRIN(W, setzero, S)();
#define STEP_ROWSUM(r, VEC, W, S, LAYOUT, MR)               \
    {                                                       \
        const VEC ar = INTRIN(W, set1, S)(A_AT_##LAYOUT(p, r, MR)); \
        c##r##0 = INTRIN(W, fmadd, S)(ar, b0, c##r##0);     \
        c##r##1 = INTRIN(W, fmadd, S)(ar, b1, c##r##1);     \
    }
#define STEP_ROWMAX(r, VEC, W, S, LAYOUT, MR)                                  \
    {                                                                         \
        const VEC ar = INTRIN(W, set1, S)(A_AT_##LAYOUT(p, r, MR));           \
        c##r##0 = INTRIN(W, max, S)(c##r##0, INTRIN(W, mul, S)(ar, b0));      \
        c##r##1 = INTRIN(W, max, S)(c##r##1, INTRIN(W, mul, S)(ar, b1));      \
    }
#define STORE_ROW(r, W, S, LANES) \
    INTRIN(W, storeu, S)(c + (r) * ldc, c##r##0), INTRIN(W, storeu, S)(c + (r) * ldc + LANES, c##r##1);

/* One instruction set's kernels for one type and their table ISA_TY
 * (avx512_f32, ...): packed sum and max, and the sums reading A in place
 * (row-major and column-major);
 * a tile is MR rows by two vectors of LANES values. */
#define SIMD_KERNELS(ISA, TARGET, ROWS, MR, TY, T, VEC, W, S, LANES)                            \
    SIMD_KERNEL(sum_##TY##_##ISA, TARGET, ROWS, MR, T, VEC, W, S, LANES, SUM, PACKED)            \
    SIMD_KERNEL(max_##TY##_##ISA, TARGET, ROWS, MR, T, VEC, W, S, LANES, MAX, PACKED)            \
    SIMD_KERNEL(rows_##TY##_##ISA, TARGET, ROWS, MR, T, VEC, W, S, LANES, SUM, IN_PLACE)         \
    SIMD_KERNEL(cols_##TY##_##ISA, TARGET, ROWS, MR, T, VEC, W, S, LANES, SUM, COLUMNS)          \
    static const lrp_micro_##TY ISA##_##TY = {MR, 2 * (LANES), sum_##TY##_##ISA,                \
                                              max_##TY##_##ISA, rows_##TY##_##ISA,               \
                                              cols_##TY##_##ISA};

SIMD_KERNELS(avx512, LRP_TARGET_AVX512, ROWS8, 8, f32, float, __m512, 512, ps, 16)
SIMD_KERNELS(avx512, LRP_TARGET_AVX512, ROWS8, 8, f64, double, __m512d, 512, pd, 8)
SIMD_KERNELS(avx2, LRP_TARGET_AVX2, ROWS6, 6, f32, float, __m256, 256, ps, 8)
SIMD_KERNELS(avx2, LRP_TARGET_AVX2, ROWS6, 6, f64, double, __m256d, 256, pd, 4)
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
