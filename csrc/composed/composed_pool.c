/* Pooling layers' relevance pass of composed semirings (composed_pool.h),
 * in float32 and float64. */
#include "lrp.h"

#define LRP_KERNEL_TEMPLATE "composed/composed_pool.h"
#include "kernel/instantiate.h"
