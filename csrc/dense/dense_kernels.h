/* Dense-layer kernels, written once against T and FN() and included by
 * dense.c once per dtype, after rule_math.h. Each public function sends the
 * rules other than z^B to the products (dense_products.h) or the interval
 * tests (dense_thresholds.h); z^B, whose numerator has three weight parts,
 * keeps the pair-by-pair bodies here (and so does counting past 2^53, and
 * Viterbi where its product form would overflow).
 *
 * The arithmetic of a coefficient is written exactly as semantics.md gives
 * it, operation by operation, because boolean and counting results are
 * compared bit for bit with a literal reference.
 */
#include "kernel/template.h"
#include "kernel/rule_math.h"

#ifndef SEMIRING_LRP_DENSE_KERNELS_SIZES /* once per unit: the same for every T */
#define SEMIRING_LRP_DENSE_KERNELS_SIZES
enum { ROW_LANES = 8 }; /* partial sums or maxima of a weight row */
/* Stabilised in chunks over the threads: a VGG-16 layer's z at batch 8 is
 * 26 million values. */
enum { STABILISE_CHUNK = 65536 };
#endif

#ifndef LRP_INSTANCE_DENSE_KERNELS /* once per instance */
#define LRP_INSTANCE_DENSE_KERNELS

#include "products/products.h"
#include "kernel/compiler.h"
#include "kernel/counts.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "dense/dense_products.h"
#include "dense/dense_thresholds.h"
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
        LRP_RETURN_IF_INTERRUPTED(s);
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
        LRP_RETURN_IF_INTERRUPTED(s);
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

lrp_status FN(lrp_dense_forward)(const lrp_dense_shape *s, const lrp_rule *rule,
                                 const T *a, const T *w, const T *b,
                                 const T *low, const T *high, T *z)
{
    if (rule->kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    T gamma = (T)rule->gamma;
    if (rule->kind != LRP_RULE_ZBOX)
        return FN(dense_sum_product)(rule->kind, 0, s, gamma, a, w, b, z);
    return FN(zbox_forward)(s, a, w, low, high, z);
}

lrp_status FN(lrp_dense_absmax)(const lrp_dense_shape *s, const lrp_rule *rule,
                                const T *a, const T *w, const T *b,
                                const T *low, const T *high, T *m)
{
    if (rule->kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    T gamma = (T)rule->gamma;
    if (rule->kind != LRP_RULE_ZBOX)
        return FN(dense_sum_product)(rule->kind, 1, s, gamma, a, w, b, m);
    return FN(zbox_absmax)(s, a, w, low, high, m);
}

typedef struct {
    T eps;
    int plus;
    ptrdiff_t count;
    T *z;
} FN(stabilise_job);

static lrp_status FN(stabilise_task)(void *context, ptrdiff_t begin, ptrdiff_t end, int worker,
                                     lrp_team *team)
{
    const FN(stabilise_job) *job = context;
    (void)worker, (void)team;
    ptrdiff_t first, last;
    lrp_chunk_span(begin, end, STABILISE_CHUNK, job->count, &first, &last);
    T *restrict z = job->z;
    const T eps = job->eps;
    if (job->plus) {
        for (ptrdiff_t i = first; i < last; i++)
            z[i] = z[i] + eps;
    } else {
        for (ptrdiff_t i = first; i < last; i++)
            z[i] = z[i] + (z[i] >= 0 ? eps : -eps);
    }
    return LRP_OK;
}

void FN(lrp_stabilise)(const lrp_rule *rule, ptrdiff_t count, T *z)
{
    if (rule->eps == 0 || count <= 0)
        return;
    FN(stabilise_job) job = {(T)rule->eps, rule->eps_mode == LRP_EPS_PLUS, count, z};
    lrp_parallel_chunks(count, STABILISE_CHUNK, FN(stabilise_task), &job);
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
        LRP_RETURN_IF_INTERRUPTED(s);
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

lrp_status FN(lrp_dense_relevance_real)(const lrp_dense_shape *s, const lrp_rule *rule,
                                        const T *a, const T *w, const T *low, const T *high,
                                        const T *z, const T *r_out, T *r_in)
{
    lrp_status status = LRP_OK;
    if (rule->kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    T gamma = (T)rule->gamma;
    if (rule->kind != LRP_RULE_ZBOX) {
        size_t total;
        if (lrp_checked_count(0, s->n, (size_t)s->out, &total) != LRP_OK)
            return LRP_ERR_NOMEM;
        T *ratio = lrp_alloc_array(total, sizeof(T));
        if (!ratio)
            return LRP_ERR_NOMEM;
        FN(quotients_run)(r_out, z, (ptrdiff_t)total, 0, ratio);
        status = FN(dense_sparse_or_product)(s, rule->kind, gamma, a, w, NULL, ratio, r_in);
        free(ratio);
        return status;
    }
    size_t count;
    if (lrp_checked_count(s->out, s->in, 3, &count) != LRP_OK)
        return LRP_ERR_NOMEM;
    T *scratch = lrp_alloc_array(count, sizeof(T));
    if (!scratch)
        return LRP_ERR_NOMEM;
    status = FN(zbox_real)(s, a, w, low, high, z, r_out, r_in, scratch);
    free(scratch);
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
        LRP_RETURN_IF_INTERRUPTED(s);
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

lrp_status FN(lrp_dense_relevance_boolean)(const lrp_dense_shape *s, const lrp_rule *rule,
                                           const lrp_threshold *t,
                                           const T *a, const T *w, const T *low, const T *high,
                                           const T *z, const uint8_t *r_out, uint8_t *r_in)
{
    if (rule->kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    T gamma = (T)rule->gamma, theta = (T)t->theta;
    if (rule->kind != LRP_RULE_ZBOX)
        return FN(dense_threshold_run)(rule->kind, s, gamma, theta, t->absolute, a, w, z, r_out,
                                       NULL, r_in, NULL);
    return FN(zbox_boolean)(s, theta, t->absolute, a, w, low, high, z, r_out, r_in);
}

/* Counting semiring: R_j = sum_k [Theta(d_jk)] * R_k in exact integers.
 * Every R_j is at most sum_k R_k, so when that total fits in int64 the plain
 * loop cannot overflow; otherwise each addition is checked. */
static LRP_INLINE lrp_status FN(counting_body)(int kind, const lrp_dense_shape *s, T gamma,
                                               T theta, int absolute,
                                               const T *a, const T *w, const T *low, const T *high,
                                               const T *z, const int64_t *r_out, int64_t *r_in)
{
    ptrdiff_t in = s->in, out = s->out;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        LRP_RETURN_IF_INTERRUPTED(s);
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

lrp_status FN(lrp_dense_relevance_counting)(const lrp_dense_shape *s, const lrp_rule *rule,
                                            const lrp_threshold *t,
                                            const T *a, const T *w, const T *low, const T *high,
                                            const T *z, const int64_t *r_out, int64_t *r_in)
{
    if (rule->kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    T gamma = (T)rule->gamma, theta = (T)t->theta;
    lrp_status status = LRP_OK;
    int exact_in_double;
    status = lrp_counts_fit_double(r_out, s->n, s->out, &exact_in_double);
    if (status != LRP_OK)
        return status;
    if (exact_in_double && rule->kind != LRP_RULE_ZBOX) {
        size_t count;
        double *sums = lrp_checked_count(0, s->n, (size_t)s->in, &count) == LRP_OK
                           ? lrp_alloc_array(count, sizeof(double)) : NULL;
        if (!sums)
            return LRP_ERR_NOMEM;
        status = FN(dense_threshold_run)(rule->kind, s, gamma, theta, t->absolute, a, w, z, NULL,
                                         r_out, NULL, sums);
        for (size_t j = 0; j < count && status == LRP_OK; j++)
            r_in[j] = (int64_t)sums[j];
        free(sums);
        return status;
    }
#define CALL(KIND) status = FN(counting_body)(KIND, s, gamma, theta, t->absolute, a, w, low, high, z, r_out, r_in)
    LRP_DISPATCH_RULE(rule->kind, CALL);
#undef CALL
    return status;
}

/* Viterbi semiring (paper eq. 2.2.3): R_j = max_k |n_jk| / (m_k + 1e-9) * R_k. */
static LRP_INLINE lrp_status FN(viterbi_body)(int kind, const lrp_dense_shape *s, T gamma,
                                        const T *a, const T *w, const T *low, const T *high,
                                        const T *m, const T *r_out, T *r_in)
{
    ptrdiff_t in = s->in, out = s->out;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        LRP_RETURN_IF_INTERRUPTED(s);
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

lrp_status FN(lrp_dense_relevance_viterbi)(const lrp_dense_shape *s, const lrp_rule *rule,
                                           const T *a, const T *w, const T *low, const T *high,
                                           const T *m, const T *r_out, T *r_in)
{
    lrp_status status = LRP_OK;
    if (rule->kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    T gamma = (T)rule->gamma;
    if (rule->kind != LRP_RULE_ZBOX) {
        /* |n_jk| = |a_j| |rho(w_jk)|: the product form, equal up to rounding */
        size_t total;
        if (lrp_checked_count(0, s->n, (size_t)s->out, &total) != LRP_OK)
            return LRP_ERR_NOMEM;
        T *q = lrp_alloc_array(total + (size_t)s->n, sizeof(T));
        if (!q)
            return LRP_ERR_NOMEM;
        FN(quotients_run)(r_out, m, (ptrdiff_t)total, 1, q);
        T *cap = q + total;
        FN(row_maxima)(r_out, s->n, s->out, cap);
        status = FN(dense_product_run)(s, rule->kind, gamma, 1, 1, q, w, NULL, a, cap, r_in);
        free(q);
        if (status != LRP_OK || FN(all_finite)(r_in, s->n * s->in))
            return status;
    }
#define CALL(KIND) status = FN(viterbi_body)(KIND, s, gamma, a, w, low, high, m, r_out, r_in)
    LRP_DISPATCH_RULE(rule->kind, CALL);
#undef CALL
    return status;
}

#endif /* LRP_INSTANCE_DENSE_KERNELS */
