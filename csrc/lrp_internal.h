/* Helpers shared by the kernel files; not part of the library's interface. */
#ifndef SEMIRING_LRP_INTERNAL_H
#define SEMIRING_LRP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lrp.h"

#if defined(__GNUC__) || defined(__clang__)
#define LRP_INLINE inline __attribute__((always_inline))
#else
#define LRP_INLINE inline
#endif

/* Runs CALL(kind) with kind as a compile-time constant, so that the
 * always-inlined body is specialised for each rule. LRP-0 and LRP-eps share
 * one numerator; they differ only in the stabilised z the caller passes. */
#define LRP_DISPATCH_RULE(kind, CALL)      \
    switch (kind) {                        \
    case LRP_RULE_GAMMA:                   \
        CALL(LRP_RULE_GAMMA);              \
        break;                             \
    case LRP_RULE_ZBOX:                    \
        CALL(LRP_RULE_ZBOX);               \
        break;                             \
    default:                               \
        CALL(LRP_RULE_ZERO);               \
        break;                             \
    }

/* count = a + factor * b, refusing anything a size_t cannot index. */
static inline lrp_status lrp_checked_count(ptrdiff_t a, ptrdiff_t b, size_t factor, size_t *count)
{
    if (a < 0 || b < 0)
        return LRP_ERR_ARG;
    size_t scaled;
    if (__builtin_mul_overflow((size_t)b, factor, &scaled) ||
        __builtin_add_overflow(scaled, (size_t)a, count))
        return LRP_ERR_NOMEM;
    return LRP_OK;
}

/* calloc checks count * size for overflow; one extra element keeps a
 * zero-sized request from returning NULL. */
static inline void *lrp_alloc_array(size_t count, size_t size)
{
    if (count == SIZE_MAX)
        return NULL;
    return calloc(count + 1, size);
}

#endif
