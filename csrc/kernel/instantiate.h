/* Compiles the kernel template named by LRP_KERNEL_TEMPLATE once for float
 * (suffix _f32) and once for double (suffix _f64), after the shared
 * per-coefficient arithmetic of rule_math.h. LRP_KERNEL_DTYPE 32 or 64
 * compiles only one of them: a family split over two units compiles on two
 * cores at once. */
#include <math.h>
#include <string.h>

#if !defined(LRP_KERNEL_DTYPE) || LRP_KERNEL_DTYPE == 32
#define T float
#define FN(name) name##_f32
#define ABS fabsf
#define NEXTAFTER nextafterf
#define FMA fmaf
#define UINT_T uint32_t /* T's bits */
#define LANE_INT int32_t /* an integer as wide as T */
#include "kernel/rule_math.h"
#include LRP_KERNEL_TEMPLATE
#undef T
#undef FN
#undef ABS
#undef NEXTAFTER
#undef FMA
#undef UINT_T
#undef LANE_INT
#undef LRP_BOUND
#endif

#if !defined(LRP_KERNEL_DTYPE) || LRP_KERNEL_DTYPE == 64
#define T double
#define FN(name) name##_f64
#define ABS fabs
#define NEXTAFTER nextafter
#define FMA fma
#define UINT_T uint64_t
#define LANE_INT int64_t
#include "kernel/rule_math.h"
#include LRP_KERNEL_TEMPLATE
#undef T
#undef FN
#undef ABS
#undef NEXTAFTER
#undef FMA
#undef UINT_T
#undef LANE_INT
#undef LRP_BOUND
#endif
