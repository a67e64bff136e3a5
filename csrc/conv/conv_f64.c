/* Conv2d kernels in float64 (conv_kernels.h): one unit per dtype, so that the
 * two compile in parallel. */
#include "lrp.h"

#define LRP_KERNEL_TEMPLATE "conv/conv_kernels.h"
#define LRP_KERNEL_DTYPE 64
#include "kernel/instantiate.h"
