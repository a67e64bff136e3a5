/* What the product tiers of composed semirings (composed_conv_products.h,
 * composed_dense_products.h) share, written once against T and FN().
 *
 * Max-plus over log|d| (COMPOSED_MAX_PLUS) runs as a max-plus product:
 *   R_j = max_k (log|a_j rho(w_jk) / z_k| + R_k)
 *       = log|a_j| + max_k (log|rho(w_jk)| + t_k),   t_k = R_k - log|z_k|,
 * with t_k = -inf where z_k = 0 (d = 0 there) or R_k = -inf. The second
 * form takes one addition and one maximum per pair, as Viterbi's product
 * takes a multiplication and a maximum. The two agree to rounding while
 * every numerator a_j rho(w_jk) and quotient d_jk is a normal number of T
 * (FN(max_plus_in_range)); where that is not certain, or an R_k is +inf or
 * NaN, the caller takes the generic tier.
 *
 * Min-max over |d| (COMPOSED_MIN_MAX) runs as a max-min product:
 *   R_j = max_k min(|rho(w_jk)| s_k |a_j|, R_k),   s_k = 1 / |z_k|,
 * with s_k = 0 where z_k = 0 (d = 0 there), four operations per pair; its
 * d_jk differs from the contract's |a_j rho(w_jk) / z_k| by rounding. Where
 * the product of the largest |rho(w)|, s and |a| could overflow (0 times
 * inf would make a NaN that min drops), or an R_k is NaN, the caller takes
 * the generic tier. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_COMPOSED_PRODUCTS /* once per instance */
#define LRP_INSTANCE_COMPOSED_PRODUCTS

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/products.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/weight_cache.h"

#ifndef SEMIRING_LRP_COMPOSED_PRODUCTS_SIZES /* once per unit: the same for every T */
#define SEMIRING_LRP_COMPOSED_PRODUCTS_SIZES
enum {
    PRODUCTS_CHUNK = 16384,     /* outputs per item of the per-output steps */
    PRODUCTS_DENSE_BLOCK = 512, /* inputs per dense item */
    PRODUCTS_DENSE_GROUP = 8    /* samples per dense item */
};
#endif

/* The least and largest finite log of a chunk's nonzero magnitudes, and
 * whether it holds +inf or NaN (bad). */
typedef struct {
    T lo, hi;
    int bad;
} FN(max_plus_range);

typedef struct {
    const T *r, *z;
    ptrdiff_t count;
    T *t;
    FN(max_plus_range) *ranges; /* one per chunk */
} FN(max_plus_outputs);

static LRP_INLINE lrp_status FN(max_plus_output_chunks)(void *context, ptrdiff_t begin,
                                                        ptrdiff_t end, int worker,
                                                        lrp_team *team)
{
    const FN(max_plus_outputs) *job = context;
    (void)worker, (void)team;
    for (ptrdiff_t c = begin; c < end; c++) {
        const ptrdiff_t first = c * PRODUCTS_CHUNK;
        const ptrdiff_t last = job->count - first < PRODUCTS_CHUNK ? job->count : first + PRODUCTS_CHUNK;
        FN(max_plus_range) range = {(T)INFINITY, -(T)INFINITY, 0};
        for (ptrdiff_t k = first; k < last; k++) {
            const T r = job->r[k], z = job->z[k];
            range.bad |= !(r < (T)INFINITY);
            if (r == -(T)INFINITY || z == 0) {
                job->t[k] = -(T)INFINITY;
                continue;
            }
            const T log_z = FN(log_abs)(z);
            range.lo = log_z < range.lo ? log_z : range.lo;
            range.hi = log_z > range.hi ? log_z : range.hi;
            job->t[k] = r - log_z;
        }
        job->ranges[c] = range;
    }
    return LRP_OK;
}

LRP_ISA_PLAIN_TASKS(max_plus_outputs_task, FN(max_plus_output_chunks))

/* t_k of `count` outputs (the file's banner) over the threads, and the
 * range of log|z_k| over the outputs with t_k > -inf; 0 if an R_k is +inf
 * or NaN, else 1 (-1: out of memory). */
static int FN(max_plus_outputs_run)(const T *r, const T *z, ptrdiff_t count, T *t, T *lo, T *hi)
{
    const ptrdiff_t chunks = (count + PRODUCTS_CHUNK - 1) / PRODUCTS_CHUNK;
    FN(max_plus_range) *ranges = lrp_alloc_array((size_t)(chunks > 0 ? chunks : 1),
                                                 sizeof(FN(max_plus_range)));
    if (!ranges)
        return -1;
    FN(max_plus_outputs) job = {r, z, count, t, ranges};
    lrp_parallel_chunks(count, PRODUCTS_CHUNK, LRP_ISA_TASK(max_plus_outputs_task), &job);
    int good = 1;
    *lo = (T)INFINITY, *hi = -(T)INFINITY;
    for (ptrdiff_t c = 0; c < chunks; c++) {
        good &= !ranges[c].bad;
        *lo = ranges[c].lo < *lo ? ranges[c].lo : *lo;
        *hi = ranges[c].hi > *hi ? ranges[c].hi : *hi;
    }
    free(ranges);
    return good;
}

/* The least and largest log|x| over the nonzero finite x[0..count)
 * (+inf and -inf when there is none). */
static void FN(log_magnitude_range)(const T *x, ptrdiff_t count, T *lo, T *hi)
{
    T least = (T)INFINITY, most = 0;
    for (ptrdiff_t i = 0; i < count; i++) {
        const T v = FN(absolute)(x[i]);
        if (v != 0 && v < (T)INFINITY) {
            least = v < least ? v : least;
            most = v > most ? v : most;
        }
    }
    *lo = least < (T)INFINITY ? FN(log_abs)(least) : (T)INFINITY;
    *hi = most > 0 ? FN(log_abs)(most) : -(T)INFINITY;
}

/* Whether, with log|a|, log|rho(w)| and log|z| in these ranges (lo > hi:
 * no such value), every numerator and quotient lies in T's normal range,
 * one unit of log clear of its ends for the roundings. */
static int FN(max_plus_in_range)(T a_lo, T a_hi, T w_lo, T w_hi, T z_lo, T z_hi)
{
    if (a_lo > a_hi || w_lo > w_hi || z_lo > z_hi)
        return 1; /* no pair has a finite value: every R_j is -inf either way */
    const double least = log(sizeof(T) == sizeof(float) ? FLT_MIN : DBL_MIN) + 1;
    const double most = log(sizeof(T) == sizeof(float) ? FLT_MAX : DBL_MAX) - 1;
    const double n_lo = (double)a_lo + (double)w_lo, n_hi = (double)a_hi + (double)w_hi;
    const double d_lo = n_lo - (double)z_hi, d_hi = n_hi - (double)z_lo;
    return n_lo >= least && n_hi <= most && d_lo >= least && d_hi <= most;
}

typedef struct {
    const T *r, *z;
    ptrdiff_t count;
    T *scale;
    int *bad;     /* one per chunk */
    T *largest;   /* one per chunk */
} FN(min_max_outputs);

static LRP_INLINE lrp_status FN(min_max_output_chunks)(void *context, ptrdiff_t begin,
                                                       ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(min_max_outputs) *job = context;
    (void)worker, (void)team;
    for (ptrdiff_t c = begin; c < end; c++) {
        const ptrdiff_t first = c * PRODUCTS_CHUNK;
        const ptrdiff_t last = job->count - first < PRODUCTS_CHUNK ? job->count : first + PRODUCTS_CHUNK;
        int bad = 0;
        T largest = 0;
        for (ptrdiff_t k = first; k < last; k++) {
            bad |= job->r[k] != job->r[k];
            const T s = job->z[k] == 0 ? (T)0 : (T)1 / FN(absolute)(job->z[k]);
            largest = s > largest ? s : largest;
            job->scale[k] = s;
        }
        job->bad[c] = bad;
        job->largest[c] = largest;
    }
    return LRP_OK;
}

LRP_ISA_PLAIN_TASKS(min_max_outputs_task, FN(min_max_output_chunks))

/* s_k = 1 / |z_k| (0 where z_k = 0) of `count` outputs over the threads,
 * and the largest (*largest); 0 if an R_k is NaN, else 1 (-1: out of
 * memory). */
static int FN(min_max_outputs_run)(const T *r, const T *z, ptrdiff_t count, T *scale,
                                   T *largest)
{
    const size_t chunks = (size_t)((count + PRODUCTS_CHUNK - 1) / PRODUCTS_CHUNK);
    int *bad = lrp_alloc_array(chunks + 1, sizeof(int));
    T *most = lrp_alloc_array(chunks + 1, sizeof(T));
    if (!bad || !most) {
        free(bad), free(most);
        return -1;
    }
    FN(min_max_outputs) job = {r, z, count, scale, bad, most};
    lrp_parallel_chunks(count, PRODUCTS_CHUNK, LRP_ISA_TASK(min_max_outputs_task), &job);
    int good = 1;
    *largest = 0;
    for (size_t c = 0; c < chunks; c++) {
        good &= !bad[c];
        *largest = most[c] > *largest ? most[c] : *largest;
    }
    free(bad), free(most);
    return good;
}

/* The largest |rho(w)| of a layer's `count` weights: the cache's build
 * callback, which keeps it as a one-value entry. */
typedef struct {
    const T *w;
    ptrdiff_t count;
    int kind;
    T gamma;
} FN(largest_weight);

static lrp_status FN(largest_weight_build)(void *context, void *data)
{
    const FN(largest_weight) *job = context;
    T most = 0;
    for (ptrdiff_t i = 0; i < job->count; i++) {
        const T v = FN(absolute)(FN(rho)(job->kind, job->gamma, job->w[i]));
        most = v > most ? v : most;
    }
    *(T *)data = most;
    return LRP_OK;
}

/* Whether |rho(w)| s |a| stays finite for every pair of a layer: the
 * largest |rho(w)| (kept in `cache`) times the largest s times the largest
 * |a|, with room for the roundings. */
static int FN(min_max_finite)(lrp_weight_cache *cache, int kind, T gamma, const T *w,
                              ptrdiff_t weights, T scale, T a_most, lrp_status *status)
{
    FN(largest_weight) job = {w, weights, kind, gamma};
    const lrp_cache_key key = {.form = LRP_FORM_LARGEST_MAGNITUDE, .elem_size = (int)sizeof(T),
                               .kind = kind, .gamma = (double)gamma, .rows = weights,
                               .count = 1};
    void *own;
    const T *w_most = lrp_weights_prepared(cache, w, &key, FN(largest_weight_build), &job, &own,
                                           status);
    if (*status != LRP_OK)
        return 0;
    const double most = sizeof(T) == sizeof(float) ? FLT_MAX : DBL_MAX;
    const int finite = (double)*w_most * (double)scale * (double)a_most < most / 4;
    free(own);
    return finite;
}

#endif /* LRP_INSTANCE_COMPOSED_PRODUCTS */
