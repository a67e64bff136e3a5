/* Which input a convolution tap reads for each output, axis by axis. */
#ifndef SEMIRING_LRP_CONV_GEOMETRY_H
#define SEMIRING_LRP_CONV_GEOMETRY_H

#include <stddef.h>
#include "kernel/compiler.h"

/* The outputs o in [*lo, *hi) of a convolution axis whose input
 * o * stride - pad + tap * dil lies inside [0, in_len). */
static inline void lrp_conv_range(ptrdiff_t out_len, ptrdiff_t in_len, ptrdiff_t stride,
                                  ptrdiff_t pad, ptrdiff_t dil, ptrdiff_t tap,
                                  ptrdiff_t *lo, ptrdiff_t *hi)
{
    const ptrdiff_t offset = tap * dil - pad; /* input = o * stride + offset */
    const ptrdiff_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    const ptrdiff_t last = in_len - 1 - offset < 0 ? -1 : (in_len - 1 - offset) / stride;
    *lo = first;
    *hi = last + 1 < out_len ? last + 1 : out_len;
    if (*hi < *lo)
        *hi = *lo;
}

/* Runs the statement(s) for every (input j, output k) pair that kernel tap
 * (ky, kx) links between the input plane starting at J0 and the output
 * plane starting at K0; j and k are flat indices. Unit stride gets its own
 * loop so that the compiler sees contiguous rows; in a row every j and every
 * k is distinct, so the statements may write at j or k (LRP_NO_ALIAS). */
#define LRP_CONV_TAP(s, ky, kx, J0, K0, ...)                                                  \
    do {                                                                                      \
        ptrdiff_t oy0_, oy1_, ox0_, ox1_;                                                     \
        lrp_conv_range((s)->out_h, (s)->in_h, (s)->stride_h, (s)->pad_h, (s)->dil_h, (ky),    \
                       &oy0_, &oy1_);                                                         \
        lrp_conv_range((s)->out_w, (s)->in_w, (s)->stride_w, (s)->pad_w, (s)->dil_w, (kx),    \
                       &ox0_, &ox1_);                                                         \
        for (ptrdiff_t oy_ = oy0_; oy_ < oy1_; oy_++) {                                       \
            const ptrdiff_t jrow_ = (J0) + (oy_ * (s)->stride_h - (s)->pad_h + (ky) * (s)->dil_h) \
                                               * (s)->in_w                                    \
                                    + (kx) * (s)->dil_w - (s)->pad_w;                         \
            const ptrdiff_t krow_ = (K0) + oy_ * (s)->out_w;                                  \
            if ((s)->stride_w == 1) {                                                         \
                LRP_NO_ALIAS                                                                  \
                for (ptrdiff_t ox_ = ox0_; ox_ < ox1_; ox_++) {                               \
                    const ptrdiff_t j = jrow_ + ox_, k = krow_ + ox_;                         \
                    __VA_ARGS__;                                                              \
                }                                                                             \
            } else {                                                                          \
                for (ptrdiff_t ox_ = ox0_; ox_ < ox1_; ox_++) {                               \
                    const ptrdiff_t j = jrow_ + ox_ * (s)->stride_w, k = krow_ + ox_;         \
                    __VA_ARGS__;                                                              \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    } while (0)

#endif
