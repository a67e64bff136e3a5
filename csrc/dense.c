/* Dense (fully connected) layers: forward, denominators and the relevance
 * pass of every built-in semiring, in float32 and float64. */
#include <stdlib.h>

#include "lrp.h"
#include "lrp_internal.h"

#define T float
#define FN(name) name##_f32
#include "dense_kernels.h"
#undef T
#undef FN

#define T double
#define FN(name) name##_f64
#include "dense_kernels.h"
#undef T
#undef FN
