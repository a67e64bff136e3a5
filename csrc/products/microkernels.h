/* The micro-kernel tables of microkernels.c, for float (_f32) and double
 * (_f64). A micro-kernel updates one mr x nr tile of C (row stride ldc)
 * over kc steps of the inner dimension, starting from the tile's values
 * (load) or from 0; see microkernels.c for the arithmetic of each. */
#ifndef SEMIRING_LRP_MICROKERNELS_H
#define SEMIRING_LRP_MICROKERNELS_H

#include <stddef.h>
#include "kernel/compiler.h"

/* A packed (kc steps of mr values) times B packed (kc steps of nr values). */
typedef void (*lrp_micro_fn_f32)(ptrdiff_t kc, const float *restrict a, const float *restrict b,
                                 float *restrict c, ptrdiff_t ldc, int load);
typedef void (*lrp_micro_fn_f64)(ptrdiff_t kc, const double *restrict a,
                                 const double *restrict b, double *restrict c, ptrdiff_t ldc,
                                 int load);

/* The same with A unpacked, read with stride lda. */
typedef void (*lrp_micro_rows_fn_f32)(ptrdiff_t kc, const float *restrict a, ptrdiff_t lda,
                                      const float *restrict b, float *restrict c, ptrdiff_t ldc,
                                      int load);
typedef void (*lrp_micro_rows_fn_f64)(ptrdiff_t kc, const double *restrict a, ptrdiff_t lda,
                                      const double *restrict b, double *restrict c,
                                      ptrdiff_t ldc, int load);

/* Min-max's kernel: c[r][j] = max(c[r][j], min(a[p][r] b[p][j] side[r][j],
 * bound[p][j])) over kc steps, from 0 unless load; A packed, b and bound
 * packed as B, side a tile of C's shape (row stride ldc). For non-negative
 * operands, where 0 is max's identity. */
typedef void (*lrp_micro_max_min_fn_f32)(ptrdiff_t kc, const float *restrict a,
                                         const float *restrict b, const float *restrict bound,
                                         const float *restrict side, float *restrict c,
                                         ptrdiff_t ldc, int load);
typedef void (*lrp_micro_max_min_fn_f64)(ptrdiff_t kc, const double *restrict a,
                                         const double *restrict b, const double *restrict bound,
                                         const double *restrict side, double *restrict c,
                                         ptrdiff_t ldc, int load);

/* The kernels over the first nr columns of a tile only, B still packed as
 * wide as the whole tile's: a last strip of C at most nr wide takes them
 * and does no multiply-add for the columns past it. nr 0: none. */
typedef struct {
    int nr;
    lrp_micro_fn_f32 sum, max, max_plus;
    lrp_micro_rows_fn_f32 rows, cols;
} lrp_micro_edge_f32;
typedef struct { /* lrp_micro_edge_f32's fields for double */
    int nr;
    lrp_micro_fn_f64 sum, max, max_plus;
    lrp_micro_rows_fn_f64 rows, cols;
} lrp_micro_edge_f64;

/* The sums of a short tile: the first 4, 2 or 1 rows ([0], [1], [2]) of a
 * tile, both vectors wide, A packed (sum; mr values per step as the tile's)
 * or in columns (cols). A last block of C with fewer than mr rows takes
 * them in parts (5 rows: 4 and 1) rather than computing padding rows. All
 * NULL: none. */
typedef struct {
    lrp_micro_fn_f32 sum[3];
    lrp_micro_rows_fn_f32 cols[3];
} lrp_micro_short_f32;
typedef struct { /* lrp_micro_short_f32's fields for double */
    lrp_micro_fn_f64 sum[3];
    lrp_micro_rows_fn_f64 cols[3];
} lrp_micro_short_f64;

/* One instruction set's kernels for one type. */
typedef struct {
    int mr, nr; /* tile rows and columns */
    lrp_micro_fn_f32 sum, max, max_plus;
    lrp_micro_rows_fn_f32 rows; /* sum, A unpacked with row stride lda */
    lrp_micro_rows_fn_f32 cols; /* sum, A unpacked with column stride lda */
    lrp_micro_max_min_fn_f32 max_min;
    lrp_micro_edge_f32 edge;
    lrp_micro_short_f32 short_tiles;
} lrp_micro_f32;
typedef struct { /* lrp_micro_f32's fields for double */
    int mr, nr;
    lrp_micro_fn_f64 sum, max, max_plus;
    lrp_micro_rows_fn_f64 rows, cols;
    lrp_micro_max_min_fn_f64 max_min;
    lrp_micro_edge_f64 edge;
    lrp_micro_short_f64 short_tiles;
} lrp_micro_f64;

/* The table of the instruction set in use (lrp_current_isa). */
LRP_HIDDEN const lrp_micro_f32 *lrp_micro_for_f32(void);
LRP_HIDDEN const lrp_micro_f64 *lrp_micro_for_f64(void);

#endif
