/* Closes the instance dtype_f32.h or dtype_f64.h opened: its type names,
 * and every template's once-per-instance guard, so that the next instance
 * compiles each template again. */
#undef T
#undef FN
#undef ABS
#undef NEXTAFTER
#undef FMA
#undef UINT_T
#undef LANE_INT
#undef LRP_BOUND
#undef LRP_INSTANCE_RULE_MATH
#undef LRP_INSTANCE_PRODUCTS
#undef LRP_INSTANCE_PRODUCTS_INLINE
#undef LRP_INSTANCE_DENSE_KERNELS
#undef LRP_INSTANCE_DENSE_PRODUCTS
#undef LRP_INSTANCE_DENSE_FEW
#undef LRP_INSTANCE_DENSE_SPARSE
#undef LRP_INSTANCE_DENSE_THRESHOLDS
#undef LRP_INSTANCE_CONV_KERNELS
#undef LRP_INSTANCE_CONV_PRODUCTS
#undef LRP_INSTANCE_CONV_IM2COL
#undef LRP_INSTANCE_CONV_THRESHOLDS
#undef LRP_INSTANCE_CONV_WINOGRAD
#undef LRP_INSTANCE_POOL_KERNELS
#undef LRP_INSTANCE_ELEMENTWISE_KERNELS
