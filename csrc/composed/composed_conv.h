/* Conv2d layers' relevance pass for a composed semiring, written once
 * against T and FN() (composed_conv.c instances it). Work items are
 * (sample, input channel) planes: each owns its r_in plane and visits the
 * output channels of its group in ascending order and, in each, the kernel
 * taps from the last to the first, so that for every input j the outputs k
 * come in ascending order (a later tap reads an earlier output row and
 * column). A tap's pairs go by output rows, blocks of at most
 * COMPOSED_BLOCK pairs along a row. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#include "composed/composed_values.h"
#include "composed/composed_conv_products.h"
#include "composed/composed_counting_conv.h"
#ifndef LRP_INSTANCE_COMPOSED_CONV /* once per instance */
#define LRP_INSTANCE_COMPOSED_CONV

#include <stddef.h>
#include "lrp.h"
#include "composed/composed.h"
#include "conv/conv_geometry.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "runtime/isa_dispatch.h"
#include "runtime/parallel.h"
#include "runtime/trace.h"

typedef struct {
    const lrp_conv_shape *s;
    int kind;
    T gamma;
    const lrp_semiring *sr;
    lrp_composed_combine_fn combine;
    const T *a, *w, *low, *high, *den;
    const void *r_out;
    void *r_in;
} FN(composed_conv_job);

/* The pairs of one output row of tap weight wv: inputs j0 + i * stride_w,
 * outputs k0 + i, for i < count (at most COMPOSED_BLOCK), under rule KIND
 * (a constant); their values combined into r_in. A row whose R_k are all
 * zero is skipped whole. */
static LRP_INLINE int FN(composed_conv_run)(const FN(composed_conv_job) *job, T wv,
                                            ptrdiff_t j0, ptrdiff_t k0, ptrdiff_t count,
                                            FN(composed_block) *block, const int KIND)
{
    const lrp_semiring *sr = job->sr;
    const lrp_elem elem = sr->elem;
    const ptrdiff_t step = job->s->stride_w;
    const void *r = lrp_elem_at_const(elem, job->r_out, k0);
    if (lrp_elem_all(elem, sr->zero, r, count))
        return 0; /* zero absorbs mul and is neutral for add */
    const T *restrict a = job->a + j0;
    const T *restrict lo = KIND == LRP_RULE_ZBOX ? job->low + j0 : NULL;
    const T *restrict hi = KIND == LRP_RULE_ZBOX ? job->high + j0 : NULL;
    for (ptrdiff_t i = 0; i < count; i++)
        block->v[i] = FN(numerator)(KIND, job->gamma, a[i * step],
                                    LRP_BOUND(KIND, lo, i * step),
                                    LRP_BOUND(KIND, hi, i * step), wv);
    FN(composed_source)(sr->source, block->v, job->den + k0, 1, count);
    FN(composed_values)(sr, block->v, &block->val, count);
    void *acc = lrp_elem_at(elem, job->r_in, j0);
    if (step == 1)
        return job->combine(sr, acc, &block->val, r, count);
    lrp_elem_gather(elem, acc, step, &block->acc, count);
    const int flags = job->combine(sr, &block->acc, &block->val, r, count);
    lrp_elem_scatter(elem, &block->acc, acc, step, count);
    return flags;
}

/* Plane (sample n, input channel ci) under rule KIND (a constant). */
static LRP_INLINE lrp_status FN(composed_conv_plane)(const void *context,
                                                     ptrdiff_t item, const int KIND)
{
    const FN(composed_conv_job) *job = context;
    const lrp_conv_shape *s = job->s;
    const lrp_elem elem = job->sr->elem;
    const ptrdiff_t n = item / s->in_c, ci = item % s->in_c;
    const ptrdiff_t cin_g = s->in_c / s->groups, cout_g = s->out_c / s->groups;
    const ptrdiff_t g = ci / cin_g, cl = ci - g * cin_g;
    const ptrdiff_t plane = lrp_conv_in_plane(s, n, ci);
    FN(composed_block) block;
    lrp_elem_fill(elem, job->sr->zero, lrp_elem_at(elem, job->r_in, plane), s->in_h * s->in_w);
    for (ptrdiff_t co = g * cout_g; co < (g + 1) * cout_g; co++) {
        const ptrdiff_t out_plane = lrp_conv_out_plane(s, n, co);
        for (ptrdiff_t ky = s->k_h - 1; ky >= 0; ky--)
            for (ptrdiff_t kx = s->k_w - 1; kx >= 0; kx--) {
                const T wv = job->w[((co * cin_g + cl) * s->k_h + ky) * s->k_w + kx];
                ptrdiff_t oy0, oy1, ox0, ox1;
                lrp_conv_range(s->out_h, s->in_h, s->stride_h, s->pad_h, s->dil_h, ky, &oy0,
                               &oy1);
                lrp_conv_range(s->out_w, s->in_w, s->stride_w, s->pad_w, s->dil_w, kx, &ox0,
                               &ox1);
                for (ptrdiff_t oy = oy0; oy < oy1; oy++) {
                    const ptrdiff_t jrow = plane +
                                           (oy * s->stride_h - s->pad_h + ky * s->dil_h) * s->in_w +
                                           kx * s->dil_w - s->pad_w;
                    const ptrdiff_t krow = out_plane + oy * s->out_w;
                    for (ptrdiff_t ox = ox0; ox < ox1; ox += COMPOSED_BLOCK) {
                        const ptrdiff_t count =
                            ox1 - ox < COMPOSED_BLOCK ? ox1 - ox : COMPOSED_BLOCK;
                        const int flags = FN(composed_conv_run)(
                            job, wv, jrow + ox * s->stride_w, krow + ox, count, &block, KIND);
                        if (flags)
                            return lrp_composed_status(flags);
                    }
                }
            }
    }
    return LRP_OK;
}

/* Planes [begin, end) of a task (composed_items). */
static LRP_INLINE lrp_status FN(composed_conv_planes)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(composed_conv_job) *job = context;
    return FN(composed_items)(job, job->kind, begin, end, worker, team, FN(composed_conv_plane));
}

LRP_ISA_PLAIN_TASKS(composed_conv_task, FN(composed_conv_planes))

/* lrp_conv_relevance_composed: R_j = add_k mul(value_jk, R_k) (lrp.h).
 * The first tier whose condition holds does the work and notes
 * "conv.composed.<tier>":
 *   float_counting, log_counting
 *           sr is float counting or log-counting (lrp_composed_form_of), the
 *           layer has unit stride (FN(conv_uses_thresholds)), and
 *           composed_counting.h gives the generic tier's result (float
 *           counting: R_out holds no NaN, and no infinity unless the sums
 *           hold a NaN; log-counting: no R_k is +inf or NaN and each
 *           sample's finite R_k spread at most LOG_COUNTING_SPREAD): the
 *           intervals tier of the built-in Counting (conv_thresholds.h)
 *           summing R_k, or exp(R_k - M)
 *   max_plus_product
 *           max-plus over log|d|, unit stride, four input channels per
 *           group at least, not z^B (lrp_conv_uses_product), no R_k +inf or
 *           NaN, every numerator and quotient a normal number:
 *           FN(conv_max_plus), equal up to rounding
 *   min_max_product
 *           min-max over |d|, the same layers, no R_k NaN, |rho(w)| s |a|
 *           finite for every pair: FN(conv_min_max), equal up to rounding
 *   planes  the rest: (sample, input channel) planes over the threads, tap
 *           by tap, a block of an output row at a time */
lrp_status FN(lrp_conv_relevance_composed)(const lrp_conv_shape *s, const lrp_rule *rule,
                                           const lrp_semiring *sr, const T *a, const T *w,
                                           const T *low, const T *high, const T *den,
                                           const void *r_out, void *r_in)
{
    if (lrp_conv_check(s) != LRP_OK || lrp_semiring_check(sr) != LRP_OK ||
        (rule->kind == LRP_RULE_ZBOX && (!low || !high)))
        return LRP_ERR_ARG;
    const lrp_elem elem_float = sizeof(T) == sizeof(float) ? LRP_ELEM_F32 : LRP_ELEM_F64;
    const lrp_composed_form form = lrp_composed_form_of(sr, elem_float);
    lrp_status counted;
    if (FN(conv_composed_counting)(form, s, rule, sr, a, w, low, high, den, r_out, r_in,
                                   &counted))
        return counted;
    if (form == COMPOSED_MAX_PLUS || form == COMPOSED_MIN_MAX) {
        int ran;
        const lrp_status status =
            form == COMPOSED_MAX_PLUS
                ? FN(conv_max_plus)(s, rule->kind, (T)rule->gamma, a, w, den, r_out, r_in, &ran)
                : FN(conv_min_max)(s, rule->kind, (T)rule->gamma, a, w, den, r_out, r_in, &ran);
        if (ran)
            lrp_trace_tier(form == COMPOSED_MAX_PLUS ? "conv.composed.max_plus_product"
                                                     : "conv.composed.min_max_product");
        if (ran || status != LRP_OK)
            return status;
    }
    FN(composed_conv_job) job = {.s = s, .kind = rule->kind, .gamma = (T)rule->gamma,
                                 .sr = sr, .combine = lrp_composed_combine_for(sr), .a = a,
                                 .w = w, .low = low, .high = high, .den = den,
                                 .r_out = r_out, .r_in = r_in};
    const double pairs = (double)s->n * s->out_c * s->out_h * s->out_w * (s->in_c / s->groups) *
                         s->k_h * s->k_w;
    lrp_status status =
        lrp_parallel_for_upto(s->n * s->in_c, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                              LRP_ISA_TASK(composed_conv_task), &job, s->interrupt);
    if (status == LRP_OK)
        lrp_trace_tier("conv.composed.planes");
    return status;
}

#endif /* LRP_INSTANCE_COMPOSED_CONV */
