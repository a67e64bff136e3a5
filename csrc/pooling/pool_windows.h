/* Where a pool's windows lie in its planes, and which tier a shape takes:
 * what the pooling kernels (pool_kernels.h) share across dtypes. */
#ifndef SEMIRING_LRP_POOLING_POOL_WINDOWS_H
#define SEMIRING_LRP_POOLING_POOL_WINDOWS_H

#include <stddef.h>
#include "lrp.h"
#include "kernel/compiler.h"

/* Flat index of the first input (output) of plane (sample n, channel ch). */
static LRP_INLINE ptrdiff_t pool_in_plane(const lrp_pool_shape *s, ptrdiff_t n, ptrdiff_t ch)
{
    return (n * s->channels + ch) * s->in_h * s->in_w;
}
static LRP_INLINE ptrdiff_t pool_out_plane(const lrp_pool_shape *s, ptrdiff_t n, ptrdiff_t ch)
{
    return (n * s->channels + ch) * s->out_h * s->out_w;
}

/* Window (oy, ox): rows [y0, y1) x columns [x0, x1) of its input plane. */
typedef struct {
    ptrdiff_t y0, y1, x0, x1;
} pool_window;

/* SQUARE (a constant): pool_is_2x2 holds, so the window's size is a
 * constant the compiler sees. */
static LRP_INLINE pool_window pool_window_at(const lrp_pool_shape *s, ptrdiff_t oy,
                                             ptrdiff_t ox, const int SQUARE)
{
    pool_window w;
    w.y0 = SQUARE ? 2 * oy : s->row_start[oy];
    w.y1 = SQUARE ? w.y0 + 2 : s->row_end[oy];
    w.x0 = SQUARE ? 2 * ox : s->col_start[ox];
    w.x1 = SQUARE ? w.x0 + 2 : s->col_end[ox];
    return w;
}

/* Whether every window is rows [2 oy, 2 oy + 2) x columns [2 ox, 2 ox + 2)
 * (a 2x2 pool of stride 2, VGG's): the passes then run with the window's
 * size a constant, the same operations in the same order. */
static inline int pool_is_2x2(const lrp_pool_shape *s)
{
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
        if (s->row_start[oy] != 2 * oy || s->row_end[oy] != 2 * oy + 2)
            return 0;
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++)
        if (s->col_start[ox] != 2 * ox || s->col_end[ox] != 2 * ox + 2)
            return 0;
    return 1;
}

/* The tiers of the pooling passes, in the order their dispatch tries them;
 * each gives the same bits as the next on the shapes it takes. */
typedef enum {
    POOL_ROWS_2X2,    /* 2x2 windows of stride 2 covering the input: a row of
                         windows at a time, in vectors (real and Viterbi only) */
    POOL_WINDOWS_2X2, /* 2x2 windows of stride 2: window by window, its size a constant */
    POOL_WINDOWS      /* any windows: window by window */
} pool_tier;

/* The first tier whose condition s meets; rows: the pass has POOL_ROWS_2X2. */
static inline pool_tier pool_tier_of(const lrp_pool_shape *s, int rows)
{
    if (!pool_is_2x2(s))
        return POOL_WINDOWS;
    if (rows && s->in_h == 2 * s->out_h && s->in_w == 2 * s->out_w)
        return POOL_ROWS_2X2;
    return POOL_WINDOWS_2X2;
}

/* The relevance pass a window loop runs (a constant in each task). */
typedef enum { POOL_REAL, POOL_BOOLEAN, POOL_COUNTING, POOL_VITERBI } pool_pass;

/* Inputs per thread at least: a pass costs a few nanoseconds per input. */
enum { POOL_MIN_INPUTS = 65536 };

/* Threads a pass over s's planes may use (work items: planes). */
static inline ptrdiff_t pool_threads(const lrp_pool_shape *s)
{
    return s->n * s->channels * (s->in_h * s->in_w) / POOL_MIN_INPUTS;
}

#endif
