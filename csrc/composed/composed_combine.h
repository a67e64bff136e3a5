/* The combination acc = add(acc, mul(val, r)) of composed.h for a float
 * element type T (this template's instances: float32 and float64 elements),
 * with the operators made constants in each loop (the switches outside). */
#include "kernel/template.h"
#ifndef LRP_INSTANCE_COMPOSED_COMBINE /* once per instance */
#define LRP_INSTANCE_COMPOSED_COMBINE

#include <math.h>
#include "lrp.h"
#include "composed/composed.h"
#include "kernel/compiler.h"

static LRP_INLINE T FN(composed_log1p)(T x)
{
    return sizeof(T) == sizeof(float) ? (T)log1pf((float)x) : (T)log1p((double)x);
}

static LRP_INLINE T FN(composed_exp)(T x)
{
    return sizeof(T) == sizeof(float) ? (T)expf((float)x) : (T)exp((double)x);
}

/* log(exp x + exp y) = max + log1p(exp(min - max)); -inf where both are,
 * +inf where either is. */
static LRP_INLINE T FN(logaddexp)(T x, T y)
{
    const T hi = x > y ? x : y, lo = x > y ? y : x;
    if (lo == -(T)INFINITY || hi == (T)INFINITY)
        return hi;
    return hi + FN(composed_log1p)(FN(composed_exp)(lo - hi));
}

/* x (+) y under ADD (a constant) */
static LRP_INLINE T FN(composed_add)(const int ADD, T x, T y)
{
    switch (ADD) {
    case LRP_ADD_PLUS:
        return x + y;
    case LRP_ADD_MAX:
        return y > x ? y : x;
    case LRP_ADD_MIN:
        return y < x ? y : x;
    case LRP_ADD_OR:
        return (T)((x != 0) | (y != 0));
    case LRP_ADD_AND:
        return (T)((x != 0) & (y != 0));
    default:
        return FN(logaddexp)(x, y);
    }
}

/* x (x) y under MUL (a constant) */
static LRP_INLINE T FN(composed_mul)(const int MUL, T x, T y)
{
    switch (MUL) {
    case LRP_MUL_TIMES:
        return x * y;
    case LRP_MUL_PLUS:
        return x + y;
    case LRP_MUL_MIN:
        return y < x ? y : x;
    case LRP_MUL_MAX:
        return y > x ? y : x;
    default:
        return (T)((x != 0) & (y != 0));
    }
}

/* composed.h's combination with ADD and MUL constants. A pair is live where
 * r is not zero; a NaN among a live pair's value, R_k, product or sum is
 * reported (max and min would drop it). */
static LRP_INLINE int FN(combine_ops)(const int ADD, const int MUL, T zero, T *restrict acc,
                                      const T *restrict val, const T *restrict r,
                                      ptrdiff_t count)
{
    int nan = 0;
    for (ptrdiff_t i = 0; i < count; i++) {
        const T v = val[i], rk = r[i];
        const T p = FN(composed_mul)(MUL, v, rk);
        const T sum = FN(composed_add)(ADD, acc[i], p);
        const int live = rk != zero;
        nan |= live & ((v != v) | (rk != rk) | (p != p) | (sum != sum));
        acc[i] = live ? sum : acc[i];
    }
    return nan ? COMPOSED_NAN : 0;
}

static LRP_INLINE int FN(combine_add)(const int ADD, int mul, T zero, T *acc, const T *val,
                                      const T *r, ptrdiff_t count)
{
    switch (mul) {
    case LRP_MUL_TIMES:
        return FN(combine_ops)(ADD, LRP_MUL_TIMES, zero, acc, val, r, count);
    case LRP_MUL_PLUS:
        return FN(combine_ops)(ADD, LRP_MUL_PLUS, zero, acc, val, r, count);
    case LRP_MUL_MIN:
        return FN(combine_ops)(ADD, LRP_MUL_MIN, zero, acc, val, r, count);
    case LRP_MUL_MAX:
        return FN(combine_ops)(ADD, LRP_MUL_MAX, zero, acc, val, r, count);
    default:
        return FN(combine_ops)(ADD, LRP_MUL_AND, zero, acc, val, r, count);
    }
}

/* The combination for float elements T, sr's operators made constants. */
static LRP_INLINE int FN(combine_float)(const lrp_semiring *sr, void *acc, const void *val,
                                        const void *r, ptrdiff_t count)
{
    const T zero = (T)sr->zero;
    const int mul = sr->mul;
    switch (sr->add) {
    case LRP_ADD_PLUS:
        return FN(combine_add)(LRP_ADD_PLUS, mul, zero, acc, val, r, count);
    case LRP_ADD_MAX:
        return FN(combine_add)(LRP_ADD_MAX, mul, zero, acc, val, r, count);
    case LRP_ADD_MIN:
        return FN(combine_add)(LRP_ADD_MIN, mul, zero, acc, val, r, count);
    case LRP_ADD_OR:
        return FN(combine_add)(LRP_ADD_OR, mul, zero, acc, val, r, count);
    case LRP_ADD_AND:
        return FN(combine_add)(LRP_ADD_AND, mul, zero, acc, val, r, count);
    default:
        return FN(combine_add)(LRP_ADD_LOGADDEXP, mul, zero, acc, val, r, count);
    }
}

#endif /* LRP_INSTANCE_COMPOSED_COMBINE */
