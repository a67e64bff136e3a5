/* Dense (fully connected) layers: forward, denominators and the relevance
 * pass of every built-in semiring, in float32 and float64. */
#include <stdatomic.h>
#include <stdlib.h>

#include "lrp.h"

static atomic_int sparse_passes = 1;

void lrp_set_sparse_passes(int on)
{
    atomic_store(&sparse_passes, on != 0);
}

int lrp_sparse_passes(void)
{
    return atomic_load(&sparse_passes);
}

#define LRP_KERNEL_TEMPLATE "dense/dense_kernels.h"
#include "kernel/instantiate.h"
