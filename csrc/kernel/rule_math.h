/* The per-coefficient arithmetic of semantics.md, written once against T,
 * FN() and ABS and included by every kernel file once per dtype.
 *
 * Each operation is spelled out as the formula gives it, because boolean
 * and counting results are compared bit for bit with a literal reference.
 */
#include "kernel/template.h"
#ifndef LRP_INSTANCE_RULE_MATH /* once per instance */
#define LRP_INSTANCE_RULE_MATH

#include "lrp.h"
#include "kernel/compiler.h"

static LRP_INLINE T FN(positive)(T w) { return w > 0 ? w : (T)0; }
static LRP_INLINE T FN(negative)(T w) { return w < 0 ? w : (T)0; }
static LRP_INLINE T FN(absolute)(T v) { return ABS(v); } /* branch-free: signs are random */

static LRP_INLINE T FN(rho)(int kind, T gamma, T w)
{
    return kind == LRP_RULE_GAMMA ? w + gamma * FN(positive)(w) : w;
}

/* n_jk: the contribution of input j to output k before normalisation. */
static LRP_INLINE T FN(numerator)(int kind, T gamma, T a, T lo, T hi, T w)
{
    if (kind == LRP_RULE_ZBOX)
        return a * w - lo * FN(positive)(w) - hi * FN(negative)(w);
    return a * FN(rho)(kind, gamma, w);
}

/* beta_k: the bias neuron's contribution; under z^B it is b - b^+ - b^- = 0. */
static LRP_INLINE T FN(bias_term)(int kind, T gamma, T b)
{
    return kind == LRP_RULE_ZBOX ? (T)0 : FN(rho)(kind, gamma, b);
}

/* A z^B bound at index j; other rules never read the bounds. */
#define LRP_BOUND(kind, bounds, j) ((kind) == LRP_RULE_ZBOX ? (bounds)[j] : (T)0)

static LRP_INLINE int FN(passes)(T d, T theta, int absolute)
{
    return (absolute ? FN(absolute)(d) : d) >= theta;
}

/* d = n / z, and 0 where z == 0; the division never sees a zero. */
static LRP_INLINE T FN(coefficient)(T numerator, T z)
{
    T d = numerator / (z != 0 ? z : (T)1);
    return z != 0 ? d : (T)0;
}

/* Theta of the threshold semirings as a T: 1 if d passes, else 0. */
static LRP_INLINE T FN(pass_mask)(T d, T theta, int absolute)
{
    return (T)FN(passes)(d, theta, absolute);
}

/* Threshold semirings without a division per pair. For d = n / z and a fixed
 * z != 0, fl(n / z) is monotone in n, so "Theta(d) passes" is an interval of
 * n, found once per output k: the kernels then compare n_jk with the
 * interval's ends, bit for bit the same verdict as dividing. */

/* T's bits, in an order that sorts like the values (-0 just below +0). */
static inline UINT_T FN(order_key)(T x)
{
    UINT_T bits;
    memcpy(&bits, &x, sizeof bits);
    const UINT_T sign = (UINT_T)1 << (8 * sizeof(T) - 1);
    return bits & sign ? ~bits : bits | sign;
}

static inline T FN(from_order_key)(UINT_T key)
{
    const UINT_T sign = (UINT_T)1 << (8 * sizeof(T) - 1);
    UINT_T bits = key & sign ? key & ~sign : ~key;
    T x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* The least m with fl(m / d) >= theta, for d > 0; NaN if no m passes. */
static inline T FN(least_passing)(T theta, T d)
{
#define PASSES(m) ((m) / d >= theta)
    T guess = (T)((double)theta * (double)d);
    if (guess - guess == 0) { /* finite: the answer is within an ulp or two */
        if (PASSES(guess)) {
            for (int step = 0; step < 8; step++) {
                T below = NEXTAFTER(guess, -(T)INFINITY);
                if (!PASSES(below))
                    return guess;
                guess = below;
            }
        } else {
            for (int step = 0; step < 8; step++) {
                guess = NEXTAFTER(guess, (T)INFINITY);
                if (PASSES(guess))
                    return guess;
            }
        }
    }
    /* far from the guess (overflow, underflow): bisect the ordered bits */
    if (!PASSES((T)INFINITY))
        return (T)NAN;
    if (PASSES(-(T)INFINITY))
        return -(T)INFINITY;
    UINT_T fail = FN(order_key)(-(T)INFINITY), pass = FN(order_key)((T)INFINITY);
    while (pass - fail > 1) {
        const UINT_T mid = fail + (pass - fail) / 2;
        if (PASSES(FN(from_order_key)(mid)))
            pass = mid;
        else
            fail = mid;
    }
    return FN(from_order_key)(pass);
#undef PASSES
}

/* The n that pass at output k: lo <= n' <= hi, with n' = |n| when absolute.
 * An output with R_k = 0 (or where nothing passes) gets NaN, which no
 * comparison passes. */
static inline void FN(passing_interval)(T z, T theta, int absolute, int relevant, T *lo, T *hi)
{
    *lo = *hi = (T)NAN;
    if (!relevant)
        return;
    if (z == 0) { /* every d_jk is 0 */
        if (0 >= theta)
            *lo = -(T)INFINITY, *hi = (T)INFINITY;
        return;
    }
    if (absolute || z > 0) {
        /* |fl(n / z)| = fl(|n| / |z|): rounding is symmetric */
        *lo = FN(least_passing)(theta, FN(absolute)(z));
        *hi = (T)INFINITY;
        return;
    }
    /* z < 0: fl(n / z) = fl(-n / |z|) >= theta iff -n >= least */
    *lo = -(T)INFINITY;
    *hi = -FN(least_passing)(theta, -z);
}

#endif /* LRP_INSTANCE_RULE_MATH */
