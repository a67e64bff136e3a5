/* Included first by every kernel template: a template compiled on its own
 * (the header check) becomes the float32 instance, so that it, too, is
 * checked by the compiler. Inside kernel/instantiate.h the instance is
 * already open and this does nothing. */
#ifndef SEMIRING_LRP_KERNEL_TEMPLATE_H
#define SEMIRING_LRP_KERNEL_TEMPLATE_H

#ifndef FN
#include "kernel/dtype_f32.h"
#endif

#endif
