/* The worker threads (threads.c) and the interrupt hook, as kernels use them. */
#ifndef SEMIRING_LRP_RUNTIME_PARALLEL_H
#define SEMIRING_LRP_RUNTIME_PARALLEL_H

#include <stddef.h>
#include "lrp.h"

/* threads.c: lrp_parallel_for(items, task, context, interrupt) runs
 * task(context, begin, end, worker, team) on contiguous pieces of [0, items),
 * each once, a thread (`worker`) possibly on several in turn; tasks poll
 * lrp_team_stop between tiles and return LRP_ERR_INTERRUPTED when it says
 * so. */
typedef struct lrp_team lrp_team;
typedef lrp_status (*lrp_task)(void *context, ptrdiff_t begin, ptrdiff_t end, int worker,
                               lrp_team *team);
lrp_status lrp_parallel_for(ptrdiff_t items, lrp_task task, void *context,
                            const lrp_interrupt *interrupt);
/* the same on at most `threads` threads (work too small to pay for more) */
lrp_status lrp_parallel_for_upto(ptrdiff_t items, ptrdiff_t threads, lrp_task task,
                                 void *context, const lrp_interrupt *interrupt);
int lrp_team_stop(lrp_team *team, int worker);

/* Passes element by element: items of `chunk` values of [0, count), over at
 * most count / (4 chunk) threads (milliseconds at most: no interrupt); an
 * item range [begin, end) covers values [*first, *last). */
static inline void lrp_parallel_chunks(ptrdiff_t count, ptrdiff_t chunk, lrp_task task,
                                       void *context)
{
    (void)lrp_parallel_for_upto((count + chunk - 1) / chunk, count / (4 * chunk), task, context,
                                NULL);
}
static inline void lrp_chunk_span(ptrdiff_t begin, ptrdiff_t end, ptrdiff_t chunk,
                                  ptrdiff_t count, ptrdiff_t *first, ptrdiff_t *last)
{
    *first = begin * chunk;
    *last = end * chunk < count ? end * chunk : count;
}

static inline int lrp_interrupted(const lrp_interrupt *interrupt)
{
    return interrupt && interrupt->requested(interrupt->context);
}

#endif
