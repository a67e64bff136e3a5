/* Compiles the kernel template named by LRP_KERNEL_TEMPLATE once for float
 * (suffix _f32) and once for double (suffix _f64). LRP_KERNEL_DTYPE 32 or
 * 64 compiles only one of them: a family split over two units compiles on
 * two cores at once. With no template named (the header check), nothing. */
#ifdef LRP_KERNEL_TEMPLATE

#if !defined(LRP_KERNEL_DTYPE) || LRP_KERNEL_DTYPE == 32
#include "kernel/dtype_f32.h"
#include LRP_KERNEL_TEMPLATE
#include "kernel/dtype_end.h"
#endif

#if !defined(LRP_KERNEL_DTYPE) || LRP_KERNEL_DTYPE == 64
#include "kernel/dtype_f64.h"
#include LRP_KERNEL_TEMPLATE
#include "kernel/dtype_end.h"
#endif

#endif
