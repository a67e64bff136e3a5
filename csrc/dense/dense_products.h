/* Dense-layer passes as packed products (products/products.h), written
 * once against T and FN(), included by dense_kernels.h. With a (N, in),
 * W (out, in):
 *   forward   z = a rho(W)^T + beta          (sum; A = a, B = rho(W)^T)
 *   absmax    m = max |a| |rho(W)|^T, |beta| (max)
 *   real      R_in = a * (s rho(W))           (sum; s = R / z; B = rho(W))
 *   viterbi   R_in = |a| * max q |rho(W)|     (max; q = R / (m + 1e-9)),
 *             at most the sample's largest R
 * Every output is one multiply-add chain over the inner index in order, the
 * same for any batch size and thread count: a sample gets the same bits
 * alone or in a batch of a thousand. dense_few.h computes the same chains
 * for a few samples, dense_sparse.h the same chains less their zero terms;
 * z^B keeps the pair-by-pair kernels (dense_kernels.h). */
#include "kernel/template.h"
#include "kernel/rule_math.h"

#ifndef SEMIRING_LRP_DENSE_PRODUCTS_SIZES /* once per unit: the same for every T */
#define SEMIRING_LRP_DENSE_PRODUCTS_SIZES
/* Up to this batch size the forward and absmax take the weights as the
 * product's A (FN(dense_weights_first)), read in place where they need
 * neither rho nor |.|; past it the batch is A and the weights are packed as
 * B. */
enum { DENSE_WEIGHTS_FIRST_SAMPLES = 64 };
/* Up to this many weights (16 MiB in float32) a layer's cache keeps the
 * products' B packed whole, which a call would otherwise pack anew; past it
 * the copy costs more memory than the packing costs time beside the
 * product. */
enum { DENSE_CACHED_B_WEIGHTS = 4194304 };
#endif

#ifndef LRP_INSTANCE_DENSE_PRODUCTS /* once per instance */
#define LRP_INSTANCE_DENSE_PRODUCTS

#include <stddef.h>
#include <stdlib.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/products.h"
#include "products/microkernels.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/trace.h"
#include "runtime/weight_cache.h"

typedef struct {
    const T *w;
    ptrdiff_t in;
    int kind, absolute; /* B holds rho(w), or |rho(w)| when absolute */
    T gamma;
    const T *packed; /* A */
    T *out;
    const T *bias;  /* forward/absmax: beta per output column; else NULL */
    /* a (N, in): multiplied in by the transposed passes (|a| if absolute);
     * the weights-first forward's B (a^T) */
    const T *scale;
    const T *cap;   /* Viterbi: R_in's bound per sample (FN(viterbi_scale)) */
    const T *whole_b; /* B packed whole (FN(dense_b_of)), or NULL */
} FN(dense_product);

static const T *FN(dense_a_of)(const FN(product) *p, ptrdiff_t q)
{
    (void)q;
    return ((const FN(dense_product) *)p->layer)->packed;
}

static T *FN(dense_c_of)(const FN(product) *p, ptrdiff_t q)
{
    (void)q;
    return ((const FN(dense_product) *)p->layer)->out;
}

static const T *FN(dense_b_of)(const FN(product) *p, ptrdiff_t q)
{
    (void)q;
    return ((const FN(dense_product) *)p->layer)->whole_b;
}

static LRP_INLINE T FN(dense_weight)(int kind, T gamma, int absolute, T w)
{
    const T v = FN(rho)(kind, gamma, w);
    return absolute ? FN(absolute)(v) : v;
}

/* B = rho(W)^T: row p is input p0 + pp, column is output j0 + c. Reads each
 * weight row contiguously; the writes stay in the L1-sized panel. */
static LRP_INLINE void FN(dense_pack_transposed_w)(const FN(dense_product) *dp, ptrdiff_t n,
                                                   ptrdiff_t p0, ptrdiff_t kc, ptrdiff_t j0,
                                                   int nr, T *restrict dst, int kind,
                                                   int absolute)
{
    for (int c = 0; c < nr; c++) {
        if (j0 + c >= n) {
            for (ptrdiff_t pp = 0; pp < kc; pp++)
                dst[pp * nr + c] = 0;
            continue;
        }
        const T *restrict src = dp->w + (j0 + c) * dp->in + p0;
        for (ptrdiff_t pp = 0; pp < kc; pp++)
            dst[pp * nr + c] = FN(dense_weight)(kind, dp->gamma, absolute, src[pp]);
    }
}

/* B = rho(W): row p is output p0 + pp, column is input j0 + c. */
static LRP_INLINE void FN(dense_pack_w)(const FN(dense_product) *dp, ptrdiff_t n, ptrdiff_t p0,
                                        ptrdiff_t kc, ptrdiff_t j0, int nr, T *restrict dst,
                                        int kind, int absolute)
{
    const ptrdiff_t cols = n - j0 < nr ? n - j0 : nr;
    for (ptrdiff_t pp = 0; pp < kc; pp++) {
        const T *restrict src = dp->w + (p0 + pp) * dp->in + j0;
        T *restrict d = dst + pp * nr;
        for (ptrdiff_t c = 0; c < cols; c++)
            d[c] = FN(dense_weight)(kind, dp->gamma, absolute, src[c]);
        for (ptrdiff_t c = cols; c < nr; c++)
            d[c] = 0;
    }
}

/* How B's panel is packed from the weights (FN(dense_pack_transposed_w) or
 * FN(dense_pack_w)), for a rule kind and the absolute flag. */
typedef void FN(dense_pack_body)(const FN(dense_product) *dp, ptrdiff_t n, ptrdiff_t p0,
                                 ptrdiff_t kc, ptrdiff_t j0, int nr, T *restrict dst, int kind,
                                 int absolute);

/* body with the rule and the absolute flag as constants: each packing loop
 * is compiled without a branch per weight. */
static LRP_INLINE void FN(dense_pack_b)(FN(dense_pack_body) *body, const FN(product) *p,
                                        ptrdiff_t p0, ptrdiff_t kc, ptrdiff_t j0, int nr,
                                        T *restrict dst)
{
    const FN(dense_product) *dp = p->layer;
    const int gamma = dp->kind == LRP_RULE_GAMMA;
    if (gamma && dp->absolute)
        body(dp, p->n, p0, kc, j0, nr, dst, LRP_RULE_GAMMA, 1);
    else if (gamma)
        body(dp, p->n, p0, kc, j0, nr, dst, LRP_RULE_GAMMA, 0);
    else if (dp->absolute)
        body(dp, p->n, p0, kc, j0, nr, dst, LRP_RULE_ZERO, 1);
    else
        body(dp, p->n, p0, kc, j0, nr, dst, LRP_RULE_ZERO, 0);
}

/* The forward's B, rho(W)^T. */
static void FN(dense_pack_b_forward)(const FN(product) *p, ptrdiff_t q, ptrdiff_t p0,
                                     ptrdiff_t kc, ptrdiff_t j0, int nr, T *restrict dst)
{
    (void)q;
    FN(dense_pack_b)(FN(dense_pack_transposed_w), p, p0, kc, j0, nr, dst);
}

/* The transposed passes' B, rho(W). */
static void FN(dense_pack_b_backward)(const FN(product) *p, ptrdiff_t q, ptrdiff_t p0,
                                      ptrdiff_t kc, ptrdiff_t j0, int nr, T *restrict dst)
{
    (void)q;
    FN(dense_pack_b)(FN(dense_pack_w), p, p0, kc, j0, nr, dst);
}

static void FN(dense_finish)(const FN(product) *p, ptrdiff_t q, ptrdiff_t i0, ptrdiff_t i1,
                             ptrdiff_t j0, ptrdiff_t j1)
{
    (void)q;
    const FN(dense_product) *dp = p->layer;
    for (ptrdiff_t i = i0; i < i1; i++) {
        T *row = dp->out + i * p->ldc;
        if (dp->bias && p->combine == PRODUCT_MAX) {
            for (ptrdiff_t j = j0; j < j1; j++)
                row[j] = dp->bias[j] > row[j] ? dp->bias[j] : row[j];
        } else if (dp->bias) {
            for (ptrdiff_t j = j0; j < j1; j++)
                row[j] = row[j] + dp->bias[j];
        } else {
            const T *a = dp->scale + i * dp->in;
            if (dp->absolute) {
                FN(viterbi_scale)(row, a, j0, j1, dp->cap[i]);
            } else {
                for (ptrdiff_t j = j0; j < j1; j++)
                    row[j] = a[j] * row[j];
            }
        }
    }
}

/* x (N, inner) packed as A, panel by panel over the threads: a batch's
 * activations are as large as the product's other operand. */
typedef struct {
    const T *x;
    ptrdiff_t rows, inner;
    int mr, kind, absolute; /* each value v packed as rho(v), |rho(v)| if absolute */
    T gamma;
    T *packed;
} FN(dense_pack_job);

static lrp_status FN(dense_pack_a_task)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                        int worker, lrp_team *team)
{
    const FN(dense_pack_job) *job = context;
    if (lrp_team_stop(team, worker))
        return LRP_ERR_INTERRUPTED;
    for (ptrdiff_t panel = begin; panel < end; panel++) {
        const ptrdiff_t i0 = panel * job->mr;
        const ptrdiff_t rows = job->rows - i0 < job->mr ? job->rows - i0 : job->mr;
        FN(pack_a)(job->x + i0 * job->inner, job->inner, rows, job->inner, job->mr, job->kind,
                   job->gamma, job->absolute, job->packed + panel * job->inner * job->mr);
    }
    return LRP_OK;
}

/* A of x (rows, inner), packed by FN(pack_a) over the threads; NULL if out
 * of memory or interrupted (*status says which). */
static T *FN(dense_pack_a)(const T *x, ptrdiff_t rows, ptrdiff_t inner, int mr, int kind,
                           T gamma, int absolute, const lrp_interrupt *interrupt,
                           lrp_status *status)
{
    size_t count;
    T *packed = NULL;
    *status = LRP_ERR_NOMEM;
    if (FN(packed_a_count)(rows, inner, mr, &count) != LRP_OK ||
        !(packed = lrp_alloc_aligned(count, sizeof(T))))
        return NULL;
    FN(dense_pack_job) job = {x, rows, inner, mr, kind, absolute, gamma, packed};
    const double elements = (double)rows * (double)inner;
    *status = lrp_parallel_for_upto((rows + mr - 1) / mr, (ptrdiff_t)(elements / LRP_MIN_PACK_PER_THREAD),
                                    FN(dense_pack_a_task), &job, interrupt);
    if (*status != LRP_OK) {
        free(packed);
        return NULL;
    }
    return packed;
}

static lrp_status FN(dense_b_build)(void *context, void *data)
{
    return FN(product_pack_b_whole)(context, data);
}

/* p's B packed whole for s's weights w: s->cache's entry where it has one,
 * else packed into memory handed back in *own for the caller to free; NULL
 * only when *status is not LRP_OK. The key: what p->pack_b packs (the
 * rule, transposed, |.| for the maxima) and its layout (the instruction
 * set's nr, p->chunk). */
static const T *FN(dense_cached_b)(const lrp_dense_shape *s, const FN(product) *p, int kind,
                                   T gamma, int transposed, int max, const T *w, void **own,
                                   lrp_status *status)
{
    const ptrdiff_t nr = p->micro->nr;
    size_t count;
    *own = NULL;
    *status = LRP_ERR_NOMEM;
    if (lrp_checked_count(0, (p->n + nr - 1) / nr * nr, (size_t)p->k, &count) != LRP_OK)
        return NULL;
    const lrp_cache_key key = {.form = LRP_FORM_DENSE_PACKED_B, .elem_size = (int)sizeof(T),
                               .isa = (int)lrp_current_isa(), .kind = kind,
                               .gamma = (double)gamma, .flipped = transposed, .absolute = max,
                               .rows = s->out, .cols = s->in, .groups = 1, .taps = 1,
                               .chunk = p->chunk, .count = count};
    return lrp_weights_prepared(s->cache, w, &key, FN(dense_b_build), (void *)p, own, status);
}

/* out (N, cols) = x (N, inner) times B, as the pass `transposed` says;
 * max selects the max product with absolute values throughout. Sums read x
 * in place; maxima pack |x|. */
static lrp_status FN(dense_product_run)(const lrp_dense_shape *s, int kind, T gamma, int max,
                                        int transposed, const T *x, const T *w,
                                        const T *bias, const T *scale, const T *cap, T *out)
{
    const FN(lrp_micro) *micro = FN(lrp_micro_for)();
    const ptrdiff_t inner = transposed ? s->out : s->in, cols = transposed ? s->in : s->out;
    T *packed = NULL;
    lrp_status status = LRP_OK;
    if (max && !(packed = FN(dense_pack_a)(x, s->n, inner, micro->mr, LRP_RULE_ZERO, 0, 1,
                                           s->interrupt, &status)))
        return status;
    FN(dense_product) dp = {w, s->in, kind, max, gamma, packed, out, bias, scale, cap, NULL};
    FN(product) p = {.problems = 1, .m = s->n, .n = cols, .k = inner,
                     .combine = max ? PRODUCT_MAX : PRODUCT_SUM,
                     .a_of = FN(dense_a_of), .a_rows = max ? NULL : x, .lda = inner,
                     .pack_b = transposed ? FN(dense_pack_b_backward) : FN(dense_pack_b_forward),
                     .c_of = FN(dense_c_of), .ldc = cols, .finish = FN(dense_finish),
                     .layer = &dp, .interrupt = s->interrupt, .micro = micro,
                     .chunk = FN(product_chunk)()};
    void *own = NULL;
    if (s->cache && (double)s->in * (double)s->out <= DENSE_CACHED_B_WEIGHTS) {
        dp.whole_b = FN(dense_cached_b)(s, &p, kind, gamma, transposed, max, w, &own, &status);
        p.b_of = dp.whole_b ? FN(dense_b_of) : NULL;
    }
    if (status == LRP_OK)
        status = FN(product_run)(&p);
    free(own);
    free(packed);
    return status;
}

/* z (max = 0) or m (max = 1) = a rho(W)^T, then + beta or max with beta
 * (FN(bias_terms)), by the packed products. */
static LRP_INLINE lrp_status FN(packed_forward_run)(const lrp_dense_shape *s, int kind, T gamma,
                                                    int max, const T *a, const T *w,
                                                    const T *beta, T *z)
{
    return FN(dense_product_run)(s, kind, gamma, max, 0, a, w, beta, NULL, NULL, z);
}

/* The transposed passes by the packed products: out = scale * (x rho(W))
 * (the real pass, x = R / z, scale = a), or max = 1: Viterbi's
 * |scale| * max x |rho(W)|, at most cap per sample (x = R / (m + 1e-9)). */
static LRP_INLINE lrp_status FN(packed_transposed_run)(const lrp_dense_shape *s, int kind,
                                                       T gamma, int max, const T *x, const T *w,
                                                       const T *scale, const T *cap, T *out)
{
    return FN(dense_product_run)(s, kind, gamma, max, 1, x, w, NULL, scale, cap, out);
}

/* B = x^T for the weights-first forward: row p is input p0 + pp, column is
 * sample j0 + c. */
static void FN(dense_pack_b_samples)(const FN(product) *p, ptrdiff_t q, ptrdiff_t p0,
                                     ptrdiff_t kc, ptrdiff_t j0, int nr, T *restrict dst)
{
    (void)q;
    const FN(dense_product) *dp = p->layer;
    for (int c = 0; c < nr; c++) {
        const T *restrict src = dp->scale + (j0 + c < p->n ? (j0 + c) * dp->in + p0 : 0);
        if (j0 + c >= p->n) {
            for (ptrdiff_t pp = 0; pp < kc; pp++)
                dst[pp * nr + c] = 0;
        } else if (dp->absolute) {
            for (ptrdiff_t pp = 0; pp < kc; pp++)
                dst[pp * nr + c] = FN(absolute)(src[pp]);
        } else {
            for (ptrdiff_t pp = 0; pp < kc; pp++)
                dst[pp * nr + c] = src[pp];
        }
    }
}

/* z (max = 0) or m (max = 1) of up to DENSE_WEIGHTS_FIRST_SAMPLES samples
 * as (z - beta)^T = rho(W) a^T: the weights are read once, in place (or
 * packed once for gamma and maxima), where a^T rho(W)^T would transpose
 * them. Every z is the same multiply-add chain over the inputs as in
 * dense_product_run (a product's two factors commute exactly), so a sample
 * gets the same bits either way. */
static lrp_status FN(dense_weights_first)(const lrp_dense_shape *s, int kind, T gamma, int max,
                                          const T *a, const T *w, const T *beta, T *z)
{
    const FN(lrp_micro) *micro = FN(lrp_micro_for)();
    lrp_status status = LRP_OK;
    const int in_place = !max && kind != LRP_RULE_GAMMA;
    T *packed = NULL;
    if (!in_place && !(packed = FN(dense_pack_a)(w, s->out, s->in, micro->mr, kind, gamma, max,
                                                 s->interrupt, &status)))
        return status;
    size_t count;
    T *zt = lrp_checked_count(0, s->out, (size_t)s->n, &count) == LRP_OK
                ? lrp_alloc_array(count, sizeof(T)) : NULL;
    if (!zt) {
        free(packed);
        return LRP_ERR_NOMEM;
    }
    FN(dense_product) dp = {w, s->in, kind, max, gamma, packed, zt, NULL, a, NULL, NULL};
    FN(product) p = {.problems = 1, .m = s->out, .n = s->n, .k = s->in,
                     .combine = max ? PRODUCT_MAX : PRODUCT_SUM,
                     .a_of = FN(dense_a_of), .a_rows = in_place ? w : NULL, .lda = s->in,
                     .pack_b = FN(dense_pack_b_samples), .c_of = FN(dense_c_of), .ldc = s->n,
                     .layer = &dp, .interrupt = s->interrupt, .micro = micro};
    status = FN(product_run)(&p);
    for (ptrdiff_t n = 0; n < s->n && status == LRP_OK; n++)
        for (ptrdiff_t k = 0; k < s->out; k++) {
            const T v = zt[k * s->n + n];
            z[n * s->out + k] = max ? (beta[k] > v ? beta[k] : v) : v + beta[k];
        }
    free(zt);
    free(packed);
    return status;
}

/* The transposed passes' x, (n, out): R / z (the real pass) or
 * R / (m + 1e-9) (viterbi, then each sample's largest R, (n), which bounds
 * its R_in); from the array pool (lrp_scratch_free releases it), NULL if
 * out of memory. */
static T *FN(dense_quotients)(const lrp_dense_shape *s, const T *r_out, const T *denominator,
                              int viterbi)
{
    size_t total;
    if (lrp_checked_count(0, s->n, (size_t)s->out, &total) != LRP_OK)
        return NULL;
    /* every value is written below */
    T *x = lrp_scratch_alloc(total + (viterbi ? (size_t)s->n : 0), sizeof(T));
    if (!x)
        return NULL;
    FN(quotients_run)(r_out, denominator, (ptrdiff_t)total, viterbi, x);
    if (viterbi)
        FN(row_maxima)(r_out, s->n, s->out, x + total);
    return x;
}

#endif /* LRP_INSTANCE_DENSE_PRODUCTS */
