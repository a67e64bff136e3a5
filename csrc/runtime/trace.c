/* Tier notes, one list per thread: a pass's choice of tier is made in the
 * thread that called it, so each caller sees exactly its own passes. */
#include <stddef.h>

#include "lrp.h"
#include "runtime/trace.h"

static _Thread_local int tracing;
static _Thread_local size_t noted;
static _Thread_local const char *tiers[LRP_TRACE_CAPACITY];

void lrp_trace_start(void)
{
    tracing = 1;
    noted = 0;
}

void lrp_trace_tier(const char *tier)
{
    if (!tracing)
        return;
    if (noted < LRP_TRACE_CAPACITY)
        tiers[noted] = tier;
    noted++;
}

size_t lrp_trace_take(const char **out, size_t max)
{
    size_t kept = noted < LRP_TRACE_CAPACITY ? noted : LRP_TRACE_CAPACITY;
    for (size_t i = 0; i < kept && i < max; i++)
        out[i] = tiers[i];
    size_t total = noted;
    noted = 0;
    return total;
}

void lrp_trace_stop(void)
{
    tracing = 0;
    noted = 0;
}
