/* Compiles the kernel template named by LRP_KERNEL_TEMPLATE once for float
 * (suffix _f32) and once for double (suffix _f64), after the shared
 * per-coefficient arithmetic of rule_math.h. */
#include <math.h>

#define T float
#define FN(name) name##_f32
#define ABS fabsf
#include "rule_math.h"
#include LRP_KERNEL_TEMPLATE
#undef T
#undef FN
#undef ABS
#undef LRP_BOUND

#define T double
#define FN(name) name##_f64
#define ABS fabs
#include "rule_math.h"
#include LRP_KERNEL_TEMPLATE
#undef T
#undef FN
#undef ABS
#undef LRP_BOUND
