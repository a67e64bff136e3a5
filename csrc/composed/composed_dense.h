/* Dense layers' relevance pass for a composed semiring, written once
 * against T and FN() (composed_dense.c instances it). Work items are
 * (sample, block of COMPOSED_BLOCK inputs): each owns its r_in values and
 * runs over every output k in ascending order, so that each R_j adds its
 * pairs in the order of k whatever the threads or the batch. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#include "composed/composed_values.h"
#include "composed/composed_dense_products.h"
#include "composed/composed_counting_dense.h"
#ifndef LRP_INSTANCE_COMPOSED_DENSE /* once per instance */
#define LRP_INSTANCE_COMPOSED_DENSE

#include <stddef.h>
#include "lrp.h"
#include "composed/composed.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "runtime/isa_dispatch.h"
#include "runtime/parallel.h"
#include "runtime/trace.h"

typedef struct {
    const lrp_dense_shape *s;
    int kind;
    T gamma;
    const lrp_semiring *sr;
    lrp_composed_combine_fn combine;
    const T *a, *w, *low, *high, *den;
    const void *r_out;
    void *r_in;
    ptrdiff_t blocks; /* per sample */
} FN(composed_dense_job);

/* Item (sample n, input block b) under rule KIND (a constant): r_in of the
 * block from zero, output by output. */
static LRP_INLINE lrp_status FN(composed_dense_item)(const void *context, ptrdiff_t item,
                                                     const int KIND)
{
    const FN(composed_dense_job) *job = context;
    const lrp_dense_shape *s = job->s;
    const lrp_semiring *sr = job->sr;
    const lrp_elem elem = sr->elem;
    const ptrdiff_t n = item / job->blocks, j0 = item % job->blocks * COMPOSED_BLOCK;
    const ptrdiff_t count = s->in - j0 < COMPOSED_BLOCK ? s->in - j0 : COMPOSED_BLOCK;
    const T *restrict a = job->a + n * s->in + j0;
    const T *restrict lo = KIND == LRP_RULE_ZBOX ? job->low + n * s->in + j0 : NULL;
    const T *restrict hi = KIND == LRP_RULE_ZBOX ? job->high + n * s->in + j0 : NULL;
    void *acc = lrp_elem_at(elem, job->r_in, n * s->in + j0);
    FN(composed_block) block;
    lrp_elem_fill(elem, sr->zero, acc, count);
    for (ptrdiff_t k = 0; k < s->out; k++) {
        const ptrdiff_t nk = n * s->out + k;
        if (lrp_elem_is(elem, sr->zero, job->r_out, nk))
            continue; /* zero absorbs mul and is neutral for add */
        const T *restrict wk = job->w + k * s->in + j0;
        for (ptrdiff_t i = 0; i < count; i++)
            block.v[i] = FN(numerator)(KIND, job->gamma, a[i], LRP_BOUND(KIND, lo, i),
                                       LRP_BOUND(KIND, hi, i), wk[i]);
        FN(composed_source)(sr->source, block.v, job->den + nk, 0, count);
        FN(composed_values)(sr, block.v, &block.val, count);
        lrp_elem_broadcast(elem, job->r_out, nk, &block.r, count);
        const int flags = job->combine(sr, acc, &block.val, &block.r, count);
        if (flags)
            return lrp_composed_status(flags);
    }
    return LRP_OK;
}

/* Items [begin, end) of a task (composed_items). */
static LRP_INLINE lrp_status FN(composed_dense_items)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(composed_dense_job) *job = context;
    return FN(composed_items)(job, job->kind, begin, end, worker, team, FN(composed_dense_item));
}

LRP_ISA_PLAIN_TASKS(composed_dense_task, FN(composed_dense_items))

/* lrp_dense_relevance_composed: R_j = add_k mul(value_jk, R_k) (lrp.h).
 * The first tier whose condition holds does the work and notes
 * "dense.composed.<tier>":
 *   float_counting, log_counting
 *           sr is float counting or log-counting (lrp_composed_form_of), the
 *           rule is not z^B, and composed_counting.h gives the generic
 *           tier's result (float counting: R_out holds no NaN, and no
 *           infinity unless the sums hold a NaN; log-counting: no R_k is
 *           +inf or NaN and each sample's finite R_k spread at most
 *           LOG_COUNTING_SPREAD): the intervals tier of the built-in
 *           Counting (dense_thresholds.h) summing R_k, or exp(R_k - M)
 *   max_plus
 *           max-plus over log|d|, not z^B, no R_k +inf or NaN, every
 *           numerator and quotient a normal number: FN(dense_max_plus) over
 *           log|rho(W)| kept in the weight cache, equal up to rounding
 *   min_max min-max over |d|, not z^B, no R_k NaN, |rho(w)| s |a| finite
 *           for every pair: FN(dense_min_max), equal up to rounding
 *   blocks  the rest: items (sample, block of inputs) over the threads,
 *           each block's values computed per output k and combined with
 *           R_k (composed_combine.c), outputs with R_k == zero skipped */
lrp_status FN(lrp_dense_relevance_composed)(const lrp_dense_shape *s, const lrp_rule *rule,
                                            const lrp_semiring *sr, const T *a, const T *w,
                                            const T *low, const T *high, const T *den,
                                            const void *r_out, void *r_in)
{
    if (lrp_semiring_check(sr) != LRP_OK || s->n < 0 || s->in < 0 || s->out < 0 ||
        (rule->kind == LRP_RULE_ZBOX && (!low || !high)))
        return LRP_ERR_ARG;
    const lrp_elem elem_float = sizeof(T) == sizeof(float) ? LRP_ELEM_F32 : LRP_ELEM_F64;
    const lrp_composed_form form = lrp_composed_form_of(sr, elem_float);
    lrp_status counted;
    if (FN(dense_composed_counting)(form, s, rule, sr, a, w, den, r_out, r_in, &counted))
        return counted;
    if (form == COMPOSED_MAX_PLUS || form == COMPOSED_MIN_MAX) {
        int ran;
        const lrp_status status =
            form == COMPOSED_MAX_PLUS
                ? FN(dense_max_plus)(s, rule->kind, (T)rule->gamma, a, w, den, r_out, r_in, &ran)
                : FN(dense_min_max)(s, rule->kind, (T)rule->gamma, a, w, den, r_out, r_in, &ran);
        if (ran)
            lrp_trace_tier(form == COMPOSED_MAX_PLUS ? "dense.composed.max_plus"
                                                     : "dense.composed.min_max");
        if (ran || status != LRP_OK)
            return status;
    }
    const ptrdiff_t blocks = (s->in + COMPOSED_BLOCK - 1) / COMPOSED_BLOCK;
    FN(composed_dense_job) job = {.s = s, .kind = rule->kind, .gamma = (T)rule->gamma,
                                  .sr = sr, .combine = lrp_composed_combine_for(sr), .a = a,
                                  .w = w, .low = low, .high = high, .den = den,
                                  .r_out = r_out, .r_in = r_in, .blocks = blocks};
    const double pairs = (double)s->n * s->in * s->out;
    lrp_status status =
        lrp_parallel_for_upto(s->n * blocks, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                              LRP_ISA_TASK(composed_dense_task), &job, s->interrupt);
    if (status == LRP_OK)
        lrp_trace_tier("dense.composed.blocks");
    return status;
}

#endif /* LRP_INSTANCE_COMPOSED_DENSE */
