/* Boolean and counting relevance of Linear layers (rules other than z^B),
 * written once against T and FN(), included by dense_kernels.h.
 *
 * As for convolutions (conv_thresholds.h), pair (j, k) passes when n_jk lies
 * in output k's interval (FN(passing_interval)): no division per pair, and an
 * output with R_k = 0 has a NaN interval that nothing passes. A work item is
 * a block of inputs j for a group of samples; it runs over every output k,
 * reading the block of weight row k once for the whole group, so each R_j is
 * the work of one item and the weights stream from memory once per group. */
#include "kernel/template.h"
#include "kernel/rule_math.h"

#ifndef SEMIRING_LRP_DENSE_THRESHOLDS_SIZES /* once per unit: the same for every T */
#define SEMIRING_LRP_DENSE_THRESHOLDS_SIZES
enum {
    DENSE_THRESHOLD_BLOCK = 512, /* inputs per item */
    DENSE_THRESHOLD_GROUP = 8    /* samples per item */
};
#endif

#ifndef LRP_INSTANCE_DENSE_THRESHOLDS /* once per instance */
#define LRP_INSTANCE_DENSE_THRESHOLDS

#include <stdint.h>
#include <stdlib.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "kernel/tuning.h"

typedef struct {
    const lrp_dense_shape *s;
    int kind, absolute, counting;
    T gamma;
    const T *a, *w;
    const T *lo, *hi;      /* (n, out) passing intervals */
    const double *counts;  /* counting: R_k as double, (n, out) */
    ptrdiff_t blocks;      /* input blocks per sample group */
    uint8_t *r_bool;       /* (n, in) */
    double *r_count;       /* (n, in) */
} FN(dense_threshold);

static LRP_INLINE void FN(dense_threshold_item)(const FN(dense_threshold) *t, ptrdiff_t item,
                                                int kind, int absolute, int counting)
{
    const lrp_dense_shape *s = t->s;
    const ptrdiff_t n0 = item / t->blocks * DENSE_THRESHOLD_GROUP;
    const ptrdiff_t j0 = item % t->blocks * DENSE_THRESHOLD_BLOCK;
    const ptrdiff_t samples = s->n - n0 < DENSE_THRESHOLD_GROUP ? s->n - n0 : DENSE_THRESHOLD_GROUP;
    const ptrdiff_t width = s->in - j0 < DENSE_THRESHOLD_BLOCK ? s->in - j0 : DENSE_THRESHOLD_BLOCK;
    LANE_INT any[DENSE_THRESHOLD_GROUP][DENSE_THRESHOLD_BLOCK];
    double count[DENSE_THRESHOLD_GROUP][DENSE_THRESHOLD_BLOCK];
    T rho_w[DENSE_THRESHOLD_BLOCK];
    for (ptrdiff_t g = 0; g < samples; g++)
        for (ptrdiff_t j = 0; j < width; j++) {
            if (counting)
                count[g][j] = 0;
            else
                any[g][j] = 0;
        }
    for (ptrdiff_t k = 0; k < s->out; k++) {
        int relevant = 0;
        for (ptrdiff_t g = 0; g < samples; g++) {
            const T lo = t->lo[(n0 + g) * s->out + k];
            relevant |= lo == lo; /* not NaN */
        }
        if (!relevant)
            continue;
        const T *restrict wk = t->w + k * s->in + j0;
        for (ptrdiff_t j = 0; j < width; j++)
            rho_w[j] = FN(rho)(kind, t->gamma, wk[j]);
        for (ptrdiff_t g = 0; g < samples; g++) {
            const ptrdiff_t nk = (n0 + g) * s->out + k;
            const T lo = t->lo[nk], hi = t->hi[nk];
            if (lo != lo)
                continue;
            const T *restrict an = t->a + (n0 + g) * s->in + j0;
            if (counting) {
                const double ck = t->counts[nk];
                double *restrict cg = count[g];
                for (ptrdiff_t j = 0; j < width; j++) {
                    T x = an[j] * rho_w[j];
                    x = absolute ? FN(absolute)(x) : x;
                    const LANE_INT pass = (x >= lo) & (x <= hi);
                    cg[j] += (double)pass * ck;
                }
            } else {
                LANE_INT *restrict ag = any[g];
                for (ptrdiff_t j = 0; j < width; j++) {
                    T x = an[j] * rho_w[j];
                    x = absolute ? FN(absolute)(x) : x;
                    ag[j] |= (x >= lo) & (x <= hi);
                }
            }
        }
    }
    for (ptrdiff_t g = 0; g < samples; g++) {
        const ptrdiff_t row = (n0 + g) * s->in + j0;
        for (ptrdiff_t j = 0; j < width; j++) {
            if (counting)
                t->r_count[row + j] = count[g][j];
            else
                t->r_bool[row + j] = any[g][j] != 0;
        }
    }
}

/* FN(dense_threshold_item) with the absolute and counting flags as constants
 * too (kind is one already). */
static LRP_INLINE void FN(dense_threshold_item_by_flags)(const FN(dense_threshold) *t,
                                                         ptrdiff_t item, int kind)
{
    if (t->counting)
        t->absolute ? FN(dense_threshold_item)(t, item, kind, 1, 1)
                    : FN(dense_threshold_item)(t, item, kind, 0, 1);
    else
        t->absolute ? FN(dense_threshold_item)(t, item, kind, 1, 0)
                    : FN(dense_threshold_item)(t, item, kind, 0, 0);
}

/* One instance per (rule kind, absolute, counting), so that each pair loop
 * is compiled with its arithmetic fixed. */
static LRP_INLINE lrp_status FN(dense_threshold_items)(const FN(dense_threshold) *t,
                                                       ptrdiff_t begin, ptrdiff_t end, int worker,
                                                       lrp_team *team)
{
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        if (t->kind == LRP_RULE_GAMMA)
            FN(dense_threshold_item_by_flags)(t, item, LRP_RULE_GAMMA);
        else
            FN(dense_threshold_item_by_flags)(t, item, LRP_RULE_ZERO);
    }
    return LRP_OK;
}

LRP_ISA_TASKS_UNFUSED(dense_threshold_task, FN(dense_threshold_items))

/* Boolean (r_out_bool -> r_bool) or counting (r_out_count or, given,
 * r_out_real -> r_count: R_j = the sum of the passing pairs' R_k in double,
 * in ascending k) relevance of a Linear layer under a rule other than z^B.
 * Counts from int64 are exact while every sample's total is at most 2^53
 * (the caller checks). */
static lrp_status FN(dense_threshold_run)(int kind, const lrp_dense_shape *s, T gamma, T theta,
                                          int absolute, const T *a, const T *w, const T *z,
                                          const uint8_t *r_out_bool, const int64_t *r_out_count,
                                          const double *r_out_real, uint8_t *r_bool,
                                          double *r_count)
{
    const int counting = r_out_count != NULL || r_out_real != NULL;
    size_t cells;
    if (lrp_checked_count(0, s->n, (size_t)s->out, &cells) != LRP_OK || cells > PTRDIFF_MAX / 2)
        return LRP_ERR_NOMEM;
    T *lo = lrp_alloc_array(2 * cells, sizeof(T));
    double *counts = counting ? lrp_alloc_array(cells, sizeof(double)) : NULL;
    if (!lo || (counting && !counts)) {
        free(lo), free(counts);
        return LRP_ERR_NOMEM;
    }
    T *hi = lo + cells;
    for (size_t k = 0; k < cells; k++) {
        const double count = !counting ? 0 : r_out_real ? r_out_real[k] : (double)r_out_count[k];
        const int relevant = counting ? count != 0 : r_out_bool[k] != 0;
        FN(passing_interval)(z[k], theta, absolute, relevant, &lo[k], &hi[k]);
        if (counting)
            counts[k] = count;
    }
    const ptrdiff_t blocks = (s->in + DENSE_THRESHOLD_BLOCK - 1) / DENSE_THRESHOLD_BLOCK;
    const ptrdiff_t groups = (s->n + DENSE_THRESHOLD_GROUP - 1) / DENSE_THRESHOLD_GROUP;
    FN(dense_threshold) t = {s, kind, absolute, counting, gamma, a, w, lo, hi, counts, blocks,
                             r_bool, r_count};
    lrp_task task = LRP_ISA_TASK(dense_threshold_task);
    const double pairs = (double)s->n * (double)s->in * (double)s->out;
    lrp_status status = lrp_parallel_for_upto(groups * blocks, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD), task,
                                              &t, s->interrupt);
    free(lo), free(counts);
    return status;
}

/* Boolean relevance r_in (n, in) of a rule other than z^B. */
static LRP_INLINE lrp_status FN(dense_boolean_intervals)(int kind, const lrp_dense_shape *s,
                                                         T gamma, T theta, int absolute,
                                                         const T *a, const T *w, const T *z,
                                                         const uint8_t *r_out, uint8_t *r_in)
{
    return FN(dense_threshold_run)(kind, s, gamma, theta, absolute, a, w, z, r_out, NULL, NULL,
                                   r_in, NULL);
}

/* Counting relevance r_in (n, in) of a rule other than z^B, summed in
 * double: exact while every sample's sum of R_k is at most 2^53 (the
 * caller checks). */
static inline lrp_status FN(dense_counting_intervals)(int kind, const lrp_dense_shape *s,
                                                      T gamma, T theta, int absolute, const T *a,
                                                      const T *w, const T *z,
                                                      const int64_t *r_out, int64_t *r_in)
{
    size_t count;
    double *sums = lrp_checked_count(0, s->n, (size_t)s->in, &count) == LRP_OK
                       ? lrp_alloc_array(count, sizeof(double)) : NULL;
    if (!sums)
        return LRP_ERR_NOMEM;
    lrp_status status = FN(dense_threshold_run)(kind, s, gamma, theta, absolute, a, w, z, NULL,
                                                r_out, NULL, NULL, sums);
    for (size_t j = 0; j < count && status == LRP_OK; j++)
        r_in[j] = (int64_t)sums[j];
    free(sums);
    return status;
}

#endif /* LRP_INSTANCE_DENSE_THRESHOLDS */
