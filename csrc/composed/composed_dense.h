/* Dense layers' relevance pass for a composed semiring, written once
 * against T and FN() (composed_dense.c instances it). Work items are
 * (sample, block of COMPOSED_BLOCK inputs): each owns its r_in values and
 * runs over every output k in ascending order, so that each R_j adds its
 * pairs in the order of k whatever the threads or the batch. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#include "composed/composed_values.h"
#include "composed/composed_max_plus.h"
#ifndef LRP_INSTANCE_COMPOSED_DENSE /* once per instance */
#define LRP_INSTANCE_COMPOSED_DENSE

#include <stddef.h>
#include <stdlib.h>
#include "lrp.h"
#include "composed/composed.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/products.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/trace.h"
#include "runtime/weight_cache.h"

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

/* A dense layer's log|rho(W)|, (out, in), followed by its least and
 * largest finite value: the cache's build callback. */
typedef struct {
    const lrp_dense_shape *s;
    const T *w;
    int kind;
    T gamma;
    T *logs;
} FN(max_plus_weights);

static lrp_status FN(max_plus_weight_rows)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                           int worker, lrp_team *team)
{
    const FN(max_plus_weights) *job = context;
    const ptrdiff_t in = job->s->in;
    if (lrp_team_stop(team, worker))
        return LRP_ERR_INTERRUPTED;
    for (ptrdiff_t k = begin; k < end; k++)
        for (ptrdiff_t j = k * in; j < (k + 1) * in; j++)
            job->logs[j] = FN(log_abs)(FN(rho)(job->kind, job->gamma, job->w[j]));
    return LRP_OK;
}

static lrp_status FN(max_plus_weights_build)(void *context, void *data)
{
    FN(max_plus_weights) *job = context;
    const lrp_dense_shape *s = job->s;
    job->logs = data;
    lrp_status status = lrp_parallel_for_upto(
        s->out, (ptrdiff_t)((double)s->out * s->in / LRP_MIN_PACK_PER_THREAD),
        FN(max_plus_weight_rows), job, s->interrupt);
    if (status == LRP_OK) {
        const ptrdiff_t count = s->out * s->in;
        FN(finite_range)(job->logs, count, &job->logs[count], &job->logs[count + 1]);
    }
    return status;
}

typedef struct {
    const lrp_dense_shape *s;
    const T *a, *logs, *t;
    ptrdiff_t blocks; /* input blocks per sample group */
    T *r_in;
} FN(dense_max_plus_job);

/* Item (group of samples, block of inputs): every output k in turn, the
 * block of its log-weight row read once for the group. */
static LRP_INLINE lrp_status FN(dense_max_plus_items)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(dense_max_plus_job) *job = context;
    const lrp_dense_shape *s = job->s;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const ptrdiff_t n0 = item / job->blocks * MAX_PLUS_DENSE_GROUP;
        const ptrdiff_t j0 = item % job->blocks * MAX_PLUS_DENSE_BLOCK;
        const ptrdiff_t samples = s->n - n0 < MAX_PLUS_DENSE_GROUP ? s->n - n0 : MAX_PLUS_DENSE_GROUP;
        const ptrdiff_t width = s->in - j0 < MAX_PLUS_DENSE_BLOCK ? s->in - j0 : MAX_PLUS_DENSE_BLOCK;
        T acc[MAX_PLUS_DENSE_GROUP][MAX_PLUS_DENSE_BLOCK];
        for (ptrdiff_t g = 0; g < samples; g++)
            for (ptrdiff_t j = 0; j < width; j++)
                acc[g][j] = -(T)INFINITY;
        for (ptrdiff_t k = 0; k < s->out; k++) {
            const T *restrict row = job->logs + k * s->in + j0;
            for (ptrdiff_t g = 0; g < samples; g++) {
                const T tk = job->t[(n0 + g) * s->out + k];
                if (tk == -(T)INFINITY)
                    continue;
                T *restrict best = acc[g];
                for (ptrdiff_t j = 0; j < width; j++) {
                    const T v = row[j] + tk;
                    best[j] = v > best[j] ? v : best[j];
                }
            }
        }
        for (ptrdiff_t g = 0; g < samples; g++) {
            const T *a = job->a + (n0 + g) * s->in + j0;
            T *out = job->r_in + (n0 + g) * s->in + j0;
            for (ptrdiff_t j = 0; j < width; j++)
                out[j] = a[j] == 0 ? -(T)INFINITY : FN(log_abs)(a[j]) + acc[g][j];
        }
    }
    return LRP_OK;
}

LRP_ISA_PLAIN_TASKS(dense_max_plus_task, FN(dense_max_plus_items))

/* A dense layer, rules other than z^B, with log|rho(W)| kept in the weight
 * cache. *ran = 0 when this tier does not apply. */
static lrp_status FN(dense_max_plus)(const lrp_dense_shape *s, int kind, T gamma, const T *a,
                                     const T *w, const T *z, const T *r_out, T *r_in, int *ran)
{
    *ran = 0;
    size_t outputs, weights;
    if (kind == LRP_RULE_ZBOX || s->n < 1 || s->in < 1 || s->out < 1)
        return LRP_OK;
    if (lrp_checked_count(0, s->n, (size_t)s->out, &outputs) != LRP_OK ||
        lrp_checked_count(0, s->out, (size_t)s->in, &weights) != LRP_OK || weights > SIZE_MAX - 2)
        return LRP_ERR_NOMEM;
    T *t = lrp_alloc_array(outputs, sizeof(T));
    if (!t)
        return LRP_ERR_NOMEM;
    T z_lo, z_hi, a_lo, a_hi;
    const int good = FN(max_plus_outputs_run)(r_out, z, (ptrdiff_t)outputs, t, &z_lo, &z_hi);
    if (good != 1) {
        free(t);
        return good < 0 ? LRP_ERR_NOMEM : LRP_OK;
    }
    FN(log_magnitude_range)(a, s->n * s->in, &a_lo, &a_hi);
    FN(max_plus_weights) build = {s, w, kind, gamma, NULL};
    const lrp_cache_key key = {.form = LRP_FORM_LOG_ABS, .elem_size = (int)sizeof(T),
                               .isa = (int)lrp_current_isa(), .kind = kind,
                               .gamma = (double)gamma, .rows = s->out, .cols = s->in,
                               .groups = 1, .taps = 1, .count = weights + 2};
    void *own;
    lrp_status status;
    const T *logs = lrp_weights_prepared(s->cache, w, &key, FN(max_plus_weights_build), &build,
                                         &own, &status);
    if (status == LRP_OK &&
        FN(max_plus_in_range)(a_lo, a_hi, logs[weights], logs[weights + 1], z_lo, z_hi)) {
        const ptrdiff_t blocks = (s->in + MAX_PLUS_DENSE_BLOCK - 1) / MAX_PLUS_DENSE_BLOCK;
        const ptrdiff_t groups = (s->n + MAX_PLUS_DENSE_GROUP - 1) / MAX_PLUS_DENSE_GROUP;
        FN(dense_max_plus_job) job = {s, a, logs, t, blocks, r_in};
        status = lrp_parallel_for_upto(groups * blocks,
                                       (ptrdiff_t)((double)weights * s->n / LRP_MIN_WORK_PER_THREAD),
                                       LRP_ISA_TASK(dense_max_plus_task), &job, s->interrupt);
        *ran = status == LRP_OK;
    }
    free(own);
    free(t);
    return status;
}

/* lrp_dense_relevance_composed: R_j = add_k mul(value_jk, R_k) (lrp.h).
 * The first tier whose condition holds, noted "dense.composed.<tier>":
 *   max_plus  max-plus over log|d| (lrp_composed_form_of), not z^B, no R_k
 *             +inf or NaN, every numerator and quotient a normal number:
 *             FN(dense_max_plus) over log|rho(W)| kept in the weight cache,
 *             equal up to rounding
 *   blocks    the rest: items (sample, block of inputs) over the threads,
 *             each block's values computed per output k and combined with
 *             R_k (composed_combine.c), outputs with R_k == zero skipped */
lrp_status FN(lrp_dense_relevance_composed)(const lrp_dense_shape *s, const lrp_rule *rule,
                                            const lrp_semiring *sr, const T *a, const T *w,
                                            const T *low, const T *high, const T *den,
                                            const void *r_out, void *r_in)
{
    if (lrp_semiring_check(sr) != LRP_OK || s->n < 0 || s->in < 0 || s->out < 0 ||
        (rule->kind == LRP_RULE_ZBOX && (!low || !high)))
        return LRP_ERR_ARG;
    const lrp_elem elem_float = sizeof(T) == sizeof(float) ? LRP_ELEM_F32 : LRP_ELEM_F64;
    if (lrp_composed_form_of(sr, elem_float) == COMPOSED_MAX_PLUS) {
        int ran;
        const lrp_status status =
            FN(dense_max_plus)(s, rule->kind, (T)rule->gamma, a, w, den, r_out, r_in, &ran);
        if (ran)
            lrp_trace_tier("dense.composed.max_plus");
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
