/* Conv2d layers' relevance pass of composed semirings (composed_conv.h), in
 * float32 and float64. */
#include "lrp.h"

#define LRP_KERNEL_TEMPLATE "composed/composed_conv.h"
#include "kernel/instantiate.h"
