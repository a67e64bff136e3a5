/* The combination of composed.h for every element type, compiled once per
 * instruction set, the check of a semiring's descriptor and the switch of
 * the faster tiers. */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lrp.h"
#include "composed/composed.h"
#include "kernel/compiler.h"
#include "runtime/isa_dispatch.h"

#define LRP_KERNEL_TEMPLATE "composed/composed_combine.h"
#include "kernel/instantiate.h"

static atomic_int fast_tiers = 1;

void lrp_set_composed_fast_tiers(int on)
{
    atomic_store(&fast_tiers, on != 0);
}

int lrp_composed_fast_tiers(void)
{
    return atomic_load(&fast_tiers);
}

/* int64: plus and times checked (an overflow ends the block), the rest as
 * for floats. */
static LRP_INLINE int64_t combine_i64_add(const int ADD, int64_t x, int64_t y, int *overflow)
{
    int64_t sum;
    switch (ADD) {
    case LRP_ADD_PLUS:
        *overflow |= __builtin_add_overflow(x, y, &sum);
        return sum;
    case LRP_ADD_MAX:
        return y > x ? y : x;
    case LRP_ADD_MIN:
        return y < x ? y : x;
    case LRP_ADD_OR:
        return (x != 0) | (y != 0);
    default: /* and; logaddexp is refused for int64 (lrp_semiring_check) */
        return (x != 0) & (y != 0);
    }
}

static LRP_INLINE int64_t combine_i64_mul(const int MUL, int64_t x, int64_t y, int *overflow)
{
    int64_t product;
    switch (MUL) {
    case LRP_MUL_TIMES:
        *overflow |= __builtin_mul_overflow(x, y, &product);
        return product;
    case LRP_MUL_PLUS:
        *overflow |= __builtin_add_overflow(x, y, &product);
        return product;
    case LRP_MUL_MIN:
        return y < x ? y : x;
    case LRP_MUL_MAX:
        return y > x ? y : x;
    default:
        return (x != 0) & (y != 0);
    }
}

static LRP_INLINE int combine_i64_ops(const int ADD, const int MUL, int64_t zero,
                                      int64_t *restrict acc, const int64_t *restrict val,
                                      const int64_t *restrict r, ptrdiff_t count)
{
    for (ptrdiff_t i = 0; i < count; i++) {
        if (r[i] == zero)
            continue;
        int overflow = 0;
        const int64_t p = combine_i64_mul(MUL, val[i], r[i], &overflow);
        const int64_t sum = combine_i64_add(ADD, acc[i], p, &overflow);
        if (overflow)
            return COMPOSED_OVERFLOW;
        acc[i] = sum;
    }
    return 0;
}

static LRP_INLINE int combine_i64_add_op(const int ADD, int mul, int64_t zero, int64_t *acc,
                                         const int64_t *val, const int64_t *r, ptrdiff_t count)
{
    switch (mul) {
    case LRP_MUL_TIMES:
        return combine_i64_ops(ADD, LRP_MUL_TIMES, zero, acc, val, r, count);
    case LRP_MUL_PLUS:
        return combine_i64_ops(ADD, LRP_MUL_PLUS, zero, acc, val, r, count);
    case LRP_MUL_MIN:
        return combine_i64_ops(ADD, LRP_MUL_MIN, zero, acc, val, r, count);
    case LRP_MUL_MAX:
        return combine_i64_ops(ADD, LRP_MUL_MAX, zero, acc, val, r, count);
    default:
        return combine_i64_ops(ADD, LRP_MUL_AND, zero, acc, val, r, count);
    }
}

static LRP_INLINE int combine_i64(const lrp_semiring *sr, void *acc, const void *val,
                                  const void *r, ptrdiff_t count)
{
    const int64_t zero = (int64_t)sr->zero;
    switch (sr->add) {
    case LRP_ADD_PLUS:
        return combine_i64_add_op(LRP_ADD_PLUS, sr->mul, zero, acc, val, r, count);
    case LRP_ADD_MAX:
        return combine_i64_add_op(LRP_ADD_MAX, sr->mul, zero, acc, val, r, count);
    case LRP_ADD_MIN:
        return combine_i64_add_op(LRP_ADD_MIN, sr->mul, zero, acc, val, r, count);
    case LRP_ADD_OR:
        return combine_i64_add_op(LRP_ADD_OR, sr->mul, zero, acc, val, r, count);
    default:
        return combine_i64_add_op(LRP_ADD_AND, sr->mul, zero, acc, val, r, count);
    }
}

/* bool: every operator is or or and of the truth values (plus, max and or
 * are or; times, min and and are and); OR (a constant) chooses. */
static LRP_INLINE int combine_bool_ops(const int ADD_OR, const int MUL_OR, uint8_t zero,
                                       uint8_t *restrict acc, const uint8_t *restrict val,
                                       const uint8_t *restrict r, ptrdiff_t count)
{
    for (ptrdiff_t i = 0; i < count; i++) {
        const uint8_t v = val[i] != 0, rk = r[i] != 0, x = acc[i] != 0;
        const uint8_t p = MUL_OR ? (uint8_t)(v | rk) : (uint8_t)(v & rk);
        const uint8_t sum = ADD_OR ? (uint8_t)(x | p) : (uint8_t)(x & p);
        acc[i] = rk != zero ? sum : x;
    }
    return 0;
}

static LRP_INLINE int combine_bool(const lrp_semiring *sr, void *acc, const void *val,
                                   const void *r, ptrdiff_t count)
{
    const uint8_t zero = sr->zero != 0;
    const int add_or = sr->add == LRP_ADD_PLUS || sr->add == LRP_ADD_MAX || sr->add == LRP_ADD_OR;
    const int mul_or = sr->mul == LRP_MUL_PLUS || sr->mul == LRP_MUL_MAX;
    if (add_or)
        return mul_or ? combine_bool_ops(1, 1, zero, acc, val, r, count)
                      : combine_bool_ops(1, 0, zero, acc, val, r, count);
    return mul_or ? combine_bool_ops(0, 1, zero, acc, val, r, count)
                  : combine_bool_ops(0, 0, zero, acc, val, r, count);
}

/* Each element type's combination, compiled for each instruction set. */
static int combine_f32_portable(const lrp_semiring *sr, void *acc, const void *val,
                                const void *r, ptrdiff_t count)
{
    return combine_float_f32(sr, acc, val, r, count);
}
static int combine_f64_portable(const lrp_semiring *sr, void *acc, const void *val,
                                const void *r, ptrdiff_t count)
{
    return combine_float_f64(sr, acc, val, r, count);
}
static int combine_i64_portable(const lrp_semiring *sr, void *acc, const void *val,
                                const void *r, ptrdiff_t count)
{
    return combine_i64(sr, acc, val, r, count);
}
static int combine_bool_portable(const lrp_semiring *sr, void *acc, const void *val,
                                 const void *r, ptrdiff_t count)
{
    return combine_bool(sr, acc, val, r, count);
}

#if LRP_X86_DISPATCH
LRP_TARGET_AVX2 static int combine_f32_avx2(const lrp_semiring *sr, void *acc, const void *val,
                                            const void *r, ptrdiff_t count)
{
    return combine_float_f32(sr, acc, val, r, count);
}
LRP_TARGET_AVX2 static int combine_f64_avx2(const lrp_semiring *sr, void *acc, const void *val,
                                            const void *r, ptrdiff_t count)
{
    return combine_float_f64(sr, acc, val, r, count);
}
LRP_TARGET_AVX2 static int combine_i64_avx2(const lrp_semiring *sr, void *acc, const void *val,
                                            const void *r, ptrdiff_t count)
{
    return combine_i64(sr, acc, val, r, count);
}
LRP_TARGET_AVX2 static int combine_bool_avx2(const lrp_semiring *sr, void *acc,
                                             const void *val, const void *r, ptrdiff_t count)
{
    return combine_bool(sr, acc, val, r, count);
}
LRP_TARGET_AVX512 static int combine_f32_avx512(const lrp_semiring *sr, void *acc,
                                                const void *val, const void *r, ptrdiff_t count)
{
    return combine_float_f32(sr, acc, val, r, count);
}
LRP_TARGET_AVX512 static int combine_f64_avx512(const lrp_semiring *sr, void *acc,
                                                const void *val, const void *r, ptrdiff_t count)
{
    return combine_float_f64(sr, acc, val, r, count);
}
LRP_TARGET_AVX512 static int combine_i64_avx512(const lrp_semiring *sr, void *acc,
                                                const void *val, const void *r, ptrdiff_t count)
{
    return combine_i64(sr, acc, val, r, count);
}
LRP_TARGET_AVX512 static int combine_bool_avx512(const lrp_semiring *sr, void *acc,
                                                 const void *val, const void *r,
                                                 ptrdiff_t count)
{
    return combine_bool(sr, acc, val, r, count);
}
#endif

lrp_composed_combine_fn lrp_composed_combine_for(const lrp_semiring *sr)
{
    /* indexed by lrp_elem */
    static const lrp_composed_combine_fn portable[] = {
        combine_f32_portable, combine_f64_portable, combine_i64_portable, combine_bool_portable};
#if LRP_X86_DISPATCH
    static const lrp_composed_combine_fn avx2[] = {combine_f32_avx2, combine_f64_avx2,
                                                   combine_i64_avx2, combine_bool_avx2};
    static const lrp_composed_combine_fn avx512[] = {combine_f32_avx512, combine_f64_avx512,
                                                     combine_i64_avx512, combine_bool_avx512};
    if (lrp_current_isa() == LRP_ISA_AVX512)
        return avx512[sr->elem];
    if (lrp_current_isa() == LRP_ISA_AVX2)
        return avx2[sr->elem];
#endif
    return portable[sr->elem];
}

/* Whether x is a value elem holds exactly (bool: 0 or 1). */
static int elem_exact(lrp_elem elem, double x)
{
    switch (elem) {
    case LRP_ELEM_F32: /* in float's range before converting */
        return isinf(x) || (fabs(x) <= FLT_MAX && (double)(float)x == x);
    case LRP_ELEM_F64:
        return x == x;
    case LRP_ELEM_I64: /* [-2^63, 2^63) */
        return x >= -9223372036854775808.0 && x < 9223372036854775808.0 && x == floor(x);
    default:
        return x == 0 || x == 1;
    }
}

lrp_status lrp_semiring_check(const lrp_semiring *sr)
{
    if ((unsigned)sr->add > LRP_ADD_LOGADDEXP || (unsigned)sr->mul > LRP_MUL_AND ||
        (unsigned)sr->elem > LRP_ELEM_BOOL || (unsigned)sr->source > LRP_SOURCE_VITERBI ||
        sr->steps < 0 || sr->steps > LRP_MAX_STEPS)
        return LRP_ERR_ARG;
    const int floats = sr->elem == LRP_ELEM_F32 || sr->elem == LRP_ELEM_F64;
    if (!floats && sr->add == LRP_ADD_LOGADDEXP)
        return LRP_ERR_ARG;
    if (!elem_exact(sr->elem, sr->zero) || !elem_exact(sr->elem, sr->one))
        return LRP_ERR_ARG;
    for (int i = 0; i < sr->steps; i++) {
        const lrp_step *step = &sr->step[i];
        if ((unsigned)step->kind > LRP_STEP_THRESHOLD)
            return LRP_ERR_ARG;
        if (step->kind == LRP_STEP_THRESHOLD && (i != sr->steps - 1 || step->theta != step->theta))
            return LRP_ERR_ARG;
        if (step->kind == LRP_STEP_CLIP && !(step->lo <= step->hi))
            return LRP_ERR_ARG;
    }
    const int thresholded = sr->steps > 0 && sr->step[sr->steps - 1].kind == LRP_STEP_THRESHOLD;
    return floats || thresholded ? LRP_OK : LRP_ERR_ARG;
}
