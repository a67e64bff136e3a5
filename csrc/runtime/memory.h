/* Sizes checked for overflow and the allocations the kernels make. */
#ifndef SEMIRING_LRP_RUNTIME_MEMORY_H
#define SEMIRING_LRP_RUNTIME_MEMORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lrp.h"

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

/* 64-byte aligned (SIMD loads of packed panels), whole 64-byte lines, and
 * from LRP_HUGE_PAGES_LEAST on in huge pages (lrp_alloc_large); free()
 * releases it. */
static inline void *lrp_alloc_aligned(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes) || bytes > SIZE_MAX - 128)
        return NULL;
    return lrp_alloc_large((bytes + 64) / 64 * 64);
}

/* The same from the array pool (lrp_array_pool_alloc), whose blocks of 1
 * MiB and more are kept when freed: a pass's scratch of tens of megabytes
 * then costs no page faults the next time. lrp_scratch_free releases it. */
static inline void *lrp_scratch_alloc(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes) || bytes > SIZE_MAX - 256)
        return NULL;
    /* 64 bytes to align the start, the pool's pointer just before it */
    char *block = lrp_array_pool_alloc(bytes + 64 + sizeof(void *));
    if (!block)
        return NULL;
    char *data = (char *)(((uintptr_t)block + sizeof(void *) + 63) / 64 * 64);
    ((void **)data)[-1] = block;
    return data;
}

/* lrp_scratch_alloc's memory, zeroed. */
static inline void *lrp_scratch_calloc(size_t count, size_t size)
{
    void *data = lrp_scratch_alloc(count, size);
    if (data)
        memset(data, 0, count * size); /* lrp_scratch_alloc checked the product */
    return data;
}

static inline void lrp_scratch_free(void *data)
{
    if (data)
        lrp_array_pool_free(((void **)data)[-1]);
}

#endif
