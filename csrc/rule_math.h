/* The per-coefficient arithmetic of semantics.md, written once against T,
 * FN() and ABS and included by every kernel file once per dtype.
 *
 * Each operation is spelled out as the formula gives it, because boolean
 * and counting results are compared bit for bit with a literal reference.
 */

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
