/* Dense (fully connected) layers: forward, denominators and the relevance
 * pass of every built-in semiring, in float32 and float64. */
#include <stdlib.h>

#include "lrp.h"
#include "lrp_internal.h"
#include "microkernels.h"

#define LRP_KERNEL_TEMPLATE "dense_kernels.h"
#include "instantiate.h"
