/* The packed products' helpers that callers run inside their loops,
 * written once against T and FN() and inlined into each instance that
 * includes products/products.h: the short tiles' sums, the layout of a B
 * packed whole (read per element), Viterbi's scaling of a finished row of C
 * and max-plus's logarithms. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_PRODUCTS_INLINE /* once per instance */
#define LRP_INSTANCE_PRODUCTS_INLINE

#include <math.h>
#include <stddef.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/microkernels.h"

/* The inner dimension's chunk (lrp_block_sizes), for callers that drive
 * the micro-kernels themselves (Winograd's fused form). */
static LRP_INLINE ptrdiff_t FN(product_chunk)(void)
{
    return lrp_block_sizes().product_kc;
}

/* The sums of the first `rows` (fewer than mr) rows of a tile as short
 * tiles of 4, 2 and 1 rows (microkernels.h), A packed (a_cols 0) or in
 * columns lda apart, each part's A and C from its first row; 0 where the
 * instruction set has none or they are switched off (lrp_set_short_tiles),
 * and the caller computes the whole tile. Each element's chain is the whole
 * tile's. */
static LRP_INLINE int FN(short_tile_sums)(const FN(lrp_micro) *micro, ptrdiff_t rows,
                                          ptrdiff_t kc, const T *a, int a_cols, ptrdiff_t lda,
                                          const T *b, T *c, ptrdiff_t ldc, int load)
{
    if (!micro->short_tiles.sum[0] || !lrp_short_tiles())
        return 0;
    ptrdiff_t r0 = 0;
    for (int part = 0; part < 3; part++) {
        const int size = 4 >> part;
        if (!(rows & size))
            continue;
        if (a_cols)
            micro->short_tiles.cols[part](kc, a + r0, lda, b, c + r0 * ldc, ldc, load);
        else
            micro->short_tiles.sum[part](kc, a + r0, b, c + r0 * ldc, ldc, load);
        r0 += size;
    }
    return 1;
}

/* Where element (row p, column j) of a k x n B packed whole lies
 * (FN(product).shared_b, b_of): chunk after chunk of `chunk` rows, each as
 * strips of nr columns (kc steps of nr values), zero past column n. */
static LRP_INLINE size_t FN(whole_b_at)(ptrdiff_t n, ptrdiff_t k, int nr, ptrdiff_t chunk,
                                        ptrdiff_t p, ptrdiff_t j)
{
    const ptrdiff_t pc = p / chunk * chunk;
    const ptrdiff_t kc = k - pc < chunk ? k - pc : chunk;
    const ptrdiff_t width = (n + nr - 1) / nr * nr;
    return (size_t)(pc * width + j / nr * kc * nr + (p - pc) * nr + j % nr);
}

/* log|x| in T (log 0 = -inf). */
static LRP_INLINE T FN(log_abs)(T x)
{
    return sizeof(T) == sizeof(float) ? (T)logf(fabsf((float)x)) : (T)log(fabs((double)x));
}

/* The least (*lo) and the largest (*hi) finite value of x[0..count);
 * +inf and -inf when none is finite. */
static LRP_INLINE void FN(finite_range)(const T *x, ptrdiff_t count, T *lo, T *hi)
{
    T least = (T)INFINITY, most = -(T)INFINITY;
    for (ptrdiff_t i = 0; i < count; i++)
        if (x[i] - x[i] == 0) {
            least = x[i] < least ? x[i] : least;
            most = x[i] > most ? x[i] : most;
        }
    *lo = least, *hi = most;
}

/* Viterbi's R_in = |a| * c, c = max_k |rho(w_jk)| q_k, at most `cap` (the
 * sample's largest R_k): each term |a rho(w)| / (m + 1e-9) * R_k of the
 * paper's form is at most R_k, and the product form's extra rounding must
 * not carry R_in past it (relevance above 1 from a seed of 1). */
static LRP_INLINE void FN(viterbi_scale)(T *restrict row, const T *restrict a, ptrdiff_t j0,
                                         ptrdiff_t j1, T cap)
{
    for (ptrdiff_t j = j0; j < j1; j++) {
        const T v = FN(absolute)(a[j]) * row[j];
        /* an overflowed value (inf, or 0 * inf = NaN) stays, so that
         * FN(all_finite) sends the layer to the pair-by-pair form: capped,
         * it had passed for cap where the paper's form gives 0 */
        row[j] = v > cap && v - v == 0 ? cap : v;
    }
}

#endif /* LRP_INSTANCE_PRODUCTS_INLINE */
