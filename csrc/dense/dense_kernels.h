/* Dense (fully connected) layers: the public passes of lrp.h, written once
 * against T and FN() and compiled once per dtype (dense.c, through
 * kernel/instantiate.h). Each public function is the dispatch of its pass:
 * its banner lists the tiers in the order they are tried, with the
 * condition of each, and it notes the tier that did the work
 * ("dense.<pass>.<tier>", runtime/trace.h). The tiers live in
 *   dense_few.h         few_samples: batches of at most DENSE_FEW_SAMPLES
 *   dense_sparse.h      sparse_inputs: batches whose inputs are mostly zero
 *   dense_products.h    weights_first, packed_product: the packed products
 *   dense_thresholds.h  intervals: boolean and counting without a division
 *   dense_sparse_semirings.h  sparse_inputs: those of mostly-zero inputs
 *   this file           zbox, pairs: loops over every pair (j, k)
 * z^B's numerator has three weight parts, so z^B always takes the pair
 * loops; so do counting past 2^53 and Viterbi where its product form
 * overflows.
 *
 * The arithmetic of a coefficient is written exactly as semantics.md gives
 * it, operation by operation, because boolean and counting results are
 * compared bit for bit with a literal reference.
 */
#include "kernel/template.h"
#include "kernel/rule_math.h"

#ifndef SEMIRING_LRP_DENSE_KERNELS_UNIT /* once per unit: the same for every T */
#define SEMIRING_LRP_DENSE_KERNELS_UNIT
#include "lrp.h"
#include "runtime/trace.h"

enum { ROW_LANES = 8 }; /* partial sums or maxima of a weight row */

/* status, after noting tier for the calling thread if the pass succeeded:
 * each public pass notes exactly one tier per successful call. */
static inline lrp_status dense_traced(lrp_status status, const char *tier)
{
    if (status == LRP_OK)
        lrp_trace_tier(tier);
    return status;
}
#endif

#ifndef LRP_INSTANCE_DENSE_KERNELS /* once per instance */
#define LRP_INSTANCE_DENSE_KERNELS

#include <stdint.h>
#include <stdlib.h>
#include "kernel/compiler.h"
#include "kernel/counts.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "products/products.h"
#include "dense/dense_few.h"
#include "dense/dense_products.h"
#include "dense/dense_sparse.h"
#include "dense/dense_thresholds.h"
#include "dense/dense_sparse_semirings.h"
#include "kernel/tuning.h"

/* n_jk of z^B: a_j w_jk - l_j w_jk^+ - h_j w_jk^- (rule_math.h). */
static LRP_INLINE T FN(zbox_numerator)(T a, T lo, T hi, T w)
{
    return FN(numerator)(LRP_RULE_ZBOX, 0, a, lo, hi, w);
}

/* sum_j n_jk over one weight row, in a fixed order (ROW_LANES partial sums),
 * so results never depend on threads or call site. */
static LRP_INLINE T FN(zbox_row_sum)(const T *a, const T *lo, const T *hi, const T *w,
                                     ptrdiff_t in)
{
    T acc[ROW_LANES] = {0};
    ptrdiff_t j = 0;
    for (; j + ROW_LANES <= in; j += ROW_LANES)
        for (int u = 0; u < ROW_LANES; u++)
            acc[u] += FN(zbox_numerator)(a[j + u], lo[j + u], hi[j + u], w[j + u]);
    T tail = 0;
    for (; j < in; j++)
        tail += FN(zbox_numerator)(a[j], lo[j], hi[j], w[j]);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

static LRP_INLINE T FN(zbox_row_absmax)(const T *a, const T *lo, const T *hi, const T *w,
                                        ptrdiff_t in)
{
    /* ROW_LANES independent maxima let the compiler use vector max; max is exact,
     * so the result does not depend on the order. */
    T best[ROW_LANES] = {0};
    ptrdiff_t j = 0;
    for (; j + ROW_LANES <= in; j += ROW_LANES)
        for (int u = 0; u < ROW_LANES; u++) {
            T v = FN(absolute)(FN(zbox_numerator)(a[j + u], lo[j + u], hi[j + u], w[j + u]));
            best[u] = v > best[u] ? v : best[u];
        }
    for (; j < in; j++) {
        T v = FN(absolute)(FN(zbox_numerator)(a[j], lo[j], hi[j], w[j]));
        best[0] = v > best[0] ? v : best[0];
    }
    for (int u = 1; u < ROW_LANES; u++)
        best[0] = best[u] > best[0] ? best[u] : best[0];
    return best[0];
}

/* z of z^B; its beta_k (FN(bias_term)) is 0. */
static LRP_INLINE lrp_status FN(zbox_forward)(const lrp_dense_shape *s, const T *a, const T *w,
                                              const T *low, const T *high, T *z)
{
    for (ptrdiff_t n = 0; n < s->n; n++) {
        if (lrp_interrupted(s->interrupt))
            return LRP_ERR_INTERRUPTED;
        const T *an = a + n * s->in;
        const T *lo = low + n * s->in;
        const T *hi = high + n * s->in;
        for (ptrdiff_t k = 0; k < s->out; k++)
            z[n * s->out + k] = FN(zbox_row_sum)(an, lo, hi, w + k * s->in, s->in)
                                + FN(bias_term)(LRP_RULE_ZBOX, 0, 0);
    }
    return LRP_OK;
}

/* m of z^B. */
static LRP_INLINE lrp_status FN(zbox_absmax)(const lrp_dense_shape *s, const T *a, const T *w,
                                             const T *low, const T *high, T *m)
{
    for (ptrdiff_t n = 0; n < s->n; n++) {
        if (lrp_interrupted(s->interrupt))
            return LRP_ERR_INTERRUPTED;
        const T *an = a + n * s->in;
        const T *lo = low + n * s->in;
        const T *hi = high + n * s->in;
        for (ptrdiff_t k = 0; k < s->out; k++) {
            T row = FN(zbox_row_absmax)(an, lo, hi, w + k * s->in, s->in);
            T bias = FN(absolute)(FN(bias_term)(LRP_RULE_ZBOX, 0, 0));
            m[n * s->out + k] = row > bias ? row : bias;
        }
    }
    return LRP_OK;
}

/* lrp_dense_forward: z = a rho(W)^T + beta, (n, out). Tiers in order; the
 * first whose condition holds does the work and notes "dense.forward.<tier>":
 *   zbox            the rule is z^B: FN(zbox_forward)
 *   few_streamed    n <= FEW_STREAMED_SAMPLES, FEW_STREAMED_MIN_WEIGHTS to
 *                   FEW_STREAMED_MAX_WEIGHTS weights, and s->cache holds
 *                   rho(W)^T or has room for it (FN(sparse_weights_kept)):
 *                   FN(few_forward_streamed_run)
 *   few_samples     n <= DENSE_FEW_SAMPLES: FN(few_forward_run)
 *   sparse_inputs   sparse passes on (lrp_set_sparse_passes),
 *                   n >= SPARSE_MIN_FORWARD, at most SPARSE_MAX_WEIGHTS
 *                   weights and at most a quarter of the inputs nonzero
 *                   (FN(dense_sparse_pays)): FN(sparse_forward_run)
 *   weights_first   n <= DENSE_WEIGHTS_FIRST_SAMPLES: FN(dense_weights_first)
 *   packed_product  otherwise: FN(packed_forward_run)
 * Past zbox, every z_k is the same multiply-add chain over j whichever tier
 * computes it (the sparse one leaves out zero terms). */
lrp_status FN(lrp_dense_forward)(const lrp_dense_shape *s, const lrp_rule *rule,
                                 const T *a, const T *w, const T *b,
                                 const T *low, const T *high, T *z)
{
    const int kind = rule->kind;
    if (kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    if (kind == LRP_RULE_ZBOX)
        return dense_traced(FN(zbox_forward)(s, a, w, low, high, z), "dense.forward.zbox");
    const T gamma = (T)rule->gamma;
    T *beta = FN(bias_terms)(kind, gamma, 0, b, s->out);
    if (!beta)
        return LRP_ERR_NOMEM;
    lrp_status status;
    const double weights = (double)s->in * (double)s->out;
    const T *wt = NULL;
    ptrdiff_t ld;
    if (s->n <= FEW_STREAMED_SAMPLES && weights >= FEW_STREAMED_MIN_WEIGHTS &&
        weights <= FEW_STREAMED_MAX_WEIGHTS)
        wt = FN(sparse_weights_kept)(s, kind, gamma, w, &ld);
    if (wt)
        status = dense_traced(FN(few_forward_streamed_run)(s, a, wt, ld, beta, z),
                              "dense.forward.few_streamed");
    else if (s->n <= DENSE_FEW_SAMPLES)
        status = dense_traced(FN(few_forward_run)(s, kind, gamma, a, w, beta, z),
                              "dense.forward.few_samples");
    else if (lrp_sparse_passes() && FN(dense_sparse_pays)(s, a, SPARSE_MIN_FORWARD))
        status = dense_traced(FN(sparse_forward_run)(s, kind, gamma, a, w, beta, z),
                              "dense.forward.sparse_inputs");
    else if (s->n <= DENSE_WEIGHTS_FIRST_SAMPLES)
        status = dense_traced(FN(dense_weights_first)(s, kind, gamma, 0, a, w, beta, z),
                              "dense.forward.weights_first");
    else
        status = dense_traced(FN(packed_forward_run)(s, kind, gamma, 0, a, w, beta, z),
                              "dense.forward.packed_product");
    free(beta);
    return status;
}

/* lrp_dense_absmax: m = max(|beta|, max_j |a_j| |rho(w_kj)|), (n, out),
 * Viterbi's denominator. Tiers in order; the first whose condition holds
 * does the work and notes "dense.absmax.<tier>":
 *   zbox            the rule is z^B: FN(zbox_absmax)
 *   few_samples     n <= DENSE_FEW_SAMPLES: FN(few_absmax_run)
 *   sparse_inputs   inputs mostly zero (FN(sparse_semirings_pay)):
 *                   FN(sparse_absmax_run)
 *   sample_groups   n <= DENSE_ABSMAX_GROUPS_SAMPLES: FN(few_absmax_run),
 *                   DENSE_FEW_SAMPLES samples at a time
 *   weights_first   n <= DENSE_WEIGHTS_FIRST_SAMPLES: FN(dense_weights_first)
 *   packed_product  otherwise: FN(packed_forward_run)
 * Each |a_j| |rho(w_kj)| is one rounded product and a maximum is exact in
 * any order, so every tier past zbox gives the same m. */
lrp_status FN(lrp_dense_absmax)(const lrp_dense_shape *s, const lrp_rule *rule,
                                const T *a, const T *w, const T *b,
                                const T *low, const T *high, T *m)
{
    const int kind = rule->kind;
    if (kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    if (kind == LRP_RULE_ZBOX)
        return dense_traced(FN(zbox_absmax)(s, a, w, low, high, m), "dense.absmax.zbox");
    const T gamma = (T)rule->gamma;
    T *beta = FN(bias_terms)(kind, gamma, 1, b, s->out);
    if (!beta)
        return LRP_ERR_NOMEM;
    lrp_status status;
    const T *wt;
    ptrdiff_t ld;
    void *own;
    if (s->n <= DENSE_FEW_SAMPLES)
        status = dense_traced(FN(few_absmax_run)(s, kind, gamma, a, w, beta, m),
                              "dense.absmax.few_samples");
    else if (FN(sparse_semirings_pay)(s, kind, gamma, a, w, &wt, &ld, &own)) {
        status = dense_traced(FN(sparse_absmax_run)(s, a, wt, ld, beta, m),
                              "dense.absmax.sparse_inputs");
        free(own);
    } else if (s->n <= DENSE_ABSMAX_GROUPS_SAMPLES)
        status = dense_traced(FN(few_absmax_run)(s, kind, gamma, a, w, beta, m),
                              "dense.absmax.sample_groups");
    else if (s->n <= DENSE_WEIGHTS_FIRST_SAMPLES)
        status = dense_traced(FN(dense_weights_first)(s, kind, gamma, 1, a, w, beta, m),
                              "dense.absmax.weights_first");
    else
        status = dense_traced(FN(packed_forward_run)(s, kind, gamma, 1, a, w, beta, m),
                              "dense.absmax.packed_product");
    free(beta);
    return status;
}

/* Real semiring. Theta is the identity, so sum_k d_jk R_k factors as
 * a_j * sum_k rho(w_jk) * (R_k / z_k): one pass over w per sample, a GEMM
 * shape, with no coefficient stored. z^B needs the three weight parts:
 * R_j = a_j c_j - l_j c_j^+ - h_j c_j^-, c_j = sum_k w_jk (R_k / z_k) and
 * likewise for w^+, w^-. scratch holds out + 3 in values. */
static LRP_INLINE lrp_status FN(zbox_real)(const lrp_dense_shape *s, const T *a, const T *w,
                                           const T *low, const T *high, const T *z,
                                           const T *r_out, T *r_in, T *scratch)
{
    ptrdiff_t in = s->in, out = s->out;
    T *ratio = scratch;
    T *c = scratch + out, *cpos = c + in, *cneg = cpos + in;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        if (lrp_interrupted(s->interrupt))
            return LRP_ERR_INTERRUPTED;
        const T *zn = z + n * out, *rn = r_out + n * out;
        for (ptrdiff_t k = 0; k < out; k++)
            ratio[k] = zn[k] == 0 ? (T)0 : rn[k] / zn[k];
        for (ptrdiff_t j = 0; j < in; j++)
            c[j] = 0;
        for (ptrdiff_t j = 0; j < in; j++)
            cpos[j] = cneg[j] = 0;
        for (ptrdiff_t k = 0; k < out; k++) {
            T q = ratio[k];
            if (q == 0)
                continue;
            const T *wk = w + k * in;
            for (ptrdiff_t j = 0; j < in; j++) {
                c[j] += wk[j] * q;
                cpos[j] += FN(positive)(wk[j]) * q;
                cneg[j] += FN(negative)(wk[j]) * q;
            }
        }
        const T *an = a + n * in;
        T *ri = r_in + n * in;
        const T *lo = low + n * in, *hi = high + n * in;
        for (ptrdiff_t j = 0; j < in; j++)
            ri[j] = an[j] * c[j] - lo[j] * cpos[j] - hi[j] * cneg[j];
    }
    return LRP_OK;
}

/* R_in of z^B by FN(zbox_real), with its scratch. */
static lrp_status FN(zbox_real_run)(const lrp_dense_shape *s, const T *a, const T *w,
                                    const T *low, const T *high, const T *z, const T *r_out,
                                    T *r_in)
{
    size_t count;
    if (lrp_checked_count(s->out, s->in, 3, &count) != LRP_OK)
        return LRP_ERR_NOMEM;
    T *scratch = lrp_alloc_array(count, sizeof(T));
    if (!scratch)
        return LRP_ERR_NOMEM;
    lrp_status status = FN(zbox_real)(s, a, w, low, high, z, r_out, r_in, scratch);
    free(scratch);
    return status;
}

/* lrp_dense_relevance_real: R_j = a_j sum_k rho(w_kj) R_k / z_k. Tiers in
 * order; the first whose condition holds does the work and notes
 * "dense.real.<tier>":
 *   zbox            the rule is z^B: FN(zbox_real_run)
 *   few_samples     n <= DENSE_FEW_SAMPLES: FN(few_transposed_run)
 *   sparse_inputs   sparse passes on (lrp_set_sparse_passes),
 *                   n >= SPARSE_MIN_REAL, at most SPARSE_MAX_WEIGHTS
 *                   weights and at most a quarter of the inputs nonzero
 *                   (FN(dense_sparse_pays)): FN(sparse_real_run)
 *   packed_product  otherwise: FN(packed_transposed_run)
 * Past zbox, the tiers share x = R / z (FN(dense_quotients)) and compute
 * each sum as the same multiply-add chain over k. */
lrp_status FN(lrp_dense_relevance_real)(const lrp_dense_shape *s, const lrp_rule *rule,
                                        const T *a, const T *w, const T *low, const T *high,
                                        const T *z, const T *r_out, T *r_in)
{
    const int kind = rule->kind;
    if (kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    if (kind == LRP_RULE_ZBOX)
        return dense_traced(FN(zbox_real_run)(s, a, w, low, high, z, r_out, r_in),
                            "dense.real.zbox");
    const T gamma = (T)rule->gamma;
    T *x = FN(dense_quotients)(s, r_out, z, 0);
    if (!x)
        return LRP_ERR_NOMEM;
    lrp_status status;
    if (s->n <= DENSE_FEW_SAMPLES)
        status = dense_traced(FN(few_transposed_run)(s, kind, gamma, 0, x, w, a, NULL, r_in),
                              "dense.real.few_samples");
    else if (lrp_sparse_passes() && FN(dense_sparse_pays)(s, a, SPARSE_MIN_REAL))
        status = dense_traced(FN(sparse_real_run)(s, kind, gamma, a, w, x, r_in),
                              "dense.real.sparse_inputs");
    else
        status = dense_traced(FN(packed_transposed_run)(s, kind, gamma, 0, x, w, a, NULL, r_in),
                              "dense.real.packed_product");
    lrp_scratch_free(x);
    return status;
}

/* Boolean semiring: R_j = OR_k [Theta(d_jk)] AND R_k. Outputs with R_k false
 * are skipped: F absorbs AND and is neutral for OR. */
static LRP_INLINE lrp_status FN(zbox_boolean)(const lrp_dense_shape *s, T theta, int absolute,
                                              const T *a, const T *w, const T *low,
                                              const T *high, const T *z, const uint8_t *r_out,
                                              uint8_t *r_in)
{
    ptrdiff_t in = s->in, out = s->out;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        if (lrp_interrupted(s->interrupt))
            return LRP_ERR_INTERRUPTED;
        const T *an = a + n * in, *zn = z + n * out;
        const T *lo = low + n * in;
        const T *hi = high + n * in;
        const uint8_t *rn = r_out + n * out;
        uint8_t *ri = r_in + n * in;
        for (ptrdiff_t j = 0; j < in; j++)
            ri[j] = 0;
        for (ptrdiff_t k = 0; k < out; k++) {
            if (!rn[k])
                continue;
            T zk = zn[k];
            const T *wk = w + k * in;
            if (zk == 0) {
                /* every d_jk of this k is 0 */
                if (FN(passes)((T)0, theta, absolute))
                    for (ptrdiff_t j = 0; j < in; j++)
                        ri[j] = 1;
                continue;
            }
            for (ptrdiff_t j = 0; j < in; j++) {
                T d = FN(zbox_numerator)(an[j], lo[j], hi[j], wk[j]) / zk;
                ri[j] |= (uint8_t)FN(passes)(d, theta, absolute);
            }
        }
    }
    return LRP_OK;
}

/* lrp_dense_relevance_boolean: R_j = OR_k [Theta(n_jk / z_k)] AND R_k.
 * Tiers in order; the first whose condition holds does the work and notes
 * "dense.boolean.<tier>":
 *   zbox           the rule is z^B: FN(zbox_boolean), a division per pair
 *   sparse_inputs  n >= SPARSE_ITEM_SAMPLES, inputs mostly zero
 *                  (FN(sparse_semirings_pay)): FN(sparse_verdicts_run)
 *   intervals      otherwise: FN(dense_boolean_intervals), n_jk compared
 *                  with output k's passing interval (the same verdict)
 * Both tiers past zbox give the same R. */
lrp_status FN(lrp_dense_relevance_boolean)(const lrp_dense_shape *s, const lrp_rule *rule,
                                           const lrp_threshold *t,
                                           const T *a, const T *w, const T *low, const T *high,
                                           const T *z, const uint8_t *r_out, uint8_t *r_in)
{
    const int kind = rule->kind;
    if (kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    const T gamma = (T)rule->gamma, theta = (T)t->theta;
    if (kind == LRP_RULE_ZBOX)
        return dense_traced(
            FN(zbox_boolean)(s, theta, t->absolute, a, w, low, high, z, r_out, r_in),
            "dense.boolean.zbox");
    const T *wt;
    ptrdiff_t ld;
    void *own;
    if (FN(sparse_semirings_pay)(s, kind, gamma, a, w, &wt, &ld, &own)) {
        lrp_status status = FN(sparse_verdicts_run)(s, theta, t->absolute, a, z, wt, ld, r_out,
                                                    NULL, r_in, NULL);
        free(own);
        return dense_traced(status, "dense.boolean.sparse_inputs");
    }
    return dense_traced(
        FN(dense_boolean_intervals)(kind, s, gamma, theta, t->absolute, a, w, z, r_out, r_in),
        "dense.boolean.intervals");
}

/* Counting semiring: R_j = sum_k [Theta(d_jk)] * R_k in exact integers.
 * Every R_j is at most sum_k R_k, so when that total fits in int64 the plain
 * loop cannot overflow; otherwise each addition is checked. */
static LRP_INLINE lrp_status FN(counting_pairs)(int kind, const lrp_dense_shape *s, T gamma,
                                                T theta, int absolute,
                                                const T *a, const T *w, const T *low, const T *high,
                                                const T *z, const int64_t *r_out, int64_t *r_in)
{
    ptrdiff_t in = s->in, out = s->out;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        if (lrp_interrupted(s->interrupt))
            return LRP_ERR_INTERRUPTED;
        const T *an = a + n * in, *zn = z + n * out;
        const T *lo = kind == LRP_RULE_ZBOX ? low + n * in : NULL;
        const T *hi = kind == LRP_RULE_ZBOX ? high + n * in : NULL;
        const int64_t *rn = r_out + n * out;
        int64_t *ri = r_in + n * in;
        int64_t total;
        lrp_status status = lrp_count_sum(rn, out, &total);
        if (status != LRP_OK)
            return status;
        const int fits = total >= 0;
        for (ptrdiff_t j = 0; j < in; j++)
            ri[j] = 0;
        for (ptrdiff_t k = 0; k < out; k++) {
            int64_t rk = rn[k];
            if (rk == 0)
                continue;
            T zk = zn[k];
            const T *wk = w + k * in;
            if (zk == 0) {
                if (!FN(passes)((T)0, theta, absolute))
                    continue;
                for (ptrdiff_t j = 0; j < in; j++)
                    if (__builtin_add_overflow(ri[j], rk, &ri[j]))
                        return LRP_ERR_OVERFLOW;
                continue;
            }
            if (fits) {
                for (ptrdiff_t j = 0; j < in; j++) {
                    T d = FN(numerator)(kind, gamma, an[j],
                                        LRP_BOUND(kind, lo, j),
                                        LRP_BOUND(kind, hi, j), wk[j]) / zk;
                    /* a mask, not a branch: whether d passes is a coin toss */
                    ri[j] += rk & -(int64_t)FN(passes)(d, theta, absolute);
                }
                continue;
            }
            for (ptrdiff_t j = 0; j < in; j++) {
                T d = FN(numerator)(kind, gamma, an[j],
                                    LRP_BOUND(kind, lo, j),
                                    LRP_BOUND(kind, hi, j), wk[j]) / zk;
                if (FN(passes)(d, theta, absolute) && __builtin_add_overflow(ri[j], rk, &ri[j]))
                    return LRP_ERR_OVERFLOW;
            }
        }
    }
    return LRP_OK;
}

/* lrp_dense_relevance_counting: R_j = sum_k [Theta(n_jk / z_k)] R_k in
 * int64 (a negative count: LRP_ERR_ARG; past INT64_MAX: LRP_ERR_OVERFLOW).
 * Tiers in order; the first whose condition holds does the work and notes
 * "dense.counting.<tier>":
 *   zbox           the rule is z^B: FN(counting_pairs)
 *   sparse_inputs  every sample's sum of R_k at most 2^53, so that double
 *                  sums are exact, n >= SPARSE_ITEM_SAMPLES and inputs
 *                  mostly zero (FN(sparse_semirings_pay)):
 *                  FN(sparse_verdicts_run)
 *   intervals      sums at most 2^53 otherwise: FN(dense_counting_intervals)
 *   pairs          otherwise: FN(counting_pairs), whose additions are
 *                  checked where a sample's sum passes INT64_MAX
 * sparse_inputs and intervals give the same R. */
lrp_status FN(lrp_dense_relevance_counting)(const lrp_dense_shape *s, const lrp_rule *rule,
                                            const lrp_threshold *t,
                                            const T *a, const T *w, const T *low, const T *high,
                                            const T *z, const int64_t *r_out, int64_t *r_in)
{
    const int kind = rule->kind;
    if (kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    const T gamma = (T)rule->gamma, theta = (T)t->theta;
    int exact_in_double;
    lrp_status status = lrp_counts_fit_double(r_out, s->n, s->out, &exact_in_double);
    if (status != LRP_OK)
        return status;
    if (kind == LRP_RULE_ZBOX)
        return dense_traced(FN(counting_pairs)(LRP_RULE_ZBOX, s, gamma, theta, t->absolute, a, w,
                                               low, high, z, r_out, r_in),
                            "dense.counting.zbox");
    const T *wt;
    ptrdiff_t ld;
    void *own;
    if (exact_in_double && FN(sparse_semirings_pay)(s, kind, gamma, a, w, &wt, &ld, &own)) {
        status = FN(sparse_verdicts_run)(s, theta, t->absolute, a, z, wt, ld, NULL, r_out, NULL,
                                         r_in);
        free(own);
        return dense_traced(status, "dense.counting.sparse_inputs");
    }
    if (exact_in_double)
        return dense_traced(FN(dense_counting_intervals)(kind, s, gamma, theta, t->absolute, a,
                                                         w, z, r_out, r_in),
                            "dense.counting.intervals");
    if (kind == LRP_RULE_GAMMA)
        status = FN(counting_pairs)(LRP_RULE_GAMMA, s, gamma, theta, t->absolute, a, w, low, high,
                                    z, r_out, r_in);
    else
        status = FN(counting_pairs)(LRP_RULE_ZERO, s, gamma, theta, t->absolute, a, w, low, high,
                                    z, r_out, r_in);
    return dense_traced(status, "dense.counting.pairs");
}

/* Viterbi semiring (paper eq. 2.2.3): R_j = max_k |n_jk| / (m_k + 1e-9) * R_k. */
static LRP_INLINE lrp_status FN(viterbi_pairs)(int kind, const lrp_dense_shape *s, T gamma,
                                               const T *a, const T *w, const T *low,
                                               const T *high, const T *m, const T *r_out,
                                               T *r_in)
{
    ptrdiff_t in = s->in, out = s->out;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        if (lrp_interrupted(s->interrupt))
            return LRP_ERR_INTERRUPTED;
        const T *an = a + n * in, *mn = m + n * out, *rn = r_out + n * out;
        const T *lo = kind == LRP_RULE_ZBOX ? low + n * in : NULL;
        const T *hi = kind == LRP_RULE_ZBOX ? high + n * in : NULL;
        T *ri = r_in + n * in;
        for (ptrdiff_t j = 0; j < in; j++)
            ri[j] = 0;
        for (ptrdiff_t k = 0; k < out; k++) {
            T rk = rn[k];
            if (rk == 0)
                continue;
            T denominator = mn[k] + (T)LRP_VITERBI_EPS;
            const T *wk = w + k * in;
            for (ptrdiff_t j = 0; j < in; j++) {
                T v = FN(absolute)(FN(numerator)(kind, gamma, an[j],
                                                 LRP_BOUND(kind, lo, j),
                                                 LRP_BOUND(kind, hi, j), wk[j]))
                      / denominator * rk;
                ri[j] = v > ri[j] ? v : ri[j];
            }
        }
    }
    return LRP_OK;
}

/* lrp_dense_relevance_viterbi: R_j = max_k |n_jk| / (m_k + 1e-9) * R_k.
 * Tiers in order; the first whose condition holds does the work and notes
 * "dense.viterbi.<tier>":
 *   zbox            the rule is z^B: FN(viterbi_pairs)
 *   few_samples     n <= DENSE_FEW_SAMPLES and every R_j it gives finite:
 *                   FN(few_transposed_run)
 *   sparse_inputs   inputs mostly zero (FN(sparse_semirings_pay)) and every
 *                   R_j it gives finite: FN(sparse_viterbi_run)
 *   packed_product  every R_j it gives finite: FN(packed_transposed_run)
 *   pairs           otherwise: FN(viterbi_pairs)
 * few_samples, sparse_inputs and packed_product compute the product form
 * |a_j| max_k |rho(w_kj)| (R_k / (m_k + 1e-9)), equal to the definition up
 * to rounding; where its quotients overflow, the pairs compute the
 * definition as written. */
lrp_status FN(lrp_dense_relevance_viterbi)(const lrp_dense_shape *s, const lrp_rule *rule,
                                           const T *a, const T *w, const T *low, const T *high,
                                           const T *m, const T *r_out, T *r_in)
{
    const int kind = rule->kind;
    if (kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    const T gamma = (T)rule->gamma;
    if (kind == LRP_RULE_ZBOX)
        return dense_traced(
            FN(viterbi_pairs)(LRP_RULE_ZBOX, s, gamma, a, w, low, high, m, r_out, r_in),
            "dense.viterbi.zbox");
    T *q = FN(dense_quotients)(s, r_out, m, 1);
    if (!q)
        return LRP_ERR_NOMEM;
    const T *cap = q + s->n * s->out;
    lrp_status status;
    const char *tier;
    const T *wt;
    ptrdiff_t ld;
    void *own;
    if (s->n <= DENSE_FEW_SAMPLES) {
        status = FN(few_transposed_run)(s, kind, gamma, 1, q, w, a, cap, r_in);
        tier = "dense.viterbi.few_samples";
    } else if (FN(sparse_semirings_pay)(s, kind, gamma, a, w, &wt, &ld, &own)) {
        status = FN(sparse_viterbi_run)(s, a, wt, ld, q, cap, r_in);
        tier = "dense.viterbi.sparse_inputs";
        free(own);
    } else {
        status = FN(packed_transposed_run)(s, kind, gamma, 1, q, w, a, cap, r_in);
        tier = "dense.viterbi.packed_product";
    }
    lrp_scratch_free(q);
    if (status != LRP_OK)
        return status;
    if (FN(all_finite)(r_in, s->n * s->in))
        return dense_traced(LRP_OK, tier);
    if (kind == LRP_RULE_GAMMA)
        status = FN(viterbi_pairs)(LRP_RULE_GAMMA, s, gamma, a, w, low, high, m, r_out, r_in);
    else
        status = FN(viterbi_pairs)(LRP_RULE_ZERO, s, gamma, a, w, low, high, m, r_out, r_in);
    return dense_traced(status, "dense.viterbi.pairs");
}

#endif /* LRP_INSTANCE_DENSE_KERNELS */
