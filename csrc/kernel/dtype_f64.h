/* Opens the float64 instance of the kernel templates (see dtype_f32.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define T double
#define FN(name) name##_f64
#define ABS fabs
#define NEXTAFTER nextafter
#define FMA fma
#define UINT_T uint64_t
#define LANE_INT int64_t
#define T_BYTES 8
