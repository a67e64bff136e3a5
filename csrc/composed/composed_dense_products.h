/* Dense layers' product tiers for composed semirings (composed_products.h
 * says the arithmetic), written once against T and FN(), included by
 * composed_dense.h: max-plus over log|rho(W)| kept in the weight cache and
 * min-max over |rho(W)|, rules other than z^B. A work item is a block of
 * inputs for a group of samples; it runs over every output k, reading the
 * block of weight row k once for the whole group. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#include "composed/composed_products.h"
#ifndef LRP_INSTANCE_COMPOSED_DENSE_PRODUCTS /* once per instance */
#define LRP_INSTANCE_COMPOSED_DENSE_PRODUCTS

#include <stddef.h>
#include <stdlib.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/products.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/weight_cache.h"

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

/* Max-plus's items (group of samples, block of inputs). */
static LRP_INLINE lrp_status FN(dense_max_plus_items)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(dense_max_plus_job) *job = context;
    const lrp_dense_shape *s = job->s;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const ptrdiff_t n0 = item / job->blocks * PRODUCTS_DENSE_GROUP;
        const ptrdiff_t j0 = item % job->blocks * PRODUCTS_DENSE_BLOCK;
        const ptrdiff_t samples = s->n - n0 < PRODUCTS_DENSE_GROUP ? s->n - n0 : PRODUCTS_DENSE_GROUP;
        const ptrdiff_t width = s->in - j0 < PRODUCTS_DENSE_BLOCK ? s->in - j0 : PRODUCTS_DENSE_BLOCK;
        T acc[PRODUCTS_DENSE_GROUP][PRODUCTS_DENSE_BLOCK];
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

/* Max-plus; *ran = 0 when this tier does not apply. */
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
        const ptrdiff_t blocks = (s->in + PRODUCTS_DENSE_BLOCK - 1) / PRODUCTS_DENSE_BLOCK;
        const ptrdiff_t groups = (s->n + PRODUCTS_DENSE_GROUP - 1) / PRODUCTS_DENSE_GROUP;
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

/* Min-max's items (group of samples, block of inputs) under rule KIND (a
 * constant): pairs with R_k <= 0 or s_k = 0 add nothing to a maximum from 0
 * of non-negative values, and are skipped. */
typedef struct {
    const lrp_dense_shape *s;
    int kind;
    T gamma;
    const T *side, *w, *scale, *r;
    ptrdiff_t blocks;
    T *r_in;
} FN(dense_min_max_job);

static LRP_INLINE lrp_status FN(dense_min_max_item)(const FN(dense_min_max_job) *job,
                                                    ptrdiff_t item, const int KIND)
{
    const lrp_dense_shape *s = job->s;
    const ptrdiff_t n0 = item / job->blocks * PRODUCTS_DENSE_GROUP;
    const ptrdiff_t j0 = item % job->blocks * PRODUCTS_DENSE_BLOCK;
    const ptrdiff_t samples = s->n - n0 < PRODUCTS_DENSE_GROUP ? s->n - n0 : PRODUCTS_DENSE_GROUP;
    const ptrdiff_t width = s->in - j0 < PRODUCTS_DENSE_BLOCK ? s->in - j0 : PRODUCTS_DENSE_BLOCK;
    T acc[PRODUCTS_DENSE_GROUP][PRODUCTS_DENSE_BLOCK];
    T magnitude[PRODUCTS_DENSE_BLOCK];
    for (ptrdiff_t g = 0; g < samples; g++)
        for (ptrdiff_t j = 0; j < width; j++)
            acc[g][j] = 0;
    for (ptrdiff_t k = 0; k < s->out; k++) {
        int rho_ready = 0;
        for (ptrdiff_t g = 0; g < samples; g++) {
            const T sk = job->scale[(n0 + g) * s->out + k], rk = job->r[(n0 + g) * s->out + k];
            if (!(rk > 0) || sk == 0)
                continue;
            if (!rho_ready) {
                const T *restrict wk = job->w + k * s->in + j0;
                for (ptrdiff_t j = 0; j < width; j++)
                    magnitude[j] = FN(absolute)(FN(rho)(KIND, job->gamma, wk[j]));
                rho_ready = 1;
            }
            const T *restrict side = job->side + (n0 + g) * s->in + j0;
            T *restrict best = acc[g];
            for (ptrdiff_t j = 0; j < width; j++) {
                T v = magnitude[j] * sk * side[j];
                v = rk < v ? rk : v;
                best[j] = v > best[j] ? v : best[j];
            }
        }
    }
    for (ptrdiff_t g = 0; g < samples; g++)
        for (ptrdiff_t j = 0; j < width; j++)
            job->r_in[(n0 + g) * s->in + j0 + j] = acc[g][j];
    return LRP_OK;
}

static LRP_INLINE lrp_status FN(dense_min_max_items)(void *context, ptrdiff_t begin,
                                                     ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(dense_min_max_job) *job = context;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        if (job->kind == LRP_RULE_GAMMA)
            FN(dense_min_max_item)(job, item, LRP_RULE_GAMMA);
        else
            FN(dense_min_max_item)(job, item, LRP_RULE_ZERO);
    }
    return LRP_OK;
}

LRP_ISA_PLAIN_TASKS(dense_min_max_task, FN(dense_min_max_items))

/* Min-max; *ran = 0 when this tier does not apply. */
static lrp_status FN(dense_min_max)(const lrp_dense_shape *s, int kind, T gamma, const T *a,
                                    const T *w, const T *z, const T *r_out, T *r_in, int *ran)
{
    *ran = 0;
    size_t outputs, inputs, weights;
    if (kind == LRP_RULE_ZBOX || s->n < 1 || s->in < 1 || s->out < 1)
        return LRP_OK;
    if (lrp_checked_count(0, s->n, (size_t)s->out, &outputs) != LRP_OK ||
        lrp_checked_count(0, s->n, (size_t)s->in, &inputs) != LRP_OK ||
        lrp_checked_count(0, s->out, (size_t)s->in, &weights) != LRP_OK ||
        outputs > SIZE_MAX - inputs)
        return LRP_ERR_NOMEM;
    T *scale = lrp_alloc_array(outputs + inputs, sizeof(T));
    if (!scale)
        return LRP_ERR_NOMEM;
    T *side = scale + outputs, scale_most, a_most = 0;
    const int good = FN(min_max_outputs_run)(r_out, z, (ptrdiff_t)outputs, scale, &scale_most);
    for (size_t j = 0; good == 1 && j < inputs; j++) {
        side[j] = FN(absolute)(a[j]);
        a_most = side[j] > a_most ? side[j] : a_most;
    }
    lrp_status status = good < 0 ? LRP_ERR_NOMEM : LRP_OK;
    if (good == 1 && FN(min_max_finite)(s->cache, kind, gamma, w, (ptrdiff_t)weights,
                                        scale_most, a_most, &status)) {
        const ptrdiff_t blocks = (s->in + PRODUCTS_DENSE_BLOCK - 1) / PRODUCTS_DENSE_BLOCK;
        const ptrdiff_t groups = (s->n + PRODUCTS_DENSE_GROUP - 1) / PRODUCTS_DENSE_GROUP;
        FN(dense_min_max_job) job = {s, kind, gamma, side, w, scale, r_out, blocks, r_in};
        status = lrp_parallel_for_upto(groups * blocks,
                                       (ptrdiff_t)((double)weights * s->n / LRP_MIN_WORK_PER_THREAD),
                                       LRP_ISA_TASK(dense_min_max_task), &job, s->interrupt);
        *ran = status == LRP_OK;
    }
    free(scale);
    return status;
}

#endif /* LRP_INSTANCE_COMPOSED_DENSE_PRODUCTS */
