/* Packed products: a batch of independent products C_q = A_q B_q (m x n,
 * inner size k), with "sum" (c = sum_p a b, the real passes) or "max"
 * (c = max_p a b, Viterbi's passes over absolute values) or "max-plus"
 * (c = max_p (a + b), over logarithms). A comes packed by
 * the caller (pack_a); B is packed tile by tile through the caller's
 * pack_b, which is where a convolution's im2col happens, one L1-sized panel
 * at a time.
 *
 * Declared here for float (suffix _f32) and double (_f64); products_body.h
 * defines them once against T and FN(), compiled per dtype by
 * products_f32.c and products_f64.c. A kernel template calls FN(product_run)
 * and so reaches its dtype's. Included from a template (FN defined), this
 * header also gives the instance the helpers its loops inline
 * (products_inline.h).
 */
#ifndef SEMIRING_LRP_PRODUCTS_H
#define SEMIRING_LRP_PRODUCTS_H

#include <stddef.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "products/microkernels.h"

/* How a product's terms a b (a + b for max-plus) join into c. */
typedef enum { PRODUCT_SUM = 0, PRODUCT_MAX = 1, PRODUCT_MAX_PLUS = 2 } product_combine;

/* One batch of products and how its operands are reached. */
typedef struct product_f32 product_f32;
struct product_f32 {
    ptrdiff_t problems, m, n, k;
    product_combine combine;
    /* packed A of problem q: ceil(m / mr) panels of k steps of mr values */
    const float *(*a_of)(const product_f32 *p, ptrdiff_t q);
    /* or, for a sum, A unpacked and the same for every problem: row-major,
     * row stride lda */
    const float *a_rows;
    ptrdiff_t lda;
    /* or, for a sum, A of problem q unpacked column-major, column stride
     * lda, readable for mr - 1 rows past m (the micro-kernel reads whole
     * panels; rows past m reach no output) */
    const float *(*a_cols_of)(const product_f32 *p, ptrdiff_t q);
    /* B rows [p0, p0 + kc) by columns [j0, j0 + nr) of problem q as kc steps
     * of nr values, zero past column n */
    void (*pack_b)(const product_f32 *p, ptrdiff_t q, ptrdiff_t p0, ptrdiff_t kc, ptrdiff_t j0,
                   int nr, float *restrict dst);
    /* or B of problem q packed whole by the caller (whole_b_at) */
    const float *(*b_of)(const product_f32 *p, ptrdiff_t q);
    float *(*c_of)(const product_f32 *p, ptrdiff_t q); /* row stride ldc */
    ptrdiff_t ldc;
    /* runs once rows [i0, i1) x columns [j0, j1) of C_q are complete, or NULL */
    void (*finish)(const product_f32 *p, ptrdiff_t q, ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t j0,
                   ptrdiff_t j1);
    const void *layer; /* what the callbacks read */
    const lrp_interrupt *interrupt;
    const lrp_micro_f32 *micro;
    /* the inner dimension's chunk (lrp_block_sizes' product_kc), or 0: set
     * by product_run */
    ptrdiff_t chunk;
    /* set by product_run */
    ptrdiff_t col_block, row_block, col_blocks, row_blocks;
    /* B of problem 0 packed whole (whole_b_at), when several row blocks
     * would each pack it; NULL: every item packs its own panels */
    float *shared_b;
};

/* product_f32's fields for double */
typedef struct product_f64 product_f64;
struct product_f64 {
    ptrdiff_t problems, m, n, k;
    product_combine combine;
    const double *(*a_of)(const product_f64 *p, ptrdiff_t q);
    const double *a_rows;
    ptrdiff_t lda;
    const double *(*a_cols_of)(const product_f64 *p, ptrdiff_t q);
    void (*pack_b)(const product_f64 *p, ptrdiff_t q, ptrdiff_t p0, ptrdiff_t kc, ptrdiff_t j0,
                   int nr, double *restrict dst);
    const double *(*b_of)(const product_f64 *p, ptrdiff_t q);
    double *(*c_of)(const product_f64 *p, ptrdiff_t q);
    ptrdiff_t ldc;
    void (*finish)(const product_f64 *p, ptrdiff_t q, ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t j0,
                   ptrdiff_t j1);
    const void *layer;
    const lrp_interrupt *interrupt;
    const lrp_micro_f64 *micro;
    ptrdiff_t chunk;
    ptrdiff_t col_block, row_block, col_blocks, row_blocks;
    double *shared_b;
};

/* How a product of `problems` problems, each m x n, is cut into work
 * items: blocks of at most product_nb columns, as even as whole nr strips
 * allow, and, where the columns alone give fewer than four items per
 * thread, blocks of rows in whole mr panels too. */
typedef struct {
    ptrdiff_t col_block, row_block, col_blocks, row_blocks;
} lrp_product_split;

static inline lrp_product_split lrp_product_split_of(ptrdiff_t problems, ptrdiff_t m,
                                                     ptrdiff_t n, int mr, int nr,
                                                     ptrdiff_t product_nb)
{
    lrp_product_split s;
    s.col_blocks = (n + product_nb - 1) / product_nb;
    const ptrdiff_t strips = (n + nr - 1) / nr;
    s.col_block = (strips + s.col_blocks - 1) / s.col_blocks * nr;
    s.col_blocks = (n + s.col_block - 1) / s.col_block;
    const ptrdiff_t panels = (m + mr - 1) / mr;
    const ptrdiff_t want = 4 * (ptrdiff_t)lrp_num_threads();
    ptrdiff_t split = 1;
    if (problems * s.col_blocks < want) {
        split = (want + problems * s.col_blocks - 1) / (problems * s.col_blocks);
        split = split < panels ? split : panels;
    }
    s.row_block = (panels + split - 1) / split * mr;
    s.row_blocks = (m + s.row_block - 1) / s.row_block;
    return s;
}

/* Runs the product over lrp_num_threads() threads; p->micro must be set.
 * Each C element's sum runs over p = 0 .. k-1 in order, whoever computes
 * it: results do not depend on the thread count. */
LRP_HIDDEN lrp_status product_run_f32(product_f32 *p);
LRP_HIDDEN lrp_status product_run_f64(product_f64 *p);

/* Problem 0's B packed whole (whole_b_at's layout) into dst, strip by
 * strip through p->pack_b over the threads; p->micro and p->chunk must be
 * set. dst holds ceil(n / nr) * nr * k values. */
LRP_HIDDEN lrp_status product_pack_b_whole_f32(const product_f32 *p, float *dst);
LRP_HIDDEN lrp_status product_pack_b_whole_f64(const product_f64 *p, double *dst);

/* dst: ceil(m / mr) panels of k steps of mr values of src (m x k, row
 * stride lda), each value v stored as rho(v), or |rho(v)| when absolute;
 * rows past m are 0. */
LRP_HIDDEN void pack_a_f32(const float *restrict src, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k,
                           int mr, int kind, float gamma, int absolute, float *restrict dst);
LRP_HIDDEN void pack_a_f64(const double *restrict src, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k,
                           int mr, int kind, double gamma, int absolute, double *restrict dst);

/* Room for pack_a of an m x k matrix, in values; LRP_ERR_NOMEM past SIZE_MAX. */
LRP_HIDDEN lrp_status packed_a_count_f32(ptrdiff_t m, ptrdiff_t k, int mr, size_t *count);
LRP_HIDDEN lrp_status packed_a_count_f64(ptrdiff_t m, ptrdiff_t k, int mr, size_t *count);

/* beta_k = bias_term(b_k) for `count` outputs (|beta_k| for the maxima of
 * Viterbi's denominators), freshly allocated; NULL if out of memory. */
LRP_HIDDEN float *bias_terms_f32(int kind, float gamma, int absolute, const float *b,
                                 ptrdiff_t count);
LRP_HIDDEN double *bias_terms_f64(int kind, double gamma, int absolute, const double *b,
                                  ptrdiff_t count);

/* The products' left operand from relevance, over the threads: out = r / z
 * (0 where z = 0) for the real passes, r / (m + LRP_VITERBI_EPS) for
 * Viterbi's (viterbi = 1, z = m). */
LRP_HIDDEN void quotients_run_f32(const float *r, const float *z, ptrdiff_t count, int viterbi,
                                  float *out);
LRP_HIDDEN void quotients_run_f64(const double *r, const double *z, ptrdiff_t count,
                                  int viterbi, double *out);

/* maxima[i]: the largest of the i-th of `rows` runs of `count` values
 * (and at least 0). */
LRP_HIDDEN void row_maxima_f32(const float *x, ptrdiff_t rows, ptrdiff_t count, float *maxima);
LRP_HIDDEN void row_maxima_f64(const double *x, ptrdiff_t rows, ptrdiff_t count,
                               double *maxima);

/* Whether x[0..count) holds no infinity or NaN. The Viterbi product forms
 * |a| * max |rho(w)| (R / (m + 1e-9)) can overflow where the paper's
 * |a rho(w)| / (m + 1e-9) * R (at most R) cannot; they then take the exact
 * path. */
LRP_HIDDEN int all_finite_f32(const float *x, ptrdiff_t count);
LRP_HIDDEN int all_finite_f64(const double *x, ptrdiff_t count);

#endif

#ifdef FN
#include "products/products_inline.h"
#endif
