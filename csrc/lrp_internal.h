/* Helpers shared by the kernel files; not part of the library's interface. */
#ifndef SEMIRING_LRP_INTERNAL_H
#define SEMIRING_LRP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lrp.h"

#if defined(__GNUC__) || defined(__clang__)
#define LRP_INLINE inline __attribute__((always_inline))
#else
#define LRP_INLINE inline
#endif

/* Before a loop whose stores never feed its loads (rows of different
 * planes): the compiler cannot prove it through pointers read from a struct,
 * and without it leaves the loop scalar. */
#if defined(__clang__)
#define LRP_NO_ALIAS _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define LRP_NO_ALIAS _Pragma("GCC ivdep")
#else
#define LRP_NO_ALIAS
#endif

/* Before a loop over a short array of lanes (a constant trip count): GCC
 * would unroll it into scalars before its loop vectoriser ran, and its
 * straight-line vectoriser leaves a lane-wise max scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#define LRP_LANE_LOOP _Pragma("GCC unroll 1")
#else
#define LRP_LANE_LOOP
#endif

/* Runs CALL(kind) with kind as a compile-time constant, so that the
 * always-inlined body is specialised for each rule. LRP-0 and LRP-eps share
 * one numerator; they differ only in the stabilised z the caller passes. */
#define LRP_DISPATCH_RULE(kind, CALL)      \
    switch (kind) {                        \
    case LRP_RULE_GAMMA:                   \
        CALL(LRP_RULE_GAMMA);              \
        break;                             \
    case LRP_RULE_ZBOX:                    \
        CALL(LRP_RULE_ZBOX);               \
        break;                             \
    default:                               \
        CALL(LRP_RULE_ZERO);               \
        break;                             \
    }

/* x86-64 builds carry AVX2 and AVX-512 paths chosen at run time (isa.c). */
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define LRP_X86_DISPATCH 1
#else
#define LRP_X86_DISPATCH 0
#endif

/* Target attributes of the run-time instruction sets (isa.c). */
#define LRP_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define LRP_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

/* In a kernel template (FN() defined): lrp_tasks FN(STEM_portable) and, on
 * x86, FN(STEM_avx2) and FN(STEM_avx512), each returning
 * BODY(context, begin, end, worker, team, fused) with the always-inlined
 * BODY compiled for its instruction set; fused says whether that set's
 * micro-kernels fuse multiply-adds. LRP_ISA_TASK(STEM) is the task of the
 * instruction set in use. */
#define LRP_ISA_CLONE(NAME, TARGET, BODY, FUSED)                                           \
    TARGET static lrp_status FN(NAME)(void *context, ptrdiff_t begin, ptrdiff_t end,         \
                                      int worker, lrp_team *team)                            \
    {                                                                                        \
        return BODY(context, begin, end, worker, team, FUSED);                               \
    }
#if LRP_X86_DISPATCH
#define LRP_ISA_TASKS(STEM, BODY)                          \
    LRP_ISA_CLONE(STEM##_portable, , BODY, 0)              \
    LRP_ISA_CLONE(STEM##_avx2, LRP_TARGET_AVX2, BODY, 1)   \
    LRP_ISA_CLONE(STEM##_avx512, LRP_TARGET_AVX512, BODY, 1)
#define LRP_ISA_TASK(STEM)                                                 \
    (lrp_current_isa() == LRP_ISA_AVX512 ? FN(STEM##_avx512)               \
     : lrp_current_isa() == LRP_ISA_AVX2 ? FN(STEM##_avx2)                 \
                                         : FN(STEM##_portable))
#else
#define LRP_ISA_TASKS(STEM, BODY) LRP_ISA_CLONE(STEM##_portable, , BODY, 0)
#define LRP_ISA_TASK(STEM) FN(STEM##_portable)
#endif

/* threads.c: lrp_parallel_for(items, task, context, interrupt) runs
 * task(context, begin, end, worker, team) on contiguous ranges of [0, items),
 * one per thread; tasks poll lrp_team_stop between tiles and return
 * LRP_ERR_INTERRUPTED when it says so. */
typedef struct lrp_team lrp_team;
typedef lrp_status (*lrp_task)(void *context, ptrdiff_t begin, ptrdiff_t end, int worker,
                               lrp_team *team);
lrp_status lrp_parallel_for(ptrdiff_t items, lrp_task task, void *context,
                            const lrp_interrupt *interrupt);
/* the same on at most `threads` threads (work too small to pay for more) */
lrp_status lrp_parallel_for_upto(ptrdiff_t items, ptrdiff_t threads, lrp_task task,
                                 void *context, const lrp_interrupt *interrupt);
int lrp_team_stop(lrp_team *team, int worker);

/* Passes element by element: items of `chunk` values of [0, count), over at
 * most count / (4 chunk) threads (milliseconds at most: no interrupt); an
 * item range [begin, end) covers values [*first, *last). */
static inline void lrp_parallel_chunks(ptrdiff_t count, ptrdiff_t chunk, lrp_task task,
                                       void *context)
{
    (void)lrp_parallel_for_upto((count + chunk - 1) / chunk, count / (4 * chunk), task, context,
                                NULL);
}
static inline void lrp_chunk_span(ptrdiff_t begin, ptrdiff_t end, ptrdiff_t chunk,
                                  ptrdiff_t count, ptrdiff_t *first, ptrdiff_t *last)
{
    *first = begin * chunk;
    *last = end * chunk < count ? end * chunk : count;
}

static inline int lrp_interrupted(const lrp_interrupt *interrupt)
{
    return interrupt && interrupt->requested(interrupt->context);
}

#define LRP_RETURN_IF_INTERRUPTED(s)               \
    do {                                           \
        if (lrp_interrupted((s)->interrupt))       \
            return LRP_ERR_INTERRUPTED;            \
    } while (0)

/* conv.c: counts the Winograd products that took the fused form */
void lrp_count_winograd_fused_run(void);

/* weight_cache.c: one prepared form of a layer's weights, by everything it
 * depends on but their values. */
typedef struct {
    int form;            /* LRP_FORM_* */
    int elem_size;       /* sizeof(T) */
    int isa;             /* the instruction set that built it (its roundings) */
    int kind;            /* lrp_rule_kind */
    double gamma;
    int flipped, absolute, mr;
    ptrdiff_t rows, cols, groups, taps;
    size_t count;        /* elements */
} lrp_cache_key;
#define LRP_FORM_PACKED_A 1 /* conv_products.h: rho(W) as the products' A */
#define LRP_FORM_WINOGRAD 2 /* conv_winograd.h: the 16 U_xi */
#define LRP_FORM_WINOGRAD_WIDE 3 /* conv_winograd.h: the 16 U_xi^T of the wide form */
typedef lrp_status (*lrp_cache_build)(void *context, void *data);
/* The prepared weights for key: the cache's entry, else built by
 * build(context, data) into fresh memory, which the cache keeps when it has
 * room and the weights are its array; otherwise that memory is handed back
 * in *own for the caller to free (NULL when the cache's entry serves). NULL
 * only when *status is not LRP_OK. No lock is held while build runs. */
const void *lrp_weights_prepared(lrp_weight_cache *cache, const void *weights,
                                 const lrp_cache_key *key, lrp_cache_build build,
                                 void *context, void **own, lrp_status *status);

/* count = a + factor * b, refusing anything a size_t cannot index. */
static inline lrp_status lrp_checked_count(ptrdiff_t a, ptrdiff_t b, size_t factor, size_t *count)
{
    if (a < 0 || b < 0)
        return LRP_ERR_ARG;
    size_t scaled;
    if (__builtin_mul_overflow((size_t)b, factor, &scaled) ||
        __builtin_add_overflow(scaled, (size_t)a, count))
        return LRP_ERR_NOMEM;
    return LRP_OK;
}

/* calloc checks count * size for overflow; one extra element keeps a
 * zero-sized request from returning NULL. */
static inline void *lrp_alloc_array(size_t count, size_t size)
{
    if (count == SIZE_MAX)
        return NULL;
    return calloc(count + 1, size);
}

/* 64-byte aligned (SIMD loads of packed panels); free() releases it. */
static inline void *lrp_alloc_aligned(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes) || bytes > SIZE_MAX - 128)
        return NULL;
    return aligned_alloc(64, (bytes + 64) / 64 * 64);
}

/* *total = sum of the counts r[0..count), or -1 when it exceeds INT64_MAX;
 * a negative count is an argument error. */
static inline lrp_status lrp_count_sum(const int64_t *r, ptrdiff_t count, int64_t *total)
{
    *total = 0;
    for (ptrdiff_t i = 0; i < count; i++) {
        if (r[i] < 0)
            return LRP_ERR_ARG;
        if (*total >= 0 && __builtin_add_overflow(*total, r[i], total))
            *total = -1;
    }
    return LRP_OK;
}

/* *fits = whether each of `samples` runs of `per_sample` counts sums to at
 * most 2^53. No R_j of a sample exceeds the sample's total, so the counting
 * passes may then sum in double, exactly. A negative count is an argument
 * error. */
static inline lrp_status lrp_counts_fit_double(const int64_t *r, ptrdiff_t samples,
                                               ptrdiff_t per_sample, int *fits)
{
    *fits = 1;
    for (ptrdiff_t n = 0; n < samples; n++) {
        int64_t total;
        lrp_status status = lrp_count_sum(r + n * per_sample, per_sample, &total);
        if (status != LRP_OK)
            return status;
        *fits &= total >= 0 && total <= ((int64_t)1 << 53);
    }
    return LRP_OK;
}

/* The outputs o in [*lo, *hi) of a convolution axis whose input
 * o * stride - pad + tap * dil lies inside [0, in_len). */
static inline void lrp_conv_range(ptrdiff_t out_len, ptrdiff_t in_len, ptrdiff_t stride,
                                  ptrdiff_t pad, ptrdiff_t dil, ptrdiff_t tap,
                                  ptrdiff_t *lo, ptrdiff_t *hi)
{
    const ptrdiff_t offset = tap * dil - pad; /* input = o * stride + offset */
    const ptrdiff_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    const ptrdiff_t last = in_len - 1 - offset < 0 ? -1 : (in_len - 1 - offset) / stride;
    *lo = first;
    *hi = last + 1 < out_len ? last + 1 : out_len;
    if (*hi < *lo)
        *hi = *lo;
}

/* Runs the statement(s) for every (input j, output k) pair that kernel tap
 * (ky, kx) links between the input plane starting at J0 and the output
 * plane starting at K0; j and k are flat indices. Unit stride gets its own
 * loop so that the compiler sees contiguous rows; in a row every j and every
 * k is distinct, so the statements may write at j or k (LRP_NO_ALIAS). */
#define LRP_CONV_TAP(s, ky, kx, J0, K0, ...)                                                  \
    do {                                                                                      \
        ptrdiff_t oy0_, oy1_, ox0_, ox1_;                                                     \
        lrp_conv_range((s)->out_h, (s)->in_h, (s)->stride_h, (s)->pad_h, (s)->dil_h, (ky),    \
                       &oy0_, &oy1_);                                                         \
        lrp_conv_range((s)->out_w, (s)->in_w, (s)->stride_w, (s)->pad_w, (s)->dil_w, (kx),    \
                       &ox0_, &ox1_);                                                         \
        for (ptrdiff_t oy_ = oy0_; oy_ < oy1_; oy_++) {                                       \
            const ptrdiff_t jrow_ = (J0) + (oy_ * (s)->stride_h - (s)->pad_h + (ky) * (s)->dil_h) \
                                               * (s)->in_w                                    \
                                    + (kx) * (s)->dil_w - (s)->pad_w;                         \
            const ptrdiff_t krow_ = (K0) + oy_ * (s)->out_w;                                  \
            if ((s)->stride_w == 1) {                                                         \
                LRP_NO_ALIAS                                                                  \
                for (ptrdiff_t ox_ = ox0_; ox_ < ox1_; ox_++) {                               \
                    const ptrdiff_t j = jrow_ + ox_, k = krow_ + ox_;                         \
                    __VA_ARGS__;                                                              \
                }                                                                             \
            } else {                                                                          \
                for (ptrdiff_t ox_ = ox0_; ox_ < ox1_; ox_++) {                               \
                    const ptrdiff_t j = jrow_ + ox_ * (s)->stride_w, k = krow_ + ox_;         \
                    __VA_ARGS__;                                                              \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    } while (0)

#endif
