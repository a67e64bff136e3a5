/* Passes over arrays element by element that NumPy would run on one thread
 * or through a temporary: ReLU over the threads, and the all-zero test of a
 * layer's relevance, which stops at the first nonzero value where np.any
 * casts every value to a bool array first. */
#include <string.h>

#include "lrp.h"

int lrp_any_nonzero_bytes(size_t count, const void *data)
{
    const unsigned char *p = data;
    size_t i = 0;
    /* a word at a time while aligned words remain */
    for (; i < count && ((uintptr_t)(p + i) % sizeof(uint64_t)) != 0; i++)
        if (p[i])
            return 1;
    for (; i + sizeof(uint64_t) <= count; i += sizeof(uint64_t)) {
        uint64_t word;
        memcpy(&word, p + i, sizeof word);
        if (word)
            return 1;
    }
    for (; i < count; i++)
        if (p[i])
            return 1;
    return 0;
}

#define LRP_KERNEL_TEMPLATE "elementwise/elementwise_kernels.h"
#include "kernel/instantiate.h"
