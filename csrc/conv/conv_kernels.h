/* Conv2d kernels, written once against T and FN() (see instantiate.h).
 *
 * Activations are NCHW, weights (out_c, in_c / groups, k_h, k_w) as in
 * PyTorch. Every pass walks the (input j, output k) pairs tap by tap:
 * for one kernel tap (ky, kx) the pairs form a shifted, strided copy of the
 * output grid (lrp_conv_tap), so no coefficient tensor is ever formed and
 * padding costs nothing. Passes that write outputs (forward, absmax) visit
 * channels output-first; relevance passes visit them input-first so that
 * each input plane is finished before the next. The order of every sum is
 * fixed by these loops.
 */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_CONV_KERNELS /* once per instance */
#define LRP_INSTANCE_CONV_KERNELS


#include "products/products.h"
#include "conv/conv_geometry.h"
#include "kernel/compiler.h"
#include "kernel/counts.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "conv/conv_products.h"
#include "conv/conv_thresholds.h"
#include "kernel/tuning.h"

/* Channel planes of sample n. */
#define IN_PLANE(s, n, ci) (((n) * (s)->in_c + (ci)) * (s)->in_h * (s)->in_w)
#define OUT_PLANE(s, n, co) (((n) * (s)->out_c + (co)) * (s)->out_h * (s)->out_w)
#define WEIGHT(s, w, co, ci_local, ky, kx) \
    (w)[(((co) * ((s)->in_c / (s)->groups) + (ci_local)) * (s)->k_h + (ky)) * (s)->k_w + (kx)]

/* The passes that fill outputs (forward: z = sum of n_jk plus beta; absmax:
 * m = max of |n_jk| and |beta|) work one output row at a time for
 * CONV_BLOCK output channels of a group: the rows stay in L1 while every
 * input row of every tap streams past, and each input value is loaded once
 * for the block. Each z sums its taps in (input channel, ky, kx) order. */
#define CONV_BLOCK 4
#define CONV_SUM 0
#define CONV_ABSMAX 1

/* z += n, or m = max(m, |n|) */
#define CONV_ACCUMULATE(op, acc, n) \
    ((op) == CONV_SUM ? (acc) + (n) : (FN(absolute)(n) > (acc) ? FN(absolute)(n) : (acc)))

/* The tap-by-tap forward or absmax (layers the products do not take), one
 * item per (sample, block of CONV_BLOCK output channels of one group). */
typedef struct {
    int kind, op;
    const lrp_conv_shape *s;
    T gamma;
    const T *a, *w, *b, *low, *high;
    T *z;
} FN(conv_rows);

/* unit: stride_w is 1, a constant for the compiler, so rows are contiguous */
static LRP_INLINE void FN(conv_rows_item)(const FN(conv_rows) *job, ptrdiff_t item, int kind,
                                          int op, int unit)
{
    const lrp_conv_shape *s = job->s;
    const T gamma = job->gamma;
    const T *restrict a = job->a, *restrict w = job->w, *restrict b = job->b;
    const T *restrict low = job->low, *restrict high = job->high;
    T *restrict z = job->z;
    const ptrdiff_t cin_g = s->in_c / s->groups, cout_g = s->out_c / s->groups;
    const ptrdiff_t out_w = s->out_w, sw = unit ? 1 : s->stride_w;
    const ptrdiff_t blocks = (cout_g + CONV_BLOCK - 1) / CONV_BLOCK;
    const ptrdiff_t n = item / (s->groups * blocks), g = item / blocks % s->groups;
    const ptrdiff_t co0 = g * cout_g + item % blocks * CONV_BLOCK;
    const ptrdiff_t count = (g + 1) * cout_g - co0 < CONV_BLOCK
                                ? (g + 1) * cout_g - co0 : CONV_BLOCK;
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
        T *row[CONV_BLOCK];
        for (ptrdiff_t c = 0; c < CONV_BLOCK; c++) {
            row[c] = z + OUT_PLANE(s, n, co0 + (c < count ? c : 0)) + oy * out_w;
        }
        for (ptrdiff_t c = 0; c < count; c++)
            for (ptrdiff_t ox = 0; ox < out_w; ox++)
                row[c][ox] = 0;
        for (ptrdiff_t cl = 0; cl < cin_g; cl++)
            for (ptrdiff_t ky = 0; ky < s->k_h; ky++) {
                const ptrdiff_t iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
                if (iy < 0 || iy >= s->in_h)
                    continue;
                const ptrdiff_t jrow = IN_PLANE(s, n, g * cin_g + cl) + iy * s->in_w;
                for (ptrdiff_t kx = 0; kx < s->k_w; kx++) {
                    ptrdiff_t ox0, ox1;
                    lrp_conv_range(out_w, s->in_w, sw, s->pad_w, s->dil_w, kx, &ox0, &ox1);
                    const ptrdiff_t shift = jrow + kx * s->dil_w - s->pad_w;
                    T wv[CONV_BLOCK];
                    for (ptrdiff_t c = 0; c < CONV_BLOCK; c++)
                        wv[c] = c < count ? WEIGHT(s, w, co0 + c, cl, ky, kx) : (T)0;
                    if (count == CONV_BLOCK) {
                        T *restrict r0 = row[0], *restrict r1 = row[1];
                        T *restrict r2 = row[2], *restrict r3 = row[3];
                        LRP_NO_ALIAS
                        for (ptrdiff_t ox = ox0; ox < ox1; ox++) {
                            const ptrdiff_t j = shift + ox * sw;
                            const T x = a[j];
                            const T lo = LRP_BOUND(kind, low, j);
                            const T hi = LRP_BOUND(kind, high, j);
                            r0[ox] = CONV_ACCUMULATE(op, r0[ox], FN(numerator)(kind, gamma, x, lo, hi, wv[0]));
                            r1[ox] = CONV_ACCUMULATE(op, r1[ox], FN(numerator)(kind, gamma, x, lo, hi, wv[1]));
                            r2[ox] = CONV_ACCUMULATE(op, r2[ox], FN(numerator)(kind, gamma, x, lo, hi, wv[2]));
                            r3[ox] = CONV_ACCUMULATE(op, r3[ox], FN(numerator)(kind, gamma, x, lo, hi, wv[3]));
                        }
                    } else {
                        for (ptrdiff_t c = 0; c < count; c++)
                            for (ptrdiff_t ox = ox0; ox < ox1; ox++) {
                                const ptrdiff_t j = shift + ox * sw;
                                row[c][ox] = CONV_ACCUMULATE(
                                    op, row[c][ox],
                                    FN(numerator)(kind, gamma, a[j], LRP_BOUND(kind, low, j),
                                                  LRP_BOUND(kind, high, j), wv[c]));
                            }
                    }
                }
            }
        for (ptrdiff_t c = 0; c < count; c++) {
            const T beta = FN(bias_term)(kind, gamma, b[co0 + c]);
            for (ptrdiff_t ox = 0; ox < out_w; ox++)
                row[c][ox] = CONV_ACCUMULATE(op, row[c][ox], beta);
        }
    }
}

/* compiled per instruction set (LRP_ISA_PLAIN_TASKS): the row loops are plain
 * vector code, and the same IEEE operations on every set */
static LRP_INLINE lrp_status FN(conv_rows_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                                 int worker, lrp_team *team)
{
    const FN(conv_rows) *job = context;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
#define ITEM_OP(KIND, OP)                                \
    (job->s->stride_w == 1 ? FN(conv_rows_item)(job, item, KIND, OP, 1) \
                           : FN(conv_rows_item)(job, item, KIND, OP, 0))
#define ITEM(KIND) (job->op == CONV_SUM ? ITEM_OP(KIND, CONV_SUM) : ITEM_OP(KIND, CONV_ABSMAX))
        switch (job->kind) {
        case LRP_RULE_GAMMA:
            ITEM(LRP_RULE_GAMMA);
            break;
        case LRP_RULE_ZBOX:
            ITEM(LRP_RULE_ZBOX);
            break;
        default:
            ITEM(LRP_RULE_ZERO);
            break;
        }
#undef ITEM
#undef ITEM_OP
    }
    return LRP_OK;
}

LRP_ISA_PLAIN_TASKS(conv_rows_task, FN(conv_rows_items))

/* forward (op CONV_SUM, out = z) or absmax (op CONV_ABSMAX, out = m); inlined
 * into each, so that op is a constant in the row loops */
static LRP_INLINE lrp_status FN(conv_weighted_sum)(int op, const lrp_conv_shape *s,
                                                   const lrp_rule *rule, const T *a,
                                                   const T *w, const T *b, const T *low,
                                                   const T *high, T *out)
{
    lrp_status status = lrp_conv_check(s);
    if (status != LRP_OK)
        return status;
    if (rule->kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    T gamma = (T)rule->gamma;
    if (FN(conv_uses_product)(rule->kind, s, 0))
        return FN(conv_sum_product)(rule->kind, op, s, gamma, a, w, b, out);
    if (rule->kind == LRP_RULE_ZBOX && op == CONV_SUM && FN(conv_zbox_stacks)(s, 0))
        return FN(conv_zbox_forward)(s, a, w, low, high, out);
    FN(conv_rows) job = {rule->kind, op, s, gamma, a, w, b, low, high, out};
    const ptrdiff_t cout_g = s->out_c / s->groups;
    const ptrdiff_t items = s->n * s->groups * ((cout_g + CONV_BLOCK - 1) / CONV_BLOCK);
    const double pairs = (double)s->n * s->out_c * s->out_h * s->out_w * (s->in_c / s->groups) *
                         s->k_h * s->k_w;
    return lrp_parallel_for_upto(items, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                 LRP_ISA_TASK(conv_rows_task), &job, s->interrupt);
}

lrp_status FN(lrp_conv_forward)(const lrp_conv_shape *s, const lrp_rule *rule, const T *a,
                                const T *w, const T *b, const T *low, const T *high, T *z)
{
    return FN(conv_weighted_sum)(CONV_SUM, s, rule, a, w, b, low, high, z);
}

lrp_status FN(lrp_conv_absmax)(const lrp_conv_shape *s, const lrp_rule *rule, const T *a,
                               const T *w, const T *b, const T *low, const T *high, T *m)
{
    return FN(conv_weighted_sum)(CONV_ABSMAX, s, rule, a, w, b, low, high, m);
}

/* What FN(conv_visit_input) tells a pair visitor besides j and k: the
 * weight of the tap it visits and the first index of the input plane. The
 * first member of every visitor's context. */
typedef struct {
    T wv;
    ptrdiff_t j0;
} FN(conv_tap_state);

/* Visits, for input channel ci of sample n, every output channel of its
 * group and every kernel tap in that order, calling visit(tap, j, k) for
 * the tap's pairs with tap->wv and tap->j0 set; tap is the first member of
 * visit's context. */
static LRP_INLINE void FN(conv_visit_input)(const lrp_conv_shape *s, const T *w, ptrdiff_t n,
                                            ptrdiff_t ci, lrp_conv_pair_visitor visit,
                                            FN(conv_tap_state) *tap)
{
    const ptrdiff_t cin_g = s->in_c / s->groups, cout_g = s->out_c / s->groups;
    const ptrdiff_t g = ci / cin_g, cl = ci - g * cin_g;
    tap->j0 = IN_PLANE(s, n, ci);
    for (ptrdiff_t co = g * cout_g; co < (g + 1) * cout_g; co++) {
        const ptrdiff_t k0 = OUT_PLANE(s, n, co);
        for (ptrdiff_t ky = 0; ky < s->k_h; ky++)
            for (ptrdiff_t kx = 0; kx < s->k_w; kx++) {
                tap->wv = WEIGHT(s, w, co, cl, ky, kx);
                lrp_conv_tap(s, ky, kx, tap->j0, k0, visit, tap);
            }
    }
}

/* c = sum_k rho(w_jk) * ratio_k for `count` (at most CONV_BLOCK) input
 * channels of one group from ci0 on, input row by input row: the rows of c
 * stay in L1 and each ratio is loaded once for the block. Each c sums its
 * pairs in (output channel, ky, kx) order, as FN(conv_visit_input) does. */
static LRP_INLINE void FN(conv_transposed_rows)(int kind, const lrp_conv_shape *s, T gamma,
                                                const T *restrict w, const T *restrict ratio,
                                                ptrdiff_t n, ptrdiff_t ci0, ptrdiff_t count,
                                                T *restrict c)
{
    const ptrdiff_t cin_g = s->in_c / s->groups, cout_g = s->out_c / s->groups;
    const ptrdiff_t in_plane = s->in_h * s->in_w, out_w = s->out_w, sw = s->stride_w;
    const ptrdiff_t g = ci0 / cin_g, cl0 = ci0 - g * cin_g;
    for (ptrdiff_t p = 0; p < count * in_plane; p++)
        c[p] = 0;
    for (ptrdiff_t iy = 0; iy < s->in_h; iy++) {
        T *row[CONV_BLOCK];
        for (ptrdiff_t b = 0; b < CONV_BLOCK; b++)
            row[b] = c + (b < count ? b : 0) * in_plane + iy * s->in_w;
        for (ptrdiff_t co = g * cout_g; co < (g + 1) * cout_g; co++)
            for (ptrdiff_t ky = 0; ky < s->k_h; ky++) {
                const ptrdiff_t t = iy + s->pad_h - ky * s->dil_h;
                if (t < 0 || t % s->stride_h)
                    continue;
                const ptrdiff_t oy = t / s->stride_h;
                if (oy >= s->out_h)
                    continue;
                const T *restrict q = ratio + OUT_PLANE(s, n, co) + oy * out_w;
                for (ptrdiff_t kx = 0; kx < s->k_w; kx++) {
                    ptrdiff_t ox0, ox1;
                    lrp_conv_range(out_w, s->in_w, sw, s->pad_w, s->dil_w, kx, &ox0, &ox1);
                    const ptrdiff_t shift = kx * s->dil_w - s->pad_w;
                    T rw[CONV_BLOCK];
                    for (ptrdiff_t b = 0; b < CONV_BLOCK; b++)
                        rw[b] = b < count ? FN(rho)(kind, gamma, WEIGHT(s, w, co, cl0 + b, ky, kx))
                                          : (T)0;
                    if (count == CONV_BLOCK) {
                        T *restrict r0 = row[0], *restrict r1 = row[1];
                        T *restrict r2 = row[2], *restrict r3 = row[3];
                        for (ptrdiff_t ox = ox0; ox < ox1; ox++) {
                            const ptrdiff_t ix = ox * sw + shift;
                            const T qk = q[ox];
                            r0[ix] += rw[0] * qk;
                            r1[ix] += rw[1] * qk;
                            r2[ix] += rw[2] * qk;
                            r3[ix] += rw[3] * qk;
                        }
                    } else {
                        for (ptrdiff_t b = 0; b < count; b++)
                            for (ptrdiff_t ox = ox0; ox < ox1; ox++)
                                row[b][ox * sw + shift] += rw[b] * q[ox];
                    }
                }
            }
    }
}

/* z^B's three sums per input: c += w q, cpos += w+ q, cneg += w- q, with
 * q = R_k / z_k, indexed within the input plane. */
typedef struct {
    FN(conv_tap_state) tap;
    const T *ratio;
    T *c, *cpos, *cneg;
} FN(zbox_sums);

static LRP_INLINE void FN(zbox_sums_pair)(void *context, ptrdiff_t j, ptrdiff_t k)
{
    FN(zbox_sums) *z = context;
    const T wv = z->tap.wv, q = z->ratio[k];
    const ptrdiff_t p = j - z->tap.j0;
    z->c[p] += wv * q;
    z->cpos[p] += FN(positive)(wv) * q;
    z->cneg[p] += FN(negative)(wv) * q;
}

/* Real semiring: R_j = a_j * sum_k rho(w_jk) * (R_k / z_k), a transposed
 * convolution of the ratios; z^B needs the three weight parts. */
static LRP_INLINE lrp_status FN(conv_real_body)(int kind, const lrp_conv_shape *s, T gamma,
                                                const T *restrict a, const T *restrict w,
                                                const T *restrict low, const T *restrict high,
                                                const T *restrict z, const T *restrict r_out,
                                                T *restrict r_in)
{
    const ptrdiff_t in_plane = s->in_h * s->in_w;
    const ptrdiff_t out_total = s->n * s->out_c * s->out_h * s->out_w;
    size_t count;
    if (lrp_checked_count(out_total, in_plane, CONV_BLOCK, &count) != LRP_OK)
        return LRP_ERR_NOMEM;
    T *ratio = lrp_alloc_array(count, sizeof(T));
    if (!ratio)
        return LRP_ERR_NOMEM;
    T *c = ratio + out_total, *cpos = c + in_plane, *cneg = cpos + in_plane;
    FN(quotients_run)(r_out, z, out_total, 0, ratio);
    lrp_status status = LRP_OK;
    if (FN(conv_uses_product)(kind, s, 1)) {
        status = FN(conv_transposed_product)(kind, 0, s, gamma, a, w, ratio, NULL, r_in);
        goto done;
    }
    if (kind == LRP_RULE_ZBOX && FN(conv_zbox_stacks)(s, 1)) {
        status = FN(conv_zbox_transposed)(s, a, w, low, high, ratio, r_in);
        goto done;
    }
    if (kind != LRP_RULE_ZBOX) {
        const ptrdiff_t cin_g = s->in_c / s->groups;
        for (ptrdiff_t n = 0; n < s->n; n++)
            for (ptrdiff_t ci0 = 0; ci0 < s->in_c; ci0 += CONV_BLOCK) {
                if (lrp_interrupted(s->interrupt)) {
                    status = LRP_ERR_INTERRUPTED;
                    goto done;
                }
                /* a block never straddles two groups */
                const ptrdiff_t group_end = (ci0 / cin_g + 1) * cin_g;
                const ptrdiff_t count = group_end - ci0 < CONV_BLOCK ? group_end - ci0 : CONV_BLOCK;
                FN(conv_transposed_rows)(kind, s, gamma, w, ratio, n, ci0, count, c);
                const ptrdiff_t j0 = IN_PLANE(s, n, ci0);
                for (ptrdiff_t p = 0; p < count * in_plane; p++)
                    r_in[j0 + p] = a[j0 + p] * c[p];
                ci0 += count - CONV_BLOCK;
            }
        goto done;
    }
    /* z^B (a first layer, a few input channels): three weight parts, by plane */
    for (ptrdiff_t n = 0; n < s->n; n++)
        for (ptrdiff_t ci = 0; ci < s->in_c; ci++) {
            if (lrp_interrupted(s->interrupt)) {
                status = LRP_ERR_INTERRUPTED;
                goto done;
            }
            for (ptrdiff_t p = 0; p < in_plane; p++)
                c[p] = cpos[p] = cneg[p] = 0;
            FN(zbox_sums) sums = {.ratio = ratio, .c = c, .cpos = cpos, .cneg = cneg};
            FN(conv_visit_input)(s, w, n, ci, FN(zbox_sums_pair), &sums.tap);
            const ptrdiff_t j0 = IN_PLANE(s, n, ci);
            for (ptrdiff_t p = 0; p < in_plane; p++)
                r_in[j0 + p] = a[j0 + p] * c[p] - low[j0 + p] * cpos[p] - high[j0 + p] * cneg[p];
        }
done:
    free(ratio);
    return status;
}

/* The threshold semirings' denominators, made for loops GCC vectorises: it
 * will not if-convert a comparison of z inside the pair loop, so z == 0 is
 * settled once per output: d = n / safe_k * nonzero_k, with safe_k = z_k
 * (1 where z_k == 0) and nonzero_k = [z_k != 0]. For z_k != 0 this is n / z_k
 * bit for bit; for z_k == 0 it is 0, as semantics.md asks. */
typedef struct {
    T *safe, *nonzero;
} FN(conv_divisors);

static lrp_status FN(conv_divisors_make)(FN(conv_divisors) *dv, const T *z, ptrdiff_t count)
{
    size_t total;
    if (lrp_checked_count(0, count, 2, &total) != LRP_OK)
        return LRP_ERR_NOMEM;
    dv->safe = lrp_alloc_array(total, sizeof(T));
    if (!dv->safe)
        return LRP_ERR_NOMEM;
    dv->nonzero = dv->safe + count;
    for (ptrdiff_t k = 0; k < count; k++) {
        dv->safe[k] = z[k] != 0 ? z[k] : (T)1;
        dv->nonzero[k] = z[k] != 0;
    }
    return LRP_OK;
}

/* The pair visitors of the threshold semirings: each tests d_jk = n_jk / z_k
 * against theta (FN(pass_mask), FN(passes)) and adds R_k of a passing pair
 * to R_j's sum, indexed within the input plane (boolean, counting in double)
 * or at j (counting in int64). */
typedef struct {
    FN(conv_tap_state) tap;
    int kind, absolute;
    T gamma, theta;
    const T *a, *low, *high;
    const T *safe, *nonzero; /* FN(conv_divisors) */
    const T *z;
    const T *relevant;       /* boolean: [R_k != 0] */
    T *any;                  /* boolean: the plane's max of [R_k != 0] * pass */
    const double *counts;    /* counting in double: R_k */
    double *sums;            /* counting in double: the plane's sums */
    const int64_t *r_out;    /* counting in int64 */
    int64_t *r_in;
    int overflow;            /* counting in int64: a sum left int64 */
} FN(threshold_pairs);

/* n_jk / z_k, or 0 where z_k = 0 */
static LRP_INLINE T FN(threshold_quotient)(const FN(threshold_pairs) *t, ptrdiff_t j, ptrdiff_t k)
{
    const int kind = t->kind;
    return FN(numerator)(kind, t->gamma, t->a[j], LRP_BOUND(kind, t->low, j),
                         LRP_BOUND(kind, t->high, j), t->tap.wv) / t->safe[k] * t->nonzero[k];
}

static LRP_INLINE void FN(boolean_pair)(void *context, ptrdiff_t j, ptrdiff_t k)
{
    FN(threshold_pairs) *t = context;
    const T pass = FN(pass_mask)(FN(threshold_quotient)(t, j, k), t->theta, t->absolute);
    const T v = t->relevant[k] * pass;
    const ptrdiff_t p = j - t->tap.j0;
    t->any[p] = v > t->any[p] ? v : t->any[p];
}

static LRP_INLINE void FN(counting_pair)(void *context, ptrdiff_t j, ptrdiff_t k)
{
    FN(threshold_pairs) *t = context;
    const double pass = FN(pass_mask)(FN(threshold_quotient)(t, j, k), t->theta, t->absolute);
    t->sums[j - t->tap.j0] += t->counts[k] * pass;
}

static LRP_INLINE void FN(counting_pair_int64)(void *context, ptrdiff_t j, ptrdiff_t k)
{
    FN(threshold_pairs) *t = context;
    const int kind = t->kind;
    const T d = FN(coefficient)(FN(numerator)(kind, t->gamma, t->a[j], LRP_BOUND(kind, t->low, j),
                                              LRP_BOUND(kind, t->high, j), t->tap.wv),
                                t->z[k]);
    const int64_t add = t->r_out[k] & -(int64_t)FN(passes)(d, t->theta, t->absolute);
    t->overflow |= __builtin_add_overflow(t->r_in[j], add, &t->r_in[j]);
}

/* Boolean: R_j = OR_k [Theta(d_jk)] AND R_k. On {0, 1}, OR and AND are max
 * and a product, so the pass runs in T, one width throughout. */
static LRP_INLINE lrp_status FN(conv_boolean_body)(int kind, const lrp_conv_shape *s, T gamma,
                                                   T theta, int absolute,
                                                   const T *restrict a, const T *restrict w,
                                                   const T *restrict low, const T *restrict high,
                                                   const T *restrict z,
                                                   const uint8_t *restrict r_out,
                                                   uint8_t *restrict r_in)
{
    if (FN(conv_uses_thresholds)(s))
        return FN(conv_threshold_run)(kind, s, gamma, theta, absolute, a, w, low, high, z, r_out,
                                      NULL, r_in, NULL);
    const ptrdiff_t in_plane = s->in_h * s->in_w;
    const ptrdiff_t out_total = s->n * s->out_c * s->out_h * s->out_w;
    FN(conv_divisors) dv;
    if (FN(conv_divisors_make)(&dv, z, out_total) != LRP_OK)
        return LRP_ERR_NOMEM;
    size_t count;
    T *relevant = lrp_checked_count(out_total, in_plane, 1, &count) == LRP_OK
                      ? lrp_alloc_array(count, sizeof(T)) : NULL;
    if (!relevant) {
        free(dv.safe);
        return LRP_ERR_NOMEM;
    }
    T *acc = relevant + out_total;
    const T *restrict safe = dv.safe, *restrict nonzero = dv.nonzero;
    for (ptrdiff_t k = 0; k < out_total; k++)
        relevant[k] = r_out[k] != 0;
    lrp_status status = LRP_OK;
    for (ptrdiff_t n = 0; n < s->n; n++)
        for (ptrdiff_t ci = 0; ci < s->in_c; ci++) {
            if (lrp_interrupted(s->interrupt)) {
                status = LRP_ERR_INTERRUPTED;
                goto done;
            }
            for (ptrdiff_t p = 0; p < in_plane; p++)
                acc[p] = 0;
            FN(threshold_pairs) pairs = {.kind = kind, .absolute = absolute, .gamma = gamma,
                                         .theta = theta, .a = a, .low = low, .high = high,
                                         .safe = safe, .nonzero = nonzero, .relevant = relevant,
                                         .any = acc};
            FN(conv_visit_input)(s, w, n, ci, FN(boolean_pair), &pairs.tap);
            uint8_t *ri = r_in + IN_PLANE(s, n, ci);
            for (ptrdiff_t p = 0; p < in_plane; p++)
                ri[p] = acc[p] != 0;
        }
done:
    free(relevant);
    free(dv.safe);
    return status;
}

/* Counting: R_j = sum_k [Theta(d_jk)] * R_k in exact integers. No R_j of a
 * sample exceeds the sample's sum_k R_k. While that total is at most 2^53,
 * every partial sum is an integer a double holds exactly, and the loop runs
 * in double; past 2^53 it runs in int64 with every addition checked. */
static LRP_INLINE lrp_status FN(conv_counting_body)(int kind, const lrp_conv_shape *s, T gamma,
                                                    T theta, int absolute,
                                                    const T *restrict a, const T *restrict w,
                                                    const T *restrict low, const T *restrict high,
                                                    const T *restrict z,
                                                    const int64_t *restrict r_out,
                                                    int64_t *restrict r_in)
{
    const ptrdiff_t in_plane = s->in_h * s->in_w;
    const ptrdiff_t out_sample = s->out_c * s->out_h * s->out_w;
    const ptrdiff_t out_total = s->n * out_sample;
    if (FN(conv_uses_thresholds)(s)) {
        int exact_in_double;
        lrp_status status = lrp_counts_fit_double(r_out, s->n, out_sample, &exact_in_double);
        if (status != LRP_OK)
            return status;
        if (exact_in_double) {
            const ptrdiff_t in_total = s->n * s->in_c * in_plane;
            double *sums = lrp_alloc_array((size_t)in_total, sizeof(double));
            if (!sums)
                return LRP_ERR_NOMEM;
            lrp_status status = FN(conv_threshold_run)(kind, s, gamma, theta, absolute, a, w, low,
                                                       high, z, NULL, r_out, NULL, sums);
            for (ptrdiff_t j = 0; j < in_total && status == LRP_OK; j++)
                r_in[j] = (int64_t)sums[j];
            free(sums);
            return status;
        }
    }
    FN(conv_divisors) dv;
    if (FN(conv_divisors_make)(&dv, z, out_total) != LRP_OK)
        return LRP_ERR_NOMEM;
    size_t count;
    double *counts = lrp_checked_count(out_total, in_plane, 1, &count) == LRP_OK
                         ? lrp_alloc_array(count, sizeof(double)) : NULL;
    if (!counts) {
        free(dv.safe);
        return LRP_ERR_NOMEM;
    }
    double *acc = counts + out_total;
    const T *restrict safe = dv.safe, *restrict nonzero = dv.nonzero;
    lrp_status status = LRP_OK;
    for (ptrdiff_t n = 0; n < s->n && status == LRP_OK; n++) {
        int exact_in_double;
        status = lrp_counts_fit_double(r_out + n * out_sample, 1, out_sample, &exact_in_double);
        if (status != LRP_OK)
            break;
        for (ptrdiff_t k = n * out_sample; k < (n + 1) * out_sample; k++)
            counts[k] = (double)r_out[k];
        for (ptrdiff_t ci = 0; ci < s->in_c && status == LRP_OK; ci++) {
            if (lrp_interrupted(s->interrupt)) {
                status = LRP_ERR_INTERRUPTED;
                break;
            }
            int64_t *ri = r_in + IN_PLANE(s, n, ci);
            if (exact_in_double) {
                for (ptrdiff_t p = 0; p < in_plane; p++)
                    acc[p] = 0;
                FN(threshold_pairs) pairs = {.kind = kind, .absolute = absolute, .gamma = gamma,
                                             .theta = theta, .a = a, .low = low, .high = high,
                                             .safe = safe, .nonzero = nonzero, .counts = counts,
                                             .sums = acc};
                FN(conv_visit_input)(s, w, n, ci, FN(counting_pair), &pairs.tap);
                for (ptrdiff_t p = 0; p < in_plane; p++)
                    ri[p] = (int64_t)acc[p];
                continue;
            }
            for (ptrdiff_t p = 0; p < in_plane; p++)
                ri[p] = 0;
            FN(threshold_pairs) pairs = {.kind = kind, .absolute = absolute, .gamma = gamma,
                                         .theta = theta, .a = a, .low = low, .high = high,
                                         .z = z, .r_out = r_out, .r_in = r_in, .overflow = 0};
            FN(conv_visit_input)(s, w, n, ci, FN(counting_pair_int64), &pairs.tap);
            if (pairs.overflow)
                status = LRP_ERR_OVERFLOW;
        }
    }
    free(counts);
    free(dv.safe);
    return status;
}

/* Viterbi's pair visitor: R_j = max(R_j, |n_jk| / (m_k + 1e-9) * R_k). */
typedef struct {
    FN(conv_tap_state) tap;
    int kind;
    T gamma;
    const T *a, *low, *high, *m, *r_out;
    T *r_in;
} FN(viterbi_pairs);

static LRP_INLINE void FN(viterbi_pair)(void *context, ptrdiff_t j, ptrdiff_t k)
{
    FN(viterbi_pairs) *t = context;
    const int kind = t->kind;
    const T v = FN(absolute)(FN(numerator)(kind, t->gamma, t->a[j], LRP_BOUND(kind, t->low, j),
                                           LRP_BOUND(kind, t->high, j), t->tap.wv))
                / (t->m[k] + (T)LRP_VITERBI_EPS) * t->r_out[k];
    t->r_in[j] = v > t->r_in[j] ? v : t->r_in[j];
}

/* Viterbi pair by pair (layers the products do not take), one item per
 * (sample, input channel): each item writes its own input plane. */
typedef struct {
    int kind;
    const lrp_conv_shape *s;
    T gamma;
    const T *a, *w, *low, *high, *m, *r_out;
    T *r_in;
} FN(conv_viterbi);

static LRP_INLINE void FN(conv_viterbi_plane)(const FN(conv_viterbi) *job, ptrdiff_t item,
                                              int kind)
{
    const lrp_conv_shape *s = job->s;
    const T gamma = job->gamma;
    const T *restrict a = job->a, *restrict w = job->w, *restrict low = job->low;
    const T *restrict high = job->high, *restrict m = job->m, *restrict r_out = job->r_out;
    T *restrict r_in = job->r_in;
    const ptrdiff_t n = item / s->in_c, ci = item % s->in_c, in_plane = s->in_h * s->in_w;
    T *ri = r_in + IN_PLANE(s, n, ci);
    for (ptrdiff_t p = 0; p < in_plane; p++)
        ri[p] = 0;
    FN(viterbi_pairs) pairs = {.kind = kind, .gamma = gamma, .a = a, .low = low, .high = high,
                               .m = m, .r_out = r_out, .r_in = r_in};
    FN(conv_visit_input)(s, w, n, ci, FN(viterbi_pair), &pairs.tap);
}

static LRP_INLINE lrp_status FN(conv_viterbi_planes)(void *context, ptrdiff_t begin,
                                                     ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(conv_viterbi) *job = context;
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        switch (job->kind) {
        case LRP_RULE_GAMMA:
            FN(conv_viterbi_plane)(job, item, LRP_RULE_GAMMA);
            break;
        case LRP_RULE_ZBOX:
            FN(conv_viterbi_plane)(job, item, LRP_RULE_ZBOX);
            break;
        default:
            FN(conv_viterbi_plane)(job, item, LRP_RULE_ZERO);
            break;
        }
    }
    return LRP_OK;
}

LRP_ISA_PLAIN_TASKS(conv_viterbi_task, FN(conv_viterbi_planes))

/* Viterbi: R_j = max_k |n_jk| / (m_k + 1e-9) * R_k; as a product,
 * |a_j| * max_k |rho(w_jk)| * (R_k / (m_k + 1e-9)), equal up to rounding. */
static LRP_INLINE lrp_status FN(conv_viterbi_body)(int kind, const lrp_conv_shape *s, T gamma,
                                                   const T *restrict a, const T *restrict w,
                                                   const T *restrict low, const T *restrict high,
                                                   const T *restrict m, const T *restrict r_out,
                                                   T *restrict r_in)
{
    const ptrdiff_t in_plane = s->in_h * s->in_w;
    if (FN(conv_uses_product)(kind, s, 1)) {
        const ptrdiff_t out_sample = s->out_c * s->out_h * s->out_w;
        const ptrdiff_t out_total = s->n * out_sample;
        T *q = lrp_alloc_array((size_t)out_total + (size_t)s->n, sizeof(T));
        if (!q)
            return LRP_ERR_NOMEM;
        FN(quotients_run)(r_out, m, out_total, 1, q);
        T *cap = q + out_total;
        FN(row_maxima)(r_out, s->n, out_sample, cap);
        lrp_status status = FN(conv_transposed_product)(kind, 1, s, gamma, a, w, q, cap, r_in);
        free(q);
        if (status != LRP_OK || FN(all_finite)(r_in, s->n * s->in_c * in_plane))
            return status;
    }
    FN(conv_viterbi) job = {kind, s, gamma, a, w, low, high, m, r_out, r_in};
    const double pairs = (double)s->n * s->out_c * s->out_h * s->out_w * (s->in_c / s->groups) *
                         s->k_h * s->k_w;
    return lrp_parallel_for_upto(s->n * s->in_c, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                 LRP_ISA_TASK(conv_viterbi_task), &job, s->interrupt);
}

#define CONV_RELEVANCE(NAME, BODY, R_TYPE, THRESHOLD_PARAM, THRESHOLD_SETUP)                  \
    lrp_status FN(NAME)(const lrp_conv_shape *s, const lrp_rule *rule THRESHOLD_PARAM,       \
                        const T *a, const T *w, const T *low, const T *high, const T *z,     \
                        const R_TYPE *r_out, R_TYPE *r_in)                                    \
    {                                                                                          \
        lrp_status status = lrp_conv_check(s);                                                 \
        if (status != LRP_OK)                                                                  \
            return status;                                                                     \
        if (rule->kind == LRP_RULE_ZBOX && (!low || !high))                                    \
            return LRP_ERR_ARG;                                                                \
        T gamma = (T)rule->gamma;                                                              \
        (void)gamma;                                                                           \
        THRESHOLD_SETUP                                                                        \
        switch (rule->kind) {                                                                  \
        case LRP_RULE_GAMMA:                                                                   \
            return BODY(LRP_RULE_GAMMA);                                                       \
        case LRP_RULE_ZBOX:                                                                    \
            return BODY(LRP_RULE_ZBOX);                                                        \
        default:                                                                               \
            return BODY(LRP_RULE_ZERO);                                                        \
        }                                                                                      \
    }

#define NO_THRESHOLD
#define NO_SETUP
#define WITH_THRESHOLD , const lrp_threshold *t
#define THRESHOLD_VALUES T theta = (T)t->theta; int absolute = t->absolute;

#define REAL_BODY(KIND) FN(conv_real_body)(KIND, s, gamma, a, w, low, high, z, r_out, r_in)
/* absolute is made a constant too, so each comparison compiles to one instruction */
#define BOOLEAN_BODY(KIND)                                                                        \
    (absolute ? FN(conv_boolean_body)(KIND, s, gamma, theta, 1, a, w, low, high, z, r_out, r_in) \
              : FN(conv_boolean_body)(KIND, s, gamma, theta, 0, a, w, low, high, z, r_out, r_in))
#define COUNTING_BODY(KIND)                                                                       \
    (absolute ? FN(conv_counting_body)(KIND, s, gamma, theta, 1, a, w, low, high, z, r_out, r_in) \
              : FN(conv_counting_body)(KIND, s, gamma, theta, 0, a, w, low, high, z, r_out, r_in))
#define VITERBI_BODY(KIND) FN(conv_viterbi_body)(KIND, s, gamma, a, w, low, high, z, r_out, r_in)

CONV_RELEVANCE(lrp_conv_relevance_real, REAL_BODY, T, NO_THRESHOLD, NO_SETUP)
CONV_RELEVANCE(lrp_conv_relevance_boolean, BOOLEAN_BODY, uint8_t, WITH_THRESHOLD, THRESHOLD_VALUES)
CONV_RELEVANCE(lrp_conv_relevance_counting, COUNTING_BODY, int64_t, WITH_THRESHOLD,
               THRESHOLD_VALUES)
CONV_RELEVANCE(lrp_conv_relevance_viterbi, VITERBI_BODY, T, NO_THRESHOLD, NO_SETUP)

#undef CONV_RELEVANCE
#undef NO_THRESHOLD
#undef NO_SETUP
#undef WITH_THRESHOLD
#undef THRESHOLD_VALUES
#undef REAL_BODY
#undef BOOLEAN_BODY
#undef COUNTING_BODY
#undef VITERBI_BODY
#undef IN_PLANE
#undef OUT_PLANE
#undef WEIGHT
#undef CONV_BLOCK
#undef CONV_ACCUMULATE
#undef CONV_SUM
#undef CONV_ABSMAX

#endif /* LRP_INSTANCE_CONV_KERNELS */
