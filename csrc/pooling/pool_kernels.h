/* Pooling kernels, written once against T and FN() (see instantiate.h).
 * Every pass handles one window at a time: it forms the window's z_k (and
 * Viterbi's m_k) and then visits the window's inputs in row-major order, so
 * nothing outlives the window. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_POOL_KERNELS /* once per instance */
#define LRP_INSTANCE_POOL_KERNELS

#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/counts.h"
#include "runtime/isa_dispatch.h"
#include "runtime/parallel.h"
#include "kernel/tuning.h"

/* Inputs per thread at least: a pass costs a few nanoseconds per input. */
#define POOL_MIN_INPUTS 65536

#define POOL_IN_PLANE(s, n, chan) (((n) * (s)->channels + (chan)) * (s)->in_h * (s)->in_w)
#define POOL_OUT_PLANE(s, n, chan) (((n) * (s)->channels + (chan)) * (s)->out_h * (s)->out_w)

/* The flat index of the first arg-max of window rows [y0, y1) x columns
 * [x0, x1): ties go to the earliest. */
static LRP_INLINE ptrdiff_t FN(pool_winner)(const lrp_pool_shape *s, const T *a, ptrdiff_t j0,
                                            ptrdiff_t y0, ptrdiff_t y1, ptrdiff_t x0,
                                            ptrdiff_t x1)
{
    ptrdiff_t best = j0 + y0 * s->in_w + x0;
    for (ptrdiff_t iy = y0; iy < y1; iy++)
        for (ptrdiff_t ix = x0; ix < x1; ix++) {
            const ptrdiff_t j = j0 + iy * s->in_w + ix;
            if (a[j] > a[best])
                best = j;
        }
    return best;
}

/* Whether every window is rows [2 oy, 2 oy + 2) x columns [2 ox, 2 ox + 2)
 * (a 2x2 pool of stride 2, VGG's): the passes then run with the window's
 * size a constant, the same operations in the same order. */
static int FN(pool_is_2x2)(const lrp_pool_shape *s)
{
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
        if (s->row_start[oy] != 2 * oy || s->row_end[oy] != 2 * oy + 2)
            return 0;
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++)
        if (s->col_start[ox] != 2 * ox || s->col_end[ox] != 2 * ox + 2)
            return 0;
    return 1;
}

/* Window (oy, ox)'s rows and columns; SQUARE: FN(pool_is_2x2) holds. */
#define POOL_WINDOW(s, SQUARE, oy, ox)                                            \
    const ptrdiff_t y0 = (SQUARE) ? 2 * (oy) : (s)->row_start[oy];                \
    const ptrdiff_t y1 = (SQUARE) ? y0 + 2 : (s)->row_end[oy];                    \
    const ptrdiff_t x0 = (SQUARE) ? 2 * (ox) : (s)->col_start[ox];                \
    const ptrdiff_t x1 = (SQUARE) ? x0 + 2 : (s)->col_end[ox]

/* n_jk of input j in the window of output k (winner: the max pool's arg-max). */
static LRP_INLINE T FN(pool_numerator)(const lrp_pool_shape *s, T a_j, T weight_k, ptrdiff_t j,
                                       ptrdiff_t winner)
{
    if (s->mode == LRP_POOL_MAX)
        return j == winner ? a_j : (T)0;
    return a_j * weight_k;
}

/* Visits every window (oy, ox) of plane (n, ch) with k, wk (its weight),
 * winner, z (sum of n_jk) and m (max |n_jk|) set, then every input j of it
 * with nj (= n_jk) set, running STMT for each pair. */
#define POOL_PLANE(s, SQUARE, weight, a, n, ch, ...)                                          \
    do {                                                                                     \
        const ptrdiff_t j0 = POOL_IN_PLANE(s, n, ch), k0 = POOL_OUT_PLANE(s, n, ch);         \
        for (ptrdiff_t oy = 0; oy < (s)->out_h; oy++)                                        \
            for (ptrdiff_t ox = 0; ox < (s)->out_w; ox++) {                                  \
                POOL_WINDOW(s, SQUARE, oy, ox);                                              \
                const ptrdiff_t k = k0 + oy * (s)->out_w + ox;                               \
                const T wk = (s)->mode == LRP_POOL_MAX ? (T)1 : (weight)[oy * (s)->out_w + ox]; \
                const ptrdiff_t winner = (s)->mode == LRP_POOL_MAX                           \
                                             ? FN(pool_winner)(s, a, j0, y0, y1, x0, x1)      \
                                             : -1;                                           \
                T z = 0, m = 0;                                                              \
                for (ptrdiff_t iy = y0; iy < y1; iy++)                                       \
                    for (ptrdiff_t ix = x0; ix < x1; ix++) {                                 \
                        const ptrdiff_t j = j0 + iy * (s)->in_w + ix;                        \
                        const T nj = FN(pool_numerator)(s, (a)[j], wk, j, winner);           \
                        z += nj;                                                             \
                        m = FN(absolute)(nj) > m ? FN(absolute)(nj) : m;                     \
                    }                                                                        \
                (void)z;                                                                     \
                (void)m;                                                                     \
                for (ptrdiff_t iy = y0; iy < y1; iy++)                                       \
                    for (ptrdiff_t ix = x0; ix < x1; ix++) {                                 \
                        const ptrdiff_t j = j0 + iy * (s)->in_w + ix;                        \
                        const T nj = FN(pool_numerator)(s, (a)[j], wk, j, winner);           \
                        __VA_ARGS__;                                                         \
                    }                                                                        \
            }                                                                                \
    } while (0)

/* What a pass reads and writes; planes (sample, channel) are the work items,
 * each writing its own input plane. */
typedef struct {
    const lrp_pool_shape *s;
    const T *weight, *a;
    const void *r_out;
    void *r_in;
    T theta;
    int absolute, square; /* square: FN(pool_is_2x2) */
} FN(pool_job);

/* The items of a task running STMT for every pair of its planes, each
 * plane of r_in cleared first; `overflow` may be set by STMT (counting).
 * POOL_TASK: those items as a task compiled per instruction set (the same
 * operations on each: no multiply-add is fused). */
#define POOL_ITEMS(NAME, R_TYPE, ...)                                                         \
    static LRP_INLINE lrp_status FN(NAME##_items)(void *context, ptrdiff_t begin,             \
                                                  ptrdiff_t end, int worker, lrp_team *team,  \
                                                  int fused)                                  \
    {                                                                                         \
        const FN(pool_job) *job = context;                                                    \
        const lrp_pool_shape *s = job->s;                                                     \
        const T *a = job->a, theta = job->theta;                                              \
        const int absolute = job->absolute;                                                   \
        const R_TYPE *r_out = job->r_out;                                                     \
        R_TYPE *r_in = job->r_in;                                                             \
        int overflow = 0;                                                                     \
        (void)theta, (void)absolute, (void)fused;                                             \
        for (ptrdiff_t item = begin; item < end; item++) {                                    \
            if (lrp_team_stop(team, worker))                                                  \
                return LRP_ERR_INTERRUPTED;                                                   \
            const ptrdiff_t n = item / s->channels, ch = item % s->channels;                  \
            memset(r_in + POOL_IN_PLANE(s, n, ch), 0,                                         \
                   (size_t)(s->in_h * s->in_w) * sizeof(R_TYPE));                             \
            if (job->square)                                                                  \
                POOL_PLANE(s, 1, job->weight, a, n, ch, __VA_ARGS__);                         \
            else                                                                              \
                POOL_PLANE(s, 0, job->weight, a, n, ch, __VA_ARGS__);                         \
        }                                                                                     \
        return overflow ? LRP_ERR_OVERFLOW : LRP_OK;                                          \
    }
#define POOL_TASK(NAME, R_TYPE, ...)      \
    POOL_ITEMS(NAME, R_TYPE, __VA_ARGS__) \
    LRP_ISA_TASKS(NAME, FN(NAME##_items))

/* The real or Viterbi pass over one row of 2x2 windows of stride 2 (VGG's
 * pools), POOL_PLANE's operations spelled out on each window's four inputs;
 * MAX and VITERBI constants, so that the loop has no branch and the compiler
 * makes vectors of the windows. The same bits, with no clearing of the plane
 * first: 0 + n c is what r_in[j] += n c gave, max(v, +0) what Viterbi's
 * pair step gave. */
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

static LRP_INLINE void FN(pool_2x2)(const lrp_pool_shape *s, const T *weight, const T *a,
                                    const T *r_out, T *r_in, ptrdiff_t n, ptrdiff_t ch,
                                    const int VITERBI)
{
    const ptrdiff_t j0 = POOL_IN_PLANE(s, n, ch), k0 = POOL_OUT_PLANE(s, n, ch);
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

/* Planes of 2x2 windows covering them, by the row loops above. */
static LRP_INLINE lrp_status FN(pool_2x2_items)(const FN(pool_job) *job, ptrdiff_t begin,
                                                ptrdiff_t end, int worker, lrp_team *team,
                                                const int VITERBI)
{
    const lrp_pool_shape *s = job->s;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        FN(pool_2x2)(s, job->weight, job->a, job->r_out, job->r_in, item / s->channels,
                     item % s->channels, VITERBI);
    }
    return LRP_OK;
}

/* Whether the windows are 2x2 of stride 2 and leave no input out. */
static LRP_INLINE int FN(pool_covering_2x2)(const FN(pool_job) *job)
{
    const lrp_pool_shape *s = job->s;
    return job->square && s->in_h == 2 * s->out_h && s->in_w == 2 * s->out_w;
}

/* the real pass as the products form it: s_k = R_k / z_k once per window */
POOL_ITEMS(pool_real_windows, T, r_in[j] += nj * FN(coefficient)(r_out[k], z))
POOL_ITEMS(pool_viterbi_windows, T, {
    const T v = FN(absolute)(nj) / (m + (T)LRP_VITERBI_EPS) * r_out[k];
    r_in[j] = v > r_in[j] ? v : r_in[j];
})

static LRP_INLINE lrp_status FN(pool_real_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                                 int worker, lrp_team *team, int fused)
{
    return FN(pool_covering_2x2)(context)
               ? FN(pool_2x2_items)(context, begin, end, worker, team, 0)
               : FN(pool_real_windows_items)(context, begin, end, worker, team, fused);
}
LRP_ISA_TASKS(pool_real_task, FN(pool_real_items))

static LRP_INLINE lrp_status FN(pool_viterbi_items)(void *context, ptrdiff_t begin,
                                                    ptrdiff_t end, int worker, lrp_team *team,
                                                    int fused)
{
    return FN(pool_covering_2x2)(context)
               ? FN(pool_2x2_items)(context, begin, end, worker, team, 1)
               : FN(pool_viterbi_windows_items)(context, begin, end, worker, team, fused);
}
LRP_ISA_TASKS(pool_viterbi_task, FN(pool_viterbi_items))
POOL_TASK(pool_boolean_task, uint8_t,
          r_in[j] |= (uint8_t)((r_out[k] != 0) &
                               FN(passes)(FN(coefficient)(nj, z), theta, absolute)))
/* windows may overlap, so every addition is checked: pools are cheap */
POOL_TASK(pool_counting_task, int64_t, {
    const int64_t add = r_out[k] & -(int64_t)FN(passes)(FN(coefficient)(nj, z), theta, absolute);
    overflow |= __builtin_add_overflow(r_in[j], add, &r_in[j]);
})
#undef POOL_TASK
#undef POOL_ITEMS

/* Runs `task` over the planes, each clearing its plane of r_in first. */
static lrp_status FN(pool_run)(const lrp_pool_shape *s, const T *weight, const T *a,
                               const void *r_out, void *r_in,
                               const lrp_threshold *t, lrp_task task)
{
    lrp_status status = lrp_pool_check(s);
    if (status != LRP_OK)
        return status;
    const ptrdiff_t planes = s->n * s->channels, in_plane = s->in_h * s->in_w;
    FN(pool_job) job = {s,      weight, a, r_out, r_in, t ? (T)t->theta : (T)0, t ? t->absolute : 0,
                        FN(pool_is_2x2)(s)};
    return lrp_parallel_for_upto(planes, planes * in_plane / POOL_MIN_INPUTS, task, &job,
                                 s->interrupt);
}

/* The windows' sums (average) or maxima of one plane. */
#define POOL_FORWARD_PLANE(s, SQUARE, weight, a, z, n, ch)                                   \
    do {                                                                                     \
        const ptrdiff_t j0 = POOL_IN_PLANE(s, n, ch), k0 = POOL_OUT_PLANE(s, n, ch);         \
        for (ptrdiff_t oy = 0; oy < (s)->out_h; oy++)                                        \
            for (ptrdiff_t ox = 0; ox < (s)->out_w; ox++) {                                  \
                POOL_WINDOW(s, SQUARE, oy, ox);                                              \
                T sum = 0;                                                                   \
                if ((s)->mode == LRP_POOL_MAX) {                                             \
                    sum = (a)[FN(pool_winner)(s, a, j0, y0, y1, x0, x1)];                    \
                } else {                                                                     \
                    const T wk = (weight)[oy * (s)->out_w + ox];                             \
                    for (ptrdiff_t iy = y0; iy < y1; iy++)                                   \
                        for (ptrdiff_t ix = x0; ix < x1; ix++)                               \
                            sum += (a)[j0 + iy * (s)->in_w + ix] * wk;                       \
                }                                                                            \
                (z)[k0 + oy * (s)->out_w + ox] = sum;                                        \
            }                                                                                \
    } while (0)

typedef struct {
    const lrp_pool_shape *s;
    const T *weight, *a;
    T *z;
    int square;
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
        if (job->square)
            POOL_FORWARD_PLANE(s, 1, job->weight, job->a, job->z, n, ch);
        else
            POOL_FORWARD_PLANE(s, 0, job->weight, job->a, job->z, n, ch);
    }
    return LRP_OK;
}
LRP_ISA_TASKS(pool_forward_task, FN(pool_forward_items))

lrp_status FN(lrp_pool_forward)(const lrp_pool_shape *s, const T *weight, const T *a, T *z)
{
    lrp_status status = lrp_pool_check(s);
    if (status != LRP_OK)
        return status;
    const ptrdiff_t planes = s->n * s->channels, in_plane = s->in_h * s->in_w;
    FN(pool_forward_job) job = {s, weight, a, z, FN(pool_is_2x2)(s)};
    return lrp_parallel_for_upto(planes, planes * in_plane / POOL_MIN_INPUTS,
                                 LRP_ISA_TASK(pool_forward_task), &job, s->interrupt);
}

lrp_status FN(lrp_pool_relevance_real)(const lrp_pool_shape *s, const T *weight, const T *a,
                                       const T *r_out, T *r_in)
{
    return FN(pool_run)(s, weight, a, r_out, r_in, NULL, LRP_ISA_TASK(pool_real_task));
}

lrp_status FN(lrp_pool_relevance_boolean)(const lrp_pool_shape *s, const T *weight,
                                          const lrp_threshold *t, const T *a,
                                          const uint8_t *r_out, uint8_t *r_in)
{
    return FN(pool_run)(s, weight, a, r_out, r_in, t, LRP_ISA_TASK(pool_boolean_task));
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
    return FN(pool_run)(s, weight, a, r_out, r_in, t, LRP_ISA_TASK(pool_counting_task));
}

lrp_status FN(lrp_pool_relevance_viterbi)(const lrp_pool_shape *s, const T *weight, const T *a,
                                          const T *r_out, T *r_in)
{
    return FN(pool_run)(s, weight, a, r_out, r_in, NULL, LRP_ISA_TASK(pool_viterbi_task));
}

#undef POOL_PLANE
#undef POOL_FORWARD_PLANE
#undef POOL_WINDOW
#undef POOL_MIN_INPUTS
#undef POOL_IN_PLANE
#undef POOL_OUT_PLANE

#endif /* LRP_INSTANCE_POOL_KERNELS */
