/* Pooling layers (average, adaptive average, max): forward and the
 * relevance pass of every built-in semiring, in float32 and float64
 * (pool_kernels.h; its tiers: pool_windows.h). */
#include <stddef.h>

#include "lrp.h"

static int windows_ok(const int64_t *start, const int64_t *end, ptrdiff_t count, ptrdiff_t len)
{
    for (ptrdiff_t i = 0; i < count; i++)
        if (start[i] < 0 || start[i] >= end[i] || end[i] > len)
            return 0;
    return 1;
}

lrp_status lrp_pool_check(const lrp_pool_shape *s)
{
    if (s->n < 0 || s->channels < 0 || s->in_h < 1 || s->in_w < 1 || s->out_h < 1 || s->out_w < 1)
        return LRP_ERR_ARG;
    if (s->mode != LRP_POOL_AVERAGE && s->mode != LRP_POOL_MAX)
        return LRP_ERR_ARG;
    if (!windows_ok(s->row_start, s->row_end, s->out_h, s->in_h) ||
        !windows_ok(s->col_start, s->col_end, s->out_w, s->in_w))
        return LRP_ERR_ARG;
    return LRP_OK;
}

#define LRP_KERNEL_TEMPLATE "pooling/pool_kernels.h"
#include "kernel/instantiate.h"
