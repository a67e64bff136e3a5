/* The packed products for double: product_run_f64, pack_a_f64 and the other
 * _f64 functions of products/products.h, compiled from products_body.h. */
#include "kernel/dtype_f64.h"
#include "products/products_body.h"
#include "kernel/dtype_end.h"
