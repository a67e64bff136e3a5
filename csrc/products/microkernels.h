/* The micro-kernel tables of microkernels.c; see there. */
#ifndef SEMIRING_LRP_MICROKERNELS_H
#define SEMIRING_LRP_MICROKERNELS_H

#include <stddef.h>

#define LRP_MICRO_TABLE(T, S)                                                               \
    typedef void (*lrp_micro_fn_##S)(ptrdiff_t kc, const T *restrict a, const T *restrict b, \
                                     T *restrict c, ptrdiff_t ldc, int load);               \
    typedef void (*lrp_micro_rows_fn_##S)(ptrdiff_t kc, const T *restrict a, ptrdiff_t lda,  \
                                          const T *restrict b, T *restrict c, ptrdiff_t ldc, \
                                          int load);                                         \
    typedef struct {                                                                        \
        int mr, nr; /* tile rows and columns */                                             \
        lrp_micro_fn_##S sum, max;                                                          \
        lrp_micro_rows_fn_##S rows; /* sum, A unpacked with row stride lda */               \
        lrp_micro_rows_fn_##S cols; /* sum, A unpacked with column stride lda */            \
    } lrp_micro_##S;                                                                        \
    /* the table of the instruction set in use (lrp_current_isa) */                         \
    const lrp_micro_##S *lrp_micro_for_##S(void);

LRP_MICRO_TABLE(float, f32)
LRP_MICRO_TABLE(double, f64)

#undef LRP_MICRO_TABLE

#endif
