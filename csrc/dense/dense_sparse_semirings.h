/* Boolean, counting and Viterbi passes of Linear layers whose inputs are
 * mostly zero (rules other than z^B), written once against T and FN(),
 * included by dense_kernels.h after dense_sparse.h (rho(W)^T, the decision)
 * and dense_thresholds.h (the verdicts they must match). Each sample runs
 * its nonzero inputs j along row j of rho(W)^T (every output k, contiguous),
 * and its zero inputs are settled once for all of them.
 *
 * As in the intervals tier, pair (j, k) passes when n_jk = a_j rho(w_kj)
 * lies in output k's interval (FN(passing_interval)). Every zero input
 * takes the verdict of n = 0: with finite weights,
 * 0 rho(w_kj) is +-0, which compares as 0, so that verdict is the same for
 * all of a sample's zero inputs and is found once.
 *   boolean   R_j = OR_k: the run along row j stops at the first vector of
 *             outputs with a passing pair;
 *   counting  R_j = sum_k R_k over passing pairs in integers as wide as T
 *             where the sample's total fits them, else in int64, which the
 *             compiler may add in any order: the total is at most 2^53 (the
 *             caller checks), so the intervals tier's double sums are exact
 *             too, and both are R_j.
 * Both give the intervals tier's values bit for bit.
 *
 * Viterbi's absmax m_k = max(|beta_k|, max_j |a_j| |rho(w_kj)|) leaves out
 * the zero inputs, whose terms are 0; its relevance
 * R_j = |a_j| max_k |rho(w_kj)| q_k (q = R / (m + 1e-9)) is 0 at a zero
 * input where that maximum is finite, which holds for every j when
 * fl(max_k q_k max |rho(W)|) is finite (rounding is monotonic); a sample
 * where it is not runs every input. A maximum is exact in any order, so
 * both give the packed products' values bit for bit. */
#include "kernel/template.h"
#include "kernel/rule_math.h"

#ifndef SEMIRING_LRP_DENSE_SPARSE_SEMIRINGS_SIZES /* once per unit */
#define SEMIRING_LRP_DENSE_SPARSE_SEMIRINGS_SIZES
enum { SPARSE_ITEM_SAMPLES = 4 }; /* samples per work item */
#endif

#ifndef LRP_INSTANCE_DENSE_SPARSE_SEMIRINGS /* once per instance */
#define LRP_INSTANCE_DENSE_SPARSE_SEMIRINGS

#include <stdint.h>
#include <stdlib.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "kernel/tuning.h"
#include "products/products.h"
#include "dense/dense_sparse.h"

typedef struct {
    const lrp_dense_shape *s;
    int absolute;
    T theta;
    const T *a, *z;          /* (n, in), (n, out) */
    const T *wt;             /* rho(W)^T, (in, ld), columns past out 0 */
    ptrdiff_t ld;            /* a multiple of SPARSE_LANES */
    const uint8_t *r_bool;   /* boolean: R_k, (n, out) */
    const int64_t *r_count;  /* counting: R_k, (n, out) */
    uint8_t *out_bool;       /* (n, in) */
    int64_t *out_count;      /* (n, in) */
} FN(sparse_verdicts);

/* Output k's interval [lo_k, hi_k] and R_k (counting) of sample i, NaN and 0
 * past out so that no padded output passes; the sum of the R_k. */
static LRP_INLINE int64_t FN(sparse_verdict_intervals)(const FN(sparse_verdicts) *v,
                                                       ptrdiff_t i, T *restrict lo,
                                                       T *restrict hi, int64_t *restrict count)
{
    const ptrdiff_t out = v->s->out;
    int64_t total = 0;
    for (ptrdiff_t k = 0; k < v->ld; k++) {
        const ptrdiff_t cell = i * out + k;
        const int live = k < out;
        const int64_t r = !live || !v->r_count ? 0 : v->r_count[cell];
        const int relevant = live && (v->r_count ? r != 0 : v->r_bool[cell] != 0);
        FN(passing_interval)(live ? v->z[cell] : 0, v->theta, v->absolute, relevant, &lo[k],
                             &hi[k]);
        count[k] = r;
        total += r;
    }
    return total;
}

/* Whether n = aj w (|n| when absolute) lies in [lo, hi]: under an absolute
 * threshold hi is +inf, or NaN with lo (FN(passing_interval)), so lo alone
 * decides. */
static LRP_INLINE LANE_INT FN(sparse_passes)(T aj, T w, T lo, T hi, int absolute)
{
    const T x = aj * w;
    return absolute ? (LANE_INT)(FN(absolute)(x) >= lo) : (LANE_INT)((x >= lo) & (x <= hi));
}

/* Whether n = aj row[k] passes at some output k of [0, ld), looked for a
 * vector of outputs at a time. */
static LRP_INLINE int FN(sparse_any_passes)(T aj, const T *restrict row, const T *restrict lo,
                                            const T *restrict hi, ptrdiff_t ld, int absolute)
{
    for (ptrdiff_t k0 = 0; k0 < ld; k0 += SPARSE_LANES) {
        LANE_INT any = 0;
        for (ptrdiff_t k = k0; k < k0 + SPARSE_LANES; k++)
            any |= FN(sparse_passes)(aj, row[k], lo[k], hi[k], absolute);
        if (any)
            return 1;
    }
    return 0;
}

/* The sum of R_k over the outputs k of [0, ld) where n = aj row[k] passes,
 * in int64 or (narrow, where the total fits) in LANE_INT. */
static LRP_INLINE int64_t FN(sparse_passing_sum)(T aj, const T *restrict row,
                                                 const T *restrict lo, const T *restrict hi,
                                                 const int64_t *restrict count, ptrdiff_t ld,
                                                 int absolute)
{
    int64_t sum = 0;
    for (ptrdiff_t k = 0; k < ld; k++)
        sum += count[k] & -(int64_t)FN(sparse_passes)(aj, row[k], lo[k], hi[k], absolute);
    return sum;
}
static LRP_INLINE int64_t FN(sparse_passing_sum_narrow)(T aj, const T *restrict row,
                                                        const T *restrict lo,
                                                        const T *restrict hi,
                                                        const LANE_INT *restrict count,
                                                        ptrdiff_t ld, int absolute)
{
    LANE_INT sum = 0;
    for (ptrdiff_t k = 0; k < ld; k++)
        sum += count[k] & -FN(sparse_passes)(aj, row[k], lo[k], hi[k], absolute);
    return sum;
}

static LRP_INLINE void FN(sparse_verdict_sample)(const FN(sparse_verdicts) *v, ptrdiff_t i,
                                                 T *restrict lo, T *restrict hi,
                                                 int64_t *restrict count,
                                                 LANE_INT *restrict narrow, int absolute,
                                                 int counting)
{
    const ptrdiff_t in = v->s->in, ld = v->ld;
    const T *restrict a = v->a + i * in;
    const int64_t total = FN(sparse_verdict_intervals)(v, i, lo, hi, count);
    const T zero = 0;
    /* LANE_INT's largest value: all ones but the sign bit */
    const int64_t narrow_most = (int64_t)(((uint64_t)1 << (8 * sizeof(LANE_INT) - 1)) - 1);
    if (counting && total <= narrow_most) {
        for (ptrdiff_t k = 0; k < ld; k++)
            narrow[k] = (LANE_INT)count[k];
        const int64_t at_zero =
            FN(sparse_passing_sum_narrow)(zero, v->wt, lo, hi, narrow, ld, absolute);
        int64_t *restrict r = v->out_count + i * in;
        for (ptrdiff_t j = 0; j < in; j++)
            r[j] = a[j] == 0 ? at_zero
                             : FN(sparse_passing_sum_narrow)(a[j], v->wt + j * ld, lo, hi,
                                                             narrow, ld, absolute);
    } else if (counting) {
        const int64_t at_zero = FN(sparse_passing_sum)(zero, v->wt, lo, hi, count, ld, absolute);
        int64_t *restrict r = v->out_count + i * in;
        for (ptrdiff_t j = 0; j < in; j++)
            r[j] = a[j] == 0 ? at_zero
                             : FN(sparse_passing_sum)(a[j], v->wt + j * ld, lo, hi, count, ld,
                                                      absolute);
    } else {
        const uint8_t at_zero = (uint8_t)FN(sparse_any_passes)(zero, v->wt, lo, hi, ld, absolute);
        uint8_t *restrict r = v->out_bool + i * in;
        for (ptrdiff_t j = 0; j < in; j++)
            r[j] = a[j] == 0 ? at_zero
                             : (uint8_t)FN(sparse_any_passes)(a[j], v->wt + j * ld, lo, hi, ld,
                                                              absolute);
    }
}

/* One instance per (absolute, counting), so that each pair loop is compiled
 * with its arithmetic fixed. */
static LRP_INLINE lrp_status FN(sparse_verdict_items)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(sparse_verdicts) *v = context;
    T *lo = lrp_alloc_aligned((size_t)(2 * v->ld), sizeof(T));
    int64_t *count = lrp_alloc_aligned((size_t)v->ld, sizeof(int64_t));
    LANE_INT *narrow = lrp_alloc_aligned((size_t)v->ld, sizeof(LANE_INT));
    lrp_status status = lo && count && narrow ? LRP_OK : LRP_ERR_NOMEM;
    T *hi = lo + v->ld;
    ptrdiff_t first, last;
    lrp_chunk_span(begin, end, SPARSE_ITEM_SAMPLES, v->s->n, &first, &last);
    for (ptrdiff_t i = first; i < last && status == LRP_OK; i++) {
        if (lrp_team_stop(team, worker))
            status = LRP_ERR_INTERRUPTED;
        else if (v->r_count && v->absolute)
            FN(sparse_verdict_sample)(v, i, lo, hi, count, narrow, 1, 1);
        else if (v->r_count)
            FN(sparse_verdict_sample)(v, i, lo, hi, count, narrow, 0, 1);
        else if (v->absolute)
            FN(sparse_verdict_sample)(v, i, lo, hi, count, narrow, 1, 0);
        else
            FN(sparse_verdict_sample)(v, i, lo, hi, count, narrow, 0, 0);
    }
    free(lo);
    free(count);
    free(narrow);
    return status;
}

LRP_ISA_PLAIN_TASKS(sparse_verdict_task, FN(sparse_verdict_items))

/* Whether a boolean, counting or Viterbi pass of a (n, in) takes this
 * tier: at most half its inputs nonzero (each sample runs its own nonzero
 * inputs, no union, so a zero input saves its pairs' work), and rho(W)^T
 * finite (else 0 rho(w) is NaN, whose verdict differs from 0's and whose
 * Viterbi term is not 0); *wt is then FN(sparse_weights), with row stride
 * *ld, and the caller frees *own. */
static int FN(sparse_semirings_pay)(const lrp_dense_shape *s, int kind, T gamma, const T *a,
                                   const T *w, const T **wt, ptrdiff_t *ld, void **own)
{
    *wt = NULL, *own = NULL;
    if (!lrp_sparse_passes() || !FN(dense_sparse_within)(s, a, SPARSE_ITEM_SAMPLES, 2))
        return 0;
    *wt = FN(sparse_weights)(s, kind, gamma, w, ld, own);
    if (*wt && FN(sparse_weights_finite)(*wt, s->in, *ld))
        return 1;
    free(*own);
    *wt = NULL, *own = NULL;
    return 0;
}

/* Boolean (r_bool -> out_bool) or counting (r_count -> out_count) relevance
 * of a Linear layer through rho(W)^T (FN(sparse_semirings_pay)). */
static lrp_status FN(sparse_verdicts_run)(const lrp_dense_shape *s, T theta, int absolute,
                                          const T *a, const T *z, const T *wt, ptrdiff_t ld,
                                          const uint8_t *r_bool, const int64_t *r_count,
                                          uint8_t *out_bool, int64_t *out_count)
{
    FN(sparse_verdicts) v = {s, absolute, theta, a, z, wt, ld, r_bool, r_count, out_bool,
                             out_count};
    /* at most half the pairs: the nonzero inputs' (FN(sparse_semirings_pay)) */
    const double pairs = (double)s->n * (double)s->in * (double)ld / 2;
    return lrp_parallel_for_upto((s->n + SPARSE_ITEM_SAMPLES - 1) / SPARSE_ITEM_SAMPLES,
                                 (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                 LRP_ISA_TASK(sparse_verdict_task), &v, s->interrupt);
}

typedef struct {
    const lrp_dense_shape *s;
    const T *a;         /* (n, in) */
    const T *wt;        /* rho(W)^T, (in, ld), columns past out 0 */
    ptrdiff_t ld;       /* a multiple of SPARSE_LANES */
    T largest_weight;   /* relevance: max |rho(w)| */
    const T *beta;      /* absmax: |beta_k|, (out) */
    const T *q, *cap;   /* relevance: R / (m + 1e-9), (n, out), and R_j's bound per sample */
    T *out;             /* absmax: m (n, out); relevance: R_in (n, in) */
} FN(sparse_maxima);

/* The inputs j of a (in values) with a_j != 0, or all of them with every:
 * their count, the indices in used. */
static LRP_INLINE ptrdiff_t FN(sparse_used_inputs)(const T *restrict a, ptrdiff_t in, int every,
                                                   ptrdiff_t *restrict used)
{
    ptrdiff_t count = 0;
    for (ptrdiff_t j = 0; j < in; j++) { /* no branch: zeros fall where they may */
        used[count] = j;
        count += a[j] != 0 || every;
    }
    return count;
}

/* m of sample i, through its nonzero inputs; most (ld) and used (in) are
 * scratch. */
static LRP_INLINE void FN(sparse_absmax_sample)(const FN(sparse_maxima) *v, ptrdiff_t i,
                                                T *restrict most, ptrdiff_t *restrict used)
{
    const ptrdiff_t in = v->s->in, out = v->s->out, ld = v->ld;
    const T *restrict a = v->a + i * in;
    for (ptrdiff_t k = 0; k < ld; k++)
        most[k] = 0;
    const ptrdiff_t count = FN(sparse_used_inputs)(a, in, 0, used);
    /* four inputs at a time, most[] read and written once for them; a short
     * group repeats its first input: the same maxima */
    for (ptrdiff_t t = 0; t < count; t += 4) {
        const T *rows[4];
        T aj[4];
        for (int u = 0; u < 4; u++) {
            const ptrdiff_t j = used[t + u < count ? t + u : t];
            rows[u] = v->wt + j * ld, aj[u] = FN(absolute)(a[j]);
        }
        for (ptrdiff_t k = 0; k < ld; k++) {
            const T x0 = aj[0] * FN(absolute)(rows[0][k]), x1 = aj[1] * FN(absolute)(rows[1][k]);
            const T x2 = aj[2] * FN(absolute)(rows[2][k]), x3 = aj[3] * FN(absolute)(rows[3][k]);
            const T x01 = x1 > x0 ? x1 : x0, x23 = x3 > x2 ? x3 : x2;
            const T x = x23 > x01 ? x23 : x01;
            most[k] = x > most[k] ? x : most[k];
        }
    }
    T *restrict m = v->out + i * out;
    for (ptrdiff_t k = 0; k < out; k++)
        m[k] = v->beta[k] > most[k] ? v->beta[k] : most[k];
}

/* The SPARSE_LANES maxima of best, halving the lanes (a maximum is exact
 * in any order). */
static LRP_INLINE T FN(lanes_max)(T *restrict best)
{
    for (int width = SPARSE_LANES / 2; width > 0; width /= 2)
        for (int l = 0; l < width; l++)
            best[l] = best[l + width] > best[l] ? best[l + width] : best[l];
    return best[0];
}

/* most[u] = max_k |rows[u][k]| q[k] over [0, ld) for four rows, the values
 * non-negative: SPARSE_LANES maxima side by side per row (four independent
 * chains of maxima, q read once for them), then theirs. */
static LRP_INLINE void FN(sparse_rows_max)(const T *restrict const *rows, const T *restrict q,
                                           ptrdiff_t ld, T *restrict most)
{
    T best0[SPARSE_LANES] = {0}, best1[SPARSE_LANES] = {0};
    T best2[SPARSE_LANES] = {0}, best3[SPARSE_LANES] = {0};
    const T *restrict row0 = rows[0], *restrict row1 = rows[1];
    const T *restrict row2 = rows[2], *restrict row3 = rows[3];
    for (ptrdiff_t k0 = 0; k0 < ld; k0 += SPARSE_LANES)
        LRP_LANE_LOOP
        for (int l = 0; l < SPARSE_LANES; l++) {
            const T qk = q[k0 + l];
            const T x0 = FN(absolute)(row0[k0 + l]) * qk, x1 = FN(absolute)(row1[k0 + l]) * qk;
            const T x2 = FN(absolute)(row2[k0 + l]) * qk, x3 = FN(absolute)(row3[k0 + l]) * qk;
            best0[l] = x0 > best0[l] ? x0 : best0[l];
            best1[l] = x1 > best1[l] ? x1 : best1[l];
            best2[l] = x2 > best2[l] ? x2 : best2[l];
            best3[l] = x3 > best3[l] ? x3 : best3[l];
        }
    most[0] = FN(lanes_max)(best0), most[1] = FN(lanes_max)(best1);
    most[2] = FN(lanes_max)(best2), most[3] = FN(lanes_max)(best3);
}

/* R_in of sample i as the products' epilogue writes it (FN(viterbi_scale));
 * q (ld) and used (in) are scratch. */
static LRP_INLINE void FN(sparse_viterbi_sample)(const FN(sparse_maxima) *v, ptrdiff_t i,
                                                 T *restrict q, ptrdiff_t *restrict used)
{
    const ptrdiff_t in = v->s->in, out = v->s->out, ld = v->ld;
    T best[SPARSE_LANES] = {0};
    for (ptrdiff_t k = 0; k < ld; k++)
        q[k] = k < out ? v->q[i * out + k] : 0;
    for (ptrdiff_t k0 = 0; k0 < ld; k0 += SPARSE_LANES)
        LRP_LANE_LOOP
        for (int l = 0; l < SPARSE_LANES; l++)
            best[l] = q[k0 + l] > best[l] ? q[k0 + l] : best[l];
    const T bound = FN(lanes_max)(best) * v->largest_weight;
    const int every_input = !(bound - bound == 0);
    const T *restrict a = v->a + i * in;
    T *restrict r = v->out + i * in;
    for (ptrdiff_t j = 0; j < in; j++)
        r[j] = 0;
    const ptrdiff_t count = FN(sparse_used_inputs)(a, in, every_input, used);
    /* four rows at a time; a short group repeats its first row */
    for (ptrdiff_t t = 0; t < count; t += 4) {
        const T *rows[4];
        T most[4];
        for (int u = 0; u < 4; u++)
            rows[u] = v->wt + used[t + u < count ? t + u : t] * ld;
        FN(sparse_rows_max)(rows, q, ld, most);
        for (int u = 0; u < 4 && t + u < count; u++)
            r[used[t + u]] = most[u];
    }
    FN(viterbi_scale)(r, a, 0, in, v->cap[i]);
}

static LRP_INLINE lrp_status FN(sparse_maxima_items)(void *context, ptrdiff_t begin,
                                                     ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(sparse_maxima) *v = context;
    T *scratch = lrp_alloc_aligned((size_t)v->ld, sizeof(T));
    ptrdiff_t *used = lrp_alloc_array((size_t)v->s->in, sizeof(ptrdiff_t));
    lrp_status status = scratch && used ? LRP_OK : LRP_ERR_NOMEM;
    ptrdiff_t first, last;
    lrp_chunk_span(begin, end, SPARSE_ITEM_SAMPLES, v->s->n, &first, &last);
    for (ptrdiff_t i = first; i < last && status == LRP_OK; i++) {
        if (lrp_team_stop(team, worker))
            status = LRP_ERR_INTERRUPTED;
        else if (v->q)
            FN(sparse_viterbi_sample)(v, i, scratch, used);
        else
            FN(sparse_absmax_sample)(v, i, scratch, used);
    }
    free(scratch);
    free(used);
    return status;
}

LRP_ISA_PLAIN_TASKS(sparse_maxima_task, FN(sparse_maxima_items))

static lrp_status FN(sparse_maxima_run)(FN(sparse_maxima) *v)
{
    const lrp_dense_shape *s = v->s;
    v->largest_weight = FN(sparse_weights_largest)(v->wt, s->in, v->ld);
    /* at most half the pairs: the nonzero inputs' (FN(sparse_semirings_pay)) */
    const double pairs = (double)s->n * (double)s->in * (double)v->ld / 2;
    return lrp_parallel_for_upto((s->n + SPARSE_ITEM_SAMPLES - 1) / SPARSE_ITEM_SAMPLES,
                                 (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                 LRP_ISA_TASK(sparse_maxima_task), v, s->interrupt);
}

/* m (n, out) = max(beta_abs, max_j |a_j| |rho(w_kj)|) through rho(W)^T. */
static lrp_status FN(sparse_absmax_run)(const lrp_dense_shape *s, const T *a, const T *wt,
                                        ptrdiff_t ld, const T *beta_abs, T *m)
{
    FN(sparse_maxima) v = {.s = s, .a = a, .wt = wt, .ld = ld, .beta = beta_abs, .out = m};
    return FN(sparse_maxima_run)(&v);
}

/* R_in (n, in) = |a_j| max_k |rho(w_kj)| q_k, capped as the products cap
 * it, through rho(W)^T. */
static lrp_status FN(sparse_viterbi_run)(const lrp_dense_shape *s, const T *a, const T *wt,
                                         ptrdiff_t ld, const T *q, const T *cap, T *r_in)
{
    FN(sparse_maxima) v = {.s = s, .a = a, .wt = wt, .ld = ld, .q = q, .cap = cap, .out = r_in};
    return FN(sparse_maxima_run)(&v);
}

#endif /* LRP_INSTANCE_DENSE_SPARSE_SEMIRINGS */
