/* Register-blocked micro-kernels of the packed products (products/products.h), one set per
 * instruction set, chosen at run time (isa.c).
 *
 * A micro-kernel updates one MR x NR tile of C from A (kc steps of MR
 * values) and a packed B panel (kc steps of NR values):
 *   sum: c[r][j] = c[r][j] + a[p][r] * b[p][j], p = 0 .. kc-1 in order
 *   max: c[r][j] = max(c[r][j], a[p][r] * b[p][j])
 *   max_plus: c[r][j] = max(c[r][j], a[p][r] + b[p][j])
 * starting from the tile's current values (load) or from the combination's
 * identity (0; -inf for max_plus, 0 serving max over non-negative values).
 * The SIMD kernels fuse the sum's multiply-add (one rounding); the portable
 * one rounds twice. NEON's (aarch64) do AVX2's arithmetic in the same
 * order, max included, so they give AVX2's bits.
 * The x86 ones are compiled for their instruction set by a target
 * attribute, so the shipped build needs no -march flag and runs on any
 * x86-64 (or other) CPU; NEON is part of every aarch64 CPU.
 *
 * Every kernel is one always-inline tile function per instruction set and
 * type, called with a constant layout and combination by the five named
 * kernels of its table (sum, max, max_plus, rows, cols), so each named
 * kernel is compiled with its own layout folded in. The x86 and NEON
 * tables also hold edge kernels, the same five over each row's first
 * vector only (x86) or first two of three (NEON), so that a last strip of
 * C that narrow computes fewer padding columns, and short tiles, the sums
 * over a tile's first 4, 2 or 1 rows, so that a last block of fewer rows
 * computes no padding rows. No code
 * outside this file assumes a tile size (mr at most 8: conv_winograd.h
 * checks it).
 */
#include <math.h>
#include <stdatomic.h>

#include "lrp.h"
#include "products/microkernels.h"
#include "runtime/isa_dispatch.h"

static atomic_int short_tiles = 1;

void lrp_set_short_tiles(int on)
{
    atomic_store(&short_tiles, on != 0);
}

int lrp_short_tiles(void)
{
    return atomic_load(&short_tiles);
}

/* Where a kernel finds A[p][r]. PACKED: the panel of FN(pack_a), mr values
 * per step. ROWS: a row-major matrix with row stride lda (a batch of
 * activations, which then needs no packing). COLUMNS: a column-major matrix
 * with column stride lda (Winograd's V, whose rows are tiles: the wide form
 * reads it where the input step wrote it). */
typedef enum { A_PACKED, A_ROWS, A_COLUMNS } a_layout;

static LRP_INLINE ptrdiff_t a_index(a_layout layout, ptrdiff_t p, int r, int mr, ptrdiff_t lda)
{
    switch (layout) {
    case A_PACKED:
        return p * mr + r;
    case A_ROWS:
        return r * lda + p;
    default:
        return p * lda + r;
    }
}

/* How a product joins its accumulator. */
typedef enum { COMBINE_SUM, COMBINE_MAX, COMBINE_MAX_PLUS } combine_op;

/* The edge kernels of a set that has none. */
#define NO_EDGE {0, NULL, NULL, NULL, NULL, NULL}
/* The short tiles of a set that has none. */
#define NO_SHORT {{NULL, NULL, NULL}, {NULL, NULL, NULL}}
/* The short tiles of a set whose sums over 4, 2 and 1 rows are
 * sum_SUFFIX_4 ... (A packed) and cols_SUFFIX_4 ... (A in columns). */
#define SHORT_TABLE(SUFFIX)                                                                    \
    {{sum_##SUFFIX##_4, sum_##SUFFIX##_2, sum_##SUFFIX##_1},                                   \
     {cols_##SUFFIX##_4, cols_##SUFFIX##_2, cols_##SUFFIX##_1}}

/* Portable C: small tiles the compiler vectorises with the baseline ISA. */
enum { PORTABLE_MR = 4, PORTABLE_NR_F32 = 8, PORTABLE_NR_F64 = 4 };

static LRP_INLINE void portable_tile_f32(ptrdiff_t kc, const float *restrict a, ptrdiff_t lda,
                                         const float *restrict b, float *restrict c,
                                         ptrdiff_t ldc, int load, a_layout layout,
                                         combine_op combine)
{
    enum { MR = PORTABLE_MR, NR = PORTABLE_NR_F32 };
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = load ? c[r * ldc + j] : combine == COMBINE_MAX_PLUS ? -(float)INFINITY : 0.0f;
    for (ptrdiff_t p = 0; p < kc; p++)
        for (int r = 0; r < MR; r++) {
            const float ar = a[a_index(layout, p, r, MR, lda)];
            for (int j = 0; j < NR; j++) {
                const float product =
                    combine == COMBINE_MAX_PLUS ? ar + b[p * NR + j] : ar * b[p * NR + j];
                if (combine == COMBINE_SUM)
                    acc[r][j] = acc[r][j] + product;
                else
                    acc[r][j] = product > acc[r][j] ? product : acc[r][j];
            }
        }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = acc[r][j];
}

static LRP_INLINE void portable_tile_f64(ptrdiff_t kc, const double *restrict a,
                                         ptrdiff_t lda, const double *restrict b,
                                         double *restrict c, ptrdiff_t ldc, int load,
                                         a_layout layout, combine_op combine)
{
    enum { MR = PORTABLE_MR, NR = PORTABLE_NR_F64 };
    double acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = load ? c[r * ldc + j] : combine == COMBINE_MAX_PLUS ? -(double)INFINITY : 0.0;
    for (ptrdiff_t p = 0; p < kc; p++)
        for (int r = 0; r < MR; r++) {
            const double ar = a[a_index(layout, p, r, MR, lda)];
            for (int j = 0; j < NR; j++) {
                const double product =
                    combine == COMBINE_MAX_PLUS ? ar + b[p * NR + j] : ar * b[p * NR + j];
                if (combine == COMBINE_SUM)
                    acc[r][j] = acc[r][j] + product;
                else
                    acc[r][j] = product > acc[r][j] ? product : acc[r][j];
            }
        }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = acc[r][j];
}

static void sum_f32_portable(ptrdiff_t kc, const float *restrict a, const float *restrict b,
                             float *restrict c, ptrdiff_t ldc, int load)
{
    portable_tile_f32(kc, a, 0, b, c, ldc, load, A_PACKED, COMBINE_SUM);
}
static void max_f32_portable(ptrdiff_t kc, const float *restrict a, const float *restrict b,
                             float *restrict c, ptrdiff_t ldc, int load)
{
    portable_tile_f32(kc, a, 0, b, c, ldc, load, A_PACKED, COMBINE_MAX);
}
static void max_plus_f32_portable(ptrdiff_t kc, const float *restrict a, const float *restrict b,
                                  float *restrict c, ptrdiff_t ldc, int load)
{
    portable_tile_f32(kc, a, 0, b, c, ldc, load, A_PACKED, COMBINE_MAX_PLUS);
}
static void rows_f32_portable(ptrdiff_t kc, const float *restrict a, ptrdiff_t lda,
                              const float *restrict b, float *restrict c, ptrdiff_t ldc,
                              int load)
{
    portable_tile_f32(kc, a, lda, b, c, ldc, load, A_ROWS, COMBINE_SUM);
}
static void cols_f32_portable(ptrdiff_t kc, const float *restrict a, ptrdiff_t lda,
                              const float *restrict b, float *restrict c, ptrdiff_t ldc,
                              int load)
{
    portable_tile_f32(kc, a, lda, b, c, ldc, load, A_COLUMNS, COMBINE_SUM);
}
static void sum_f64_portable(ptrdiff_t kc, const double *restrict a, const double *restrict b,
                             double *restrict c, ptrdiff_t ldc, int load)
{
    portable_tile_f64(kc, a, 0, b, c, ldc, load, A_PACKED, COMBINE_SUM);
}
static void max_f64_portable(ptrdiff_t kc, const double *restrict a, const double *restrict b,
                             double *restrict c, ptrdiff_t ldc, int load)
{
    portable_tile_f64(kc, a, 0, b, c, ldc, load, A_PACKED, COMBINE_MAX);
}
static void max_plus_f64_portable(ptrdiff_t kc, const double *restrict a, const double *restrict b,
                                  double *restrict c, ptrdiff_t ldc, int load)
{
    portable_tile_f64(kc, a, 0, b, c, ldc, load, A_PACKED, COMBINE_MAX_PLUS);
}
static void rows_f64_portable(ptrdiff_t kc, const double *restrict a, ptrdiff_t lda,
                              const double *restrict b, double *restrict c, ptrdiff_t ldc,
                              int load)
{
    portable_tile_f64(kc, a, lda, b, c, ldc, load, A_ROWS, COMBINE_SUM);
}
static void cols_f64_portable(ptrdiff_t kc, const double *restrict a, ptrdiff_t lda,
                              const double *restrict b, double *restrict c, ptrdiff_t ldc,
                              int load)
{
    portable_tile_f64(kc, a, lda, b, c, ldc, load, A_COLUMNS, COMBINE_SUM);
}

/* Min-max's kernel (microkernels.h): MR rows of NR values, side read where
 * c is. */
static LRP_INLINE void portable_max_min_f32(ptrdiff_t kc, const float *restrict a,
                                            const float *restrict b, const float *restrict bound,
                                            const float *restrict side, float *restrict c,
                                            ptrdiff_t ldc, int load)
{
    enum { MR = PORTABLE_MR, NR = PORTABLE_NR_F32 };
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (ptrdiff_t p = 0; p < kc; p++)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) {
                float v = a[p * MR + r] * b[p * NR + j] * side[r * ldc + j];
                v = bound[p * NR + j] < v ? bound[p * NR + j] : v;
                acc[r][j] = v > acc[r][j] ? v : acc[r][j];
            }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = acc[r][j];
}

static LRP_INLINE void portable_max_min_f64(ptrdiff_t kc, const double *restrict a,
                                            const double *restrict b,
                                            const double *restrict bound,
                                            const double *restrict side, double *restrict c,
                                            ptrdiff_t ldc, int load)
{
    enum { MR = PORTABLE_MR, NR = PORTABLE_NR_F64 };
    double acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = load ? c[r * ldc + j] : 0.0;
    for (ptrdiff_t p = 0; p < kc; p++)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) {
                double v = a[p * MR + r] * b[p * NR + j] * side[r * ldc + j];
                v = bound[p * NR + j] < v ? bound[p * NR + j] : v;
                acc[r][j] = v > acc[r][j] ? v : acc[r][j];
            }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = acc[r][j];
}

static void max_min_f32_portable(ptrdiff_t kc, const float *restrict a, const float *restrict b,
                                 const float *restrict bound, const float *restrict side,
                                 float *restrict c, ptrdiff_t ldc, int load)
{
    portable_max_min_f32(kc, a, b, bound, side, c, ldc, load);
}
static void max_min_f64_portable(ptrdiff_t kc, const double *restrict a,
                                 const double *restrict b, const double *restrict bound,
                                 const double *restrict side, double *restrict c, ptrdiff_t ldc,
                                 int load)
{
    portable_max_min_f64(kc, a, b, bound, side, c, ldc, load);
}

static const lrp_micro_f32 portable_f32 = {PORTABLE_MR,           PORTABLE_NR_F32,
                                           sum_f32_portable,      max_f32_portable,
                                           max_plus_f32_portable, rows_f32_portable,
                                           cols_f32_portable,     max_min_f32_portable,
    NO_EDGE, NO_SHORT};
static const lrp_micro_f64 portable_f64 = {PORTABLE_MR,           PORTABLE_NR_F64,
                                           sum_f64_portable,      max_f64_portable,
                                           max_plus_f64_portable, rows_f64_portable,
                                           cols_f64_portable,     max_min_f64_portable,
    NO_EDGE, NO_SHORT};

#if LRP_X86_DISPATCH
#include <immintrin.h>

/* The five named kernels of the x86 tile function TILE (element type T),
 * over the first VECTORS of each row's two vectors and the first ROWS rows:
 * sum, max and max_plus with A packed, rows and cols (sums) with A
 * unpacked, named kernel_SUFFIX. */
#define X86_PACKED_KERNEL(TARGET, T, TILE, VECTORS, ROWS, NAME, COMBINE)                     \
    TARGET static void NAME(ptrdiff_t kc, const T *restrict a, const T *restrict b,           \
                            T *restrict c, ptrdiff_t ldc, int load)                           \
    {                                                                                          \
        TILE(kc, a, 0, b, c, ldc, load, A_PACKED, COMBINE, VECTORS, ROWS);                     \
    }
#define X86_UNPACKED_KERNEL(TARGET, T, TILE, VECTORS, ROWS, NAME, LAYOUT)                     \
    TARGET static void NAME(ptrdiff_t kc, const T *restrict a, ptrdiff_t lda,                 \
                            const T *restrict b, T *restrict c, ptrdiff_t ldc, int load)      \
    {                                                                                          \
        TILE(kc, a, lda, b, c, ldc, load, LAYOUT, COMBINE_SUM, VECTORS, ROWS);                 \
    }
#define X86_KERNELS(TARGET, T, TILE, VECTORS, ROWS, SUFFIX)                                    \
    X86_PACKED_KERNEL(TARGET, T, TILE, VECTORS, ROWS, sum_##SUFFIX, COMBINE_SUM)               \
    X86_PACKED_KERNEL(TARGET, T, TILE, VECTORS, ROWS, max_##SUFFIX, COMBINE_MAX)               \
    X86_PACKED_KERNEL(TARGET, T, TILE, VECTORS, ROWS, max_plus_##SUFFIX, COMBINE_MAX_PLUS)     \
    X86_UNPACKED_KERNEL(TARGET, T, TILE, VECTORS, ROWS, rows_##SUFFIX, A_ROWS)                 \
    X86_UNPACKED_KERNEL(TARGET, T, TILE, VECTORS, ROWS, cols_##SUFFIX, A_COLUMNS)
/* The short tiles' sums (microkernels.h), both vectors wide: 4, 2 and 1
 * rows with A packed (sum_SUFFIX_4 ...) or in columns (cols_SUFFIX_4 ...),
 * for SHORT_TABLE(SUFFIX). */
#define X86_SHORT_KERNELS(TARGET, T, TILE, SUFFIX)                                             \
    X86_PACKED_KERNEL(TARGET, T, TILE, 2, 4, sum_##SUFFIX##_4, COMBINE_SUM)                    \
    X86_PACKED_KERNEL(TARGET, T, TILE, 2, 2, sum_##SUFFIX##_2, COMBINE_SUM)                    \
    X86_PACKED_KERNEL(TARGET, T, TILE, 2, 1, sum_##SUFFIX##_1, COMBINE_SUM)                    \
    X86_UNPACKED_KERNEL(TARGET, T, TILE, 2, 4, cols_##SUFFIX##_4, A_COLUMNS)                   \
    X86_UNPACKED_KERNEL(TARGET, T, TILE, 2, 2, cols_##SUFFIX##_2, A_COLUMNS)                   \
    X86_UNPACKED_KERNEL(TARGET, T, TILE, 2, 1, cols_##SUFFIX##_1, A_COLUMNS)

/* A tile is MR rows by two vectors of LANES values: one broadcast of A per
 * row and step, 2 * MR accumulators held in registers. With vectors 1, the
 * edge kernels': the left vector only (B still packed two vectors wide).
 * Only the first `rows` rows are computed (the short tiles': 4, 2 or 1; A
 * packed MR values per step whatever rows is). */
LRP_TARGET_AVX512 static LRP_INLINE void avx512_tile_f32(ptrdiff_t kc, const float *restrict a, ptrdiff_t lda,
                                                         const float *restrict b, float *restrict c, ptrdiff_t ldc,
                                                         int load, a_layout layout,
                                                         combine_op combine, int vectors,
                                                         int rows)
{
    enum { MR = 8, LANES = 16 };
    __m512 left[MR], right[MR]; /* columns [0, LANES) and [LANES, 2 LANES) of each row */
    if (load) {
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            left[r] = _mm512_loadu_ps(c + r * ldc);
            if (vectors == 2)
                right[r] = _mm512_loadu_ps(c + r * ldc + LANES);
        }
    } else {
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++)
            left[r] = right[r] = combine == COMBINE_MAX_PLUS ? _mm512_set1_ps(-(float)INFINITY) : _mm512_setzero_ps();
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m512 b_left = _mm512_load_ps(b);
        const __m512 b_right = vectors == 2 ? _mm512_load_ps(b + LANES) : b_left;
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            const __m512 ar = _mm512_set1_ps(a[a_index(layout, p, r, MR, lda)]);
            if (combine == COMBINE_SUM) {
                left[r] = _mm512_fmadd_ps(ar, b_left, left[r]);
                if (vectors == 2)
                    right[r] = _mm512_fmadd_ps(ar, b_right, right[r]);
            } else if (combine == COMBINE_MAX) {
                left[r] = _mm512_max_ps(left[r], _mm512_mul_ps(ar, b_left));
                if (vectors == 2)
                    right[r] = _mm512_max_ps(right[r], _mm512_mul_ps(ar, b_right));
            } else {
                left[r] = _mm512_max_ps(left[r], _mm512_add_ps(ar, b_left));
                if (vectors == 2)
                    right[r] = _mm512_max_ps(right[r], _mm512_add_ps(ar, b_right));
            }
        }
        b += 2 * LANES;
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < rows; r++) {
        _mm512_storeu_ps(c + r * ldc, left[r]);
        if (vectors == 2)
            _mm512_storeu_ps(c + r * ldc + LANES, right[r]);
    }
}

X86_KERNELS(LRP_TARGET_AVX512, float, avx512_tile_f32, 2, 8, f32_avx512)
X86_KERNELS(LRP_TARGET_AVX512, float, avx512_tile_f32, 1, 8, f32_avx512_edge)
X86_SHORT_KERNELS(LRP_TARGET_AVX512, float, avx512_tile_f32, f32_avx512)

/* Min-max's kernel over rows [r0, r0 + 8) (all of them): two vectors per
 * row; side is read from L1 at each step, so that the 16 accumulators and
 * the step's four B vectors stay in the 32 registers. */
LRP_TARGET_AVX512 static LRP_INLINE void avx512_max_min_rows_f32(ptrdiff_t kc,
                                                                 const float *restrict a,
                                                                 const float *restrict b,
                                                                 const float *restrict bound,
                                                                 const float *restrict side,
                                                                 float *restrict c, ptrdiff_t ldc,
                                                                 int load, int r0)
{
    enum { MR = 8, ROWS = 8, LANES = 16 };
    __m512 left[ROWS], right[ROWS];
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        left[r] = load ? _mm512_loadu_ps(c + (r0 + r) * ldc) : _mm512_setzero_ps();
        right[r] = load ? _mm512_loadu_ps(c + (r0 + r) * ldc + LANES) : _mm512_setzero_ps();
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m512 b_left = _mm512_load_ps(b + p * 2 * LANES);
        const __m512 b_right = _mm512_load_ps(b + p * 2 * LANES + LANES);
        const __m512 u_left = _mm512_load_ps(bound + p * 2 * LANES);
        const __m512 u_right = _mm512_load_ps(bound + p * 2 * LANES + LANES);
        LRP_UNROLL_ROWS
        for (int r = 0; r < ROWS; r++) {
            const __m512 ar = _mm512_set1_ps(a[p * MR + r0 + r]);
            const float *s = side + (r0 + r) * ldc;
            const __m512 v_left = _mm512_mul_ps(_mm512_mul_ps(ar, b_left), _mm512_loadu_ps(s));
            const __m512 v_right = _mm512_mul_ps(_mm512_mul_ps(ar, b_right), _mm512_loadu_ps(s + LANES));
            left[r] = _mm512_max_ps(left[r], _mm512_min_ps(v_left, u_left));
            right[r] = _mm512_max_ps(right[r], _mm512_min_ps(v_right, u_right));
        }
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        _mm512_storeu_ps(c + (r0 + r) * ldc, left[r]);
        _mm512_storeu_ps(c + (r0 + r) * ldc + LANES, right[r]);
    }
}

LRP_TARGET_AVX512 static void max_min_f32_avx512(ptrdiff_t kc, const float *restrict a, const float *restrict b,
                                     const float *restrict bound, const float *restrict side,
                                     float *restrict c, ptrdiff_t ldc, int load)
{
    for (int r0 = 0; r0 < 8; r0 += 8)
        avx512_max_min_rows_f32(kc, a, b, bound, side, c, ldc, load, r0);
}

static const lrp_micro_f32 avx512_f32 = {
    8, 32, sum_f32_avx512, max_f32_avx512, max_plus_f32_avx512, rows_f32_avx512,
    cols_f32_avx512, max_min_f32_avx512,
    {16, sum_f32_avx512_edge, max_f32_avx512_edge, max_plus_f32_avx512_edge, rows_f32_avx512_edge,
     cols_f32_avx512_edge},
    SHORT_TABLE(f32_avx512)};

LRP_TARGET_AVX512 static LRP_INLINE void avx512_tile_f64(ptrdiff_t kc, const double *restrict a, ptrdiff_t lda,
                                                         const double *restrict b, double *restrict c, ptrdiff_t ldc,
                                                         int load, a_layout layout,
                                                         combine_op combine, int vectors,
                                                         int rows)
{
    enum { MR = 8, LANES = 8 };
    __m512d left[MR], right[MR]; /* columns [0, LANES) and [LANES, 2 LANES) of each row */
    if (load) {
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            left[r] = _mm512_loadu_pd(c + r * ldc);
            if (vectors == 2)
                right[r] = _mm512_loadu_pd(c + r * ldc + LANES);
        }
    } else {
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++)
            left[r] = right[r] = combine == COMBINE_MAX_PLUS ? _mm512_set1_pd(-(double)INFINITY) : _mm512_setzero_pd();
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m512d b_left = _mm512_load_pd(b);
        const __m512d b_right = vectors == 2 ? _mm512_load_pd(b + LANES) : b_left;
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            const __m512d ar = _mm512_set1_pd(a[a_index(layout, p, r, MR, lda)]);
            if (combine == COMBINE_SUM) {
                left[r] = _mm512_fmadd_pd(ar, b_left, left[r]);
                if (vectors == 2)
                    right[r] = _mm512_fmadd_pd(ar, b_right, right[r]);
            } else if (combine == COMBINE_MAX) {
                left[r] = _mm512_max_pd(left[r], _mm512_mul_pd(ar, b_left));
                if (vectors == 2)
                    right[r] = _mm512_max_pd(right[r], _mm512_mul_pd(ar, b_right));
            } else {
                left[r] = _mm512_max_pd(left[r], _mm512_add_pd(ar, b_left));
                if (vectors == 2)
                    right[r] = _mm512_max_pd(right[r], _mm512_add_pd(ar, b_right));
            }
        }
        b += 2 * LANES;
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < rows; r++) {
        _mm512_storeu_pd(c + r * ldc, left[r]);
        if (vectors == 2)
            _mm512_storeu_pd(c + r * ldc + LANES, right[r]);
    }
}

X86_KERNELS(LRP_TARGET_AVX512, double, avx512_tile_f64, 2, 8, f64_avx512)
X86_KERNELS(LRP_TARGET_AVX512, double, avx512_tile_f64, 1, 8, f64_avx512_edge)
X86_SHORT_KERNELS(LRP_TARGET_AVX512, double, avx512_tile_f64, f64_avx512)

/* Min-max's kernel over rows [r0, r0 + 8) (all of them): two vectors per
 * row; side is read from L1 at each step, so that the 16 accumulators and
 * the step's four B vectors stay in the 32 registers. */
LRP_TARGET_AVX512 static LRP_INLINE void avx512_max_min_rows_f64(ptrdiff_t kc,
                                                                 const double *restrict a,
                                                                 const double *restrict b,
                                                                 const double *restrict bound,
                                                                 const double *restrict side,
                                                                 double *restrict c, ptrdiff_t ldc,
                                                                 int load, int r0)
{
    enum { MR = 8, ROWS = 8, LANES = 8 };
    __m512d left[ROWS], right[ROWS];
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        left[r] = load ? _mm512_loadu_pd(c + (r0 + r) * ldc) : _mm512_setzero_pd();
        right[r] = load ? _mm512_loadu_pd(c + (r0 + r) * ldc + LANES) : _mm512_setzero_pd();
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m512d b_left = _mm512_load_pd(b + p * 2 * LANES);
        const __m512d b_right = _mm512_load_pd(b + p * 2 * LANES + LANES);
        const __m512d u_left = _mm512_load_pd(bound + p * 2 * LANES);
        const __m512d u_right = _mm512_load_pd(bound + p * 2 * LANES + LANES);
        LRP_UNROLL_ROWS
        for (int r = 0; r < ROWS; r++) {
            const __m512d ar = _mm512_set1_pd(a[p * MR + r0 + r]);
            const double *s = side + (r0 + r) * ldc;
            const __m512d v_left = _mm512_mul_pd(_mm512_mul_pd(ar, b_left), _mm512_loadu_pd(s));
            const __m512d v_right = _mm512_mul_pd(_mm512_mul_pd(ar, b_right), _mm512_loadu_pd(s + LANES));
            left[r] = _mm512_max_pd(left[r], _mm512_min_pd(v_left, u_left));
            right[r] = _mm512_max_pd(right[r], _mm512_min_pd(v_right, u_right));
        }
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        _mm512_storeu_pd(c + (r0 + r) * ldc, left[r]);
        _mm512_storeu_pd(c + (r0 + r) * ldc + LANES, right[r]);
    }
}

LRP_TARGET_AVX512 static void max_min_f64_avx512(ptrdiff_t kc, const double *restrict a, const double *restrict b,
                                     const double *restrict bound, const double *restrict side,
                                     double *restrict c, ptrdiff_t ldc, int load)
{
    for (int r0 = 0; r0 < 8; r0 += 8)
        avx512_max_min_rows_f64(kc, a, b, bound, side, c, ldc, load, r0);
}

static const lrp_micro_f64 avx512_f64 = {
    8, 16, sum_f64_avx512, max_f64_avx512, max_plus_f64_avx512, rows_f64_avx512,
    cols_f64_avx512, max_min_f64_avx512,
    {8, sum_f64_avx512_edge, max_f64_avx512_edge, max_plus_f64_avx512_edge, rows_f64_avx512_edge,
     cols_f64_avx512_edge},
    SHORT_TABLE(f64_avx512)};

LRP_TARGET_AVX2 static LRP_INLINE void avx2_tile_f32(ptrdiff_t kc, const float *restrict a, ptrdiff_t lda,
                                                     const float *restrict b, float *restrict c, ptrdiff_t ldc,
                                                     int load, a_layout layout,
                                                     combine_op combine, int vectors,
                                                     int rows)
{
    enum { MR = 6, LANES = 8 };
    __m256 left[MR], right[MR]; /* columns [0, LANES) and [LANES, 2 LANES) of each row */
    if (load) {
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            left[r] = _mm256_loadu_ps(c + r * ldc);
            if (vectors == 2)
                right[r] = _mm256_loadu_ps(c + r * ldc + LANES);
        }
    } else {
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++)
            left[r] = right[r] = combine == COMBINE_MAX_PLUS ? _mm256_set1_ps(-(float)INFINITY) : _mm256_setzero_ps();
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m256 b_left = _mm256_load_ps(b);
        const __m256 b_right = vectors == 2 ? _mm256_load_ps(b + LANES) : b_left;
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            const __m256 ar = _mm256_set1_ps(a[a_index(layout, p, r, MR, lda)]);
            if (combine == COMBINE_SUM) {
                left[r] = _mm256_fmadd_ps(ar, b_left, left[r]);
                if (vectors == 2)
                    right[r] = _mm256_fmadd_ps(ar, b_right, right[r]);
            } else if (combine == COMBINE_MAX) {
                left[r] = _mm256_max_ps(left[r], _mm256_mul_ps(ar, b_left));
                if (vectors == 2)
                    right[r] = _mm256_max_ps(right[r], _mm256_mul_ps(ar, b_right));
            } else {
                left[r] = _mm256_max_ps(left[r], _mm256_add_ps(ar, b_left));
                if (vectors == 2)
                    right[r] = _mm256_max_ps(right[r], _mm256_add_ps(ar, b_right));
            }
        }
        b += 2 * LANES;
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_ps(c + r * ldc, left[r]);
        if (vectors == 2)
            _mm256_storeu_ps(c + r * ldc + LANES, right[r]);
    }
}

X86_KERNELS(LRP_TARGET_AVX2, float, avx2_tile_f32, 2, 6, f32_avx2)
X86_KERNELS(LRP_TARGET_AVX2, float, avx2_tile_f32, 1, 6, f32_avx2_edge)
X86_SHORT_KERNELS(LRP_TARGET_AVX2, float, avx2_tile_f32, f32_avx2)

/* Min-max's kernel over rows [r0, r0 + 3): the tile's 6 rows in two
 * passes, so that 6 accumulators and the step's four B vectors stay in the
 * 16 registers; side is read from L1 at each step. */
LRP_TARGET_AVX2 static LRP_INLINE void avx2_max_min_rows_f32(ptrdiff_t kc, const float *restrict a,
                                                             const float *restrict b,
                                                             const float *restrict bound,
                                                             const float *restrict side,
                                                             float *restrict c, ptrdiff_t ldc,
                                                             int load, int r0)
{
    enum { MR = 6, ROWS = 3, LANES = 8 };
    __m256 left[ROWS], right[ROWS];
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        left[r] = load ? _mm256_loadu_ps(c + (r0 + r) * ldc) : _mm256_setzero_ps();
        right[r] = load ? _mm256_loadu_ps(c + (r0 + r) * ldc + LANES) : _mm256_setzero_ps();
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m256 b_left = _mm256_load_ps(b + p * 2 * LANES);
        const __m256 b_right = _mm256_load_ps(b + p * 2 * LANES + LANES);
        const __m256 u_left = _mm256_load_ps(bound + p * 2 * LANES);
        const __m256 u_right = _mm256_load_ps(bound + p * 2 * LANES + LANES);
        LRP_UNROLL_ROWS
        for (int r = 0; r < ROWS; r++) {
            const __m256 ar = _mm256_set1_ps(a[p * MR + r0 + r]);
            const float *s = side + (r0 + r) * ldc;
            const __m256 v_left = _mm256_mul_ps(_mm256_mul_ps(ar, b_left), _mm256_loadu_ps(s));
            const __m256 v_right = _mm256_mul_ps(_mm256_mul_ps(ar, b_right), _mm256_loadu_ps(s + LANES));
            left[r] = _mm256_max_ps(left[r], _mm256_min_ps(v_left, u_left));
            right[r] = _mm256_max_ps(right[r], _mm256_min_ps(v_right, u_right));
        }
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        _mm256_storeu_ps(c + (r0 + r) * ldc, left[r]);
        _mm256_storeu_ps(c + (r0 + r) * ldc + LANES, right[r]);
    }
}

LRP_TARGET_AVX2 static void max_min_f32_avx2(ptrdiff_t kc, const float *restrict a, const float *restrict b,
                                     const float *restrict bound, const float *restrict side,
                                     float *restrict c, ptrdiff_t ldc, int load)
{
    for (int r0 = 0; r0 < 6; r0 += 3)
        avx2_max_min_rows_f32(kc, a, b, bound, side, c, ldc, load, r0);
}

static const lrp_micro_f32 avx2_f32 = {
    6, 16, sum_f32_avx2, max_f32_avx2, max_plus_f32_avx2, rows_f32_avx2,
    cols_f32_avx2, max_min_f32_avx2,
    {8, sum_f32_avx2_edge, max_f32_avx2_edge, max_plus_f32_avx2_edge, rows_f32_avx2_edge,
     cols_f32_avx2_edge},
    SHORT_TABLE(f32_avx2)};

LRP_TARGET_AVX2 static LRP_INLINE void avx2_tile_f64(ptrdiff_t kc, const double *restrict a, ptrdiff_t lda,
                                                     const double *restrict b, double *restrict c, ptrdiff_t ldc,
                                                     int load, a_layout layout,
                                                     combine_op combine, int vectors,
                                                     int rows)
{
    enum { MR = 6, LANES = 4 };
    __m256d left[MR], right[MR]; /* columns [0, LANES) and [LANES, 2 LANES) of each row */
    if (load) {
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            left[r] = _mm256_loadu_pd(c + r * ldc);
            if (vectors == 2)
                right[r] = _mm256_loadu_pd(c + r * ldc + LANES);
        }
    } else {
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++)
            left[r] = right[r] = combine == COMBINE_MAX_PLUS ? _mm256_set1_pd(-(double)INFINITY) : _mm256_setzero_pd();
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m256d b_left = _mm256_load_pd(b);
        const __m256d b_right = vectors == 2 ? _mm256_load_pd(b + LANES) : b_left;
        LRP_UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            const __m256d ar = _mm256_set1_pd(a[a_index(layout, p, r, MR, lda)]);
            if (combine == COMBINE_SUM) {
                left[r] = _mm256_fmadd_pd(ar, b_left, left[r]);
                if (vectors == 2)
                    right[r] = _mm256_fmadd_pd(ar, b_right, right[r]);
            } else if (combine == COMBINE_MAX) {
                left[r] = _mm256_max_pd(left[r], _mm256_mul_pd(ar, b_left));
                if (vectors == 2)
                    right[r] = _mm256_max_pd(right[r], _mm256_mul_pd(ar, b_right));
            } else {
                left[r] = _mm256_max_pd(left[r], _mm256_add_pd(ar, b_left));
                if (vectors == 2)
                    right[r] = _mm256_max_pd(right[r], _mm256_add_pd(ar, b_right));
            }
        }
        b += 2 * LANES;
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_pd(c + r * ldc, left[r]);
        if (vectors == 2)
            _mm256_storeu_pd(c + r * ldc + LANES, right[r]);
    }
}

X86_KERNELS(LRP_TARGET_AVX2, double, avx2_tile_f64, 2, 6, f64_avx2)
X86_KERNELS(LRP_TARGET_AVX2, double, avx2_tile_f64, 1, 6, f64_avx2_edge)
X86_SHORT_KERNELS(LRP_TARGET_AVX2, double, avx2_tile_f64, f64_avx2)

/* Min-max's kernel over rows [r0, r0 + 3): the tile's 6 rows in two
 * passes, so that 6 accumulators and the step's four B vectors stay in the
 * 16 registers; side is read from L1 at each step. */
LRP_TARGET_AVX2 static LRP_INLINE void avx2_max_min_rows_f64(ptrdiff_t kc, const double *restrict a,
                                                             const double *restrict b,
                                                             const double *restrict bound,
                                                             const double *restrict side,
                                                             double *restrict c, ptrdiff_t ldc,
                                                             int load, int r0)
{
    enum { MR = 6, ROWS = 3, LANES = 4 };
    __m256d left[ROWS], right[ROWS];
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        left[r] = load ? _mm256_loadu_pd(c + (r0 + r) * ldc) : _mm256_setzero_pd();
        right[r] = load ? _mm256_loadu_pd(c + (r0 + r) * ldc + LANES) : _mm256_setzero_pd();
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m256d b_left = _mm256_load_pd(b + p * 2 * LANES);
        const __m256d b_right = _mm256_load_pd(b + p * 2 * LANES + LANES);
        const __m256d u_left = _mm256_load_pd(bound + p * 2 * LANES);
        const __m256d u_right = _mm256_load_pd(bound + p * 2 * LANES + LANES);
        LRP_UNROLL_ROWS
        for (int r = 0; r < ROWS; r++) {
            const __m256d ar = _mm256_set1_pd(a[p * MR + r0 + r]);
            const double *s = side + (r0 + r) * ldc;
            const __m256d v_left = _mm256_mul_pd(_mm256_mul_pd(ar, b_left), _mm256_loadu_pd(s));
            const __m256d v_right = _mm256_mul_pd(_mm256_mul_pd(ar, b_right), _mm256_loadu_pd(s + LANES));
            left[r] = _mm256_max_pd(left[r], _mm256_min_pd(v_left, u_left));
            right[r] = _mm256_max_pd(right[r], _mm256_min_pd(v_right, u_right));
        }
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        _mm256_storeu_pd(c + (r0 + r) * ldc, left[r]);
        _mm256_storeu_pd(c + (r0 + r) * ldc + LANES, right[r]);
    }
}

LRP_TARGET_AVX2 static void max_min_f64_avx2(ptrdiff_t kc, const double *restrict a, const double *restrict b,
                                     const double *restrict bound, const double *restrict side,
                                     double *restrict c, ptrdiff_t ldc, int load)
{
    for (int r0 = 0; r0 < 6; r0 += 3)
        avx2_max_min_rows_f64(kc, a, b, bound, side, c, ldc, load, r0);
}

static const lrp_micro_f64 avx2_f64 = {
    6, 8, sum_f64_avx2, max_f64_avx2, max_plus_f64_avx2, rows_f64_avx2,
    cols_f64_avx2, max_min_f64_avx2,
    {4, sum_f64_avx2_edge, max_f64_avx2_edge, max_plus_f64_avx2_edge, rows_f64_avx2_edge,
     cols_f64_avx2_edge},
    SHORT_TABLE(f64_avx2)};
#undef X86_SHORT_KERNELS
#undef X86_KERNELS
#undef X86_UNPACKED_KERNEL
#undef X86_PACKED_KERNEL
#endif

#if LRP_ARM_DISPATCH
#include <arm_neon.h>

/* A NEON tile is 8 rows (the most Winograd's panels take) by 3 vectors
 * (f32 8 x 12, f64 8 x 6): its 24 accumulators, the step's 3 B vectors and
 * its 2 (f32) or 4 (f64) A vectors take 29 or 31 of the 32 registers. Each
 * row's A value is a lane of an A vector (by-element fmla and fmul). */
enum { NEON_MR = 8, NEON_VECS = 3 };

/* Row r's first VECS vectors combined with lane LANE of av: the sum fused
 * (one rounding), max and max-plus as AVX2's max, acc > x ? acc : x (the
 * same bits, zeros' signs and NaNs included). LANE is a literal, as the
 * by-element intrinsics take immediates. */
#define NEON_ROW(T4, SUF, r, av, LANE)                                                         \
    LRP_UNROLL_ROWS                                                                            \
    for (int v = 0; v < VECS; v++) {                                                           \
        if (combine == COMBINE_SUM) {                                                          \
            acc[r][v] = vfmaq_laneq_##SUF(acc[r][v], bv[v], av, LANE);                         \
        } else {                                                                               \
            const T4 x = combine == COMBINE_MAX ? vmulq_laneq_##SUF(bv[v], av, LANE)           \
                                                : vaddq_##SUF(bv[v], vdupq_laneq_##SUF(av, LANE)); \
            acc[r][v] = vbslq_##SUF(vcgtq_##SUF(acc[r][v], x), acc[r][v], x);                  \
        }                                                                                      \
    }

/* Min-max's row r: acc = max(acc, min(av[LANE] b side, bound)) with AVX2's
 * max (above) and min, x < u ? x : u; BY: lane (a 2-lane av) or laneq. */
#define NEON_MAX_MIN_ROW(T4, SUF, r, av, BY, LANE)                                               \
    LRP_UNROLL_ROWS                                                                            \
    for (int v = 0; v < NEON_VECS; v++) {                                                      \
        const T4 s = vld1q_##SUF(side + (r0 + r) * ldc + v * LANES);                           \
        const T4 x = vmulq_##SUF(vmulq_##BY##_##SUF(bv[v], av, LANE), s);                       \
        const T4 m = vbslq_##SUF(vcltq_##SUF(x, uv[v]), x, uv[v]);                             \
        acc[r][v] = vbslq_##SUF(vcgtq_##SUF(acc[r][v], m), acc[r][v], m);                      \
    }

/* A[p][r0 .. r0 + LANES) as one vector: contiguous when packed or columns,
 * gathered from LANES rows otherwise. Of a short tile of `rows` (1 or 2)
 * only those rows are read (the other lanes 0 or copies): a block's last
 * rows may end A's last step. */
static LRP_INLINE float32x4_t neon_a_f32(const float *restrict a, a_layout layout, ptrdiff_t p,
                                         int r0, ptrdiff_t lda, int rows)
{
    if (layout != A_ROWS) {
        const float *at = a + a_index(layout, p, r0, NEON_MR, lda);
        if (rows == 1)
            return vld1q_dup_f32(at);
        if (rows == 2)
            return vcombine_f32(vld1_f32(at), vdup_n_f32(0.0f));
        return vld1q_f32(at);
    }
    const float v[4] = {a[r0 * lda + p], a[(r0 + 1) * lda + p], a[(r0 + 2) * lda + p],
                        a[(r0 + 3) * lda + p]};
    return vld1q_f32(v);
}
static LRP_INLINE float64x2_t neon_a_f64(const double *restrict a, a_layout layout, ptrdiff_t p,
                                         int r0, ptrdiff_t lda, int rows)
{
    if (layout != A_ROWS)
        return rows == 1 ? vld1q_dup_f64(a + a_index(layout, p, r0, NEON_MR, lda))
                         : vld1q_f64(a + a_index(layout, p, r0, NEON_MR, lda));
    const double v[2] = {a[r0 * lda + p], a[(r0 + 1) * lda + p]};
    return vld1q_f64(v);
}

/* Rows [r0, r0 + ROWS) of a tile, ROWS 8, 4, 2 or 1, over its first VECS
 * vectors, 3 or 2 (literals after inlining; 2 and 1 rows: the short tiles,
 * A packed or in columns; 2 vectors: the edge kernels, B still packed 3
 * vectors wide). */
static LRP_INLINE void neon_rows_f32(ptrdiff_t kc, const float *restrict a, ptrdiff_t lda,
                                     const float *restrict b, float *restrict c, ptrdiff_t ldc,
                                     int load, a_layout layout, combine_op combine, int r0,
                                     int ROWS, int VECS)
{
    enum { LANES = 4, NR = NEON_VECS * LANES };
    float32x4_t acc[NEON_MR][NEON_VECS];
    const float32x4_t start = vdupq_n_f32(combine == COMBINE_MAX_PLUS ? -(float)INFINITY : 0.0f);
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        LRP_UNROLL_ROWS
        for (int v = 0; v < VECS; v++)
            acc[r][v] = load ? vld1q_f32(c + (r0 + r) * ldc + v * LANES) : start;
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        float32x4_t bv[NEON_VECS];
        LRP_UNROLL_ROWS
        for (int v = 0; v < VECS; v++)
            bv[v] = vld1q_f32(b + p * NR + v * LANES);
        const float32x4_t a0 = neon_a_f32(a, layout, p, r0, lda, ROWS);
        NEON_ROW(float32x4_t, f32, 0, a0, 0)
        if (ROWS >= 2) {
            NEON_ROW(float32x4_t, f32, 1, a0, 1)
        }
        if (ROWS >= 4) {
            NEON_ROW(float32x4_t, f32, 2, a0, 2)
            NEON_ROW(float32x4_t, f32, 3, a0, 3)
        }
        if (ROWS == 8) {
            const float32x4_t a1 = neon_a_f32(a, layout, p, r0 + 4, lda, 4);
            NEON_ROW(float32x4_t, f32, 4, a1, 0)
            NEON_ROW(float32x4_t, f32, 5, a1, 1)
            NEON_ROW(float32x4_t, f32, 6, a1, 2)
            NEON_ROW(float32x4_t, f32, 7, a1, 3)
        }
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        LRP_UNROLL_ROWS
        for (int v = 0; v < VECS; v++)
            vst1q_f32(c + (r0 + r) * ldc + v * LANES, acc[r][v]);
    }
}

static LRP_INLINE void neon_rows_f64(ptrdiff_t kc, const double *restrict a, ptrdiff_t lda,
                                     const double *restrict b, double *restrict c,
                                     ptrdiff_t ldc, int load, a_layout layout,
                                     combine_op combine, int r0, int ROWS,
                                     int VECS)
{
    enum { LANES = 2, NR = NEON_VECS * LANES };
    float64x2_t acc[NEON_MR][NEON_VECS];
    const float64x2_t start = vdupq_n_f64(combine == COMBINE_MAX_PLUS ? -(double)INFINITY : 0.0);
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        LRP_UNROLL_ROWS
        for (int v = 0; v < VECS; v++)
            acc[r][v] = load ? vld1q_f64(c + (r0 + r) * ldc + v * LANES) : start;
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        float64x2_t bv[NEON_VECS];
        LRP_UNROLL_ROWS
        for (int v = 0; v < VECS; v++)
            bv[v] = vld1q_f64(b + p * NR + v * LANES);
        const float64x2_t a0 = neon_a_f64(a, layout, p, r0, lda, ROWS);
        NEON_ROW(float64x2_t, f64, 0, a0, 0)
        if (ROWS >= 2) {
            NEON_ROW(float64x2_t, f64, 1, a0, 1)
        }
        if (ROWS >= 4) {
            const float64x2_t a1 = neon_a_f64(a, layout, p, r0 + 2, lda, 2);
            NEON_ROW(float64x2_t, f64, 2, a1, 0)
            NEON_ROW(float64x2_t, f64, 3, a1, 1)
        }
        if (ROWS == 8) {
            const float64x2_t a2 = neon_a_f64(a, layout, p, r0 + 4, lda, 2);
            const float64x2_t a3 = neon_a_f64(a, layout, p, r0 + 6, lda, 2);
            NEON_ROW(float64x2_t, f64, 4, a2, 0)
            NEON_ROW(float64x2_t, f64, 5, a2, 1)
            NEON_ROW(float64x2_t, f64, 6, a3, 0)
            NEON_ROW(float64x2_t, f64, 7, a3, 1)
        }
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        LRP_UNROLL_ROWS
        for (int v = 0; v < VECS; v++)
            vst1q_f64(c + (r0 + r) * ldc + v * LANES, acc[r][v]);
    }
}

/* A whole tile: the sum's 8 rows at once (or a short tile's 4, 2 or 1);
 * max and max-plus, whose product and mask need two more registers per
 * vector, in two passes of 4 rows, so that nothing spills to the stack. */
static LRP_INLINE void neon_tile_f32(ptrdiff_t kc, const float *restrict a, ptrdiff_t lda,
                                     const float *restrict b, float *restrict c, ptrdiff_t ldc,
                                     int load, a_layout layout, combine_op combine, int vecs,
                                     int rows)
{
    if (combine == COMBINE_SUM) {
        neon_rows_f32(kc, a, lda, b, c, ldc, load, layout, combine, 0, rows, vecs);
    } else {
        neon_rows_f32(kc, a, lda, b, c, ldc, load, layout, combine, 0, 4, vecs);
        neon_rows_f32(kc, a, lda, b, c, ldc, load, layout, combine, 4, 4, vecs);
    }
}

static LRP_INLINE void neon_tile_f64(ptrdiff_t kc, const double *restrict a, ptrdiff_t lda,
                                     const double *restrict b, double *restrict c,
                                     ptrdiff_t ldc, int load, a_layout layout,
                                     combine_op combine, int vecs, int rows)
{
    if (combine == COMBINE_SUM) {
        neon_rows_f64(kc, a, lda, b, c, ldc, load, layout, combine, 0, rows, vecs);
    } else {
        neon_rows_f64(kc, a, lda, b, c, ldc, load, layout, combine, 0, 4, vecs);
        neon_rows_f64(kc, a, lda, b, c, ldc, load, layout, combine, 4, 4, vecs);
    }
}

/* Min-max's kernel over rows [r0, r0 + 2): the tile's 8 rows in four
 * passes, so that 6 accumulators, the step's six B and bound vectors and
 * each vector's side, product, minimum and masks stay in the 32 registers
 * (four rows spill); side is read from L1 at each step. */
static LRP_INLINE void neon_max_min_rows_f32(ptrdiff_t kc, const float *restrict a,
                                             const float *restrict b,
                                             const float *restrict bound,
                                             const float *restrict side, float *restrict c,
                                             ptrdiff_t ldc, int load, int r0)
{
    enum { MR = NEON_MR, ROWS = 2, LANES = 4, NR = NEON_VECS * LANES };
    float32x4_t acc[ROWS][NEON_VECS];
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        LRP_UNROLL_ROWS
        for (int v = 0; v < NEON_VECS; v++)
            acc[r][v] = load ? vld1q_f32(c + (r0 + r) * ldc + v * LANES) : vdupq_n_f32(0.0f);
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        float32x4_t bv[NEON_VECS], uv[NEON_VECS];
        LRP_UNROLL_ROWS
        for (int v = 0; v < NEON_VECS; v++) {
            bv[v] = vld1q_f32(b + p * NR + v * LANES);
            uv[v] = vld1q_f32(bound + p * NR + v * LANES);
        }
        const float32x2_t av = vld1_f32(a + p * MR + r0);
        NEON_MAX_MIN_ROW(float32x4_t, f32, 0, av, lane, 0)
        NEON_MAX_MIN_ROW(float32x4_t, f32, 1, av, lane, 1)
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        LRP_UNROLL_ROWS
        for (int v = 0; v < NEON_VECS; v++)
            vst1q_f32(c + (r0 + r) * ldc + v * LANES, acc[r][v]);
    }
}

static LRP_INLINE void neon_max_min_rows_f64(ptrdiff_t kc, const double *restrict a,
                                             const double *restrict b,
                                             const double *restrict bound,
                                             const double *restrict side, double *restrict c,
                                             ptrdiff_t ldc, int load, int r0)
{
    enum { MR = NEON_MR, ROWS = 2, LANES = 2, NR = NEON_VECS * LANES };
    float64x2_t acc[ROWS][NEON_VECS];
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        LRP_UNROLL_ROWS
        for (int v = 0; v < NEON_VECS; v++)
            acc[r][v] = load ? vld1q_f64(c + (r0 + r) * ldc + v * LANES) : vdupq_n_f64(0.0);
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        float64x2_t bv[NEON_VECS], uv[NEON_VECS];
        LRP_UNROLL_ROWS
        for (int v = 0; v < NEON_VECS; v++) {
            bv[v] = vld1q_f64(b + p * NR + v * LANES);
            uv[v] = vld1q_f64(bound + p * NR + v * LANES);
        }
        const float64x2_t av = vld1q_f64(a + p * MR + r0);
        NEON_MAX_MIN_ROW(float64x2_t, f64, 0, av, laneq, 0)
        NEON_MAX_MIN_ROW(float64x2_t, f64, 1, av, laneq, 1)
    }
    LRP_UNROLL_ROWS
    for (int r = 0; r < ROWS; r++) {
        LRP_UNROLL_ROWS
        for (int v = 0; v < NEON_VECS; v++)
            vst1q_f64(c + (r0 + r) * ldc + v * LANES, acc[r][v]);
    }
}

/* The five named kernels of neon_tile_SUF over the first VECS of a row's 3
 * vectors and the first ROWS rows: sum, max and max_plus with A packed,
 * rows and cols (sums) with A unpacked, named kernel_NAME. */
#define NEON_PACKED_KERNEL(T, SUF, VECS, ROWS, NAME, COMBINE)                                  \
    static void NAME(ptrdiff_t kc, const T *restrict a, const T *restrict b, T *restrict c,   \
                     ptrdiff_t ldc, int load)                                                  \
    {                                                                                          \
        neon_tile_##SUF(kc, a, 0, b, c, ldc, load, A_PACKED, COMBINE, VECS, ROWS);            \
    }
#define NEON_UNPACKED_KERNEL(T, SUF, VECS, ROWS, NAME, LAYOUT)                                 \
    static void NAME(ptrdiff_t kc, const T *restrict a, ptrdiff_t lda, const T *restrict b,   \
                     T *restrict c, ptrdiff_t ldc, int load)                                   \
    {                                                                                          \
        neon_tile_##SUF(kc, a, lda, b, c, ldc, load, LAYOUT, COMBINE_SUM, VECS, ROWS);        \
    }
#define NEON_KERNELS(T, SUF, VECS, NAME)                                                       \
    NEON_PACKED_KERNEL(T, SUF, VECS, 8, sum_##NAME, COMBINE_SUM)                               \
    NEON_PACKED_KERNEL(T, SUF, VECS, 8, max_##NAME, COMBINE_MAX)                               \
    NEON_PACKED_KERNEL(T, SUF, VECS, 8, max_plus_##NAME, COMBINE_MAX_PLUS)                     \
    NEON_UNPACKED_KERNEL(T, SUF, VECS, 8, rows_##NAME, A_ROWS)                                 \
    NEON_UNPACKED_KERNEL(T, SUF, VECS, 8, cols_##NAME, A_COLUMNS)
/* The short tiles' sums (microkernels.h), all 3 vectors wide: 4, 2 and 1
 * rows with A packed (sum_NAME_4 ...) or in columns (cols_NAME_4 ...), for
 * SHORT_TABLE(NAME). */
#define NEON_SHORT_KERNELS(T, SUF, NAME)                                                       \
    NEON_PACKED_KERNEL(T, SUF, 3, 4, sum_##NAME##_4, COMBINE_SUM)                              \
    NEON_PACKED_KERNEL(T, SUF, 3, 2, sum_##NAME##_2, COMBINE_SUM)                              \
    NEON_PACKED_KERNEL(T, SUF, 3, 1, sum_##NAME##_1, COMBINE_SUM)                              \
    NEON_UNPACKED_KERNEL(T, SUF, 3, 4, cols_##NAME##_4, A_COLUMNS)                             \
    NEON_UNPACKED_KERNEL(T, SUF, 3, 2, cols_##NAME##_2, A_COLUMNS)                             \
    NEON_UNPACKED_KERNEL(T, SUF, 3, 1, cols_##NAME##_1, A_COLUMNS)

NEON_KERNELS(float, f32, 3, f32_neon)
NEON_KERNELS(float, f32, 2, f32_neon_edge)
NEON_SHORT_KERNELS(float, f32, f32_neon)

static void max_min_f32_neon(ptrdiff_t kc, const float *restrict a, const float *restrict b,
                             const float *restrict bound, const float *restrict side,
                             float *restrict c, ptrdiff_t ldc, int load)
{
    for (int r0 = 0; r0 < NEON_MR; r0 += 2)
        neon_max_min_rows_f32(kc, a, b, bound, side, c, ldc, load, r0);
}


static const lrp_micro_f32 neon_f32 = {NEON_MR,           NEON_VECS * 4,
                                       sum_f32_neon,      max_f32_neon,
                                       max_plus_f32_neon, rows_f32_neon,
                                       cols_f32_neon,     max_min_f32_neon,
    {8, sum_f32_neon_edge, max_f32_neon_edge, max_plus_f32_neon_edge,
     rows_f32_neon_edge, cols_f32_neon_edge},
    SHORT_TABLE(f32_neon)};

NEON_KERNELS(double, f64, 3, f64_neon)
NEON_KERNELS(double, f64, 2, f64_neon_edge)
NEON_SHORT_KERNELS(double, f64, f64_neon)

static void max_min_f64_neon(ptrdiff_t kc, const double *restrict a, const double *restrict b,
                             const double *restrict bound, const double *restrict side,
                             double *restrict c, ptrdiff_t ldc, int load)
{
    for (int r0 = 0; r0 < NEON_MR; r0 += 2)
        neon_max_min_rows_f64(kc, a, b, bound, side, c, ldc, load, r0);
}

static const lrp_micro_f64 neon_f64 = {NEON_MR,           NEON_VECS * 2,
                                       sum_f64_neon,      max_f64_neon,
                                       max_plus_f64_neon, rows_f64_neon,
                                       cols_f64_neon,     max_min_f64_neon,
    {4, sum_f64_neon_edge, max_f64_neon_edge, max_plus_f64_neon_edge,
     rows_f64_neon_edge, cols_f64_neon_edge},
    SHORT_TABLE(f64_neon)};

#undef NEON_KERNELS
#undef NEON_UNPACKED_KERNEL
#undef NEON_PACKED_KERNEL
#undef NEON_SHORT_KERNELS
#undef NEON_ROW
#undef NEON_MAX_MIN_ROW
#endif

#undef NO_EDGE
#undef NO_SHORT
#undef SHORT_TABLE

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
#elif LRP_ARM_DISPATCH
    if (lrp_current_isa() == LRP_ISA_NEON)
        return &neon_f32;
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
#elif LRP_ARM_DISPATCH
    if (lrp_current_isa() == LRP_ISA_NEON)
        return &neon_f64;
#endif
    return &portable_f64;
}
