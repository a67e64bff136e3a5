/* 3x3 sum products by Winograd's F(m x m, 3x3), written once against T and
 * FN(), included by conv_products.h, whose sum products call it: F(4x4, 3x3)
 * in float32, F(2x2, 3x3) in float64.
 *
 * Each m x m block of outputs (a tile) of a 3x3 convolution with unit
 * stride and padding 1 is A^T [(G g G^T) . (B^T d B)] A for the tile's
 * p x p input patch d (p = m + 2) and kernel g: per tile and channel pair,
 * p^2 multiplies where the direct product takes 9 m^2 (36 against 144 for
 * m = 4, 16 against 36 for m = 2). In three steps:
 *   V_xi = B^T d B of every (input channel, tile)         p^2 x (C x P)
 *   M_xi = U_xi V_xi, U_xi = G g G^T of every (out, in)   p^2 products
 *   out  = A^T M A of every (output channel, tile), then + beta (forward)
 *          or times a (the transposed pass)
 * in one of two forms: the one-pass form (a thread takes a few dozen tiles
 * through all three in its L2) where V and M of that many tiles fit there,
 * else the wide form (each step over the threads for a block of tile rows;
 * the wider layers). Both compute every sum alike and give the same bits.
 * F(2x2, 3x3)'s coefficients are 0, +-1 and 1/2, so each output differs from
 * the direct sum by a few roundings of its terms' magnitudes; F(4x4, 3x3)'s
 * (WINOGRAD_INPUT_1D, WINOGRAD_OUTPUT_1D) reach 8, and its outputs differ by
 * a few times more: float32 takes 36 multiplies where F(2x2, 3x3) takes 64
 * for that, float64 keeps its accuracy. The order of every sum is fixed,
 * whatever the thread count or batch.
 *
 * Layers of 32 input channels, 4 outputs and 14x14 pixels and more
 * (conv_winograd_pays). */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_CONV_WINOGRAD /* once per instance */
#define LRP_INSTANCE_CONV_WINOGRAD

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lrp.h"
#include "conv/conv_im2col.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/microkernels.h"
#include "products/products.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/weight_cache.h"
#if LRP_X86_DISPATCH
#include <immintrin.h>
#endif

#if T_BYTES == 4
#define WINOGRAD_M 4
#else
#define WINOGRAD_M 2
#endif
#define WINOGRAD_P (WINOGRAD_M + 2)           /* the input patch's side */
#define WINOGRAD_XI (WINOGRAD_P * WINOGRAD_P) /* values per tile: 36 or 16 */
/* Output pixels per block of the wide form at most: V and M of a block, p^2 / m^2
 * values per pixel and channel, stay within tens of megabytes on layers of
 * 512 channels (V and M of a whole 224x224 layer would be 2.25 or 4x its
 * input and output). FN(winograd_block_rows) may take fewer. */
#define WINOGRAD_BLOCK_PIXELS 4096

/* Tiles along a side of `pixels` outputs. */
static ptrdiff_t FN(winograd_tiles_along)(ptrdiff_t pixels)
{
    return (pixels + WINOGRAD_M - 1) / WINOGRAD_M;
}

/* Tiles per sample of the convolution v. */
static ptrdiff_t FN(winograd_tiles)(const lrp_conv_shape *v)
{
    return FN(winograd_tiles_along)(v->out_h) * FN(winograd_tiles_along)(v->out_w);
}

#if WINOGRAD_M == 4
/* F(4x4, 3x3) at the points 0, 1, -1, 1/2, -2 and infinity: of the usual
 * sets, the one with the smallest float32 error (4.7e-6 of the largest
 * output on 512 channels in, against 1.1e-5 for 0, +-1, +-2). Every
 * coefficient of B and A is 1, 3 or 5 times a power of 2: exact in binary.
 * G g of a kernel row or column G(0), G(1), G(2) into U(0) .. U(5) (in
 * double: U is made once per layer). */
#define WINOGRAD_KERNEL_1D(G, U)                                             \
    do {                                                                     \
        U(0) = G(0);                                                         \
        U(1) = (G(0) + G(1) + G(2)) / 3;                                     \
        U(2) = -(G(0) - G(1) + G(2)) / 3;                                    \
        U(3) = -(16 * G(0) + 8 * G(1) + 4 * G(2)) / 15;                      \
        U(4) = (G(0) - 2 * G(1) + 4 * G(2)) / 15;                            \
        U(5) = G(2);                                                         \
    } while (0)
/* B^T d of six values D(0) .. D(5) of type TYPE (T, or a vector of T's
 * lanes, FN(winograd_rows_x_avx512)): V(j, v_j) for the six results. */
#define WINOGRAD_INPUT_1D_OF(TYPE, D, V)                                     \
    do {                                                                     \
        const TYPE d31_ = D(3) - D(1), d42_ = D(4) - D(2);                   \
        V(0, D(0) - 2 * D(2) + D(4) + (T)1.5 * d31_);                        \
        V(1, D(4) - D(1) + (T)0.5 * D(2) + (T)2.5 * D(3));                   \
        V(2, D(4) + D(1) - (T)2.5 * D(2) + (T)0.5 * D(3));                   \
        V(3, D(4) - D(2) + 2 * d31_);                                        \
        V(4, D(4) - D(2) - (T)0.5 * d31_);                                   \
        V(5, D(5) + D(1) - 2 * D(3) + (T)1.5 * d42_);                        \
    } while (0)
#define WINOGRAD_INPUT_1D(D, V) WINOGRAD_INPUT_1D_OF(T, D, V)
/* A^T m of six values S(0) .. S(5): Y(i, y_i) for the four outputs. */
#define WINOGRAD_OUTPUT_1D(S, Y)                                             \
    do {                                                                     \
        const T s_ = S(1) + S(2), t_ = S(1) - S(2);                          \
        Y(0, (S(0) + s_) + (S(3) + S(4)));                                   \
        Y(1, t_ + (T)0.5 * S(3) - 2 * S(4));                                 \
        Y(2, s_ + (T)0.25 * S(3) + 4 * S(4));                                \
        Y(3, t_ + (T)0.125 * S(3) - 8 * S(4) + S(5));                        \
    } while (0)
#else
/* F(2x2, 3x3) at the points 0, 1, -1 and infinity. */
#define WINOGRAD_KERNEL_1D(G, U)                                             \
    do {                                                                     \
        U(0) = G(0);                                                         \
        U(1) = (G(0) + G(1) + G(2)) * 0.5;                                   \
        U(2) = (G(0) - G(1) + G(2)) * 0.5;                                   \
        U(3) = G(2);                                                         \
    } while (0)
#define WINOGRAD_INPUT_1D(D, V)                                              \
    do {                                                                     \
        V(0, D(0) - D(2));                                                   \
        V(1, D(1) + D(2));                                                   \
        V(2, D(2) - D(1));                                                   \
        V(3, D(1) - D(3));                                                   \
    } while (0)
#define WINOGRAD_OUTPUT_1D(S, Y)                                             \
    do {                                                                     \
        Y(0, S(0) + S(1) + S(2));                                            \
        Y(1, S(1) - S(2) - S(3));                                            \
    } while (0)
#endif

/* The geometry Winograd's products compute here: a 3x3 kernel, unit stride and
 * dilation, padding 1, one group; the output grid is the input grid. */
static int FN(conv_winograd_fits)(const lrp_conv_shape *v)
{
    return v->k_h == 3 && v->k_w == 3 && v->stride_h == 1 && v->stride_w == 1 &&
           v->dil_h == 1 && v->dil_w == 1 && v->pad_h == 1 && v->pad_w == 1 &&
           v->groups == 1 && v->out_h == v->in_h && v->out_w == v->in_w;
}

/* Faster than the packed product: with 32 input channels at least (the
 * transforms are then small beside the products), 4 outputs at least, and
 * tiles of 196 pixels (14x14) per sample at least, where the p^2 products
 * read U (p^2 / 9 the weights) for few columns, which pays since U is kept
 * in the weight cache. */
static int FN(conv_winograd_pays)(const lrp_conv_shape *v)
{
    const ptrdiff_t tiles = FN(winograd_tiles)(v);
    return FN(conv_winograd_fits)(v) && v->in_c >= 32 && v->out_c >= 4 &&
           tiles * WINOGRAD_M * WINOGRAD_M >= 196;
}

typedef struct {
    const lrp_conv_shape *v;
    const T *x;       /* this sample's input (C, H, W) */
    const T *w;       /* the layer's weights */
    int kind, flipped;
    T gamma;
    ptrdiff_t tiles_w;        /* tiles per row */
    ptrdiff_t ty0, tiles;     /* this block: its first tile row, its tiles */
    T *u;             /* packed A of each xi, u_stride apart */
    size_t u_stride;
    T *vx, *m;        /* V and M of this block (or item), xi-major */
    size_t v_xi, m_xi; /* V_xi to V_xi+1, M_xi to M_xi+1 (FN(winograd_xi_stride)) */
    T *out;           /* this sample's output (K, H, W) */
    const T *bias;    /* forward: beta per output channel */
    const T *scale;   /* transposed pass: a of this sample, shaped as out */
    int mr;           /* output channels per panel of U (b_nr: per group written) */
    int b_nr;         /* the wide form: U as B panels of b_nr output channels; else 0 */
    ptrdiff_t chunk;  /* the products' inner chunk (FN(product_chunk)), for the whole run */
} FN(winograd);

/* The distance between V_xi and V_xi+1 (or M's) for `count` values each:
 * count rounded up to whole cache lines, plus one more line where that is
 * a multiple of 16 lines, so that the p^2 xi spread over 8 sets of the L1
 * cache at least: the transforms read or write the xi side by side, and
 * 4 KiB apart (a 64-channel layer's V) they would all fall in one set. */
static size_t FN(winograd_xi_stride)(size_t count)
{
    const size_t line = 64 / sizeof(T);
    if (count > SIZE_MAX / 2) /* the caller's size check then fails */
        return SIZE_MAX;
    const size_t lines = (count + line - 1) / line * line;
    return lines / line % 16 ? lines : lines + line;
}

/* U_xi row co, column ci, in FN(pack_a)'s layout (with b_nr, the wide
 * form's B: U_xi^T), for the rows of one panel. flipped: the transposed
 * pass's kernel, W[ci][co] turned by 180 degrees. The panel's rows are the
 * lanes of every step (the compiler makes vectors of them) and each
 * (panel, ci) writes its mr contiguous values of all p^2 U_xi at once, so
 * that each cache line of U is visited once, not once per row. */
#define WINOGRAD_LANES 8
static LRP_INLINE lrp_status FN(winograd_weights_items)(void *context, ptrdiff_t begin,
                                                        ptrdiff_t end, int worker,
                                                        lrp_team *team)
{
    const FN(winograd) *job = context;
    const lrp_conv_shape *v = job->v;
    const ptrdiff_t mr = job->mr, cin = v->in_c, cout = v->out_c;
    for (ptrdiff_t panel = begin; panel < end; panel++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        for (ptrdiff_t ci = 0; ci < cin; ci++) {
            double g[3][3][WINOGRAD_LANES], gt[WINOGRAD_P][3][WINOGRAD_LANES];
            T u[WINOGRAD_P][WINOGRAD_P][WINOGRAD_LANES];
            for (ptrdiff_t r = 0; r < WINOGRAD_LANES; r++) {
                const ptrdiff_t co = panel * mr + r;
                const T *kernel = NULL;
                if (r < mr && co < cout)
                    kernel = job->flipped ? job->w + (ci * cout + co) * 9
                                          : job->w + (co * cin + ci) * 9;
                for (int y = 0; y < 3; y++)
                    for (int x = 0; x < 3; x++) {
                        T value = 0;
                        if (kernel)
                            value = job->flipped ? kernel[(2 - y) * 3 + 2 - x] : kernel[y * 3 + x];
                        g[y][x][r] = FN(rho)(job->kind, job->gamma, value);
                    }
            }
            /* along y, then along x */
#define ALONG_Y(k) g[k][x][r]
#define INTO_GT(i) gt[i][x][r]
            for (int x = 0; x < 3; x++)
                for (int r = 0; r < WINOGRAD_LANES; r++)
                    WINOGRAD_KERNEL_1D(ALONG_Y, INTO_GT);
#define ALONG_X(k) gt[y][k][r]
#define INTO_U(i) u[y][i][r]
            for (int y = 0; y < WINOGRAD_P; y++)
                for (int r = 0; r < WINOGRAD_LANES; r++)
                    WINOGRAD_KERNEL_1D(ALONG_X, INTO_U);
#undef ALONG_Y
#undef INTO_GT
#undef ALONG_X
#undef INTO_U
            /* the wide form's B (row ci, columns from panel * mr) or A panels */
            T *dst = job->b_nr ? job->u + FN(whole_b_at)(cout, cin, job->b_nr, job->chunk, ci,
                                                          panel * mr)
                               : job->u + panel * cin * mr + ci * mr;
            for (int xi = 0; xi < WINOGRAD_XI; xi++)
                memcpy(dst + (size_t)xi * job->u_stride, u[xi / WINOGRAD_P][xi % WINOGRAD_P],
                       (size_t)mr * sizeof(T));
        }
    }
    return LRP_OK;
}
LRP_ISA_PLAIN_TASKS(winograd_weights_task, FN(winograd_weights_items))

/* V = B^T d B goes along y first: u_i = (B^T d)_i, p rows of the input
 * combined column by column (contiguous, no shuffles), then each u_i along
 * x into V_{p i + j}, j = 0 .. p - 1. Both forms use these two steps, so
 * they give the same bits.
 *
 * u_i[c] for columns m tx0 - 1 + c, c = 0 .. m len + 1, of the p input
 * rows r[0..p-1] (a row of padding is `zeros`, wd values), zero outside
 * the row; u holds p x (m len + 2) values. */
static LRP_INLINE void FN(winograd_rows_y)(const T *const r[WINOGRAD_P], ptrdiff_t wd,
                                           ptrdiff_t tx0, ptrdiff_t len, T *u)
{
    const ptrdiff_t width = WINOGRAD_M * len + 2, first = WINOGRAD_M * tx0 - 1;
    /* columns inside the row: c with 0 <= first + c < wd */
    const ptrdiff_t lo = first < 0 ? -first : 0;
    const ptrdiff_t hi = wd - first < width ? wd - first : width;
    const ptrdiff_t right = hi > lo ? hi : lo;
    /* the padding: one column at the left edge (lo is 0 or 1), at most m at
     * the right (m (tx0 + len) <= m tiles_w <= wd + m - 1) */
    for (int i = 0; i < WINOGRAD_P; i++) {
        T *ui = u + i * width;
        if (lo > 0)
            ui[0] = 0;
        for (ptrdiff_t c = right; c < width; c++)
            ui[c] = 0;
    }
    if (hi <= lo)
        return;
    const T *restrict d[WINOGRAD_P];
    T *restrict w[WINOGRAD_P];
    for (int i = 0; i < WINOGRAD_P; i++) {
        d[i] = r[i] + first + lo;
        w[i] = u + i * width + lo;
    }
#define ROW(k) d[k][c]
#define INTO_U(i, y) w[i][c] = (y)
    LRP_NO_ALIAS
    for (ptrdiff_t c = 0; c < hi - lo; c++)
        WINOGRAD_INPUT_1D(ROW, INTO_U);
#undef ROW
#undef INTO_U
}

#if LRP_X86_DISPATCH && T_BYTES == 4
/* FN(winograd_rows_x) of float with AVX-512, 16 tiles a step: columns
 * 4 q + k of the 16 tiles (k < 4) picked by permutes from four loads, k = 4
 * and 5 those of k = 0 and 1 one tile on; WINOGRAD_INPUT_1D_OF on the
 * vectors, lane by lane the scalar loop's operations and bits. Loads past the
 * last tile's 4 count + 2 values are masked off. Called only while AVX-512
 * is the instruction set in use; never inlined, as FN(few_transpose_tile). */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(winograd_rows_x_avx512)(
    const T *u, ptrdiff_t width, ptrdiff_t count, T *vx, size_t xi_stride)
{
    __m512i pick[4];
    for (int k = 0; k < 4; k++)
        pick[k] = _mm512_set_epi32(28 + k, 24 + k, 20 + k, 16 + k, 12 + k, 8 + k, 4 + k, k,
                                   28 + k, 24 + k, 20 + k, 16 + k, 12 + k, 8 + k, 4 + k, k);
    for (int i = 0; i < WINOGRAD_P; i++) {
        const float *ui = (const float *)(u + i * width);
        float *v[WINOGRAD_P];
        for (int j = 0; j < WINOGRAD_P; j++)
            v[j] = (float *)(vx + (size_t)(WINOGRAD_P * i + j) * xi_stride);
        for (ptrdiff_t q0 = 0; q0 < count; q0 += 16) {
            const ptrdiff_t n = count - q0 < 16 ? count - q0 : 16;
            const ptrdiff_t values = 4 * n + 2;
            __m512 r[5];
            for (int b = 0; b < 5; b++) {
                const ptrdiff_t left = values - 16 * b;
                const __mmask16 mask = (__mmask16)(left >= 16  ? 0xFFFF
                                                   : left > 0 ? (1u << left) - 1
                                                              : 0);
                r[b] = _mm512_maskz_loadu_ps(mask, ui + 4 * q0 + 16 * b);
            }
            __m512 d[6];
            for (int k = 0; k < 4; k++) {
                const __m512 low = _mm512_permutex2var_ps(r[0], pick[k], r[1]);
                const __m512 high = _mm512_permutex2var_ps(r[2], pick[k], r[3]);
                d[k] = _mm512_shuffle_f32x4(low, high, 0x44);
            }
            /* lane 15 of k = 4 and 5: the first two values past the 16 tiles */
            const __m512i past = _mm512_castps_si512(r[4]);
            d[4] = _mm512_castsi512_ps(
                _mm512_alignr_epi32(past, _mm512_castps_si512(d[0]), 1));
            d[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(
                _mm512_alignr_epi32(past, past, 1), _mm512_castps_si512(d[1]), 1));
            const __mmask16 live = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
#define LANES(k) d[k]
#define INTO_V(j, y) _mm512_mask_storeu_ps(v[j] + q0, live, y)
            WINOGRAD_INPUT_1D_OF(__m512, LANES, INTO_V);
#undef LANES
#undef INTO_V
        }
    }
}
#endif

/* V_{p i + j} of a run of `count` tiles into vx + (p i + j) xi_stride:
 * each u_i (width values apart) along x, tile q's columns m q .. m q + p - 1. */
static LRP_INLINE void FN(winograd_rows_x)(const T *u, ptrdiff_t width, ptrdiff_t count, T *vx,
                                           size_t xi_stride)
{
#if LRP_X86_DISPATCH && T_BYTES == 4
    if (lrp_current_isa() == LRP_ISA_AVX512) {
        FN(winograd_rows_x_avx512)(u, width, count, vx, xi_stride);
        return;
    }
#endif
    for (int i = 0; i < WINOGRAD_P; i++) {
        const T *restrict ui = u + i * width;
        T *restrict v[WINOGRAD_P];
        for (int j = 0; j < WINOGRAD_P; j++)
            v[j] = vx + (size_t)(WINOGRAD_P * i + j) * xi_stride;
#define COLUMN(k) ui[WINOGRAD_M * q + (k)]
#define INTO_V(j, y) v[j][q] = (y)
        LRP_NO_ALIAS
        for (ptrdiff_t q = 0; q < count; q++)
            WINOGRAD_INPUT_1D(COLUMN, INTO_V);
#undef COLUMN
#undef INTO_V
    }
}

/* V of one input channel for the wide form, tile row by tile row: the p
 * input rows along y, then along x for all tiles of the row (contiguous,
 * vectorisable). */
static LRP_INLINE lrp_status FN(winograd_input_items)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(winograd) *job = context;
    const lrp_conv_shape *v = job->v;
    const ptrdiff_t h = v->in_h, wd = v->in_w, tw = job->tiles_w;
    const size_t xi_stride = job->v_xi;
    /* u: p rows of m tw + 2 values; a row of padding */
    const ptrdiff_t width = WINOGRAD_M * tw + 2;
    T *u = lrp_alloc_array(WINOGRAD_P * (size_t)width + (size_t)wd, sizeof(T));
    if (!u)
        return LRP_ERR_NOMEM;
    T *zeros = u + WINOGRAD_P * width;
    memset(zeros, 0, (size_t)wd * sizeof(T));
    lrp_status status = LRP_OK;
    for (ptrdiff_t c = begin; c < end; c++) {
        if (lrp_team_stop(team, worker)) {
            status = LRP_ERR_INTERRUPTED;
            break;
        }
        const T *x = job->x + c * h * wd;
        for (ptrdiff_t ty = job->ty0; ty < job->ty0 + job->tiles / tw; ty++) {
            const ptrdiff_t first = (ty - job->ty0) * tw;
            const T *rows[WINOGRAD_P];
            for (int r = 0; r < WINOGRAD_P; r++) {
                const ptrdiff_t iy = WINOGRAD_M * ty - 1 + r;
                rows[r] = iy >= 0 && iy < h ? x + iy * wd : zeros;
            }
            FN(winograd_rows_y)(rows, wd, 0, tw, u);
            FN(winograd_rows_x)(u, width, tw, job->vx + c * job->tiles + first, xi_stride);
        }
    }
    free(u);
    return status;
}
LRP_ISA_PLAIN_TASKS(winograd_input_task, FN(winograd_input_items))

/* One output row of `columns` values (at most m len) from the p rows of
 * A^T M along y, s + j len for j = 0 .. p - 1, stored as y + beta (forward)
 * or scale * y (the transposed pass) with no buffer between. */
static LRP_INLINE void FN(winograd_out_row)(const T *s, ptrdiff_t len, ptrdiff_t columns, T beta,
                                            const T *restrict scale, T *restrict o)
{
    const T *restrict r[WINOGRAD_P];
    for (int j = 0; j < WINOGRAD_P; j++)
        r[j] = s + j * len;
    const ptrdiff_t whole = columns / WINOGRAD_M, rest = columns % WINOGRAD_M;
#define ACROSS(j) r[j][q]
#define SCALED(c, y) o[WINOGRAD_M * q + (c)] = scale[WINOGRAD_M * q + (c)] * (y)
#define BIASED(c, y) o[WINOGRAD_M * q + (c)] = (y) + beta
#define SCALED_PART(c, y) if ((c) < rest) SCALED(c, y)
#define BIASED_PART(c, y) if ((c) < rest) BIASED(c, y)
    if (scale) {
        LRP_NO_ALIAS
        for (ptrdiff_t q = 0; q < whole; q++)
            WINOGRAD_OUTPUT_1D(ACROSS, SCALED);
        for (ptrdiff_t q = whole; q < whole + (rest > 0); q++)
            WINOGRAD_OUTPUT_1D(ACROSS, SCALED_PART);
    } else {
        LRP_NO_ALIAS
        for (ptrdiff_t q = 0; q < whole; q++)
            WINOGRAD_OUTPUT_1D(ACROSS, BIASED);
        for (ptrdiff_t q = whole; q < whole + (rest > 0); q++)
            WINOGRAD_OUTPUT_1D(ACROSS, BIASED_PART);
    }
#undef ACROSS
#undef SCALED
#undef BIASED
#undef SCALED_PART
#undef BIASED_PART
}

/* The outputs of tiles [tx0, tx0 + len) of tile row ty of one output
 * channel (outk, scalek: its plane) from its p^2 rows of M, m + xi *
 * xi_stride: along y into at (m p len values; at + (i p + j) len is A^T
 * column j, output row i), then the m output rows. */
static LRP_INLINE void FN(winograd_tiles_out)(const T *m, size_t xi_stride, ptrdiff_t ty,
                                              ptrdiff_t tx0, ptrdiff_t len, ptrdiff_t h,
                                              ptrdiff_t wd, T beta, const T *scalek, T *outk,
                                              T *at)
{
    for (int j = 0; j < WINOGRAD_P; j++) {
        const T *restrict mr[WINOGRAD_P];
        T *restrict a[WINOGRAD_M];
        for (int r = 0; r < WINOGRAD_P; r++)
            mr[r] = m + (size_t)(WINOGRAD_P * r + j) * xi_stride;
        for (int i = 0; i < WINOGRAD_M; i++)
            a[i] = at + (i * WINOGRAD_P + j) * len;
#define DOWN(r) mr[r][q]
#define INTO_AT(i, y) a[i][q] = (y)
        LRP_NO_ALIAS
        for (ptrdiff_t q = 0; q < len; q++)
            WINOGRAD_OUTPUT_1D(DOWN, INTO_AT);
#undef DOWN
#undef INTO_AT
    }
    const ptrdiff_t ox0 = WINOGRAD_M * tx0;
    const ptrdiff_t columns = WINOGRAD_M * len < wd - ox0 ? WINOGRAD_M * len : wd - ox0;
    for (int i = 0; i < WINOGRAD_M; i++) {
        const ptrdiff_t oy = WINOGRAD_M * ty + i;
        if (oy >= h)
            break;
        FN(winograd_out_row)(at + i * WINOGRAD_P * len, len, columns, beta,
                             scalek ? scalek + oy * wd + ox0 : NULL, outk + oy * wd + ox0);
    }
}

/* The one-pass form, for layers whose V and M of a few dozen tiles fit in
 * a core's L2 (up to 256 + 256 channels in float32); the wide form below
 * takes the others.
 * Each work item is nr * strips consecutive tiles of one sample, and one
 * thread takes it through all three steps: V of its tiles for every input
 * channel, written straight in the micro-kernel's B layout (kc steps of nr
 * tiles per strip), the p^2 products into M, and A^T M A into the output.
 * V and M of the item stay in L2 (step by step over all tiles, they would
 * go to L3 and back). Each sum runs over the input channels in order, chunk
 * after chunk, one fused multiply-add per term, as in the wide form: both
 * give the same bits. */
#define WINOGRAD_ONE_PASS_LEAST 32 /* tiles per item */
#define WINOGRAD_ONE_PASS_MOST 128
#define WINOGRAD_PREFETCH 2 /* input channels ahead */

/* Strips of nr tiles per one-pass item: as many as V and M fit in
 * the one-pass bytes of lrp_block_sizes (a core's L2: more would take the
 * 512-channel layers too, whose U would then stream from L3 once per item),
 * up to WINOGRAD_ONE_PASS_MOST tiles; 0 (the wide
 * form) where fewer than WINOGRAD_ONE_PASS_LEAST tiles fit, since each item
 * reads all of U once, or where lrp_set_winograd_fusion turned the one-pass
 * form off (LRP_WINOGRAD_FUSION_NEVER); 1 at least under
 * LRP_WINOGRAD_FUSION_ALWAYS. */
static ptrdiff_t FN(winograd_one_pass_strips)(const lrp_conv_shape *v, int mr, int nr)
{
    const int mode = lrp_winograd_fusion();
    if (mode == LRP_WINOGRAD_FUSION_NEVER)
        return 0;
    const double k_rows = (double)((v->out_c + mr - 1) / mr * mr);
    const double tile_bytes = (double)WINOGRAD_XI * ((double)v->in_c + k_rows) * sizeof(T);
    const double fit = lrp_block_sizes().winograd_one_pass_bytes / tile_bytes;
    ptrdiff_t strips = 0;
    if (fit >= WINOGRAD_ONE_PASS_LEAST)
        strips = (ptrdiff_t)((fit < WINOGRAD_ONE_PASS_MOST ? fit : WINOGRAD_ONE_PASS_MOST) / nr);
    if (mode == LRP_WINOGRAD_FUSION_ALWAYS && strips < 1)
        strips = 1;
    /* no more strips than a sample has tiles */
    const ptrdiff_t tiles = FN(winograd_tiles)(v);
    const ptrdiff_t needed = (tiles + nr - 1) / nr;
    return strips < needed ? strips : needed;
}

typedef struct {
    FN(winograd) base; /* the layer, U, bias; x, out and scale of sample 0 */
    ptrdiff_t strips, span;    /* strips per item, tiles per item (strips * nr) */
    ptrdiff_t items_per_sample, tiles, k_rows;
    ptrdiff_t in_plane, out_plane;
} FN(winograd_one_pass);

/* V of tiles [t0, t0 + count) of one sample into vx: element (xi, c, tile
 * t0 + p) at ((xi * strips + p / nr) * C + c) * nr + p % nr. */
static LRP_INLINE void FN(winograd_one_pass_input)(const FN(winograd_one_pass) *job, const T *x,
                                                ptrdiff_t t0, ptrdiff_t count, int nr, T *vx,
                                                T *u, const T *zeros)
{
    const lrp_conv_shape *v = job->base.v;
    const ptrdiff_t h = v->in_h, wd = v->in_w, tw = job->base.tiles_w, cin = v->in_c;
    const size_t xi_stride = job->base.v_xi;
    for (ptrdiff_t done = 0; done < count;) {
        const ptrdiff_t t = t0 + done, ty = t / tw, tx0 = t % tw;
        const ptrdiff_t len = tw - tx0 < count - done ? tw - tx0 : count - done;
        /* the run's columns of one row: a few hundred bytes per channel,
         * planes apart, too short for the hardware prefetcher to follow */
        const ptrdiff_t col_lo = WINOGRAD_M * tx0 - 1 < 0 ? 0 : WINOGRAD_M * tx0 - 1;
        const ptrdiff_t col_end = WINOGRAD_M * (tx0 + len) + 1;
        const ptrdiff_t col_hi = col_end < wd ? col_end : wd;
        const ptrdiff_t line = 64 / (ptrdiff_t)sizeof(T);
        for (ptrdiff_t c = 0; c < cin; c++) {
            const T *xc = x + c * h * wd;
            const T *rows[WINOGRAD_P];
            for (int r = 0; r < WINOGRAD_P; r++) {
                const ptrdiff_t iy = WINOGRAD_M * ty - 1 + r;
                rows[r] = iy >= 0 && iy < h ? xc + iy * wd : zeros;
                if (c + WINOGRAD_PREFETCH < cin && rows[r] != zeros) {
                    const T *ahead = rows[r] + WINOGRAD_PREFETCH * h * wd;
                    for (ptrdiff_t col = col_lo; col < col_hi; col += line)
                        __builtin_prefetch(ahead + col, 0, 3);
                    __builtin_prefetch(ahead + col_hi - 1, 0, 3);
                }
            }
            FN(winograd_rows_y)(rows, wd, tx0, len, u);
            /* the run's tiles, cut where a strip ends */
            for (ptrdiff_t i = 0; i < len;) {
                const ptrdiff_t p = done + i, lane = p % nr;
                const ptrdiff_t seg = nr - lane < len - i ? nr - lane : len - i;
                FN(winograd_rows_x)(u + WINOGRAD_M * i, WINOGRAD_M * len + 2, seg,
                                    vx + ((p / nr) * cin + c) * nr + lane, xi_stride);
                i += seg;
            }
        }
        done += len;
    }
}

/* Outputs of tiles [t0, t0 + count) from M (element (xi, k, tile t0 + p) at
 * (xi * k_rows + k) * span + p), then + beta or times a. */
static LRP_INLINE void FN(winograd_one_pass_output)(const FN(winograd_one_pass) *job, const T *m,
                                                 ptrdiff_t t0, ptrdiff_t count, T *out,
                                                 const T *scale, T *at)
{
    const lrp_conv_shape *v = job->base.v;
    const ptrdiff_t h = v->out_h, wd = v->out_w, tw = job->base.tiles_w;
    const size_t xi_stride = job->base.m_xi;
    for (ptrdiff_t k = 0; k < v->out_c; k++) {
        T *outk = out + k * h * wd;
        const T *scalek = scale ? scale + k * h * wd : NULL;
        const T beta = job->base.bias ? job->base.bias[k] : (T)0;
        const T *mk = m + k * job->span;
        for (ptrdiff_t done = 0; done < count;) {
            const ptrdiff_t t = t0 + done, ty = t / tw, tx0 = t % tw;
            const ptrdiff_t len = tw - tx0 < count - done ? tw - tx0 : count - done;
            FN(winograd_tiles_out)(mk + done, xi_stride, ty, tx0, len, h, wd, beta, scalek, outk,
                                   at);
            done += len;
        }
    }
}

static LRP_INLINE lrp_status FN(winograd_one_pass_items)(void *context, ptrdiff_t begin,
                                                         ptrdiff_t end, int worker,
                                                         lrp_team *team)
{
    const FN(winograd_one_pass) *job = context;
    const lrp_conv_shape *v = job->base.v;
    const FN(lrp_micro) *micro = FN(lrp_micro_for)();
    const int mr = micro->mr, nr = micro->nr;
    const ptrdiff_t cin = v->in_c, span = job->span, chunk = job->base.chunk;
    const size_t v_count = (size_t)WINOGRAD_XI * job->base.v_xi;
    const size_t m_count = (size_t)WINOGRAD_XI * job->base.m_xi;
    /* u: p (m span + 2) values; at: m p span; a row of padding */
    const size_t u_count = WINOGRAD_P * (WINOGRAD_M * (size_t)span + 2);
    const size_t at_count = WINOGRAD_M * WINOGRAD_P * (size_t)span;
    T *buffer = lrp_scratch_alloc(v_count + m_count + u_count + at_count + (size_t)v->in_w,
                                  sizeof(T));
    if (!buffer)
        return LRP_ERR_NOMEM;
    T *vx = buffer, *m = vx + v_count, *u = m + m_count, *zeros = u + u_count;
    T *at = zeros + v->in_w;
    memset(zeros, 0, (size_t)v->in_w * sizeof(T));
    lrp_status status = LRP_OK;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker)) {
            status = LRP_ERR_INTERRUPTED;
            break;
        }
        const ptrdiff_t n = item / job->items_per_sample;
        const ptrdiff_t t0 = item % job->items_per_sample * span;
        const ptrdiff_t count = job->tiles - t0 < span ? job->tiles - t0 : span;
        const ptrdiff_t strips = (count + nr - 1) / nr;
        if (count % nr) /* the last strip's lanes past the sample's last tile */
            for (int xi = 0; xi < WINOGRAD_XI; xi++)
                memset(vx + (size_t)xi * job->base.v_xi + (size_t)(strips - 1) * (size_t)cin * (size_t)nr,
                       0, (size_t)cin * (size_t)nr * sizeof(T));
        FN(winograd_one_pass_input)(job, job->base.x + n * job->in_plane, t0, count, nr, vx, u, zeros);
        for (int xi = 0; xi < WINOGRAD_XI; xi++) {
            const T *uxi = job->base.u + (size_t)xi * job->base.u_stride;
            const T *vxi = vx + (size_t)xi * job->base.v_xi;
            T *mxi = m + (size_t)xi * job->base.m_xi;
            for (ptrdiff_t pc = 0; pc < cin; pc += chunk) {
                const ptrdiff_t kc = cin - pc < chunk ? cin - pc : chunk;
                for (ptrdiff_t js = 0; js < strips; js++) {
                    const T *b = vxi + (js * cin + pc) * nr;
                    for (ptrdiff_t ir = 0; ir < job->k_rows; ir += mr) {
                        const T *a = uxi + ir * cin + pc * mr;
                        T *c = mxi + ir * span + js * nr;
                        if (v->out_c - ir >= mr ||
                            !FN(short_tile_sums)(micro, v->out_c - ir, kc, a, 0, 0, b, c, span,
                                                 pc > 0))
                            micro->sum(kc, a, b, c, span, pc > 0);
                    }
                }
            }
        }
        FN(winograd_one_pass_output)(job, m, t0, count, job->base.out + n * job->out_plane,
                                  job->base.scale ? job->base.scale + n * job->out_plane : NULL,
                                  at);
    }
    lrp_scratch_free(buffer);
    return status;
}
LRP_ISA_PLAIN_TASKS(winograd_one_pass_task, FN(winograd_one_pass_items))

/* The one-pass form over every sample's tiles, items of strips * nr tiles. */
static lrp_status FN(winograd_one_pass_run)(const FN(winograd) *base,
                                            const FN(conv_product) *cp, ptrdiff_t strips,
                                            const FN(lrp_micro) *micro,
                                            const lrp_interrupt *interrupt)
{
    const lrp_conv_shape *v = base->v;
    FN(winograd_one_pass) job = {.base = *base, .strips = strips, .span = strips * micro->nr,
                                 .tiles = FN(winograd_tiles)(v),
                                 .k_rows = (v->out_c + micro->mr - 1) / micro->mr * micro->mr,
                                 .in_plane = v->in_c * v->in_h * v->in_w,
                                 .out_plane = v->out_c * v->out_h * v->out_w};
    job.base.x = cp->x;
    job.base.out = cp->out;
    job.base.scale = cp->scale;
    job.items_per_sample = (job.tiles + job.span - 1) / job.span;
    job.base.v_xi = FN(winograd_xi_stride)((size_t)strips * (size_t)v->in_c * (size_t)micro->nr);
    job.base.m_xi = FN(winograd_xi_stride)((size_t)job.k_rows * (size_t)job.span);
    ptrdiff_t items;
    if (__builtin_mul_overflow(v->n, job.items_per_sample, &items))
        return LRP_ERR_NOMEM;
    return lrp_parallel_for(items, LRP_ISA_TASK(winograd_one_pass_task), &job, interrupt);
}

/* The wide form, for layers past the one-pass form's reach (512 channels):
 * per sample and block of tile rows, each step over the threads, and the
 * products M_xi^T = V_xi^T U_xi^T with the tiles as the micro-kernel's rows
 * and the output channels as its columns:
 *   V    (xi, input channel, tile) by FN(winograd_input_items), which the
 *        products read in place as V^T, column-major (micro->cols)
 *   U^T  kept as FN(product)'s shared B (FN(winograd_weights_items), b_nr)
 *   M^T  (xi, tile, output channel), turned into the output by groups of a
 *        cache line of channels, each tile's A^T M A in the lanes
 * The tiles are the rows since panels of 8 rows waste fewer lanes than
 * strips of nr (32) columns (a 28x28 layer's 196 tiles take 25 panels, 200
 * rows, against 7 strips, 224 columns; a 14x14 layer's 49 take 56 rows
 * against 64 columns), and V is read in place, not copied into B panels. */

/* The outputs of a group of output channels from M^T, every tile's A^T M A
 * with the channels in the lanes, each step the other forms' (see
 * FN(winograd_tiles_out)): y + beta, or times a. */
#define WIDE_GROUP (64 / (ptrdiff_t)sizeof(T))
static LRP_INLINE lrp_status FN(winograd_wide_output_items)(void *context, ptrdiff_t begin,
                                                            ptrdiff_t end, int worker,
                                                            lrp_team *team)
{
    const FN(winograd) *job = context;
    const lrp_conv_shape *v = job->v;
    const ptrdiff_t h = v->out_h, wd = v->out_w, tw = job->tiles_w, cout = v->out_c;
    const ptrdiff_t plane = h * wd;
    const size_t xs = job->m_xi;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const ptrdiff_t k0 = item * WIDE_GROUP;
        const ptrdiff_t g = cout - k0 < WIDE_GROUP ? cout - k0 : WIDE_GROUP;
        T beta[WIDE_GROUP];
        for (ptrdiff_t ch = 0; ch < g; ch++)
            beta[ch] = job->bias ? job->bias[k0 + ch] : (T)0;
        for (ptrdiff_t t = 0; t < job->tiles; t++) {
            const ptrdiff_t ty = job->ty0 + t / tw, ox = WINOGRAD_M * (t % tw);
            const T *mt = job->m + t * cout + k0;
            T at[WINOGRAD_M * WINOGRAD_P][WIDE_GROUP];
            for (int j = 0; j < WINOGRAD_P; j++) {
                const T *restrict mr[WINOGRAD_P];
                for (int r = 0; r < WINOGRAD_P; r++)
                    mr[r] = mt + (size_t)(WINOGRAD_P * r + j) * xs;
#define DOWN(r) mr[r][ch]
#define INTO_AT(i, y) at[(i) * WINOGRAD_P + j][ch] = (y)
                for (ptrdiff_t ch = 0; ch < g; ch++)
                    WINOGRAD_OUTPUT_1D(DOWN, INTO_AT);
#undef DOWN
#undef INTO_AT
            }
            const ptrdiff_t columns = wd - ox < WINOGRAD_M ? wd - ox : WINOGRAD_M;
            for (int i = 0; i < WINOGRAD_M; i++) {
                const ptrdiff_t oy = WINOGRAD_M * ty + i;
                if (oy >= h)
                    break;
                const T(*s)[WIDE_GROUP] = at + i * WINOGRAD_P;
                /* the row's outputs with the channels in the lanes, then
                 * stored channel by channel (a plane apart) */
                T y[WINOGRAD_M][WIDE_GROUP];
#define ACROSS(j) s[j][ch]
#define INTO_Y(c, v) y[c][ch] = (v)
                for (ptrdiff_t ch = 0; ch < g; ch++)
                    WINOGRAD_OUTPUT_1D(ACROSS, INTO_Y);
                T *o = job->out + k0 * plane + oy * wd + ox;
                if (job->scale) {
                    const T *a = job->scale + k0 * plane + oy * wd + ox;
                    for (ptrdiff_t ch = 0; ch < g; ch++)
                        for (ptrdiff_t c = 0; c < columns; c++)
                            o[ch * plane + c] = a[ch * plane + c] * y[c][ch];
                } else {
                    for (ptrdiff_t ch = 0; ch < g; ch++)
                        for (ptrdiff_t c = 0; c < columns; c++)
                            o[ch * plane + c] = y[c][ch] + beta[ch];
                }
#undef ACROSS
#undef INTO_Y
            }
        }
    }
    return LRP_OK;
}
LRP_ISA_PLAIN_TASKS(winograd_wide_output_task, FN(winograd_wide_output_items))

static const T *FN(wide_a_of)(const FN(product) *p, ptrdiff_t q)
{
    const FN(winograd) *job = p->layer;
    return job->vx + (size_t)q * job->v_xi;
}

static const T *FN(wide_b_of)(const FN(product) *p, ptrdiff_t q)
{
    const FN(winograd) *job = p->layer;
    return job->u + (size_t)q * job->u_stride;
}

static T *FN(wide_c_of)(const FN(product) *p, ptrdiff_t q)
{
    const FN(winograd) *job = p->layer;
    return job->m + (size_t)q * job->m_xi;
}

/* V_xi and M_xi of a block of job->tiles tiles, xi_stride apart; the cols
 * micro-kernel reads up to mr - 1 values past V_xi's last tile: zeros in
 * V_xi's padding, and past V_15 (job->vx holds mr more values). */
static void FN(winograd_wide_strides)(FN(winograd) *job, int mr)
{
    const size_t v_used = (size_t)job->v->in_c * (size_t)job->tiles;
    job->v_xi = FN(winograd_xi_stride)(v_used);
    job->m_xi = FN(winograd_xi_stride)((size_t)job->v->out_c * (size_t)job->tiles);
    for (int xi = 0; xi < WINOGRAD_XI; xi++) {
        T *pad = job->vx + (size_t)xi * job->v_xi + v_used;
        const size_t count = xi + 1 < WINOGRAD_XI ? job->v_xi - v_used : (size_t)mr;
        memset(pad, 0, count * sizeof(T));
    }
}

/* Tile rows per block of the wide form: up to WINOGRAD_BLOCK_PIXELS
 * outputs, and V and M within winograd_wide_bytes where U takes at most
 * four times that (half of L3), since each block reads all of U again; one
 * row at least. Each tile's sums are the same whatever its block. */
static ptrdiff_t FN(winograd_block_rows)(const lrp_conv_shape *v, ptrdiff_t tw)
{
    const ptrdiff_t tile_rows = FN(winograd_tiles_along)(v->out_h);
    ptrdiff_t rows = WINOGRAD_BLOCK_PIXELS / (WINOGRAD_M * WINOGRAD_M) / tw;
    const double budget = lrp_block_sizes().winograd_wide_bytes;
    const double channels = (double)v->in_c + (double)v->out_c;
    const double u_bytes = (double)v->in_c * (double)v->out_c * WINOGRAD_XI * sizeof(T);
    if (budget > 0 && u_bytes <= 4 * budget) {
        const double fit = budget / (channels * WINOGRAD_XI * sizeof(T) * (double)tw);
        rows = fit < (double)rows ? (ptrdiff_t)fit : rows;
    }
    return rows < 1 ? 1 : rows < tile_rows ? rows : tile_rows;
}

/* The wide form over every sample, in blocks of whole tile rows
 * (FN(winograd_block_rows)); job->u holds U^T. */
static lrp_status FN(winograd_wide_run)(FN(winograd) *job, const FN(conv_product) *cp,
                                        const FN(lrp_micro) *micro,
                                        const lrp_interrupt *interrupt)
{
    const lrp_conv_shape *v = job->v;
    const ptrdiff_t tw = job->tiles_w, tile_rows = FN(winograd_tiles_along)(v->out_h);
    const ptrdiff_t block_rows = FN(winograd_block_rows)(v, tw);
    const ptrdiff_t block = block_rows * tw;
    /* V_xi and M_xi of a whole block (the strides FN(winograd_wide_strides)
     * sets for the largest block), all p^2 of each, then the zeros the last
     * problem's last panel may read past V */
    size_t v_xi, m_xi, v_count, m_count;
    if (lrp_checked_count(0, v->in_c, (size_t)block, &v_xi) != LRP_OK ||
        lrp_checked_count(0, v->out_c, (size_t)block, &m_xi) != LRP_OK ||
        lrp_checked_count(micro->mr, WINOGRAD_XI, FN(winograd_xi_stride)(v_xi), &v_count) != LRP_OK ||
        lrp_checked_count(0, WINOGRAD_XI, FN(winograd_xi_stride)(m_xi), &m_count) != LRP_OK ||
        v_count > SIZE_MAX - m_count)
        return LRP_ERR_NOMEM;
    T *scratch = lrp_scratch_alloc(v_count + m_count, sizeof(T));
    if (!scratch)
        return LRP_ERR_NOMEM;
    job->vx = scratch;
    job->m = scratch + v_count;
    const ptrdiff_t in_plane = v->in_c * v->in_h * v->in_w;
    const ptrdiff_t out_plane = v->out_c * v->out_h * v->out_w;
    lrp_status status = LRP_OK;
    for (ptrdiff_t n = 0; n < v->n && status == LRP_OK; n++) {
        job->x = cp->x + n * in_plane;
        job->out = cp->out + n * out_plane;
        job->scale = cp->scale ? cp->scale + n * out_plane : NULL;
        for (job->ty0 = 0; job->ty0 < tile_rows && status == LRP_OK; job->ty0 += block_rows) {
            const ptrdiff_t these = tile_rows - job->ty0 < block_rows ? tile_rows - job->ty0
                                                                     : block_rows;
            job->tiles = these * tw;
            FN(winograd_wide_strides)(job, micro->mr);
            status = lrp_parallel_for(v->in_c, LRP_ISA_TASK(winograd_input_task), job,
                                      interrupt);
            if (status != LRP_OK)
                break;
            FN(product) p = {.problems = WINOGRAD_XI, .m = job->tiles, .n = v->out_c,
                             .k = v->in_c, .combine = PRODUCT_SUM, .a_cols_of = FN(wide_a_of),
                             .lda = job->tiles, .b_of = FN(wide_b_of), .c_of = FN(wide_c_of), .ldc = v->out_c,
                             .layer = job, .interrupt = interrupt, .micro = micro,
                             .chunk = job->chunk};
            status = FN(product_run)(&p);
            if (status == LRP_OK)
                status = lrp_parallel_for((v->out_c + WIDE_GROUP - 1) / WIDE_GROUP,
                                          LRP_ISA_TASK(winograd_wide_output_task), job, interrupt);
        }
    }
    lrp_scratch_free(scratch);
    return status;
}

/* U into data (the cache's build callback: context is the job). */
static lrp_status FN(winograd_weights_build)(void *context, void *data)
{
    FN(winograd) *job = context;
    const lrp_conv_shape *v = job->v;
    job->u = data;
    /* the wide form's B: every column of the last strip, zero past out_c */
    const ptrdiff_t rows = job->b_nr ? (v->out_c + job->b_nr - 1) / job->b_nr * job->b_nr
                                     : v->out_c;
    const ptrdiff_t panels = (rows + job->mr - 1) / job->mr;
    const double weights = (double)v->out_c * (double)v->in_c * WINOGRAD_XI;
    return lrp_parallel_for_upto(panels, (ptrdiff_t)(weights / LRP_MIN_PACK_PER_THREAD),
                                 LRP_ISA_TASK(winograd_weights_task), job, v->interrupt);
}

/* The sum product of a fitting view (FN(conv_winograd_fits)): forward
 * (bias: + beta) or, flipped, the transposed pass (scale: times a), for
 * cp's x, into cp->out, in the one-pass form with `strips` strips per item
 * (FN(winograd_one_pass_strips)) or, with strips 0, the wide form. U comes
 * from the layer's cache when it has one. */
static lrp_status FN(conv_winograd_run)(FN(conv_product) *cp, int kind, T gamma, const T *w,
                                        int flipped, ptrdiff_t strips,
                                        const lrp_interrupt *interrupt)
{
    const lrp_conv_shape *v = &cp->view;
    const FN(lrp_micro) *micro = FN(lrp_micro_for)();
    if (micro->mr > WINOGRAD_LANES) /* the micro-kernels have 8 rows at most */
        return LRP_ERR_ARG;
    const int wide = strips == 0;
    /* U: the one-pass form's A panels of mr output channels, or the wide form's
     * B strips of nr, written in groups of gcd(nr, WINOGRAD_LANES) columns,
     * which never cross a strip's end */
    const int b_nr = wide ? micro->nr : 0;
    int group = WINOGRAD_LANES;
    while (b_nr % group)
        group /= 2;
    size_t u_stride, u_count;
    if ((wide ? lrp_checked_count(0, (v->out_c + b_nr - 1) / b_nr,
                                  (size_t)b_nr * (size_t)v->in_c, &u_stride)
              : FN(packed_a_count)(v->out_c, v->in_c, micro->mr, &u_stride)) != LRP_OK ||
        lrp_checked_count(0, (ptrdiff_t)u_stride, WINOGRAD_XI, &u_count) != LRP_OK)
        return LRP_ERR_NOMEM;
    FN(winograd) job = {.v = v, .w = w, .kind = kind, .flipped = flipped, .gamma = gamma,
                        .tiles_w = FN(winograd_tiles_along)(v->out_w), .u_stride = u_stride, .bias = cp->bias,
                        .mr = wide ? group : micro->mr,
                        .b_nr = b_nr, .chunk = FN(product_chunk)()};
    const lrp_cache_key key = {.form = wide ? LRP_FORM_WINOGRAD_WIDE : LRP_FORM_WINOGRAD,
                               .elem_size = (int)sizeof(T), .isa = (int)lrp_current_isa(),
                               .kind = kind, .gamma = (double)gamma, .flipped = flipped,
                               .mr = wide ? b_nr : micro->mr, .rows = v->out_c,
                               .cols = v->in_c, .groups = 1, .taps = 9,
                               .chunk = wide ? job.chunk : 0, .count = u_count};
    lrp_status status;
    void *own_u;
    const T *kept = lrp_weights_prepared(v->cache, w, &key, FN(winograd_weights_build), &job,
                                         &own_u, &status);
    if (status != LRP_OK)
        return status;
    job.u = (T *)kept; /* read only from here on */
    status = wide ? FN(winograd_wide_run)(&job, cp, micro, interrupt)
                  : FN(winograd_one_pass_run)(&job, cp, strips, micro, interrupt);
    free(own_u);
    return status;
}

#undef WINOGRAD_M
#undef WINOGRAD_P
#undef WINOGRAD_XI
#undef WINOGRAD_BLOCK_PIXELS
#undef WINOGRAD_KERNEL_1D
#undef WINOGRAD_INPUT_1D
#undef WINOGRAD_INPUT_1D_OF
#undef WINOGRAD_OUTPUT_1D
#undef WINOGRAD_LANES
#undef WINOGRAD_ONE_PASS_LEAST
#undef WINOGRAD_ONE_PASS_MOST
#undef WINOGRAD_PREFETCH
#undef WIDE_GROUP

#endif /* LRP_INSTANCE_CONV_WINOGRAD */
