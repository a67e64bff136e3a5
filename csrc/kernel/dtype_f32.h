/* Opens the float32 instance of the kernel templates: T, the suffix FN()
 * gives names, and the <math.h> functions that go with T. kernel/dtype_end.h
 * closes it. Not guarded: a unit opens one instance after another. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define T float
#define FN(name) name##_f32
#define ABS fabsf
#define NEXTAFTER nextafterf
#define FMA fmaf
#define UINT_T uint32_t  /* T's bits */
#define LANE_INT int32_t /* an integer as wide as T */
#define T_BYTES 4        /* sizeof(T), for #if */
