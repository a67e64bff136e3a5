/* Conv2d kernels in float64 (conv_kernels.h): one unit per dtype, so that the
 * two compile in parallel. */
#include <stdatomic.h>
#include <stdlib.h>

#include "lrp.h"
#include "lrp_internal.h"
#include "microkernels.h"

#define LRP_KERNEL_TEMPLATE "conv_kernels.h"
#define LRP_KERNEL_DTYPE 64
#include "instantiate.h"
