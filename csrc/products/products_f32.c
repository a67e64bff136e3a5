/* The packed products for float: product_run_f32, pack_a_f32 and the other
 * _f32 functions of products/products.h, compiled from products_body.h. */
#include "kernel/dtype_f32.h"
#include "products/products_body.h"
#include "kernel/dtype_end.h"
