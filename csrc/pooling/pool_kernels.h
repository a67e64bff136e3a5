/* Pooling kernels, written once against T and FN() (see instantiate.h).
 * Every pass handles one window at a time: it forms the window's z_k (and
 * Viterbi's m_k) and then visits the window's inputs in row-major order, so
 * nothing outlives the window. Each public pass below is the dispatch that
 * chooses its tier (pool_windows.h: pool_tier_of) and notes it. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_POOL_KERNELS /* once per instance */
#define LRP_INSTANCE_POOL_KERNELS

#include <string.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/counts.h"
#include "kernel/tuning.h"
#include "pooling/pool_windows.h"
#include "runtime/isa_dispatch.h"
#include "runtime/parallel.h"
#include "runtime/trace.h"

/* The flat index of the first arg-max of window w of the plane at j0: ties
 * go to the earliest. */
static LRP_INLINE ptrdiff_t FN(pool_winner)(const lrp_pool_shape *s, const T *a, ptrdiff_t j0,
                                            pool_window w)
{
    ptrdiff_t best = j0 + w.y0 * s->in_w + w.x0;
    for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
        for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
            const ptrdiff_t j = j0 + iy * s->in_w + ix;
            if (a[j] > a[best])
                best = j;
        }
    return best;
}

/* n_jk of input j in the window of output k (winner: the max pool's arg-max). */
static LRP_INLINE T FN(pool_numerator)(const lrp_pool_shape *s, T a_j, T weight_k, ptrdiff_t j,
                                       ptrdiff_t winner)
{
    if (s->mode == LRP_POOL_MAX)
        return j == winner ? a_j : (T)0;
    return a_j * weight_k;
}

/* Adds input j's share of output k's relevance to r_in[j] as PASS does:
 * nj = n_jk, z = z_k (sum of the window's n_jk), m = m_k (their largest
 * |n_jk|). r_out and r_in hold T (real, Viterbi), uint8_t (boolean) or
 * int64_t (counting). Returns 1 where a count overflowed. */
static LRP_INLINE int FN(pool_pair)(const pool_pass PASS, const void *r_out, void *r_in,
                                    ptrdiff_t k, ptrdiff_t j, T nj, T z, T m, T theta,
                                    int absolute)
{
    if (PASS == POOL_REAL) { /* as the products form it: s_k = R_k / z_k once per window */
        const T *ro = r_out;
        T *ri = r_in;
        ri[j] += nj * FN(coefficient)(ro[k], z);
    } else if (PASS == POOL_VITERBI) {
        const T *ro = r_out;
        T *ri = r_in;
        const T v = FN(absolute)(nj) / (m + (T)LRP_VITERBI_EPS) * ro[k];
        ri[j] = v > ri[j] ? v : ri[j];
    } else if (PASS == POOL_BOOLEAN) {
        const uint8_t *ro = r_out;
        uint8_t *ri = r_in;
        ri[j] |= (uint8_t)((ro[k] != 0) & FN(passes)(FN(coefficient)(nj, z), theta, absolute));
    } else { /* windows may overlap, so every addition is checked: pools are cheap */
        const int64_t *ro = r_out;
        int64_t *ri = r_in;
        const int64_t add = ro[k] & -(int64_t)FN(passes)(FN(coefficient)(nj, z), theta, absolute);
        return __builtin_add_overflow(ri[j], add, &ri[j]);
    }
    return 0;
}

/* PASS's relevance of plane (n, ch) added into r_in, window by window;
 * SQUARE: pool_is_2x2 holds. Returns whether a count overflowed. */
static LRP_INLINE int FN(pool_plane)(const lrp_pool_shape *s, const T *weight, const T *a,
                                     const void *r_out, void *r_in, T theta, int absolute,
                                     ptrdiff_t n, ptrdiff_t ch, const pool_pass PASS,
                                     const int SQUARE)
{
    int overflow = 0;
    const ptrdiff_t j0 = pool_in_plane(s, n, ch), k0 = pool_out_plane(s, n, ch);
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
        for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
            const pool_window w = pool_window_at(s, oy, ox, SQUARE);
            const ptrdiff_t k = k0 + oy * s->out_w + ox;
            const T wk = s->mode == LRP_POOL_MAX ? (T)1 : weight[oy * s->out_w + ox];
            const ptrdiff_t winner =
                s->mode == LRP_POOL_MAX ? FN(pool_winner)(s, a, j0, w) : -1;
            T z = 0, m = 0;
            for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
                for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                    const ptrdiff_t j = j0 + iy * s->in_w + ix;
                    const T nj = FN(pool_numerator)(s, a[j], wk, j, winner);
                    z += nj;
                    m = FN(absolute)(nj) > m ? FN(absolute)(nj) : m;
                }
            for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
                for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
                    const ptrdiff_t j = j0 + iy * s->in_w + ix;
                    const T nj = FN(pool_numerator)(s, a[j], wk, j, winner);
                    overflow |= FN(pool_pair)(PASS, r_out, r_in, k, j, nj, z, m, theta, absolute);
                }
        }
    return overflow;
}

/* The real or Viterbi pass over one row of 2x2 windows of stride 2 (VGG's
 * pools), FN(pool_plane)'s operations spelled out on each window's four
 * inputs; MAX and VITERBI constants, so that the loop has no branch and the
 * compiler makes vectors of the windows. The same bits, with no clearing of
 * the plane first: 0 + n c is what r_in[j] += n c gave, max(v, +0) what
 * Viterbi's pair step gave. */
static LRP_INLINE void FN(pool_2x2_row)(ptrdiff_t windows, const T *restrict a0,
                                        const T *restrict a1, const T *restrict wk,
                                        const T *restrict rk, T *restrict i0, T *restrict i1,
                                        const int MAX, const int VITERBI)
{
    for (ptrdiff_t ox = 0; ox < windows; ox++) {
        const T v00 = a0[2 * ox], v01 = a0[2 * ox + 1], v10 = a1[2 * ox], v11 = a1[2 * ox + 1];
        T n00, n01, n10, n11;
        if (MAX) { /* the first arg-max, as FN(pool_winner) finds it, by selects */
            const int w1 = v01 > v00;
            const T b1 = w1 ? v01 : v00;
            const int w2 = v10 > b1;
            const T b2 = w2 ? v10 : b1;
            const int w3 = v11 > b2;
            const int winner = w3 ? 3 : w2 ? 2 : w1;
            n00 = winner == 0 ? v00 : (T)0;
            n01 = winner == 1 ? v01 : (T)0;
            n10 = winner == 2 ? v10 : (T)0;
            n11 = winner == 3 ? v11 : (T)0;
        } else {
            const T w = wk[ox];
            n00 = v00 * w, n01 = v01 * w, n10 = v10 * w, n11 = v11 * w;
        }
        if (VITERBI) { /* r_in[j] = max(r_in[j], v) from r_in[j] = +0 */
            const T e00 = FN(absolute)(n00), e01 = FN(absolute)(n01);
            const T e10 = FN(absolute)(n10), e11 = FN(absolute)(n11);
            T m = 0;
            m = e00 > m ? e00 : m;
            m = e01 > m ? e01 : m;
            m = e10 > m ? e10 : m;
            m = e11 > m ? e11 : m;
            const T d = m + (T)LRP_VITERBI_EPS;
            const T v00 = e00 / d * rk[ox], v01 = e01 / d * rk[ox];
            const T v10 = e10 / d * rk[ox], v11 = e11 / d * rk[ox];
            i0[2 * ox] = v00 > 0 ? v00 : (T)0;
            i0[2 * ox + 1] = v01 > 0 ? v01 : (T)0;
            i1[2 * ox] = v10 > 0 ? v10 : (T)0;
            i1[2 * ox + 1] = v11 > 0 ? v11 : (T)0;
        } else {
            const T z = (T)0 + n00 + n01 + n10 + n11;
            const T c = FN(coefficient)(rk[ox], z);
            i0[2 * ox] = (T)0 + n00 * c;
            i0[2 * ox + 1] = (T)0 + n01 * c;
            i1[2 * ox] = (T)0 + n10 * c;
            i1[2 * ox + 1] = (T)0 + n11 * c;
        }
    }
}

/* Plane (n, ch) by rows of 2x2 windows that cover it: every input written. */
static LRP_INLINE void FN(pool_2x2_plane)(const lrp_pool_shape *s, const T *weight, const T *a,
                                          const T *r_out, T *r_in, ptrdiff_t n, ptrdiff_t ch,
                                          const int VITERBI)
{
    const ptrdiff_t j0 = pool_in_plane(s, n, ch), k0 = pool_out_plane(s, n, ch);
    const ptrdiff_t iw = s->in_w, ow = s->out_w;
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
        const T *a0 = a + j0 + 2 * oy * iw;
        T *i0 = r_in + j0 + 2 * oy * iw;
        const T *rk = r_out + k0 + oy * ow;
        if (s->mode == LRP_POOL_MAX)
            FN(pool_2x2_row)(ow, a0, a0 + iw, NULL, rk, i0, i0 + iw, 1, VITERBI);
        else
            FN(pool_2x2_row)(ow, a0, a0 + iw, weight + oy * ow, rk, i0, i0 + iw, 0, VITERBI);
    }
}

/* PASS's relevance of plane (n, ch) where every window is the single input
 * at its output's place (POOL_SINGLE_INPUTS): FN(pool_plane)'s operations
 * on each window's one n_jk, with z = 0 + n_jk and m = max(+0, |n_jk|), in
 * a loop over the plane the compiler makes vectors of. Nothing is added to
 * an earlier value, so no count can overflow. */
static LRP_INLINE void FN(pool_single_inputs_plane)(const lrp_pool_shape *s, const T *weight,
                                                    const T *a, const void *r_out, void *r_in,
                                                    T theta, int absolute, ptrdiff_t n,
                                                    ptrdiff_t ch, const pool_pass PASS)
{
    const ptrdiff_t j0 = pool_in_plane(s, n, ch), size = s->in_h * s->in_w;
    const int max_pool = s->mode == LRP_POOL_MAX;
    const T *restrict av = a + j0;
    for (ptrdiff_t i = 0; i < size; i++) {
        const T nj = max_pool ? av[i] : av[i] * weight[i];
        const T z = (T)0 + nj;
        if (PASS == POOL_REAL) {
            const T *ro = r_out;
            T *ri = r_in;
            ri[j0 + i] = (T)0 + nj * FN(coefficient)(ro[j0 + i], z);
        } else if (PASS == POOL_VITERBI) {
            const T *ro = r_out;
            T *ri = r_in;
            const T e = FN(absolute)(nj);
            const T m = e > 0 ? e : (T)0;
            const T v = e / (m + (T)LRP_VITERBI_EPS) * ro[j0 + i];
            ri[j0 + i] = v > 0 ? v : (T)0;
        } else if (PASS == POOL_BOOLEAN) {
            const uint8_t *ro = r_out;
            uint8_t *ri = r_in;
            ri[j0 + i] = (uint8_t)((ro[j0 + i] != 0) &
                                   FN(passes)(FN(coefficient)(nj, z), theta, absolute));
        } else {
            const int64_t *ro = r_out;
            int64_t *ri = r_in;
            ri[j0 + i] = ro[j0 + i] & -(int64_t)FN(passes)(FN(coefficient)(nj, z), theta, absolute);
        }
    }
}

/* What a relevance pass reads and writes, and the tier its dispatch chose;
 * planes (sample, channel) are the work items, each writing its own input
 * plane. */
typedef struct {
    const lrp_pool_shape *s;
    const T *weight, *a;
    const void *r_out;
    void *r_in;
    T theta;
    int absolute;
    pool_tier tier;
} FN(pool_job);

/* Tier POOL_ROWS_2X2 (real or Viterbi) on planes [begin, end). */
static LRP_INLINE lrp_status FN(pool_rows_2x2_items)(const FN(pool_job) *job, ptrdiff_t begin,
                                                     ptrdiff_t end, int worker, lrp_team *team,
                                                     const int VITERBI)
{
    const lrp_pool_shape *s = job->s;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        FN(pool_2x2_plane)(s, job->weight, job->a, job->r_out, job->r_in, item / s->channels,
                           item % s->channels, VITERBI);
    }
    return LRP_OK;
}

/* Tiers POOL_WINDOWS_2X2 (SQUARE) and POOL_WINDOWS on planes [begin, end),
 * each plane of r_in cleared first: windows need not cover it. */
static LRP_INLINE lrp_status FN(pool_windows_items)(const FN(pool_job) *job, ptrdiff_t begin,
                                                    ptrdiff_t end, int worker, lrp_team *team,
                                                    const pool_pass PASS, const int SQUARE)
{
    const lrp_pool_shape *s = job->s;
    const T *a = job->a, theta = job->theta;
    const int absolute = job->absolute;
    const void *r_out = job->r_out;
    void *r_in = job->r_in;
    const size_t r_size = PASS == POOL_BOOLEAN    ? sizeof(uint8_t)
                          : PASS == POOL_COUNTING ? sizeof(int64_t)
                                                  : sizeof(T);
    int overflow = 0;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const ptrdiff_t n = item / s->channels, ch = item % s->channels;
        memset((char *)r_in + pool_in_plane(s, n, ch) * r_size, 0,
               (size_t)(s->in_h * s->in_w) * r_size);
        overflow |= FN(pool_plane)(s, job->weight, a, r_out, r_in, theta, absolute, n, ch, PASS,
                                   SQUARE);
    }
    return overflow ? LRP_ERR_OVERFLOW : LRP_OK;
}

/* PASS on planes [begin, end) by the tier in the job. */
static LRP_INLINE lrp_status FN(pool_relevance_items)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team,
                                                      const pool_pass PASS)
{
    const FN(pool_job) *job = context;
    const int rows = PASS == POOL_REAL || PASS == POOL_VITERBI;
    if (job->tier == POOL_SINGLE_INPUTS) {
        const lrp_pool_shape *s = job->s;
        for (ptrdiff_t item = begin; item < end; item++) {
            if (lrp_team_stop(team, worker))
                return LRP_ERR_INTERRUPTED;
            FN(pool_single_inputs_plane)(s, job->weight, job->a, job->r_out, job->r_in,
                                         job->theta, job->absolute, item / s->channels,
                                         item % s->channels, PASS);
        }
        return LRP_OK;
    }
    if (rows && job->tier == POOL_ROWS_2X2)
        return FN(pool_rows_2x2_items)(job, begin, end, worker, team, PASS == POOL_VITERBI);
    if (job->tier == POOL_WINDOWS_2X2)
        return FN(pool_windows_items)(job, begin, end, worker, team, PASS, 1);
    return FN(pool_windows_items)(job, begin, end, worker, team, PASS, 0);
}

/* The tasks, compiled per instruction set (the same operations on each: no
 * multiply-add is fused). */
static LRP_INLINE lrp_status FN(pool_real_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                                 int worker, lrp_team *team, int fused)
{
    (void)fused;
    return FN(pool_relevance_items)(context, begin, end, worker, team, POOL_REAL);
}
LRP_ISA_TASKS(pool_real_task, FN(pool_real_items))

static LRP_INLINE lrp_status FN(pool_viterbi_items)(void *context, ptrdiff_t begin,
                                                    ptrdiff_t end, int worker, lrp_team *team,
                                                    int fused)
{
    (void)fused;
    return FN(pool_relevance_items)(context, begin, end, worker, team, POOL_VITERBI);
}
LRP_ISA_TASKS(pool_viterbi_task, FN(pool_viterbi_items))

static LRP_INLINE lrp_status FN(pool_boolean_items)(void *context, ptrdiff_t begin,
                                                    ptrdiff_t end, int worker, lrp_team *team,
                                                    int fused)
{
    (void)fused;
    return FN(pool_relevance_items)(context, begin, end, worker, team, POOL_BOOLEAN);
}
LRP_ISA_TASKS(pool_boolean_task, FN(pool_boolean_items))

static LRP_INLINE lrp_status FN(pool_counting_items)(void *context, ptrdiff_t begin,
                                                     ptrdiff_t end, int worker, lrp_team *team,
                                                     int fused)
{
    (void)fused;
    return FN(pool_relevance_items)(context, begin, end, worker, team, POOL_COUNTING);
}
LRP_ISA_TASKS(pool_counting_task, FN(pool_counting_items))

/* The windows' sums (average) or maxima of plane (n, ch), any windows. */
static LRP_INLINE void FN(pool_forward_plane)(const lrp_pool_shape *s, const T *weight,
                                              const T *a, T *z, ptrdiff_t n, ptrdiff_t ch)
{
    const ptrdiff_t j0 = pool_in_plane(s, n, ch), k0 = pool_out_plane(s, n, ch);
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
        for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
            const pool_window w = pool_window_at(s, oy, ox, 0);
            T sum = 0;
            if (s->mode == LRP_POOL_MAX) {
                sum = a[FN(pool_winner)(s, a, j0, w)];
            } else {
                const T wk = weight[oy * s->out_w + ox];
                for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
                    for (ptrdiff_t ix = w.x0; ix < w.x1; ix++)
                        sum += a[j0 + iy * s->in_w + ix] * wk;
            }
            z[k0 + oy * s->out_w + ox] = sum;
        }
}

/* The windows of plane (n, ch) row by row where they are 2x2 of stride 2
 * (POOL_ROWS_2X2), FN(pool_forward_plane)'s operations spelled out: the
 * first arg-max's value by selects, or the sum 0 + v00 w + v01 w + v10 w +
 * v11 w in row-major order, so that the compiler makes vectors of a row. */
static LRP_INLINE void FN(pool_2x2_forward_plane)(const lrp_pool_shape *s, const T *weight,
                                                  const T *a, T *z, ptrdiff_t n, ptrdiff_t ch)
{
    const ptrdiff_t j0 = pool_in_plane(s, n, ch), k0 = pool_out_plane(s, n, ch);
    const ptrdiff_t iw = s->in_w, ow = s->out_w;
    const int max_pool = s->mode == LRP_POOL_MAX;
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
        const T *restrict a0 = a + j0 + 2 * oy * iw, *restrict a1 = a0 + iw;
        T *restrict zk = z + k0 + oy * ow;
        if (max_pool)
            for (ptrdiff_t ox = 0; ox < ow; ox++) {
                T best = a0[2 * ox];
                best = a0[2 * ox + 1] > best ? a0[2 * ox + 1] : best;
                best = a1[2 * ox] > best ? a1[2 * ox] : best;
                zk[ox] = a1[2 * ox + 1] > best ? a1[2 * ox + 1] : best;
            }
        else
            for (ptrdiff_t ox = 0; ox < ow; ox++) {
                const T w = weight[oy * ow + ox];
                zk[ox] = (T)0 + a0[2 * ox] * w + a0[2 * ox + 1] * w + a1[2 * ox] * w +
                         a1[2 * ox + 1] * w;
            }
    }
}

/* The windows' values of plane (n, ch) where each is a single input at its
 * output's place (POOL_SINGLE_INPUTS): the input, or 0 + a w. */
static LRP_INLINE void FN(pool_single_inputs_forward_plane)(const lrp_pool_shape *s,
                                                            const T *weight, const T *a, T *z,
                                                            ptrdiff_t n, ptrdiff_t ch)
{
    const ptrdiff_t j0 = pool_in_plane(s, n, ch), size = s->in_h * s->in_w;
    const T *restrict av = a + j0;
    T *restrict zk = z + j0;
    if (s->mode == LRP_POOL_MAX)
        memcpy(zk, av, (size_t)size * sizeof(T));
    else
        for (ptrdiff_t i = 0; i < size; i++)
            zk[i] = (T)0 + av[i] * weight[i];
}

typedef struct {
    const lrp_pool_shape *s;
    const T *weight, *a;
    T *z;
    pool_tier tier; /* POOL_SINGLE_INPUTS, POOL_ROWS_2X2 or POOL_WINDOWS */
} FN(pool_forward_job);

static LRP_INLINE lrp_status FN(pool_forward_items)(void *context, ptrdiff_t begin,
                                                    ptrdiff_t end, int worker, lrp_team *team,
                                                    int fused)
{
    const FN(pool_forward_job) *job = context;
    const lrp_pool_shape *s = job->s;
    (void)fused;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const ptrdiff_t n = item / s->channels, ch = item % s->channels;
        if (job->tier == POOL_SINGLE_INPUTS)
            FN(pool_single_inputs_forward_plane)(s, job->weight, job->a, job->z, n, ch);
        else if (job->tier == POOL_ROWS_2X2)
            FN(pool_2x2_forward_plane)(s, job->weight, job->a, job->z, n, ch);
        else
            FN(pool_forward_plane)(s, job->weight, job->a, job->z, n, ch);
    }
    return LRP_OK;
}
LRP_ISA_TASKS(pool_forward_task, FN(pool_forward_items))

/* Runs task over the planes of s and notes `tier` once it has succeeded. */
static lrp_status FN(pool_run)(const lrp_pool_shape *s, lrp_task task, void *job,
                               const char *tier)
{
    const lrp_status status =
        lrp_parallel_for_upto(s->n * s->channels, pool_threads(s), task, job, s->interrupt);
    if (status == LRP_OK)
        lrp_trace_tier(tier);
    return status;
}

/* The passes. Each tries the tiers of pool_tier_of in order:
 *   single_inputs  every window the one input at its output's place
 *   rows_2x2       (forward, real, viterbi) every window 2x2 of stride 2,
 *                  and for a relevance pass they cover the input (in_h =
 *                  2 out_h, in_w = 2 out_w)
 *   windows_2x2    every window 2x2 of stride 2
 *   windows        any windows */

lrp_status FN(lrp_pool_forward)(const lrp_pool_shape *s, const T *weight, const T *a, T *z)
{
    lrp_status status = lrp_pool_check(s);
    if (status != LRP_OK)
        return status;
    FN(pool_forward_job) job = {s, weight, a, z, pool_tier_of(s, 1, 0)};
    return FN(pool_run)(s, LRP_ISA_TASK(pool_forward_task), &job,
                        POOL_TIER_NAME("forward", job.tier));
}

lrp_status FN(lrp_pool_relevance_real)(const lrp_pool_shape *s, const T *weight, const T *a,
                                       const T *r_out, T *r_in)
{
    lrp_status status = lrp_pool_check(s);
    if (status != LRP_OK)
        return status;
    FN(pool_job) job = {s, weight, a, r_out, r_in, 0, 0, pool_tier_of(s, 1, 1)};
    return FN(pool_run)(s, LRP_ISA_TASK(pool_real_task), &job, POOL_TIER_NAME("real", job.tier));
}

lrp_status FN(lrp_pool_relevance_boolean)(const lrp_pool_shape *s, const T *weight,
                                          const lrp_threshold *t, const T *a,
                                          const uint8_t *r_out, uint8_t *r_in)
{
    lrp_status status = lrp_pool_check(s);
    if (status != LRP_OK)
        return status;
    FN(pool_job) job = {s,           weight, a, r_out, r_in, t ? (T)t->theta : (T)0,
                        t ? t->absolute : 0, pool_tier_of(s, 0, 1)};
    return FN(pool_run)(s, LRP_ISA_TASK(pool_boolean_task), &job,
                        POOL_TIER_NAME("boolean", job.tier));
}

lrp_status FN(lrp_pool_relevance_counting)(const lrp_pool_shape *s, const T *weight,
                                           const lrp_threshold *t, const T *a,
                                           const int64_t *r_out, int64_t *r_in)
{
    int64_t total; /* only its check of the counts is needed: pools are cheap */
    lrp_status status = lrp_pool_check(s);
    if (status == LRP_OK)
        status = lrp_count_sum(r_out, s->n * s->channels * s->out_h * s->out_w, &total);
    if (status != LRP_OK)
        return status;
    FN(pool_job) job = {s,           weight, a, r_out, r_in, t ? (T)t->theta : (T)0,
                        t ? t->absolute : 0, pool_tier_of(s, 0, 1)};
    return FN(pool_run)(s, LRP_ISA_TASK(pool_counting_task), &job,
                        POOL_TIER_NAME("counting", job.tier));
}

lrp_status FN(lrp_pool_relevance_viterbi)(const lrp_pool_shape *s, const T *weight, const T *a,
                                          const T *r_out, T *r_in)
{
    lrp_status status = lrp_pool_check(s);
    if (status != LRP_OK)
        return status;
    FN(pool_job) job = {s, weight, a, r_out, r_in, 0, 0, pool_tier_of(s, 1, 1)};
    return FN(pool_run)(s, LRP_ISA_TASK(pool_viterbi_task), &job,
                        POOL_TIER_NAME("viterbi", job.tier));
}

#endif /* LRP_INSTANCE_POOL_KERNELS */
