/* Dense layers' relevance pass of composed semirings (composed_dense.h), in
 * float32 and float64. */
#include "lrp.h"

#define LRP_KERNEL_TEMPLATE "composed/composed_dense.h"
#include "kernel/instantiate.h"
