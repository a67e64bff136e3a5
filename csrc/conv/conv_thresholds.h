/* Boolean and counting relevance of unit-stride Conv2d layers, written once
 * against T and FN(), included by conv_kernels.h.
 *
 * The pass of pair (j, k) is decided by comparing n_jk with the interval of
 * output k (FN(passing_interval), rule_math.h): no division per pair, and an
 * output with R_k = 0 has a NaN interval nothing passes. The intervals are
 * laid out with NaN margins wide enough that every tap of every lane lands
 * inside, so the pair loop over a block of THRESHOLD_LANES input pixels of a
 * row has no edge cases and compiles to plain vector code for each
 * instruction set. Input pixel j gathers over k, so each R_j is the work of
 * one (sample, input channel) item: no two threads write the same pixel.
 * Its outputs come in ascending k (output channels ascending, taps from the
 * last to the first), the generic composed tier's order, so that a counting
 * sum of any doubles has the bits of that tier's.
 * Boolean blocks stop at the first output channel after which every lane
 * is true; rows of outputs that hold no relevant k are skipped. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_CONV_THRESHOLDS /* once per instance */
#define LRP_INSTANCE_CONV_THRESHOLDS

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lrp.h"
#include "kernel/compiler.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"

#define THRESHOLD_LANES 16

/* Counting's inputs whose every pair passes (an absolute threshold, rules
 * other than z^B): input j of sample n and channel ci passes with every
 * output of its receptive field when fl(|a_j| least_w[ci]) >= bound[n],
 * least_w the least |rho(w)| of the channel's weights and bound the largest
 * least passing |n_jk| of the sample's outputs (rounding is monotone). Its
 * count is then sums[(n, group)][pixel], the sum of the counts over the
 * field, added channel by channel and tap by tap rather than in ascending
 * k: the same to rounding (FN(conv_whole_sums)). */
typedef struct {
    T *least_w;   /* per input channel */
    T *bound;     /* per sample */
    double *sums; /* per (sample, group), an input plane */
} FN(conv_whole);

typedef struct {
    const lrp_conv_shape *s;
    int kind, absolute, counting;
    T gamma, theta;
    const T *a, *low, *high;
    const T *rho_w;           /* rho(w), or for z^B w itself */
    const T *lo, *hi;         /* per output, padded rows of `stride` values */
    const double *counts;     /* counting: R_k as double, same layout */
    const uint8_t *live_rows; /* (out_c, out_h): the row holds a relevant k */
    ptrdiff_t stride, margin; /* padded row length; columns before ox = 0 */
    uint8_t *r_bool;
    double *r_count;
    const FN(conv_whole) *whole; /* counting: inputs every pair of which passes, or NULL */
} FN(conv_threshold);

/* Returns nonzero when the team was told to stop: a plane of a wide layer
 * takes tens of milliseconds (more under the sanitizers), so Ctrl-C is
 * polled per input row. */
static LRP_INLINE int FN(conv_threshold_plane)(const FN(conv_threshold) *t, ptrdiff_t n,
                                               ptrdiff_t ci, int kind, int absolute, int counting,
                                               lrp_team *team, int worker)
{
    const lrp_conv_shape *s = t->s;
    const ptrdiff_t cin_g = s->in_c / s->groups, cout_g = s->out_c / s->groups;
    const ptrdiff_t g = ci / cin_g, cl = ci - g * cin_g, taps = s->k_h * s->k_w;
    const ptrdiff_t in_plane = s->in_h * s->in_w, out_rows = s->out_h * t->stride;
    const ptrdiff_t j0 = (n * s->in_c + ci) * in_plane;
    for (ptrdiff_t iy = 0; iy < s->in_h; iy++) {
        if (lrp_team_stop(team, worker))
            return 1;
        for (ptrdiff_t ix0 = 0; ix0 < s->in_w; ix0 += THRESHOLD_LANES) {
            const ptrdiff_t lanes =
                s->in_w - ix0 < THRESHOLD_LANES ? s->in_w - ix0 : THRESHOLD_LANES;
            T av[THRESHOLD_LANES], lv[THRESHOLD_LANES], hv[THRESHOLD_LANES];
            LANE_INT any[THRESHOLD_LANES], settled[THRESHOLD_LANES], whole[THRESHOLD_LANES];
            double count[THRESHOLD_LANES];
            LANE_INT all_settled = 1;
            for (ptrdiff_t l = 0; l < THRESHOLD_LANES; l++) {
                const ptrdiff_t j = j0 + iy * s->in_w + ix0 + (l < lanes ? l : 0);
                av[l] = t->a[j];
                lv[l] = kind == LRP_RULE_ZBOX ? t->low[j] : (T)0;
                hv[l] = kind == LRP_RULE_ZBOX ? t->high[j] : (T)0;
                any[l] = 0;
                count[l] = 0;
                /* an input at 0 (a ReLU's dead unit) has n_jk = 0, which no
                 * threshold above 0 passes: its lane is settled from the start,
                 * as are the lanes past the row's end */
                settled[l] = l >= lanes || (kind != LRP_RULE_ZBOX && t->theta > 0 && av[l] == 0);
                whole[l] = t->whole && l < lanes &&
                           FN(absolute)(av[l]) * t->whole->least_w[ci] >= t->whole->bound[n];
                settled[l] |= whole[l];
                all_settled &= settled[l];
            }
            for (ptrdiff_t co = g * cout_g; co < (g + 1) * cout_g && !all_settled; co++) {
                const T *wc = t->rho_w + (co * cin_g + cl) * taps;
                for (ptrdiff_t ky = s->k_h - 1; ky >= 0; ky--) {
                    const ptrdiff_t oy = iy + s->pad_h - ky * s->dil_h;
                    if (oy < 0 || oy >= s->out_h || !t->live_rows[co * s->out_h + oy])
                        continue;
                    const ptrdiff_t row = n * s->out_c * out_rows + co * out_rows + oy * t->stride +
                                          t->margin + ix0 + s->pad_w;
                    for (ptrdiff_t kx = s->k_w - 1; kx >= 0; kx--) {
                        const T wv = wc[ky * s->k_w + kx];
                        const T wpos = FN(positive)(wv), wneg = FN(negative)(wv);
                        const ptrdiff_t k = row - kx * s->dil_w;
                        const T *restrict lo = t->lo + k, *restrict hi = t->hi + k;
                        if (counting) {
                            const double *restrict ck = t->counts + k;
                            for (ptrdiff_t l = 0; l < THRESHOLD_LANES; l++) {
                                T x = kind == LRP_RULE_ZBOX ? av[l] * wv - lv[l] * wpos - hv[l] * wneg
                                                            : av[l] * wv;
                                x = absolute ? FN(absolute)(x) : x;
                                const LANE_INT pass = (x >= lo[l]) & (x <= hi[l]);
                                count[l] += (double)pass * ck[l];
                            }
                        } else {
                            for (ptrdiff_t l = 0; l < THRESHOLD_LANES; l++) {
                                T x = kind == LRP_RULE_ZBOX ? av[l] * wv - lv[l] * wpos - hv[l] * wneg
                                                            : av[l] * wv;
                                x = absolute ? FN(absolute)(x) : x;
                                any[l] |= (x >= lo[l]) & (x <= hi[l]);
                            }
                        }
                    }
                }
                if (!counting) {
                    LANE_INT all = 1;
                    for (ptrdiff_t l = 0; l < THRESHOLD_LANES; l++)
                        all &= any[l] | settled[l];
                    if (all)
                        break;
                }
            }
            const ptrdiff_t j = j0 + iy * s->in_w + ix0;
            const double *whole_sums =
                t->whole ? t->whole->sums + (n * s->groups + g) * in_plane + iy * s->in_w + ix0
                         : NULL;
            for (ptrdiff_t l = 0; l < lanes; l++) {
                if (counting)
                    t->r_count[j + l] = whole[l] ? whole_sums[l] : count[l];
                else
                    t->r_bool[j + l] = any[l] != 0;
            }
        }
    }
    return 0;
}

/* One instance per (rule kind, absolute, counting), so that each pair loop
 * is compiled with its arithmetic fixed; the rules other than z^B differ
 * only in rho(w), applied before (FN(threshold_setup_items)). */
static LRP_INLINE lrp_status FN(conv_threshold_planes)(const FN(conv_threshold) *t,
                                                       ptrdiff_t begin, ptrdiff_t end, int worker,
                                                       lrp_team *team)
{
    for (ptrdiff_t item = begin; item < end; item++) {
        const ptrdiff_t n = item / t->s->in_c, ci = item % t->s->in_c;
        int stopped;
        switch (t->kind) {
        case LRP_RULE_ZBOX:
            if (t->counting)
                stopped = t->absolute
                              ? FN(conv_threshold_plane)(t, n, ci, LRP_RULE_ZBOX, 1, 1, team, worker)
                              : FN(conv_threshold_plane)(t, n, ci, LRP_RULE_ZBOX, 0, 1, team, worker);
            else
                stopped = t->absolute
                              ? FN(conv_threshold_plane)(t, n, ci, LRP_RULE_ZBOX, 1, 0, team, worker)
                              : FN(conv_threshold_plane)(t, n, ci, LRP_RULE_ZBOX, 0, 0, team, worker);
            break;
        default:
            if (t->counting)
                stopped = t->absolute
                              ? FN(conv_threshold_plane)(t, n, ci, LRP_RULE_ZERO, 1, 1, team, worker)
                              : FN(conv_threshold_plane)(t, n, ci, LRP_RULE_ZERO, 0, 1, team, worker);
            else
                stopped = t->absolute
                              ? FN(conv_threshold_plane)(t, n, ci, LRP_RULE_ZERO, 1, 0, team, worker)
                              : FN(conv_threshold_plane)(t, n, ci, LRP_RULE_ZERO, 0, 0, team, worker);
            break;
        }
        if (stopped)
            return LRP_ERR_INTERRUPTED;
    }
    return LRP_OK;
}

LRP_ISA_PLAIN_TASKS(conv_threshold_task, FN(conv_threshold_planes))

/* What the pair loops read, made per output channel over the threads (on
 * the calling thread alone it is a large share of a boolean pass):
 * rho(w) of the channel's weights (w itself for z^B), and for each of its
 * rows of every sample the passing intervals between NaN margins, the
 * counts (counting) and whether the row holds a relevant output. */
typedef struct {
    const lrp_conv_shape *s;
    int kind, absolute, counting;
    T gamma, theta;
    const T *w, *z;
    const uint8_t *r_out_bool;
    const int64_t *r_out_count;
    const double *r_out_real; /* counting: R_k given in double (else r_out_count) */
    ptrdiff_t stride, margin; /* as in FN(conv_threshold) */
    T *lo, *hi, *rho_w;
    double *counts;           /* zero in the margins (allocated so) */
    uint8_t *live;            /* zero (allocated so) */
} FN(threshold_setup);

static LRP_INLINE lrp_status FN(threshold_setup_items)(void *context, ptrdiff_t begin,
                                                       ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(threshold_setup) *job = context;
    const lrp_conv_shape *s = job->s;
    const ptrdiff_t per_channel = s->in_c / s->groups * s->k_h * s->k_w;
    for (ptrdiff_t co = begin; co < end; co++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        for (ptrdiff_t i = co * per_channel; i < (co + 1) * per_channel; i++)
            job->rho_w[i] = job->kind == LRP_RULE_ZBOX ? job->w[i]
                                                       : FN(rho)(job->kind, job->gamma, job->w[i]);
        for (ptrdiff_t n = 0; n < s->n; n++)
            for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
                const ptrdiff_t r = (n * s->out_c + co) * s->out_h + oy;
                T *lo = job->lo + r * job->stride, *hi = job->hi + r * job->stride;
                for (ptrdiff_t c = 0; c < job->stride; c++)
                    lo[c] = hi[c] = (T)NAN;
                int relevant_row = 0;
                for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
                    const ptrdiff_t k = r * s->out_w + ox, cell = job->margin + ox;
                    const double count = !job->counting ? 0
                                         : job->r_out_real ? job->r_out_real[k]
                                                           : (double)job->r_out_count[k];
                    const int relevant = job->counting ? count != 0 : job->r_out_bool[k] != 0;
                    FN(passing_interval)(job->z[k], job->theta, job->absolute, relevant, &lo[cell],
                                         &hi[cell]);
                    if (job->counting)
                        job->counts[r * job->stride + cell] = count;
                    relevant_row |= relevant;
                }
                /* one flag per (channel, row) over the batch: a sample index
                 * in the pair loop would cost more than the rows it skips */
                job->live[co * s->out_h + oy] |= (uint8_t)relevant_row;
            }
    }
    return LRP_OK;
}
LRP_ISA_PLAIN_TASKS(threshold_setup_task, FN(threshold_setup_items))

/* FN(conv_whole)'s sums from the setup's intervals and counts, one
 * (sample, group) per item: the counts of the outputs that can pass (an
 * interval, not NaN) summed over the group's channels, then over each
 * input pixel's taps. */
typedef struct {
    const lrp_conv_shape *s;
    const T *lo;
    const double *counts;
    ptrdiff_t stride, margin; /* as in FN(conv_threshold) */
    double *fields;           /* per (sample, group): an output plane */
    double *sums;
} FN(whole_sums_job);

static lrp_status FN(whole_sums_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                       int worker, lrp_team *team)
{
    const FN(whole_sums_job) *job = context;
    const lrp_conv_shape *s = job->s;
    const ptrdiff_t cout_g = s->out_c / s->groups;
    const ptrdiff_t out_plane = s->out_h * s->out_w, in_plane = s->in_h * s->in_w;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const ptrdiff_t n = item / s->groups, g = item % s->groups;
        double *field = job->fields + item * out_plane;
        for (ptrdiff_t i = 0; i < out_plane; i++)
            field[i] = 0;
        for (ptrdiff_t co = g * cout_g; co < (g + 1) * cout_g; co++)
            for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
                const ptrdiff_t cell =
                    ((n * s->out_c + co) * s->out_h + oy) * job->stride + job->margin;
                const T *restrict lo = job->lo + cell;
                const double *restrict counts = job->counts + cell;
                double *restrict row = field + oy * s->out_w;
                for (ptrdiff_t ox = 0; ox < s->out_w; ox++)
                    row[ox] += lo[ox] == lo[ox] ? counts[ox] : 0;
            }
        double *sums = job->sums + item * in_plane;
        for (ptrdiff_t iy = 0; iy < s->in_h; iy++)
            for (ptrdiff_t ix = 0; ix < s->in_w; ix++) {
                double sum = 0;
                for (ptrdiff_t ky = 0; ky < s->k_h; ky++) {
                    const ptrdiff_t oy = iy + s->pad_h - ky * s->dil_h;
                    for (ptrdiff_t kx = 0; oy >= 0 && oy < s->out_h && kx < s->k_w; kx++) {
                        const ptrdiff_t ox = ix + s->pad_w - kx * s->dil_w;
                        sum += ox >= 0 && ox < s->out_w ? field[oy * s->out_w + ox] : 0;
                    }
                }
                sums[iy * s->in_w + ix] = sum;
            }
    }
    return LRP_OK;
}

/* FN(conv_whole) of a counting pass with an absolute threshold, rules
 * other than z^B, from the setup's rho(w), intervals and counts: least_w
 * (with bound) and sums (with scratch fields) are two allocations, freed
 * by the caller whatever the status. */
static lrp_status FN(conv_whole_sums)(const lrp_conv_shape *s, const T *rho_w, const T *lo,
                                      const double *counts, ptrdiff_t stride, ptrdiff_t margin,
                                      FN(conv_whole) *whole)
{
    const ptrdiff_t cin_g = s->in_c / s->groups, cout_g = s->out_c / s->groups;
    const ptrdiff_t taps = s->k_h * s->k_w, planes = s->n * s->groups;
    size_t fields, sums;
    if (lrp_checked_count(0, planes, (size_t)(s->out_h * s->out_w), &fields) != LRP_OK ||
        lrp_checked_count(0, planes, (size_t)(s->in_h * s->in_w), &sums) != LRP_OK ||
        fields > SIZE_MAX / sizeof(double) - sums)
        return LRP_ERR_NOMEM;
    double *buffer = lrp_scratch_calloc(fields + sums, sizeof(double));
    whole->least_w = lrp_alloc_array((size_t)s->in_c + (size_t)s->n, sizeof(T));
    if (!buffer || !whole->least_w) {
        lrp_scratch_free(buffer), free(whole->least_w);
        whole->least_w = NULL;
        return LRP_ERR_NOMEM;
    }
    whole->sums = buffer;
    whole->bound = whole->least_w + s->in_c;
    for (ptrdiff_t ci = 0; ci < s->in_c; ci++) {
        const ptrdiff_t g = ci / cin_g, cl = ci - g * cin_g;
        T least = (T)INFINITY;
        for (ptrdiff_t co = g * cout_g; co < (g + 1) * cout_g; co++)
            for (ptrdiff_t t = 0; t < taps; t++) {
                const T v = FN(absolute)(rho_w[(co * cin_g + cl) * taps + t]);
                least = v < least ? v : least;
            }
        whole->least_w[ci] = least;
    }
    const ptrdiff_t per_sample = s->out_c * s->out_h * stride;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        T bound = -(T)INFINITY;
        for (ptrdiff_t c = n * per_sample; c < (n + 1) * per_sample; c++)
            bound = lo[c] > bound ? lo[c] : bound; /* NaN never wins */
        whole->bound[n] = bound;
    }
    FN(whole_sums_job) job = {s, lo, counts, stride, margin, buffer + sums, buffer};
    return lrp_parallel_for(planes, FN(whole_sums_items), &job, s->interrupt);
}

static int FN(conv_uses_thresholds)(const lrp_conv_shape *s)
{
    return s->stride_h == 1 && s->stride_w == 1;
}

/* Boolean (r_out_bool -> r_bool) or counting (r_out_count or, given,
 * r_out_real -> r_count: R_j = the sum of the passing pairs' R_k in double,
 * in ascending k) relevance of a unit-stride layer. Counts from int64 are
 * exact while every sample's total is at most 2^53 (the caller checks).
 * whole_sums (counting, absolute, rules other than z^B): the inputs every
 * pair of which passes get the sum over their receptive field in another
 * order (FN(conv_whole)), the same to rounding. */
static lrp_status FN(conv_threshold_run)(int kind, const lrp_conv_shape *s, T gamma, T theta,
                                         int absolute, const T *a, const T *w, const T *low,
                                         const T *high, const T *z, const uint8_t *r_out_bool,
                                         const int64_t *r_out_count, const double *r_out_real,
                                         int whole_sums, uint8_t *r_bool, double *r_count)
{
    const int counting = r_out_count != NULL || r_out_real != NULL;
    const ptrdiff_t taps = s->k_h * s->k_w;
    const ptrdiff_t last_ix = (s->in_w + THRESHOLD_LANES - 1) / THRESHOLD_LANES * THRESHOLD_LANES - 1;
    const ptrdiff_t left = s->dil_w * (s->k_w - 1) - s->pad_w;
    const ptrdiff_t margin = left > 0 ? left : 0;
    const ptrdiff_t right = last_ix + s->pad_w - (s->out_w - 1);
    const ptrdiff_t stride = margin + s->out_w + (right > 0 ? right : 0);
    const ptrdiff_t rows = s->n * s->out_c * s->out_h;
    size_t cells, weights = (size_t)s->out_c * (size_t)(s->in_c / s->groups) * (size_t)taps;
    if (lrp_checked_count(0, rows, (size_t)stride, &cells) != LRP_OK || cells > PTRDIFF_MAX / 2)
        return LRP_ERR_NOMEM;
    /* from the pool, zeroed: a batch's intervals are hundreds of megabytes */
    T *lo = lrp_scratch_calloc(2 * cells + weights, sizeof(T));
    double *counts = counting ? lrp_scratch_calloc(cells, sizeof(double)) : NULL;
    uint8_t *live = lrp_alloc_array((size_t)s->out_c * (size_t)s->out_h, 1);
    if (!lo || !live || (counting && !counts)) {
        lrp_scratch_free(lo), lrp_scratch_free(counts), free(live);
        return LRP_ERR_NOMEM;
    }
    T *hi = lo + cells, *rho_w = hi + cells;
    FN(threshold_setup) setup = {s, kind, absolute, counting, gamma, theta, w, z, r_out_bool,
                                 r_out_count, r_out_real, stride, margin, lo, hi, rho_w, counts,
                                 live};
    lrp_status status = lrp_parallel_for(s->out_c, LRP_ISA_TASK(threshold_setup_task), &setup,
                                         s->interrupt);
    FN(conv_whole) whole = {NULL, NULL, NULL};
    const int use_whole = whole_sums && counting && absolute && kind != LRP_RULE_ZBOX;
    if (status == LRP_OK && use_whole)
        status = FN(conv_whole_sums)(s, rho_w, lo, counts, stride, margin, &whole);
    FN(conv_threshold) t = {s, kind, absolute, counting, gamma, theta, a, low, high, rho_w, lo, hi,
                            counts, live, stride, margin, r_bool, r_count,
                            use_whole ? &whole : NULL};
    if (status == LRP_OK)
        status = lrp_parallel_for(s->n * s->in_c, LRP_ISA_TASK(conv_threshold_task), &t,
                                  s->interrupt);
    free(whole.least_w), lrp_scratch_free(whole.sums);
    lrp_scratch_free(lo), lrp_scratch_free(counts), free(live);
    return status;
}

/* Counting by FN(conv_threshold_run), for counts whose every sample's
 * total is at most 2^53 (the caller checks): the sums are then exact in
 * double. */
static inline lrp_status FN(conv_counting_intervals)(int kind, const lrp_conv_shape *s, T gamma,
                                                     T theta, int absolute, const T *a,
                                                     const T *w, const T *low, const T *high,
                                                     const T *z, const int64_t *r_out,
                                                     int64_t *r_in)
{
    const ptrdiff_t in_total = s->n * s->in_c * s->in_h * s->in_w;
    double *sums = lrp_scratch_calloc((size_t)in_total, sizeof(double));
    if (!sums)
        return LRP_ERR_NOMEM;
    lrp_status status = FN(conv_threshold_run)(kind, s, gamma, theta, absolute, a, w, low, high, z,
                                               NULL, r_out, NULL, 0, NULL, sums);
    for (ptrdiff_t j = 0; j < in_total && status == LRP_OK; j++)
        r_in[j] = (int64_t)sums[j];
    lrp_scratch_free(sums);
    return status;
}

#undef THRESHOLD_LANES

#endif /* LRP_INSTANCE_CONV_THRESHOLDS */
