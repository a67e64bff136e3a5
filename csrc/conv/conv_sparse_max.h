/* Conv2d max products of inputs that are mostly zero (Viterbi's absmax
 * and transposed pass, whose inputs are ReLU outputs or relevance ratios),
 * written once against T and FN(), included by conv_products.h; the tier
 * runs for 3x3 float32 layers on AVX-512 (FN(sparse_max_applies)):
 *   out[o, p] = max(max over (i, tap) of |rho(W)|[o, i, tap] * |x|[i, p + tap], 0)
 * then the packed product's epilogue (max with |beta|, or Viterbi's scale).
 * Per sample, each input pixel lists its nonzero values, chunk by chunk of
 * 32 input channels (16 where L1d is under 48 KiB: lrp_block_sizes). An item (a block of SPARSE_MAX_LANES
 * output channels, a band of output rows) walks the input pixels that reach
 * its band: each listed value goes into the nine output pixels it reaches
 * at once (nine taps times two vectors of maxima in registers), which then
 * join the band's maxima in memory; a chunk's weights (32 x 9 x 32 values,
 * 36 KiB) stay in L1 meanwhile. A zero input costs nothing, a pixel with
 * none in a chunk a load.
 * Each list holds its largest values first (those at or above a threshold
 * that about lrp_sparse_max_lead() percent of the sample's nonzero inputs
 * reach). An item runs them first; then a value of the rest goes in only
 * where its product with its channel's largest weight in the block exceeds
 * the least maximum (over lanes) of the nine output pixels it reaches, so
 * most small values cost a multiply and a compare.
 * Every term is one rounded product and max is exact, so this gives the
 * packed product's bits (a zero input adds 0, which max ignores: every term
 * is at least 0; a skipped term is at most a maximum it reaches, as
 * rounding is monotonic). */
#include "kernel/template.h"
#include "kernel/rule_math.h"

#ifndef SEMIRING_LRP_CONV_SPARSE_MAX_SIZES /* once per unit: the same for every T */
#define SEMIRING_LRP_CONV_SPARSE_MAX_SIZES
enum {
    SPARSE_MAX_LANES = 32,       /* output channels per block: two float vectors */
    SPARSE_MAX_CHUNK = 32,       /* input channels per list, at most */
    SPARSE_MAX_TAPS = 9,         /* 3 x 3 */
    SPARSE_MAX_ITEMS = 16,       /* items per sample at least, so that threads share evenly */
    SPARSE_MAX_LIST_PIXELS = 512, /* input pixels per listing item */
    SPARSE_MAX_SAMPLED = 65536    /* inputs at most in the threshold's histogram */
};
#endif

#ifndef LRP_INSTANCE_CONV_SPARSE_MAX /* once per instance */
#define LRP_INSTANCE_CONV_SPARSE_MAX

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/transpose16.h"
#include "kernel/tuning.h"
#include "products/products_inline.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/weight_cache.h"
#if LRP_X86_DISPATCH
#include <immintrin.h>
#endif

/* Whether the max product of the unit-stride convolution view (of the
 * layer or its transposed view) takes this tier: float32 on AVX-512, one
 * group, a 3x3 kernel, a whole block of output channels at least, and the sparse
 * passes switched on (lrp_set_sparse_passes). */
static int FN(sparse_max_applies)(const lrp_conv_shape *v)
{
#if LRP_X86_DISPATCH
    return sizeof(T) == 4 && lrp_current_isa() == LRP_ISA_AVX512 && lrp_sparse_passes() &&
           v->groups == 1 && v->stride_h == 1 && v->stride_w == 1 && v->k_h == 3 &&
           v->k_w == 3 && v->out_c >= SPARSE_MAX_LANES;
#else
    (void)v;
    return 0;
#endif
}

/* The weights as the tier reads them: block b of output channels, chunk c
 * of input channels, input channel i of the chunk, tap t, lane l:
 * |rho(w)| of view output b * LANES + l, view input c * CHUNK + i, tap t
 * (flipped: the layer's weight of output channel = view input, input
 * channel = view output, the kernel turned by 180 degrees); 0 past the
 * channels. Then the peaks: [b][c][i], the largest of input i's weights in
 * block b (over taps and lanes). */
typedef struct {
    const lrp_conv_shape *v;
    const T *w;
    int kind, flipped;
    T gamma;
    T *prepared, *peaks;
    ptrdiff_t blocks, chunks, chunk, taps;
} FN(sparse_max_weights);

static lrp_status FN(sparse_max_weights_task)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                              int worker, lrp_team *team)
{
    const FN(sparse_max_weights) *job = context;
    (void)worker, (void)team;
    const lrp_conv_shape *v = job->v;
    const ptrdiff_t taps = job->taps, block_size = job->chunks * taps * job->chunk *
                                                   SPARSE_MAX_LANES;
    for (ptrdiff_t b = begin; b < end; b++) {
        T *dst = job->prepared + b * block_size;
        memset(dst, 0, (size_t)block_size * sizeof(T));
        const ptrdiff_t o0 = b * SPARSE_MAX_LANES;
        const ptrdiff_t lanes = v->out_c - o0 < SPARSE_MAX_LANES ? v->out_c - o0 : SPARSE_MAX_LANES;
        /* inputs outermost: each of the block's 32 rows of w (flipped: one
         * run of w) is read in order */
        for (ptrdiff_t i = 0; i < v->in_c; i++)
            for (ptrdiff_t l = 0; l < lanes; l++)
                for (ptrdiff_t t = 0; t < taps; t++) {
                    const ptrdiff_t o = o0 + l;
                    /* the layer's w is (out_c, in_c, k_h, k_w); flipped, its
                     * out_c is the view's in_c */
                    const T value = job->flipped ? job->w[(i * v->out_c + o) * taps + taps - 1 - t]
                                                 : job->w[(o * v->in_c + i) * taps + t];
                    const ptrdiff_t c = i / job->chunk, ci = i % job->chunk;
                    dst[((c * job->chunk + ci) * taps + t) * SPARSE_MAX_LANES + l] =
                        FN(absolute)(FN(rho)(job->kind, job->gamma, value));
                }
        T *peak = job->peaks + b * job->chunks * job->chunk;
        for (ptrdiff_t i = 0; i < job->chunks * job->chunk; i++) {
            const T *row = dst + i * taps * SPARSE_MAX_LANES;
            T largest = 0;
            for (ptrdiff_t e = 0; e < taps * SPARSE_MAX_LANES; e++)
                largest = row[e] > largest ? row[e] : largest;
            peak[i] = largest;
        }
    }
    return LRP_OK;
}

static lrp_status FN(sparse_max_weights_build)(void *context, void *data)
{
    FN(sparse_max_weights) *job = context;
    job->prepared = data;
    job->peaks = job->prepared + job->blocks * job->chunks * job->taps * job->chunk *
                                     SPARSE_MAX_LANES;
    const double values = (double)job->v->out_c * (double)job->v->in_c * (double)job->taps;
    return lrp_parallel_for_upto(job->blocks, (ptrdiff_t)(values / LRP_MIN_PACK_PER_THREAD),
                                 FN(sparse_max_weights_task), job, job->v->interrupt);
}

/* One call: the view, its input x, prepared weights, the per-sample lists
 * and the epilogue's operands (as FN(conv_product)'s). */
typedef struct {
    const lrp_conv_shape *v;
    const T *x;
    const T *weights, *peaks;
    ptrdiff_t blocks, chunk, chunks, taps, in_plane, out_plane;
    uint16_t *counts;  /* [chunk][input pixel] */
    uint16_t *leads;   /* the same: how many of them are at or above threshold */
    T *values;         /* [chunk][input pixel][CHUNK]: the nonzero |x| first, those at
                        * or above threshold before the rest */
    uint16_t *offsets; /* the same: where its channel's weights start in the chunk's */
    ptrdiff_t n;       /* the sample being run */
    float threshold;   /* sample n's: 0 puts every nonzero value first */
    ptrdiff_t bands, band_rows, buffer_values, anchors; /* items per block; each one's
                                                         * maxima, anchor pixels */
    T *out;
    const T *bias, *scale, *cap;
} FN(sparse_max);

#if LRP_X86_DISPATCH
/* Appends the values of v that take selects (and their offsets) to a
 * pixel's list of count values; the new count. */
LRP_TARGET_AVX512 static inline int FN(sparse_max_put_avx512)(float *values, uint16_t *offsets,
                                                             int count, __mmask16 take,
                                                             __m512 v, __m512i offset)
{
    const int taken = __builtin_popcount(take);
    const __mmask16 front = (__mmask16)((1u << taken) - 1);
    _mm512_mask_storeu_ps(values + count, front, _mm512_maskz_compress_ps(take, v));
    _mm256_mask_storeu_epi16(offsets + count, front,
                             _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(take, offset)));
    return count + taken;
}

/* The nonzero |x| of pixels [q0, q1) of chunk c, 16 pixels at a time: their
 * channels read along the rows, turned, and each pixel's nonzero values
 * (and their offsets) compressed into its chunk slots, 16 channels at a
 * time: those at or above the threshold, then the rest. */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(sparse_max_list_avx512)(
    const FN(sparse_max) *sm, const T *x, ptrdiff_t c, ptrdiff_t q0, ptrdiff_t q1,
    ptrdiff_t channels)
{
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_set1_epi32(SPARSE_MAX_TAPS * SPARSE_MAX_LANES);
    const __m512i offsets_low = _mm512_mullo_epi32(lanes, step);
    const __m512i offsets_high = _mm512_mullo_epi32(_mm512_add_epi32(lanes, _mm512_set1_epi32(16)), step);
    const float *rows = (const float *)x + c * sm->chunk * sm->in_plane;
    const __m512 threshold = _mm512_set1_ps(sm->threshold);
    for (ptrdiff_t q = q0; q < q1; q += 16) {
        const ptrdiff_t pixels = q1 - q < 16 ? q1 - q : 16;
        const __mmask16 live = (__mmask16)(pixels == 16 ? 0xFFFF : (1u << pixels) - 1);
        const int halves = sm->chunk > 16 ? 2 : 1;
        __m512 turned[2][16];
        for (int half = 0; half < halves; half++) {
            __m512 r[16];
            for (int l = 0; l < 16; l++) {
                const ptrdiff_t i = half * 16 + l;
                r[l] = i < channels ? _mm512_maskz_loadu_ps(live, rows + i * sm->in_plane + q)
                                    : _mm512_setzero_ps();
            }
            lrp_transpose16_f32(r, turned[half]);
        }
        for (ptrdiff_t p = 0; p < pixels; p++) {
            float *values = (float *)sm->values + (c * sm->in_plane + q + p) * sm->chunk;
            uint16_t *offsets = sm->offsets + (c * sm->in_plane + q + p) * sm->chunk;
            const __m512 low = _mm512_abs_ps(turned[0][p]);
            const __m512 high = halves == 2 ? _mm512_abs_ps(turned[1][p]) : _mm512_setzero_ps();
            /* NaN is nonzero and not at or above the threshold */
            const __mmask16 nonzero_low = _mm512_cmp_ps_mask(low, _mm512_setzero_ps(), _CMP_NEQ_UQ);
            const __mmask16 nonzero_high =
                _mm512_cmp_ps_mask(high, _mm512_setzero_ps(), _CMP_NEQ_UQ);
            const __mmask16 lead_low = _mm512_mask_cmp_ps_mask(nonzero_low, low, threshold,
                                                               _CMP_GE_OQ);
            const __mmask16 lead_high = _mm512_mask_cmp_ps_mask(nonzero_high, high, threshold,
                                                                _CMP_GE_OQ);
            int count = FN(sparse_max_put_avx512)(values, offsets, 0, lead_low, low, offsets_low);
            count = FN(sparse_max_put_avx512)(values, offsets, count, lead_high, high,
                                              offsets_high);
            sm->leads[c * sm->in_plane + q + p] = (uint16_t)count;
            count = FN(sparse_max_put_avx512)(values, offsets, count,
                                              (__mmask16)(nonzero_low & ~lead_low), low,
                                              offsets_low);
            count = FN(sparse_max_put_avx512)(values, offsets, count,
                                              (__mmask16)(nonzero_high & ~lead_high), high,
                                              offsets_high);
            sm->counts[c * sm->in_plane + q + p] = (uint16_t)count;
        }
    }
}
#endif

/* Lists the nonzero |x| of sample n, input pixels of one item. */
static lrp_status FN(sparse_max_list_task)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                           int worker, lrp_team *team)
{
    const FN(sparse_max) *sm = context;
    (void)worker, (void)team;
    const ptrdiff_t per_chunk = (sm->in_plane + SPARSE_MAX_LIST_PIXELS - 1) / SPARSE_MAX_LIST_PIXELS;
    const T *x = sm->x + sm->n * sm->v->in_c * sm->in_plane;
    for (ptrdiff_t item = begin; item < end; item++) {
        const ptrdiff_t c = item / per_chunk, q0 = item % per_chunk * SPARSE_MAX_LIST_PIXELS;
        const ptrdiff_t q1 = sm->in_plane - q0 < SPARSE_MAX_LIST_PIXELS ? sm->in_plane
                                                                        : q0 + SPARSE_MAX_LIST_PIXELS;
        const ptrdiff_t i0 = c * sm->chunk;
        const ptrdiff_t channels = sm->v->in_c - i0 < sm->chunk ? sm->v->in_c - i0 : sm->chunk;
        /* only float32 on AVX-512 takes the tier (FN(sparse_max_applies)) */
#if LRP_X86_DISPATCH
        FN(sparse_max_list_avx512)(sm, x, c, q0, q1, channels);
#else
        (void)x, (void)c, (void)q0, (void)q1, (void)channels;
#endif
    }
    return LRP_OK;
}

/* The band's maxima start at 0 in `max`, whose pixels are anchors: the
 * input pixel at tap (0, 0) of an output pixel, from (first - 2 dil_h, -2
 * dil_w), (rows + 2 dil_h) x (in_w + 2 dil_w) of them, LANES values each;
 * input pixel (iy, ix) reaches anchor (iy - ky dil_h, ix - kx dil_w) at tap
 * (ky, kx). Rows [first, first + rows) of input pixels reach the band.
 * Without bound, each list's values at or above the threshold go in; with
 * it, the rest, where value * peak exceeds the pixel's bound (the least
 * maximum it reaches: FN(sparse_max_bound_avx512)). */
#if LRP_X86_DISPATCH
/* value times its weights of the nine taps (w: its channel's, tap by tap,
 * LANES each) into the maxima lo, hi */
#define SPARSE_MAX_TAKE(value, w, lo, hi)                                                    \
    do {                                                                                     \
        const __m512 x_ = _mm512_set1_ps(value);                                             \
        LRP_UNROLL_ROWS                                                                      \
        for (int t_ = 0; t_ < SPARSE_MAX_TAPS; t_++) {                                       \
            lo[t_] = _mm512_max_ps(lo[t_], _mm512_mul_ps(x_, _mm512_load_ps(w + t_ * SPARSE_MAX_LANES)));      \
            hi[t_] = _mm512_max_ps(hi[t_], _mm512_mul_ps(x_, _mm512_load_ps(w + t_ * SPARSE_MAX_LANES + 16))); \
        }                                                                                    \
    } while (0)

/* Which of a list's values [begin, begin + 16) (before end) may raise a
 * maximum: value * peak of its channel not at most least (NaN is kept). An
 * offset / (TAPS * LANES) is its channel: (offset * 7282) >> 21 for every
 * offset below 32 * TAPS * LANES. */
LRP_TARGET_AVX512 static inline __mmask16 FN(sparse_max_keep_avx512)(
    const float *value, const uint16_t *offset, int begin, int end, __m512 peaks_low,
    __m512 peaks_high, __m512 least)
{
    if (begin >= end)
        return 0;
    const __mmask16 live = (__mmask16)(end - begin >= 16 ? 0xFFFF : (1u << (end - begin)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(live, value + begin);
    const __m512i at = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(live, offset + begin));
    const __m512i channel = _mm512_srli_epi32(_mm512_mullo_epi32(at, _mm512_set1_epi32(7282)), 21);
    const __m512 peak = _mm512_permutex2var_ps(peaks_low, channel, peaks_high);
    return _mm512_mask_cmp_ps_mask(live, _mm512_mul_ps(x, peak), least, _CMP_NLE_UQ);
}

LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(sparse_max_band_avx512)(
    const FN(sparse_max) *sm, ptrdiff_t b, ptrdiff_t first, ptrdiff_t rows, float *max,
    const float *bound)
{
    const lrp_conv_shape *v = sm->v;
    const ptrdiff_t columns = v->in_w + 2 * v->dil_w;
    ptrdiff_t reach[SPARSE_MAX_TAPS]; /* from an input pixel's anchor (0, 0) to tap t's */
    for (int t = 0; t < SPARSE_MAX_TAPS; t++)
        reach[t] = -((t / 3) * v->dil_h * columns + (t % 3) * v->dil_w) * SPARSE_MAX_LANES;
    const ptrdiff_t chunk_size = sm->chunk * SPARSE_MAX_TAPS * SPARSE_MAX_LANES;
    const __mmask16 chunk_high = (__mmask16)(sm->chunk > 16 ? (1u << (sm->chunk - 16)) - 1 : 0);
    for (ptrdiff_t c = 0; c < sm->chunks; c++) {
        const float *chunk_w = (const float *)sm->weights + (b * sm->chunks + c) * chunk_size;
        const uint16_t *counts = sm->counts + c * sm->in_plane;
        const float *values = (const float *)sm->values + c * sm->in_plane * sm->chunk;
        const uint16_t *offsets = sm->offsets + c * sm->in_plane * sm->chunk;
        const uint16_t *leads = sm->leads + c * sm->in_plane;
        const float *peaks = (const float *)sm->peaks + (b * sm->chunks + c) * sm->chunk;
        const __m512 peaks_low = _mm512_loadu_ps(peaks);
        const __m512 peaks_high = _mm512_maskz_loadu_ps(chunk_high, peaks + 16);
        for (ptrdiff_t iy = first; iy < first + rows; iy++)
            for (ptrdiff_t ix = 0; ix < v->in_w; ix++) {
                const ptrdiff_t q = iy * v->in_w + ix;
                const float *value = values + q * sm->chunk;
                const uint16_t *offset = offsets + q * sm->chunk;
                __m512 lo[SPARSE_MAX_TAPS], hi[SPARSE_MAX_TAPS];
                if (!bound) {
                    const int lead = leads[q];
                    if (lead == 0)
                        continue;
                    LRP_UNROLL_ROWS
                    for (int t = 0; t < SPARSE_MAX_TAPS; t++)
                        lo[t] = hi[t] = _mm512_setzero_ps();
                    for (int e = 0; e < lead; e++)
                        SPARSE_MAX_TAKE(value[e], (chunk_w + offset[e]), lo, hi);
                } else {
                    const int begin = leads[q], end = counts[q];
                    if (begin == end)
                        continue;
                    const __m512 least = _mm512_set1_ps(bound[(iy - first) * v->in_w + ix]);
                    const uint32_t keep =
                        (uint32_t)FN(sparse_max_keep_avx512)(value, offset, begin, end, peaks_low,
                                                            peaks_high, least) |
                        (uint32_t)FN(sparse_max_keep_avx512)(value, offset, begin + 16, end,
                                                            peaks_low, peaks_high, least) << 16;
                    if (!keep)
                        continue;
                    LRP_UNROLL_ROWS
                    for (int t = 0; t < SPARSE_MAX_TAPS; t++)
                        lo[t] = hi[t] = _mm512_setzero_ps();
                    for (uint32_t left = keep; left; left &= left - 1) {
                        const int e = begin + __builtin_ctz(left);
                        SPARSE_MAX_TAKE(value[e], (chunk_w + offset[e]), lo, hi);
                    }
                }
                /* anchor (iy, ix) sits at buffer pixel (iy - first + 2 dil_h, ix + 2 dil_w) */
                float *anchor = max + ((iy - first + 2 * v->dil_h) * columns + ix + 2 * v->dil_w) *
                                          SPARSE_MAX_LANES;
                LRP_UNROLL_ROWS
                for (int t = 0; t < SPARSE_MAX_TAPS; t++) {
                    float *m = anchor + reach[t];
                    _mm512_store_ps(m, _mm512_max_ps(_mm512_load_ps(m), lo[t]));
                    _mm512_store_ps(m + 16, _mm512_max_ps(_mm512_load_ps(m + 16), hi[t]));
                }
            }
    }
}
#undef SPARSE_MAX_TAKE

/* bound[(iy - first) * in_w + ix]: the least of the band's maxima over the
 * block's first `lanes` lanes and the nine anchors input pixel (iy, ix) reaches, where
 * only anchors of the item's outputs (rows [oy0, oy1)) count; +inf where it
 * reaches none. least: one value per anchor, scratch. */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(sparse_max_bound_avx512)(
    const FN(sparse_max) *sm, ptrdiff_t lanes, ptrdiff_t oy0, ptrdiff_t oy1, ptrdiff_t first,
    ptrdiff_t rows, const float *max, float *least, float *bound)
{
    const lrp_conv_shape *v = sm->v;
    const ptrdiff_t columns = v->in_w + 2 * v->dil_w;
    const __mmask16 low = (__mmask16)(lanes >= 16 ? 0xFFFF : (1u << lanes) - 1);
    const __mmask16 high = (__mmask16)(lanes <= 16 ? 0 : (1u << (lanes - 16)) - 1);
    const __m512 none = _mm512_set1_ps(INFINITY);
    for (ptrdiff_t by = 0; by < rows + 2 * v->dil_h; by++) {
        const ptrdiff_t oy = by + first - 2 * v->dil_h + v->pad_h;
        for (ptrdiff_t bx = 0; bx < columns; bx++) {
            const ptrdiff_t ox = bx - 2 * v->dil_w + v->pad_w;
            if (oy < oy0 || oy >= oy1 || ox < 0 || ox >= v->out_w) {
                least[by * columns + bx] = INFINITY;
                continue;
            }
            const float *m = max + (by * columns + bx) * SPARSE_MAX_LANES;
            least[by * columns + bx] = _mm512_reduce_min_ps(
                _mm512_min_ps(_mm512_mask_load_ps(none, low, m),
                              _mm512_mask_load_ps(none, high, m + 16)));
        }
    }
    for (ptrdiff_t iy = first; iy < first + rows; iy++)
        for (ptrdiff_t ix = 0; ix < v->in_w; ix++) {
            const float *anchor = least + (iy - first + 2 * v->dil_h) * columns + ix + 2 * v->dil_w;
            float smallest = INFINITY;
            for (ptrdiff_t ky = 0; ky < 3; ky++)
                for (ptrdiff_t kx = 0; kx < 3; kx++) {
                    const float m = anchor[-(ky * v->dil_h * columns + kx * v->dil_w)];
                    smallest = m < smallest ? m : smallest;
                }
            bound[(iy - first) * v->in_w + ix] = smallest;
        }
}
#endif

#if LRP_X86_DISPATCH
/* 16 anchors' lanes (m: 16 pixels of LANES values) to 16 values of each of
 * the first `lanes` lanes' rows (out, rows lane_step apart), 16 x 16 at a
 * time turned in registers. */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(sparse_max_write_avx512)(
    const float *m, float *out, ptrdiff_t lane_step, ptrdiff_t lanes)
{
    for (ptrdiff_t half = 0; half * 16 < lanes; half++) {
        __m512 r[16], turned[16];
        for (int p = 0; p < 16; p++)
            r[p] = _mm512_load_ps(m + p * SPARSE_MAX_LANES + half * 16);
        lrp_transpose16_f32(r, turned);
        for (ptrdiff_t l = 0; l < 16 && half * 16 + l < lanes; l++)
            _mm512_storeu_ps(out + (half * 16 + l) * lane_step, turned[l]);
    }
}
#endif

/* The items of sample sm->n: (block of output channels, band of output
 * rows), each written to out with the epilogue of FN(conv_finish). */
static lrp_status FN(sparse_max_bands_task)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                            int worker, lrp_team *team)
{
    const FN(sparse_max) *sm = context;
    (void)worker, (void)team;
    const lrp_conv_shape *v = sm->v;
    /* the maxima, then one value per anchor twice (FN(sparse_max_bound_avx512)) */
    float *max = lrp_scratch_alloc((size_t)(sm->buffer_values + 2 * sm->anchors), sizeof(float));
    if (!max)
        return LRP_ERR_NOMEM;
    const ptrdiff_t columns = v->in_w + 2 * v->dil_w;
    lrp_status status = LRP_OK;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_interrupted(v->interrupt)) {
            status = LRP_ERR_INTERRUPTED;
            break;
        }
        const ptrdiff_t b = item / sm->bands, oy0 = item % sm->bands * sm->band_rows;
        const ptrdiff_t oy1 = v->out_h - oy0 < sm->band_rows ? v->out_h : oy0 + sm->band_rows;
        /* the input rows that reach output rows [oy0, oy1) */
        const ptrdiff_t first = oy0 - v->pad_h > 0 ? oy0 - v->pad_h : 0;
        const ptrdiff_t last = oy1 - v->pad_h + 2 * v->dil_h < v->in_h
                                   ? oy1 - v->pad_h + 2 * v->dil_h : v->in_h;
        const ptrdiff_t rows = last > first ? last - first : 0;
        const ptrdiff_t anchors = (rows + 2 * v->dil_h) * columns;
        memset(max, 0, (size_t)(anchors * SPARSE_MAX_LANES) * sizeof(float));
        const ptrdiff_t o0 = b * SPARSE_MAX_LANES;
        const ptrdiff_t lanes = v->out_c - o0 < SPARSE_MAX_LANES ? v->out_c - o0 : SPARSE_MAX_LANES;
#if LRP_X86_DISPATCH
        FN(sparse_max_band_avx512)(sm, b, first, rows, max, NULL);
        if (sm->threshold > 0) {
            float *least = max + sm->buffer_values, *bound = least + sm->anchors;
            FN(sparse_max_bound_avx512)(sm, lanes, oy0, oy1, first, rows, max, least, bound);
            FN(sparse_max_band_avx512)(sm, b, first, rows, max, bound);
        }
#endif
        for (ptrdiff_t oy = oy0; oy < oy1; oy++) {
            const ptrdiff_t at = ((sm->n * v->out_c + o0) * v->out_h + oy) * v->out_w;
            const ptrdiff_t lane_step = v->out_h * v->out_w; /* from a lane's row to the next's */
            /* output (oy, ox) is anchor (oy - pad_h, ox - pad_w); one no
             * input reaches (past a padding wider than the taps' reach) is
             * outside the buffer and 0. */
            const ptrdiff_t by = oy - v->pad_h - first + 2 * v->dil_h;
            const int row_inside = by >= 0 && by < rows + 2 * v->dil_h;
            for (ptrdiff_t ox0 = 0; ox0 < v->out_w; ox0 += 16) {
                const ptrdiff_t ox1 = v->out_w - ox0 < 16 ? v->out_w : ox0 + 16;
                const ptrdiff_t bx0 = ox0 - v->pad_w + 2 * v->dil_w;
                const ptrdiff_t bx1 = ox1 - v->pad_w + 2 * v->dil_w;
                if (row_inside && bx0 >= 0 && bx1 <= columns) {
                    /* 16 pixels' lanes (2 KiB, in L1) to 16 values of each lane's row */
                    const float *m = max + (by * columns + bx0) * SPARSE_MAX_LANES;
#if LRP_X86_DISPATCH
                    if (sizeof(T) == sizeof(float) && ox1 - ox0 == 16) {
                        FN(sparse_max_write_avx512)(m, (float *)(sm->out + at + ox0), lane_step,
                                                    lanes);
                        continue;
                    }
#endif
                    for (ptrdiff_t l = 0; l < lanes; l++) {
                        T *out = sm->out + at + l * lane_step;
                        for (ptrdiff_t ox = ox0; ox < ox1; ox++)
                            out[ox] = (T)m[(ox - ox0) * SPARSE_MAX_LANES + l];
                    }
                    continue;
                }
                for (ptrdiff_t ox = ox0; ox < ox1; ox++) {
                    const ptrdiff_t bx = ox - v->pad_w + 2 * v->dil_w;
                    const int inside = row_inside && bx >= 0 && bx < columns;
                    for (ptrdiff_t l = 0; l < lanes; l++)
                        sm->out[at + l * lane_step + ox] =
                            inside ? (T)max[(by * columns + bx) * SPARSE_MAX_LANES + l] : 0;
                }
            }
            for (ptrdiff_t l = 0; l < lanes; l++) {
                T *row = sm->out + at + l * lane_step;
                if (sm->bias) {
                    const T beta = sm->bias[o0 + l];
                    for (ptrdiff_t ox = 0; ox < v->out_w; ox++)
                        row[ox] = beta > row[ox] ? beta : row[ox];
                } else {
                    FN(viterbi_scale)(row, sm->scale + at + l * lane_step, 0, v->out_w,
                                      sm->cap[sm->n]);
                }
            }
        }
    }
    lrp_scratch_free(max);
    return status;
}

/* The threshold of sample x's lists (count values): the least value of the
 * histogram bin (|x|'s exponent and two leading fraction bits) from which
 * up, in a sample of at most SPARSE_MAX_SAMPLED of the nonzero values,
 * `percent` of them lie. +inf where percent is 0 or the sample is all zero,
 * 0 (no second pass) where percent is 100. */
static float FN(sparse_max_threshold)(const T *x, ptrdiff_t count, int percent)
{
    if (percent >= 100)
        return 0;
    uint32_t bins[1024] = {0};
    uint64_t nonzero = 0;
    const ptrdiff_t stride = count / SPARSE_MAX_SAMPLED + 1;
    for (ptrdiff_t i = 0; i < count; i += stride) {
        const float value = (float)FN(absolute)(x[i]);
        uint32_t bits;
        memcpy(&bits, &value, sizeof bits);
        if (bits) {
            bins[bits >> 21]++;
            nonzero++;
        }
    }
    const uint64_t wanted = (nonzero * (uint64_t)percent + 99) / 100;
    if (wanted == 0)
        return INFINITY;
    uint64_t seen = 0;
    for (uint32_t bin = 1023; bin > 0; bin--) {
        seen += bins[bin];
        if (seen >= wanted) {
            const uint32_t bits = bin << 21;
            float threshold;
            memcpy(&threshold, &bits, sizeof threshold);
            return threshold;
        }
    }
    return 0;
}

/* out = the max product of view v (FN(sparse_max_applies)) over its input
 * x, with kind's |rho(w)| (flipped: of the transposed view), then max with
 * bias (absmax) or Viterbi's scale by |scale| capped at cap per sample. */
static lrp_status FN(sparse_max_run)(const lrp_conv_shape *v, int kind, T gamma, const T *w,
                                     int flipped, const T *x, const T *bias, const T *scale,
                                     const T *cap, T *out)
{
    const ptrdiff_t taps = v->k_h * v->k_w;
    FN(sparse_max) sm = {.v = v, .x = x, .taps = taps, .in_plane = v->in_h * v->in_w,
                         .out_plane = v->out_h * v->out_w, .out = out, .bias = bias,
                         .scale = scale, .cap = cap};
    sm.blocks = (v->out_c + SPARSE_MAX_LANES - 1) / SPARSE_MAX_LANES;
    sm.chunk = lrp_block_sizes().sparse_max_chunk;
    sm.chunks = (v->in_c + sm.chunk - 1) / sm.chunk;
    sm.bands = (SPARSE_MAX_ITEMS + sm.blocks - 1) / sm.blocks;
    sm.bands = sm.bands < v->out_h ? sm.bands : v->out_h;
    sm.band_rows = (v->out_h + sm.bands - 1) / sm.bands;
    sm.bands = (v->out_h + sm.band_rows - 1) / sm.band_rows;
    /* a band's input rows: its own, and 2 dil_h more */
    size_t anchors;
    if (lrp_checked_count(0, sm.band_rows + 4 * v->dil_h, (size_t)(v->in_w + 2 * v->dil_w),
                          &anchors) != LRP_OK ||
        lrp_checked_count(0, (ptrdiff_t)anchors, SPARSE_MAX_LANES, &anchors) != LRP_OK ||
        anchors > PTRDIFF_MAX)
        return LRP_ERR_NOMEM;
    sm.buffer_values = (ptrdiff_t)anchors;
    sm.anchors = sm.buffer_values / SPARSE_MAX_LANES;
    size_t weights, listed;
    if (lrp_checked_count(0, sm.blocks * sm.chunks * taps,
                          (size_t)(sm.chunk * SPARSE_MAX_LANES), &weights) != LRP_OK ||
        lrp_checked_count(0, sm.chunks * sm.chunk, (size_t)sm.in_plane, &listed) != LRP_OK)
        return LRP_ERR_NOMEM;
    FN(sparse_max_weights) job = {.v = v, .w = w, .kind = kind, .flipped = flipped,
                                  .gamma = gamma, .blocks = sm.blocks, .chunks = sm.chunks,
                                  .chunk = sm.chunk, .taps = taps};
    const lrp_cache_key key = {.form = LRP_FORM_SPARSE_MAX, .elem_size = (int)sizeof(T),
                               .isa = (int)lrp_current_isa(), .kind = kind,
                               .gamma = (double)gamma, .flipped = flipped, .absolute = 1,
                               .mr = SPARSE_MAX_LANES, .rows = v->out_c,
                               .cols = v->in_c * taps, .groups = 1, .taps = taps,
                               .chunk = sm.chunk,
                               .count = weights + (size_t)(sm.blocks * sm.chunks * sm.chunk)};
    void *own = NULL;
    lrp_status status = LRP_OK;
    sm.weights = lrp_weights_prepared(v->cache, w, &key, FN(sparse_max_weights_build), &job,
                                      &own, &status);
    if (!sm.weights)
        return status;
    sm.peaks = sm.weights + weights;
    /* values (T, aligned) then offsets, counts and leads (16 bits each), not
     * zeroed: a pixel's first count values, all that is read, are listed
     * before any band reads them */
    unsigned char *lists =
        listed <= SIZE_MAX / 16 ? lrp_scratch_alloc(listed * sizeof(T) + listed * 2 +
                                                        (size_t)(sm.chunks * sm.in_plane) * 4, 1)
                                : NULL;
    if (!lists) {
        free(own);
        return LRP_ERR_NOMEM;
    }
    sm.values = (T *)lists;
    sm.offsets = (uint16_t *)(lists + listed * sizeof(T));
    sm.counts = sm.offsets + listed;
    sm.leads = sm.counts + sm.chunks * sm.in_plane;
    const ptrdiff_t list_items =
        sm.chunks * ((sm.in_plane + SPARSE_MAX_LIST_PIXELS - 1) / SPARSE_MAX_LIST_PIXELS);
    /* a pixel's share of work: its taps' nonzero inputs times its lanes */
    const double pairs = (double)sm.out_plane * (double)v->in_c * (double)taps *
                         (double)(sm.blocks * SPARSE_MAX_LANES) / 2;
    const int lead = lrp_sparse_max_lead();
    for (sm.n = 0; sm.n < v->n && status == LRP_OK; sm.n++) {
        sm.threshold = FN(sparse_max_threshold)(x + sm.n * v->in_c * sm.in_plane,
                                                v->in_c * sm.in_plane, lead);
        status = lrp_parallel_for_upto(list_items, list_items, FN(sparse_max_list_task), &sm,
                                       v->interrupt);
        if (status == LRP_OK)
            status = lrp_parallel_for_upto(sm.blocks * sm.bands,
                                           (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                           FN(sparse_max_bands_task), &sm, v->interrupt);
    }
    lrp_scratch_free(lists);
    free(own);
    return status;
}

#endif /* LRP_INSTANCE_CONV_SPARSE_MAX */
