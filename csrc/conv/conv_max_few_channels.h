/* Viterbi's transposed max product for layers of few input channels (z^B's
 * first layer, stacked twice: 6), written once against T and FN(),
 * included by conv_products.h:
 *   R_in[c, y, x] = |a| * max over k, dy, dx of
 *                   |rho(w[k, c, dy, dx])| q[k, y + pad_h - dy, x + pad_w - dx],
 * capped per sample (FN(viterbi_scale)), for unit stride and dilation and
 * one group. The packed product would build an im2col of q with
 * out_c * k_h * k_w rows to fill so few output rows; here 16 pixels of an
 * input row take their terms tap by tap from q in place, every channel's
 * maxima side by side. Each term is one rounded product and a maximum is
 * exact in any order, so R_in is the product's bit for bit. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_CONV_MAX_FEW_CHANNELS /* once per instance */
#define LRP_INSTANCE_CONV_MAX_FEW_CHANNELS

#include <stddef.h>
#include <stdlib.h>

#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/products_inline.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"

#define FEW_CHANNELS_MAX 8 /* input channels at most */
#define FEW_CHANNELS_LANES 16

static int FN(max_few_channels_applies)(const lrp_conv_shape *s)
{
    return s->in_c <= FEW_CHANNELS_MAX && s->groups == 1 && s->stride_h == 1 &&
           s->stride_w == 1 && s->dil_h == 1 && s->dil_w == 1;
}

typedef struct {
    const lrp_conv_shape *s;
    const T *weights; /* |rho(w)| as [k][dy][dx][c] */
    const T *q, *a, *cap;
    T *r_in;
} FN(max_few_channels);

/* 16 terms of one tap into every channel's maxima. */
static LRP_INLINE void FN(max_few_channels_terms)(const T *restrict term, const T *restrict wc,
                                                  const int channels,
                                                  T (*restrict best)[FEW_CHANNELS_LANES])
{
    for (int c = 0; c < channels; c++) {
        const T weight = wc[c];
        LRP_LANE_LOOP
        for (int l = 0; l < FEW_CHANNELS_LANES; l++) {
            const T v = weight * term[l];
            best[c][l] = v > best[c][l] ? v : best[c][l];
        }
    }
}

/* Row y of every input channel of sample n; `channels` is s->in_c, a
 * constant at each call, so that the maxima stay in registers. */
static LRP_INLINE void FN(max_few_channels_row)(const FN(max_few_channels) *p, ptrdiff_t n,
                                                ptrdiff_t y, const int channels)
{
    enum { LANES = FEW_CHANNELS_LANES };
    const lrp_conv_shape *s = p->s;
    const ptrdiff_t plane = s->out_h * s->out_w;
    for (ptrdiff_t x0 = 0; x0 < s->in_w; x0 += LANES) {
        T best[FEW_CHANNELS_MAX][LANES];
        for (int c = 0; c < channels; c++)
            for (int l = 0; l < LANES; l++)
                best[c][l] = 0;
        for (ptrdiff_t k = 0; k < s->out_c; k++) {
            const T *qk = p->q + (n * s->out_c + k) * plane;
            for (ptrdiff_t dy = 0; dy < s->k_h; dy++) {
                const ptrdiff_t oy = y + s->pad_h - dy;
                if (oy < 0 || oy >= s->out_h)
                    continue;
                const T *qrow = qk + oy * s->out_w;
                const T *wk = p->weights + (k * s->k_h + dy) * s->k_w * channels;
                for (ptrdiff_t dx = 0; dx < s->k_w; dx++) {
                    const ptrdiff_t ox0 = x0 + s->pad_w - dx;
                    const T *wc = wk + dx * channels;
                    if (ox0 >= 0 && ox0 <= s->out_w - LANES) {
                        FN(max_few_channels_terms)(qrow + ox0, wc, channels, best);
                    } else {
                        /* outside the output grid a term is 0, which no maximum of
                         * values >= 0 notices */
                        T edge[LANES];
                        for (int l = 0; l < LANES; l++)
                            edge[l] = ox0 + l >= 0 && ox0 + l < s->out_w ? qrow[ox0 + l] : (T)0;
                        FN(max_few_channels_terms)(edge, wc, channels, best);
                    }
                }
            }
        }
        const ptrdiff_t width = s->in_w - x0 < LANES ? s->in_w - x0 : LANES;
        for (int c = 0; c < channels; c++) {
            const ptrdiff_t at = ((n * channels + c) * s->in_h + y) * s->in_w;
            T *row = p->r_in + at;
            for (ptrdiff_t l = 0; l < width; l++)
                row[x0 + l] = best[c][l];
            FN(viterbi_scale)(row, p->a + at, x0, x0 + width, p->cap[n]);
        }
    }
}

/* items: (sample, input row) pairs */
static LRP_INLINE lrp_status FN(max_few_channels_items)(void *context, ptrdiff_t begin,
                                                        ptrdiff_t end, int worker,
                                                        lrp_team *team)
{
    const FN(max_few_channels) *p = context;
    const ptrdiff_t rows = p->s->in_h;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const ptrdiff_t n = item / rows, y = item % rows;
        switch (p->s->in_c) {
        case 1: FN(max_few_channels_row)(p, n, y, 1); break;
        case 2: FN(max_few_channels_row)(p, n, y, 2); break;
        case 3: FN(max_few_channels_row)(p, n, y, 3); break;
        case 4: FN(max_few_channels_row)(p, n, y, 4); break;
        case 5: FN(max_few_channels_row)(p, n, y, 5); break;
        case 6: FN(max_few_channels_row)(p, n, y, 6); break;
        case 7: FN(max_few_channels_row)(p, n, y, 7); break;
        default: FN(max_few_channels_row)(p, n, y, FEW_CHANNELS_MAX);
        }
    }
    return LRP_OK;
}

LRP_ISA_TASKS_UNFUSED(max_few_channels_task, FN(max_few_channels_items))

/* R_in (n, in_c, in_h, in_w) of a layer FN(max_few_channels_applies) takes:
 * q (n, out_c, out_h, out_w) = R / (m + 1e-9), a the layer's input, cap
 * each sample's bound. */
static lrp_status FN(max_few_channels_run)(const lrp_conv_shape *s, int kind, T gamma,
                                           const T *w, const T *q, const T *a, const T *cap,
                                           T *r_in)
{
    const ptrdiff_t taps = s->k_h * s->k_w;
    size_t count;
    if (lrp_checked_count(0, s->out_c * taps, (size_t)s->in_c, &count) != LRP_OK)
        return LRP_ERR_NOMEM;
    T *weights = lrp_alloc_array(count, sizeof(T));
    if (!weights)
        return LRP_ERR_NOMEM;
    for (ptrdiff_t k = 0; k < s->out_c; k++)
        for (ptrdiff_t c = 0; c < s->in_c; c++)
            for (ptrdiff_t t = 0; t < taps; t++)
                weights[(k * taps + t) * s->in_c + c] =
                    FN(absolute)(FN(rho)(kind, gamma, w[(k * s->in_c + c) * taps + t]));
    const FN(max_few_channels) p = {s, weights, q, a, cap, r_in};
    const double pairs = (double)s->n * (double)s->in_c * (double)s->in_h * (double)s->in_w *
                         (double)s->out_c * (double)taps;
    const lrp_status status =
        lrp_parallel_for_upto(s->n * s->in_h, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                              LRP_ISA_TASK(max_few_channels_task), (void *)&p, s->interrupt);
    free(weights);
    return status;
}

#undef FEW_CHANNELS_MAX
#undef FEW_CHANNELS_LANES

#endif /* LRP_INSTANCE_CONV_MAX_FEW_CHANNELS */
