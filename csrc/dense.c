/* Dense (fully connected) layers: forward, denominators and the relevance
 * pass of every built-in semiring, in float32 and float64. */
#include <math.h>
#include <stdlib.h>

#include "lrp.h"
#include "lrp_internal.h"

#define T float
#define FN(name) name##_f32
#define ABS fabsf
#include "dense_kernels.h"
#undef T
#undef FN
#undef ABS

#define T double
#define FN(name) name##_f64
#define ABS fabs
#include "dense_kernels.h"
#undef T
#undef FN
#undef ABS
