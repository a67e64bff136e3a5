/* Pooling layers' relevance pass for a composed semiring, written once
 * against T and FN() (composed_pool.c instances it). Work items are
 * (sample, channel) planes: each owns its r_in plane and takes the windows
 * in ascending output order, forming each window's z_k and m_k as the
 * built-in passes do (pool_kernels.h), then a block of a window row at a
 * time. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#include "composed/composed_values.h"
#ifndef LRP_INSTANCE_COMPOSED_POOL /* once per instance */
#define LRP_INSTANCE_COMPOSED_POOL

#include <stddef.h>
#include "lrp.h"
#include "composed/composed.h"
#include "kernel/compiler.h"
#include "pooling/pool_windows.h"
#include "runtime/isa_dispatch.h"
#include "runtime/parallel.h"
#include "runtime/trace.h"

typedef struct {
    const lrp_pool_shape *s;
    const lrp_semiring *sr;
    lrp_composed_combine_fn combine;
    const T *weight, *a;
    const void *r_out;
    void *r_in;
} FN(composed_pool_job);

/* n_jk of input j in a window of weight wk (max pooling: 1 on the window's
 * first arg-max `winner`, else 0). */
static LRP_INLINE T FN(composed_pool_numerator)(int max, T a_j, T wk, ptrdiff_t j,
                                                ptrdiff_t winner)
{
    if (max)
        return j == winner ? a_j : (T)0;
    return a_j * wk;
}

/* Window (oy, ox) of the plane at j0 (inputs) and k0 (outputs). */
static LRP_INLINE int FN(composed_pool_window)(const FN(composed_pool_job) *job, ptrdiff_t j0,
                                               ptrdiff_t k0, ptrdiff_t oy, ptrdiff_t ox,
                                               FN(composed_block) *block)
{
    const lrp_pool_shape *s = job->s;
    const lrp_semiring *sr = job->sr;
    const lrp_elem elem = sr->elem;
    const T *a = job->a;
    const ptrdiff_t k = k0 + oy * s->out_w + ox;
    if (lrp_elem_is(elem, sr->zero, job->r_out, k))
        return 0; /* zero absorbs mul and is neutral for add */
    const pool_window w = pool_window_at(s, oy, ox, 0);
    const int max = s->mode == LRP_POOL_MAX;
    const T wk = max ? (T)1 : job->weight[oy * s->out_w + ox];
    ptrdiff_t winner = -1;
    if (max) { /* the first arg-max in row-major order */
        winner = j0 + w.y0 * s->in_w + w.x0;
        for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
            for (ptrdiff_t ix = w.x0; ix < w.x1; ix++)
                if (a[j0 + iy * s->in_w + ix] > a[winner])
                    winner = j0 + iy * s->in_w + ix;
    }
    T z = 0, m = 0;
    for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
        for (ptrdiff_t ix = w.x0; ix < w.x1; ix++) {
            const ptrdiff_t j = j0 + iy * s->in_w + ix;
            const T nj = FN(composed_pool_numerator)(max, a[j], wk, j, winner);
            z += nj;
            m = FN(absolute)(nj) > m ? FN(absolute)(nj) : m;
        }
    const T den = sr->source == LRP_SOURCE_VITERBI ? m : z;
    for (ptrdiff_t iy = w.y0; iy < w.y1; iy++)
        for (ptrdiff_t x = w.x0; x < w.x1; x += COMPOSED_BLOCK) {
            const ptrdiff_t count = w.x1 - x < COMPOSED_BLOCK ? w.x1 - x : COMPOSED_BLOCK;
            const ptrdiff_t first = j0 + iy * s->in_w + x;
            for (ptrdiff_t i = 0; i < count; i++)
                block->v[i] = FN(composed_pool_numerator)(max, a[first + i], wk, first + i, winner);
            FN(composed_source)(sr->source, block->v, &den, 0, count);
            FN(composed_values)(sr, block->v, &block->val, count);
            lrp_elem_broadcast(elem, job->r_out, k, &block->r, count);
            const int flags = job->combine(sr, lrp_elem_at(elem, job->r_in, first), &block->val,
                                           &block->r, count);
            if (flags)
                return flags;
        }
    return 0;
}

/* Planes [begin, end). */
static LRP_INLINE lrp_status FN(composed_pool_planes)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(composed_pool_job) *job = context;
    const lrp_pool_shape *s = job->s;
    const lrp_elem elem = job->sr->elem;
    FN(composed_block) block;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const ptrdiff_t n = item / s->channels, ch = item % s->channels;
        const ptrdiff_t j0 = pool_in_plane(s, n, ch), k0 = pool_out_plane(s, n, ch);
        lrp_elem_fill(elem, job->sr->zero, lrp_elem_at(elem, job->r_in, j0), s->in_h * s->in_w);
        for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
            for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
                const int flags = FN(composed_pool_window)(job, j0, k0, oy, ox, &block);
                if (flags)
                    return lrp_composed_status(flags);
            }
    }
    return LRP_OK;
}

LRP_ISA_PLAIN_TASKS(composed_pool_task, FN(composed_pool_planes))

/* lrp_pool_relevance_composed: R_j = add_k mul(value_jk, R_k) (lrp.h).
 * One tier, noted "pool.composed.windows": (sample, channel) planes over
 * the threads, window by window in output order. */
lrp_status FN(lrp_pool_relevance_composed)(const lrp_pool_shape *s, const lrp_semiring *sr,
                                           const T *weight, const T *a, const void *r_out,
                                           void *r_in)
{
    if (lrp_pool_check(s) != LRP_OK || lrp_semiring_check(sr) != LRP_OK ||
        (s->mode == LRP_POOL_AVERAGE && !weight))
        return LRP_ERR_ARG;
    FN(composed_pool_job) job = {.s = s, .sr = sr, .combine = lrp_composed_combine_for(sr),
                                 .weight = weight, .a = a, .r_out = r_out, .r_in = r_in};
    lrp_status status = lrp_parallel_for_upto(s->n * s->channels, pool_threads(s),
                                              LRP_ISA_TASK(composed_pool_task), &job,
                                              s->interrupt);
    if (status == LRP_OK)
        lrp_trace_tier("pool.composed.windows");
    return status;
}

#endif /* LRP_INSTANCE_COMPOSED_POOL */
