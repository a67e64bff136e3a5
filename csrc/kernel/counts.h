/* Sums of int64 counts that report overflow instead of wrapping. */
#ifndef SEMIRING_LRP_KERNEL_COUNTS_H
#define SEMIRING_LRP_KERNEL_COUNTS_H

#include <stddef.h>
#include <stdint.h>
#include "lrp.h"

/* *total = sum of the counts r[0..count), or -1 when it exceeds INT64_MAX;
 * a negative count is an argument error. */
static inline lrp_status lrp_count_sum(const int64_t *r, ptrdiff_t count, int64_t *total)
{
    *total = 0;
    for (ptrdiff_t i = 0; i < count; i++) {
        if (r[i] < 0)
            return LRP_ERR_ARG;
        if (*total >= 0 && __builtin_add_overflow(*total, r[i], total))
            *total = -1;
    }
    return LRP_OK;
}

/* *fits = whether each of `samples` runs of `per_sample` counts sums to at
 * most 2^53. No R_j of a sample exceeds the sample's total, so the counting
 * passes may then sum in double, exactly. A negative count is an argument
 * error. */
static inline lrp_status lrp_counts_fit_double(const int64_t *r, ptrdiff_t samples,
                                               ptrdiff_t per_sample, int *fits)
{
    *fits = 1;
    for (ptrdiff_t n = 0; n < samples; n++) {
        int64_t total;
        lrp_status status = lrp_count_sum(r + n * per_sample, per_sample, &total);
        if (status != LRP_OK)
            return status;
        *fits &= total >= 0 && total <= ((int64_t)1 << 53);
    }
    return LRP_OK;
}

#endif
