/* Float counting and log-counting (composed.h's COMPOSED_FLOAT_COUNTING and
 * COMPOSED_LOG_COUNTING) by the built-in Counting semiring's intervals
 * tier, which gives, for every input j, the sum in double of R_k over the
 * pairs (j, k) that pass the threshold, in ascending k:
 *   float counting  R_j = that sum of R_k itself: the generic tier's sum
 *                   (it adds 1 * R_k and 0 * R_k in the same order; a
 *                   skipped 0 * R_k, a zero, changes no sum, none being -0,
 *                   unless R_k is infinite)
 *   log-counting    R_j = M + log(the sum of e_k = exp(R_k - M)), M the
 *                   sample's largest R_k: the generic tier's chain of
 *                   logaddexp to rounding, while every e_k is a normal
 *                   double (the spread below); under an absolute
 *                   threshold, a conv input every pair of which passes
 *                   sums its whole field in another order (conv's
 *                   FN(conv_whole)), the same to rounding
 * Each family (composed_counting_dense.h, composed_counting_conv.h) gives
 * its intervals tier as a callback; this file holds what happens around it. */
#ifndef SEMIRING_LRP_COMPOSED_COMPOSED_COUNTING_H
#define SEMIRING_LRP_COMPOSED_COMPOSED_COUNTING_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include "lrp.h"
#include "composed/composed.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"

/* The widest spread M - R_k of a sample's finite R_k that log-counting
 * sums in double: exp(-600) is a normal double, so no e_k underflows or
 * loses bits; a wider spread takes the generic tier. */
#define LOG_COUNTING_SPREAD 600.0

/* Values per item of the element-by-element loops (exp, log). */
enum { COUNTING_CHUNK = 16384 };

/* sums[j] = the sum of r[k] over the passing pairs (j, k), in ascending k,
 * for every input j of the call: a family's intervals tier. */
typedef lrp_status (*lrp_counting_sums_fn)(const void *context, const double *r, double *sums);

typedef struct {
    ptrdiff_t n, outs, ins; /* samples; outputs and inputs of one sample */
    const double *r_out;    /* (n, outs) */
    double *r_in;           /* (n, ins) */
    lrp_counting_sums_fn sums;
    const void *context;    /* the callback's */
} lrp_counting_call;

/* Whether any of x[0..count) is NaN. */
static inline int lrp_any_nan(const double *x, ptrdiff_t count)
{
    int nan = 0;
    for (ptrdiff_t i = 0; i < count; i++)
        nan |= x[i] != x[i];
    return nan;
}

/* Float counting. Where R_out holds a NaN the generic tier runs (and
 * reports it). A NaN in the sums is one the generic tier makes too (the
 * same additions in the same order, plus 0 * R_k for pairs skipped here):
 * LRP_ERR_NAN. Where R_out holds an infinity but the sums no NaN, a skipped
 * pair (an input at 0, an output nothing passes) may hide a 0 * inf: the
 * generic tier runs. */
static inline lrp_status lrp_float_counting(const lrp_counting_call *c, int *done)
{
    const ptrdiff_t outs = c->n * c->outs;
    int infinite = 0;
    *done = 0;
    for (ptrdiff_t k = 0; k < outs; k++) {
        const double x = c->r_out[k];
        if (x != x)
            return LRP_OK;
        infinite |= x - x != 0; /* inf - inf is NaN */
    }
    lrp_status status = c->sums(c->context, c->r_out, c->r_in);
    if (status != LRP_OK) {
        *done = 1;
        return status;
    }
    if (lrp_any_nan(c->r_in, c->n * c->ins)) {
        *done = 1;
        return LRP_ERR_NAN;
    }
    *done = !infinite;
    return LRP_OK;
}

/* The element-by-element halves of log-counting, over runs of `per_sample`
 * values with one M per sample. */
typedef struct {
    const double *in;
    double *out;
    const double *top; /* M per sample */
    ptrdiff_t per_sample, count;
} lrp_log_counting_map;

/* e_k = exp(R_k - M): 0 where R_k = -inf. */
static lrp_status lrp_log_counting_exp(void *context, ptrdiff_t begin, ptrdiff_t end,
                                       int worker, lrp_team *team)
{
    (void)worker, (void)team;
    const lrp_log_counting_map *m = context;
    ptrdiff_t first, last;
    lrp_chunk_span(begin, end, COUNTING_CHUNK, m->count, &first, &last);
    for (ptrdiff_t i = first; i < last;) {
        const ptrdiff_t n = i / m->per_sample;
        const ptrdiff_t stop = (n + 1) * m->per_sample < last ? (n + 1) * m->per_sample : last;
        for (const double top = m->top[n]; i < stop; i++) {
            const double x = m->in[i];
            m->out[i] = x == -(double)INFINITY ? 0 : exp(x - top);
        }
    }
    return LRP_OK;
}

/* R_j = M + log(sum): -inf where no pair passed (sum 0; no sum is NaN). */
static lrp_status lrp_log_counting_log(void *context, ptrdiff_t begin, ptrdiff_t end,
                                       int worker, lrp_team *team)
{
    (void)worker, (void)team;
    const lrp_log_counting_map *m = context;
    ptrdiff_t first, last;
    lrp_chunk_span(begin, end, COUNTING_CHUNK, m->count, &first, &last);
    for (ptrdiff_t i = first; i < last;) {
        const ptrdiff_t n = i / m->per_sample;
        const ptrdiff_t stop = (n + 1) * m->per_sample < last ? (n + 1) * m->per_sample : last;
        for (const double top = m->top[n]; i < stop; i++) {
            const double sum = m->in[i];
            m->out[i] = sum > 0 ? top + log(sum) : -(double)INFINITY;
        }
    }
    return LRP_OK;
}

/* *top = the largest of r[0..count) (-inf if all are -inf); 0 where some
 * R_k is +inf or NaN or the finite ones spread wider than
 * LOG_COUNTING_SPREAD: the generic tier's case. */
static inline int lrp_log_counting_top(const double *r, ptrdiff_t count, double *top)
{
    double hi = -(double)INFINITY, lo = (double)INFINITY;
    for (ptrdiff_t k = 0; k < count; k++) {
        const double x = r[k];
        if (x != x || x == (double)INFINITY)
            return 0;
        if (x != -(double)INFINITY) {
            hi = x > hi ? x : hi;
            lo = x < lo ? x : lo;
        }
    }
    *top = hi;
    return !(hi - lo > LOG_COUNTING_SPREAD); /* all -inf: -inf - inf */
}

/* Log-counting, when every sample's R_out passes lrp_log_counting_top. */
static inline lrp_status lrp_log_counting(const lrp_counting_call *c, int *done)
{
    size_t outs, cells;
    *done = 0;
    if (lrp_checked_count(0, c->n, (size_t)c->outs, &outs) != LRP_OK ||
        lrp_checked_count((ptrdiff_t)outs, c->n, 1, &cells) != LRP_OK)
        return LRP_OK;
    double *e = lrp_alloc_array(cells, sizeof(double));
    if (!e) {
        *done = 1;
        return LRP_ERR_NOMEM;
    }
    double *top = e + outs;
    for (ptrdiff_t n = 0; n < c->n; n++)
        if (!lrp_log_counting_top(c->r_out + n * c->outs, c->outs, &top[n])) {
            free(e);
            return LRP_OK;
        }
    *done = 1;
    lrp_log_counting_map map = {c->r_out, e, top, c->outs, (ptrdiff_t)outs};
    if (c->outs > 0)
        lrp_parallel_chunks((ptrdiff_t)outs, COUNTING_CHUNK, lrp_log_counting_exp, &map);
    lrp_status status = c->sums(c->context, e, c->r_in);
    lrp_log_counting_map back = {c->r_in, c->r_in, top, c->ins, c->n * c->ins};
    if (status == LRP_OK && c->ins > 0)
        lrp_parallel_chunks(c->n * c->ins, COUNTING_CHUNK, lrp_log_counting_log, &back);
    free(e);
    return status;
}

/* Runs a call of form COMPOSED_FLOAT_COUNTING or COMPOSED_LOG_COUNTING
 * where this gives the generic tier's result (to rounding, for
 * log-counting): *done = 1 and the call's status. Otherwise *done = 0,
 * r_in holds anything, and the generic tier must run. */
static inline lrp_status lrp_composed_counting(lrp_composed_form form,
                                               const lrp_counting_call *c, int *done)
{
    return form == COMPOSED_FLOAT_COUNTING ? lrp_float_counting(c, done)
                                           : lrp_log_counting(c, done);
}

#endif
