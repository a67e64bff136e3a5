/* What the composed-semiring kernels share across dtypes and families: the
 * block of pairs they evaluate at a time, the combination of a block's
 * values with R_k into the accumulators (composed_combine.c, compiled per
 * element type and instruction set), and the element types' sizes. */
#ifndef SEMIRING_LRP_COMPOSED_COMPOSED_H
#define SEMIRING_LRP_COMPOSED_COMPOSED_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "lrp.h"
#include "kernel/compiler.h"

/* Pairs per block: the block's buffers (a few KiB) stay in L1. */
enum { COMPOSED_BLOCK = 256 };

/* What a combination reports besides its results. */
enum { COMPOSED_OVERFLOW = 1, COMPOSED_NAN = 2 };

/* COMPOSED_BLOCK values of any element type. */
typedef union {
    float f32[COMPOSED_BLOCK];
    double f64[COMPOSED_BLOCK];
    int64_t i64[COMPOSED_BLOCK];
    uint8_t flags[COMPOSED_BLOCK];
} lrp_elem_block;

/* For i < count, where r[i] is not sr's zero:
 *   acc[i] = add(acc[i], mul(val[i], r[i]))
 * acc, val and r hold sr->elem values. Returns COMPOSED_OVERFLOW if an
 * int64 sum or product left the range (acc then partial), COMPOSED_NAN if
 * a float value, R_k, product or sum was NaN, else 0. */
typedef int (*lrp_composed_combine_fn)(const lrp_semiring *sr, void *acc, const void *val,
                                       const void *r, ptrdiff_t count);

/* The combination for sr->elem in the instruction set in use. */
LRP_HIDDEN lrp_composed_combine_fn lrp_composed_combine_for(const lrp_semiring *sr);

/* Bytes of one sr->elem value. */
static inline size_t lrp_elem_size(lrp_elem elem)
{
    return elem == LRP_ELEM_F32 ? 4 : elem == LRP_ELEM_BOOL ? 1 : 8;
}

/* value (an exact value of elem: lrp_semiring_check) stored at out[i]. */
static inline void lrp_elem_store(lrp_elem elem, double value, void *out, ptrdiff_t i)
{
    switch (elem) {
    case LRP_ELEM_F32:
        ((float *)out)[i] = (float)value;
        break;
    case LRP_ELEM_F64:
        ((double *)out)[i] = value;
        break;
    case LRP_ELEM_I64:
        ((int64_t *)out)[i] = (int64_t)value;
        break;
    default:
        ((uint8_t *)out)[i] = value != 0;
        break;
    }
}

/* count copies of value at out. */
static inline void lrp_elem_fill(lrp_elem elem, double value, void *out, ptrdiff_t count)
{
    if (elem == LRP_ELEM_F32) {
        for (ptrdiff_t i = 0; i < count; i++)
            ((float *)out)[i] = (float)value;
    } else if (elem == LRP_ELEM_F64) {
        for (ptrdiff_t i = 0; i < count; i++)
            ((double *)out)[i] = value;
    } else if (elem == LRP_ELEM_I64) {
        for (ptrdiff_t i = 0; i < count; i++)
            ((int64_t *)out)[i] = (int64_t)value;
    } else {
        for (ptrdiff_t i = 0; i < count; i++)
            ((uint8_t *)out)[i] = value != 0;
    }
}

/* out[i * out_step] = in[i * in_step] for i < count, values of SIZE bytes
 * (a constant: the copy compiles to one move, of any element type). */
static LRP_INLINE void lrp_elem_copy_sized(const size_t SIZE, const char *restrict in,
                                           ptrdiff_t in_step, char *restrict out,
                                           ptrdiff_t out_step, ptrdiff_t count)
{
    for (ptrdiff_t i = 0; i < count; i++)
        memcpy(out + (size_t)(i * out_step) * SIZE, in + (size_t)(i * in_step) * SIZE, SIZE);
}

/* The same for values of `size` bytes (1, 4 or 8). */
static LRP_INLINE void lrp_elem_copy(size_t size, const void *in, ptrdiff_t in_step, void *out,
                                     ptrdiff_t out_step, ptrdiff_t count)
{
    if (size == 8)
        lrp_elem_copy_sized(8, in, in_step, out, out_step, count);
    else if (size == 4)
        lrp_elem_copy_sized(4, in, in_step, out, out_step, count);
    else
        lrp_elem_copy_sized(1, in, in_step, out, out_step, count);
}

/* count copies of in[at] (one elem value) at out. */
static inline void lrp_elem_broadcast(lrp_elem elem, const void *in, ptrdiff_t at, void *out,
                                      ptrdiff_t count)
{
    const size_t size = lrp_elem_size(elem);
    lrp_elem_copy(size, (const char *)in + (size_t)at * size, 0, out, 1, count);
}

/* out[i] = in[i * step] for i < count (gather: step in elements), or
 * out[i * step] = in[i] (scatter), in elem's size. */
static inline void lrp_elem_gather(lrp_elem elem, const void *in, ptrdiff_t step, void *out,
                                   ptrdiff_t count)
{
    lrp_elem_copy(lrp_elem_size(elem), in, step, out, 1, count);
}
static inline void lrp_elem_scatter(lrp_elem elem, const void *in, void *out, ptrdiff_t step,
                                    ptrdiff_t count)
{
    lrp_elem_copy(lrp_elem_size(elem), in, 1, out, step, count);
}

/* p advanced by i elem values. */
static inline void *lrp_elem_at(lrp_elem elem, void *p, ptrdiff_t i)
{
    return (char *)p + (size_t)i * lrp_elem_size(elem);
}
static inline const void *lrp_elem_at_const(lrp_elem elem, const void *p, ptrdiff_t i)
{
    return (const char *)p + (size_t)i * lrp_elem_size(elem);
}

/* Whether in[i] is value (an exact value of elem). */
static inline int lrp_elem_is(lrp_elem elem, double value, const void *in, ptrdiff_t i)
{
    switch (elem) {
    case LRP_ELEM_F32:
        return ((const float *)in)[i] == (float)value;
    case LRP_ELEM_F64:
        return ((const double *)in)[i] == value;
    case LRP_ELEM_I64:
        return ((const int64_t *)in)[i] == (int64_t)value;
    default:
        return (((const uint8_t *)in)[i] != 0) == (value != 0);
    }
}

/* Whether every one of in[0..count) is value (an exact value of elem). */
static inline int lrp_elem_all(lrp_elem elem, double value, const void *in, ptrdiff_t count)
{
    int all = 1;
    switch (elem) {
    case LRP_ELEM_F32:
        for (ptrdiff_t i = 0; i < count; i++)
            all &= ((const float *)in)[i] == (float)value;
        break;
    case LRP_ELEM_F64:
        for (ptrdiff_t i = 0; i < count; i++)
            all &= ((const double *)in)[i] == value;
        break;
    case LRP_ELEM_I64:
        for (ptrdiff_t i = 0; i < count; i++)
            all &= ((const int64_t *)in)[i] == (int64_t)value;
        break;
    default:
        for (ptrdiff_t i = 0; i < count; i++)
            all &= (((const uint8_t *)in)[i] != 0) == (value != 0);
        break;
    }
    return all;
}

/* The semirings some passes run by a faster tier than the generic one: what
 * sr declares, whatever it is called in Python. */
typedef enum {
    COMPOSED_GENERIC = 0,
    COMPOSED_FLOAT_COUNTING, /* plus/times over float64 of a threshold: 0 and 1 */
    COMPOSED_LOG_COUNTING,   /* logaddexp/plus over float64 of a threshold: -inf and 0 */
    COMPOSED_MAX_PLUS,       /* max/plus of log|d|: zero -inf, one 0 */
    COMPOSED_MIN_MAX         /* max/min of |d|: zero 0, one inf */
} lrp_composed_form;

/* sr's form; elem_float is the element type of the network's dtype
 * (max-plus and min-max run in it). Generic while lrp_composed_fast_tiers
 * is off. */
static inline lrp_composed_form lrp_composed_form_of(const lrp_semiring *sr, lrp_elem elem_float)
{
    if (!lrp_composed_fast_tiers() || sr->source != LRP_SOURCE_COEFFICIENT)
        return COMPOSED_GENERIC;
    const int threshold_only = sr->steps == 1 && sr->step[0].kind == LRP_STEP_THRESHOLD;
    if (threshold_only && sr->elem == LRP_ELEM_F64) {
        if (sr->add == LRP_ADD_PLUS && sr->mul == LRP_MUL_TIMES && sr->zero == 0 &&
            sr->one == 1)
            return COMPOSED_FLOAT_COUNTING;
        if (sr->add == LRP_ADD_LOGADDEXP && sr->mul == LRP_MUL_PLUS &&
            sr->zero == -(double)INFINITY && sr->one == 0)
            return COMPOSED_LOG_COUNTING;
    }
    if (sr->elem != elem_float || sr->add != LRP_ADD_MAX || sr->steps < 1 ||
        sr->step[0].kind != LRP_STEP_ABS)
        return COMPOSED_GENERIC;
    if (sr->mul == LRP_MUL_PLUS && sr->steps == 2 && sr->step[1].kind == LRP_STEP_LOG &&
        sr->zero == -(double)INFINITY && sr->one == 0)
        return COMPOSED_MAX_PLUS;
    if (sr->mul == LRP_MUL_MIN && sr->steps == 1 && sr->zero == 0 &&
        sr->one == (double)INFINITY)
        return COMPOSED_MIN_MAX;
    return COMPOSED_GENERIC;
}

/* The status a combination's flags stand for. */
static inline lrp_status lrp_composed_status(int flags)
{
    return flags & COMPOSED_OVERFLOW ? LRP_ERR_OVERFLOW
           : flags & COMPOSED_NAN    ? LRP_ERR_NAN
                                     : LRP_OK;
}

#endif
