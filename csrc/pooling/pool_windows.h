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

/* Whether every window is the one input at its output's own place (an
 * adaptive pool to its input's size, as VGG's 7x7 one): each output then has
 * a single n_jk, and a pass is element-wise over the planes. */
static inline int pool_is_single_inputs(const lrp_pool_shape *s)
{
    if (s->out_h != s->in_h || s->out_w != s->in_w)
        return 0;
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
        if (s->row_start[oy] != oy || s->row_end[oy] != oy + 1)
            return 0;
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++)
        if (s->col_start[ox] != ox || s->col_end[ox] != ox + 1)
            return 0;
    return 1;
}

/* The tiers of the pooling passes, in the order their dispatch tries them;
 * each gives the same bits as the next on the shapes it takes. */
typedef enum {
    POOL_SINGLE_INPUTS, /* every window one input at its output's place: element-wise */
    POOL_ROWS_2X2,      /* 2x2 windows of stride 2 (covering the input, for a
                           relevance pass): a row of windows at a time, in
                           vectors (forward, real and Viterbi only) */
    POOL_WINDOWS_2X2,   /* 2x2 windows of stride 2: window by window, its size a constant */
    POOL_WINDOWS        /* any windows: window by window */
} pool_tier;

/* The first tier whose condition s meets; rows: the pass has POOL_ROWS_2X2,
 * covering: it needs the windows to cover the input there. */
static inline pool_tier pool_tier_of(const lrp_pool_shape *s, int rows, int covering)
{
    if (pool_is_single_inputs(s))
        return POOL_SINGLE_INPUTS;
    if (!pool_is_2x2(s))
        return POOL_WINDOWS;
    const int covered = s->in_h == 2 * s->out_h && s->in_w == 2 * s->out_w;
    if (rows && (covered || !covering))
        return POOL_ROWS_2X2;
    return POOL_WINDOWS_2X2;
}

/* The tier note "pool.PASS.TIER" of tier t for PASS, a string literal. */
#define POOL_TIER_NAME(PASS, t)                                                                \
    ((t) == POOL_SINGLE_INPUTS ? "pool." PASS ".single_inputs"                                 \
     : (t) == POOL_ROWS_2X2    ? "pool." PASS ".rows_2x2"                                      \
     : (t) == POOL_WINDOWS_2X2 ? "pool." PASS ".windows_2x2"                                   \
                               : "pool." PASS ".windows")

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
