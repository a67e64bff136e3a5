/* Conv2d layers' passes, written once against T and FN() (see
 * kernel/instantiate.h). Each public pass, at the end of this file, is a
 * dispatch function: it checks its arguments, takes the first of its tiers
 * whose condition holds, and notes the tier's name ("conv.<pass>.<tier>",
 * lrp_trace_tier) before running it. The tiers:
 *   winograd_fused, winograd  Winograd's F(4x4, 3x3) (float32) or F(2x2, 3x3)
 *                             (float64) for 3x3 layers, in its one-pass or
 *                             its wide form (conv_winograd.h)
 *   packed_product            rho(W) times the im2col of the input
 *                             (conv_im2col.h)
 *   zbox_winograd_fused, zbox_winograd, zbox_packed_product
 *                             z^B as a plain product of the stacked layer
 *                             (conv_products.h), in one of the forms above
 *   intervals                 boolean and counting by each output's passing
 *                             interval (conv_thresholds.h)
 *   direct                    the pairs tap by tap (this file)
 *
 * Activations are NCHW, weights (out_c, in_c / groups, k_h, k_w) as in
 * PyTorch. The direct tier walks the (input j, output k) pairs tap by tap:
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

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lrp.h"
#include "conv/conv_geometry.h"
#include "conv/conv_products.h"
#include "conv/conv_thresholds.h"
#include "kernel/compiler.h"
#include "kernel/counts.h"
#include "kernel/tuning.h"
#include "products/products.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/trace.h"

/* Channels per block of the direct tier's row loops (forward and absmax:
 * output channels; real: input channels), one row of each at a time. */
#define CONV_BLOCK 4

/* The operands of one call of a pass, as the direct tier reads them. */
typedef struct {
    const lrp_conv_shape *s;
    int kind;     /* the rule's */
    int max;      /* forward (0: z = sum) or absmax (1: m = max of |.|) */
    T gamma;
    T theta;      /* boolean, counting: the threshold */
    int absolute; /* boolean, counting: compare |d| */
    const T *a, *w, *b, *low, *high;
    const T *z;     /* the denominators: z; Viterbi: m */
    const T *ratio; /* real: R_k / z_k */
    union {
        const T *values;        /* real, Viterbi */
        const uint8_t *flags;   /* boolean */
        const int64_t *counts;  /* counting */
    } r_out;
    union {
        T *values;
        uint8_t *flags;
        int64_t *counts;
    } r_in;
    T *out; /* forward: z; absmax: m */
} FN(conv_pass);

/* A work item of a pass that runs over the threads. */
typedef struct {
    const FN(conv_pass) *pass;
    ptrdiff_t item;
} FN(conv_item);

/* A body of the direct tier: an always-inline function of its context (a
 * pass or a work item) and the rule kind. */
typedef lrp_status (*FN(conv_rule_body))(const void *context, int kind);

/* body(context, kind) with kind a constant, so that each rule's pair loops
 * compile with its numerator fixed: LRP_RULE_GAMMA, LRP_RULE_ZBOX, or
 * LRP_RULE_ZERO for LRP-0 and LRP-eps, which share one numerator (they
 * differ only in the stabilised z the caller passes). */
static LRP_INLINE lrp_status FN(conv_for_rule)(int kind, FN(conv_rule_body) body,
                                               const void *context)
{
    switch (kind) {
    case LRP_RULE_GAMMA:
        return body(context, LRP_RULE_GAMMA);
    case LRP_RULE_ZBOX:
        return body(context, LRP_RULE_ZBOX);
    default:
        return body(context, LRP_RULE_ZERO);
    }
}

/* Items [begin, end) of a pass that runs over the threads, each by
 * body(item, kind) with the pass's rule kind a constant; stops between
 * items when the team is stopped. */
static LRP_INLINE lrp_status FN(conv_items)(const FN(conv_pass) *pass, ptrdiff_t begin,
                                            ptrdiff_t end, int worker, lrp_team *team,
                                            FN(conv_rule_body) body)
{
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const FN(conv_item) at = {pass, item};
        FN(conv_for_rule)(pass->kind, body, &at);
    }
    return LRP_OK;
}

/* w_jk of output channel co, input channel cl of its group, tap (ky, kx) */
static LRP_INLINE T FN(conv_weight)(const lrp_conv_shape *s, const T *w, ptrdiff_t co,
                                    ptrdiff_t cl, ptrdiff_t ky, ptrdiff_t kx)
{
    return w[((co * (s->in_c / s->groups) + cl) * s->k_h + ky) * s->k_w + kx];
}

/* The direct forward (z = sum of n_jk plus beta) and absmax (m = max of
 * |n_jk| and |beta|) work one output row at a time for CONV_BLOCK output
 * channels of a group: the rows stay in L1 while every input row of every
 * tap streams past, and each input value is loaded once for the block. Each
 * z sums its taps in (input channel, ky, kx) order. */

/* z + n (max 0), or max(m, |n|) (max 1) */
static LRP_INLINE T FN(conv_accumulate)(int max, T acc, T n)
{
    if (!max)
        return acc + n;
    const T magnitude = FN(absolute)(n);
    return magnitude > acc ? magnitude : acc;
}

/* One item: sample and block of CONV_BLOCK output channels of one group.
 * unit: stride_w is 1, a constant for the compiler, so rows are contiguous */
static LRP_INLINE void FN(conv_rows_item)(const FN(conv_pass) *pass, ptrdiff_t item, int kind,
                                          int max, int unit)
{
    const lrp_conv_shape *s = pass->s;
    const T gamma = pass->gamma;
    const T *restrict a = pass->a, *restrict w = pass->w, *restrict b = pass->b;
    const T *restrict low = pass->low, *restrict high = pass->high;
    T *restrict out = pass->out;
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
            row[c] = out + lrp_conv_out_plane(s, n, co0 + (c < count ? c : 0)) + oy * out_w;
        }
        for (ptrdiff_t c = 0; c < count; c++)
            for (ptrdiff_t ox = 0; ox < out_w; ox++)
                row[c][ox] = 0;
        for (ptrdiff_t cl = 0; cl < cin_g; cl++)
            for (ptrdiff_t ky = 0; ky < s->k_h; ky++) {
                const ptrdiff_t iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
                if (iy < 0 || iy >= s->in_h)
                    continue;
                const ptrdiff_t jrow = lrp_conv_in_plane(s, n, g * cin_g + cl) + iy * s->in_w;
                for (ptrdiff_t kx = 0; kx < s->k_w; kx++) {
                    ptrdiff_t ox0, ox1;
                    lrp_conv_range(out_w, s->in_w, sw, s->pad_w, s->dil_w, kx, &ox0, &ox1);
                    const ptrdiff_t shift = jrow + kx * s->dil_w - s->pad_w;
                    T wv[CONV_BLOCK];
                    for (ptrdiff_t c = 0; c < CONV_BLOCK; c++)
                        wv[c] = c < count ? FN(conv_weight)(s, w, co0 + c, cl, ky, kx) : (T)0;
                    if (count == CONV_BLOCK) {
                        T *restrict r0 = row[0], *restrict r1 = row[1];
                        T *restrict r2 = row[2], *restrict r3 = row[3];
                        LRP_NO_ALIAS
                        for (ptrdiff_t ox = ox0; ox < ox1; ox++) {
                            const ptrdiff_t j = shift + ox * sw;
                            const T x = a[j];
                            const T lo = LRP_BOUND(kind, low, j);
                            const T hi = LRP_BOUND(kind, high, j);
                            r0[ox] = FN(conv_accumulate)(max, r0[ox], FN(numerator)(kind, gamma, x, lo, hi, wv[0]));
                            r1[ox] = FN(conv_accumulate)(max, r1[ox], FN(numerator)(kind, gamma, x, lo, hi, wv[1]));
                            r2[ox] = FN(conv_accumulate)(max, r2[ox], FN(numerator)(kind, gamma, x, lo, hi, wv[2]));
                            r3[ox] = FN(conv_accumulate)(max, r3[ox], FN(numerator)(kind, gamma, x, lo, hi, wv[3]));
                        }
                    } else {
                        for (ptrdiff_t c = 0; c < count; c++)
                            for (ptrdiff_t ox = ox0; ox < ox1; ox++) {
                                const ptrdiff_t j = shift + ox * sw;
                                row[c][ox] = FN(conv_accumulate)(
                                    max, row[c][ox],
                                    FN(numerator)(kind, gamma, a[j], LRP_BOUND(kind, low, j),
                                                  LRP_BOUND(kind, high, j), wv[c]));
                            }
                    }
                }
            }
        for (ptrdiff_t c = 0; c < count; c++) {
            const T beta = FN(bias_term)(kind, gamma, b[co0 + c]);
            for (ptrdiff_t ox = 0; ox < out_w; ox++)
                row[c][ox] = FN(conv_accumulate)(max, row[c][ox], beta);
        }
    }
}

/* FN(conv_rows_item) with max and unit as constants */
static LRP_INLINE lrp_status FN(conv_rows_item_of)(const void *context, int kind)
{
    const FN(conv_item) *at = context;
    const FN(conv_pass) *pass = at->pass;
    const int unit = pass->s->stride_w == 1;
    if (!pass->max) {
        if (unit)
            FN(conv_rows_item)(pass, at->item, kind, 0, 1);
        else
            FN(conv_rows_item)(pass, at->item, kind, 0, 0);
    } else {
        if (unit)
            FN(conv_rows_item)(pass, at->item, kind, 1, 1);
        else
            FN(conv_rows_item)(pass, at->item, kind, 1, 0);
    }
    return LRP_OK;
}

/* compiled per instruction set (LRP_ISA_PLAIN_TASKS): the row loops are
 * plain vector code, and the same IEEE operations on every set */
static LRP_INLINE lrp_status FN(conv_rows_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                                 int worker, lrp_team *team)
{
    return FN(conv_items)(context, begin, end, worker, team, FN(conv_rows_item_of));
}

LRP_ISA_PLAIN_TASKS(conv_rows_task, FN(conv_rows_items))

/* The direct forward or absmax over the threads. */
static lrp_status FN(conv_rows_run)(FN(conv_pass) *pass)
{
    const lrp_conv_shape *s = pass->s;
    const ptrdiff_t cout_g = s->out_c / s->groups;
    const ptrdiff_t items = s->n * s->groups * ((cout_g + CONV_BLOCK - 1) / CONV_BLOCK);
    const double pairs = (double)s->n * s->out_c * s->out_h * s->out_w * (s->in_c / s->groups) *
                         s->k_h * s->k_w;
    return lrp_parallel_for_upto(items, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                 LRP_ISA_TASK(conv_rows_task), pass, s->interrupt);
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
    tap->j0 = lrp_conv_in_plane(s, n, ci);
    for (ptrdiff_t co = g * cout_g; co < (g + 1) * cout_g; co++) {
        const ptrdiff_t k0 = lrp_conv_out_plane(s, n, co);
        for (ptrdiff_t ky = 0; ky < s->k_h; ky++)
            for (ptrdiff_t kx = 0; kx < s->k_w; kx++) {
                tap->wv = FN(conv_weight)(s, w, co, cl, ky, kx);
                lrp_conv_tap(s, ky, kx, tap->j0, k0, visit, tap);
            }
    }
}

/* c = sum_k rho(w_jk) * ratio_k for `count` (at most CONV_BLOCK) input
 * channels of one group from ci0 on, input row by input row: the rows of c
 * stay in L1 and each ratio is loaded once for the block. Each c sums its
 * pairs in (output channel, ky, kx) order, as FN(conv_visit_input) does.
 * UNIT (a constant): the stride along rows is 1, so a row's loop is one of
 * consecutive values the compiler makes vectors of. */
static LRP_INLINE void FN(conv_transposed_rows)(int kind, const lrp_conv_shape *s, T gamma,
                                                const T *restrict w, const T *restrict ratio,
                                                ptrdiff_t n, ptrdiff_t ci0, ptrdiff_t count,
                                                T *restrict c, const int UNIT)
{
    const ptrdiff_t cin_g = s->in_c / s->groups, cout_g = s->out_c / s->groups;
    const ptrdiff_t in_plane = s->in_h * s->in_w, out_w = s->out_w;
    const ptrdiff_t sw = UNIT ? 1 : s->stride_w;
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
                const T *restrict q = ratio + lrp_conv_out_plane(s, n, co) + oy * out_w;
                for (ptrdiff_t kx = 0; kx < s->k_w; kx++) {
                    ptrdiff_t ox0, ox1;
                    lrp_conv_range(out_w, s->in_w, sw, s->pad_w, s->dil_w, kx, &ox0, &ox1);
                    const ptrdiff_t shift = kx * s->dil_w - s->pad_w;
                    T rw[CONV_BLOCK];
                    for (ptrdiff_t b = 0; b < CONV_BLOCK; b++)
                        rw[b] = b < count
                                    ? FN(rho)(kind, gamma, FN(conv_weight)(s, w, co, cl0 + b, ky, kx))
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

/* One item of the real pass's direct tier: a sample and a block of
 * CONV_BLOCK input channels of one group (a block never straddles two),
 * with the block's sums c in its own scratch. */
typedef struct {
    const FN(conv_pass) *pass;
    ptrdiff_t item;
    T *c;
} FN(conv_real_block);

/* R_j = a_j * c_j over the item's input planes, c_j = sum_k rho(w_jk) *
 * ratio_k by FN(conv_transposed_rows). */
static LRP_INLINE lrp_status FN(conv_real_block_of)(const void *context, int kind)
{
    const FN(conv_real_block) *at = context;
    const FN(conv_pass) *pass = at->pass;
    const lrp_conv_shape *s = pass->s;
    const ptrdiff_t cin_g = s->in_c / s->groups, in_plane = s->in_h * s->in_w;
    const ptrdiff_t blocks = (cin_g + CONV_BLOCK - 1) / CONV_BLOCK;
    const ptrdiff_t n = at->item / (s->groups * blocks), rest = at->item % (s->groups * blocks);
    const ptrdiff_t g = rest / blocks, ci0 = g * cin_g + rest % blocks * CONV_BLOCK;
    const ptrdiff_t count = (g + 1) * cin_g - ci0 < CONV_BLOCK ? (g + 1) * cin_g - ci0
                                                               : CONV_BLOCK;
    if (s->stride_w == 1)
        FN(conv_transposed_rows)(kind, s, pass->gamma, pass->w, pass->ratio, n, ci0, count,
                                 at->c, 1);
    else
        FN(conv_transposed_rows)(kind, s, pass->gamma, pass->w, pass->ratio, n, ci0, count,
                                 at->c, 0);
    const ptrdiff_t j0 = lrp_conv_in_plane(s, n, ci0);
    const T *restrict a = pass->a + j0, *restrict c = at->c;
    T *restrict r_in = pass->r_in.values + j0;
    for (ptrdiff_t p = 0; p < count * in_plane; p++)
        r_in[p] = a[p] * c[p];
    return LRP_OK;
}

/* compiled per instruction set (LRP_ISA_PLAIN_TASKS): plain vector code,
 * the same IEEE operations on every set; one block's sums of scratch per
 * piece of items */
static LRP_INLINE lrp_status FN(conv_real_block_items)(void *context, ptrdiff_t begin,
                                                       ptrdiff_t end, int worker, lrp_team *team)
{
    const FN(conv_pass) *pass = context;
    const lrp_conv_shape *s = pass->s;
    FN(conv_real_block) at = {pass, 0, NULL};
    at.c = lrp_scratch_alloc((size_t)CONV_BLOCK * (size_t)(s->in_h * s->in_w), sizeof(T));
    if (!at.c)
        return LRP_ERR_NOMEM;
    lrp_status status = LRP_OK;
    for (at.item = begin; at.item < end; at.item++) {
        if (lrp_team_stop(team, worker)) {
            status = LRP_ERR_INTERRUPTED;
            break;
        }
        FN(conv_for_rule)(pass->kind, FN(conv_real_block_of), &at);
    }
    lrp_scratch_free(at.c);
    return status;
}

LRP_ISA_PLAIN_TASKS(conv_real_block_task, FN(conv_real_block_items))

/* The real pass's direct tier: R_j = a_j * c_j with c_j = sum_k rho(w_jk) *
 * ratio_k, by blocks of CONV_BLOCK input planes over the threads; each
 * item writes its own planes, so the bits do not depend on the threads. */
static lrp_status FN(conv_real_blocks_run)(const FN(conv_pass) *pass)
{
    const lrp_conv_shape *s = pass->s;
    size_t cells;
    if (lrp_checked_count(0, s->in_h * s->in_w, CONV_BLOCK, &cells) != LRP_OK)
        return LRP_ERR_NOMEM;
    const ptrdiff_t cin_g = s->in_c / s->groups;
    const ptrdiff_t items = s->n * s->groups * ((cin_g + CONV_BLOCK - 1) / CONV_BLOCK);
    const double pairs = (double)s->n * s->out_c * s->out_h * s->out_w * cin_g * s->k_h *
                         s->k_w;
    return lrp_parallel_for_upto(items, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                 LRP_ISA_TASK(conv_real_block_task), (void *)pass, s->interrupt);
}

/* The real pass's direct tier under z^B: R_j = a_j c_j - l_j c+_j - h_j c-_j
 * with c, c+ and c- the sums of w_jk, w_jk^+ and w_jk^- times ratio_k, plane
 * by plane. */
static lrp_status FN(conv_zbox_real_planes)(const lrp_conv_shape *s, const T *restrict a,
                                            const T *restrict w, const T *restrict low,
                                            const T *restrict high, const T *ratio,
                                            T *restrict r_in)
{
    const ptrdiff_t in_plane = s->in_h * s->in_w;
    size_t cells;
    if (lrp_checked_count(0, in_plane, 3, &cells) != LRP_OK)
        return LRP_ERR_NOMEM;
    T *c = lrp_alloc_array(cells, sizeof(T));
    if (!c)
        return LRP_ERR_NOMEM;
    T *cpos = c + in_plane, *cneg = cpos + in_plane;
    lrp_status status = LRP_OK;
    for (ptrdiff_t n = 0; n < s->n && status == LRP_OK; n++)
        for (ptrdiff_t ci = 0; ci < s->in_c; ci++) {
            if (lrp_interrupted(s->interrupt)) {
                status = LRP_ERR_INTERRUPTED;
                break;
            }
            for (ptrdiff_t p = 0; p < in_plane; p++)
                c[p] = cpos[p] = cneg[p] = 0;
            FN(zbox_sums) sums = {.ratio = ratio, .c = c, .cpos = cpos, .cneg = cneg};
            FN(conv_visit_input)(s, w, n, ci, FN(zbox_sums_pair), &sums.tap);
            const ptrdiff_t j0 = lrp_conv_in_plane(s, n, ci);
            for (ptrdiff_t p = 0; p < in_plane; p++)
                r_in[j0 + p] = a[j0 + p] * c[p] - low[j0 + p] * cpos[p] - high[j0 + p] * cneg[p];
        }
    free(c);
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
static LRP_INLINE lrp_status FN(conv_boolean_planes)(int kind, const lrp_conv_shape *s, T gamma,
                                                     T theta, int absolute,
                                                     const T *restrict a, const T *restrict w,
                                                     const T *restrict low,
                                                     const T *restrict high,
                                                     const T *restrict z,
                                                     const uint8_t *restrict r_out,
                                                     uint8_t *restrict r_in)
{
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
            uint8_t *ri = r_in + lrp_conv_in_plane(s, n, ci);
            for (ptrdiff_t p = 0; p < in_plane; p++)
                ri[p] = acc[p] != 0;
        }
done:
    free(relevant);
    free(dv.safe);
    return status;
}

/* absolute is made a constant too, so each comparison compiles to one
 * instruction */
static LRP_INLINE lrp_status FN(conv_boolean_direct)(const void *context, int kind)
{
    const FN(conv_pass) *p = context;
    return p->absolute ? FN(conv_boolean_planes)(kind, p->s, p->gamma, p->theta, 1, p->a, p->w,
                                                 p->low, p->high, p->z, p->r_out.flags,
                                                 p->r_in.flags)
                       : FN(conv_boolean_planes)(kind, p->s, p->gamma, p->theta, 0, p->a, p->w,
                                                 p->low, p->high, p->z, p->r_out.flags,
                                                 p->r_in.flags);
}

/* Counting: R_j = sum_k [Theta(d_jk)] * R_k in exact integers. No R_j of a
 * sample exceeds the sample's sum_k R_k. While that total is at most 2^53,
 * every partial sum is an integer a double holds exactly, and the loop runs
 * in double; past 2^53 it runs in int64 with every addition checked. */
static LRP_INLINE lrp_status FN(conv_counting_planes)(int kind, const lrp_conv_shape *s,
                                                      T gamma, T theta, int absolute,
                                                      const T *restrict a, const T *restrict w,
                                                      const T *restrict low,
                                                      const T *restrict high,
                                                      const T *restrict z,
                                                      const int64_t *restrict r_out,
                                                      int64_t *restrict r_in)
{
    const ptrdiff_t in_plane = s->in_h * s->in_w;
    const ptrdiff_t out_sample = s->out_c * s->out_h * s->out_w;
    const ptrdiff_t out_total = s->n * out_sample;
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
            int64_t *ri = r_in + lrp_conv_in_plane(s, n, ci);
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

static LRP_INLINE lrp_status FN(conv_counting_direct)(const void *context, int kind)
{
    const FN(conv_pass) *p = context;
    return p->absolute ? FN(conv_counting_planes)(kind, p->s, p->gamma, p->theta, 1, p->a, p->w,
                                                  p->low, p->high, p->z, p->r_out.counts,
                                                  p->r_in.counts)
                       : FN(conv_counting_planes)(kind, p->s, p->gamma, p->theta, 0, p->a, p->w,
                                                  p->low, p->high, p->z, p->r_out.counts,
                                                  p->r_in.counts);
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

/* Viterbi pair by pair, one item per (sample, input channel): each item
 * writes its own input plane. */
static LRP_INLINE void FN(conv_viterbi_plane)(const FN(conv_pass) *pass, ptrdiff_t item,
                                              int kind)
{
    const lrp_conv_shape *s = pass->s;
    const T gamma = pass->gamma;
    const T *restrict a = pass->a, *restrict w = pass->w, *restrict low = pass->low;
    const T *restrict high = pass->high, *restrict m = pass->z;
    const T *restrict r_out = pass->r_out.values;
    T *restrict r_in = pass->r_in.values;
    const ptrdiff_t n = item / s->in_c, ci = item % s->in_c, in_plane = s->in_h * s->in_w;
    T *ri = r_in + lrp_conv_in_plane(s, n, ci);
    for (ptrdiff_t p = 0; p < in_plane; p++)
        ri[p] = 0;
    FN(viterbi_pairs) pairs = {.kind = kind, .gamma = gamma, .a = a, .low = low, .high = high,
                               .m = m, .r_out = r_out, .r_in = r_in};
    FN(conv_visit_input)(s, w, n, ci, FN(viterbi_pair), &pairs.tap);
}

static LRP_INLINE lrp_status FN(conv_viterbi_plane_of)(const void *context, int kind)
{
    const FN(conv_item) *at = context;
    FN(conv_viterbi_plane)(at->pass, at->item, kind);
    return LRP_OK;
}

static LRP_INLINE lrp_status FN(conv_viterbi_planes)(void *context, ptrdiff_t begin,
                                                     ptrdiff_t end, int worker, lrp_team *team)
{
    return FN(conv_items)(context, begin, end, worker, team, FN(conv_viterbi_plane_of));
}

LRP_ISA_PLAIN_TASKS(conv_viterbi_task, FN(conv_viterbi_planes))

/* The direct Viterbi pass over the threads. */
static lrp_status FN(conv_viterbi_run)(FN(conv_pass) *pass)
{
    const lrp_conv_shape *s = pass->s;
    const double pairs = (double)s->n * s->out_c * s->out_h * s->out_w * (s->in_c / s->groups) *
                         s->k_h * s->k_w;
    return lrp_parallel_for_upto(s->n * s->in_c, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                 LRP_ISA_TASK(conv_viterbi_task), pass, s->interrupt);
}

/* LRP_ERR_ARG for a shape lrp_conv_check rejects, or z^B without its
 * bounds. */
static lrp_status FN(conv_arguments)(const lrp_conv_shape *s, const lrp_rule *rule, const T *low,
                                     const T *high)
{
    lrp_status status = lrp_conv_check(s);
    if (status != LRP_OK)
        return status;
    if (rule->kind == LRP_RULE_ZBOX && (!low || !high))
        return LRP_ERR_ARG;
    return LRP_OK;
}

/* Forward: z = sum_j n_jk + beta_k. The first tier whose condition holds:
 *   winograd_fused, winograd, packed_product
 *       not z^B, 4 output channels per group at least (lrp_conv_uses_product):
 *       a sum product, Winograd's where it pays (FN(conv_sum_form_of))
 *   zbox_winograd_fused, zbox_winograd, zbox_packed_product
 *       z^B, one group, 4 output channels at least (FN(conv_zbox_stacks)):
 *       the same for the stacked layer
 *   direct
 *       the rest: rows of CONV_BLOCK output channels, tap by tap */
lrp_status FN(lrp_conv_forward)(const lrp_conv_shape *s, const lrp_rule *rule, const T *a,
                                const T *w, const T *b, const T *low, const T *high, T *z)
{
    lrp_status status = FN(conv_arguments)(s, rule, low, high);
    if (status != LRP_OK)
        return status;
    const int kind = rule->kind;
    const T gamma = (T)rule->gamma;
    if (lrp_conv_uses_product(kind, s, 0)) {
        const FN(conv_sum_form) form = FN(conv_sum_form_of)(s);
        lrp_trace_tier(FN(conv_sum_tier)(&form, "conv.forward.packed_product",
                                         "conv.forward.winograd", "conv.forward.winograd_fused"));
        return FN(conv_sum_product)(&form, kind, 0, s, gamma, a, w, b, z);
    }
    if (kind == LRP_RULE_ZBOX && FN(conv_zbox_stacks)(s, 0)) {
        const lrp_conv_shape stacked = FN(conv_stacked_shape)(s, 3);
        const FN(conv_sum_form) form = FN(conv_sum_form_of)(&stacked);
        lrp_trace_tier(FN(conv_sum_tier)(&form, "conv.forward.zbox_packed_product",
                                         "conv.forward.zbox_winograd",
                                         "conv.forward.zbox_winograd_fused"));
        return FN(conv_zbox_forward)(&form, s, a, w, low, high, z);
    }
    lrp_trace_tier("conv.forward.direct");
    FN(conv_pass) pass = {.s = s, .kind = kind, .max = 0, .gamma = gamma, .a = a, .w = w,
                          .b = b, .low = low, .high = high, .out = z};
    return FN(conv_rows_run)(&pass);
}

/* Absmax: m = max(|beta_k|, max_j |n_jk|). The first tier whose condition
 * holds:
 *   sparse_inputs   as packed_product, float32 on AVX-512, unit stride, one
 *                   group, 32 output channels at least (FN(sparse_max_applies)):
 *                   the max product over the nonzero inputs only
 *   packed_product  not z^B, 4 output channels per group at least
 *                   (lrp_conv_uses_product): a max product
 *   zbox_sparse_inputs, zbox_packed_product
 *                   z^B, one group, every input inside its box: a max product
 *                   of the layer stacked twice (FN(conv_zbox_max_stacks)),
 *                   over the nonzero inputs where that tier applies
 *   direct          the rest: rows of CONV_BLOCK output channels, tap by tap */
lrp_status FN(lrp_conv_absmax)(const lrp_conv_shape *s, const lrp_rule *rule, const T *a,
                               const T *w, const T *b, const T *low, const T *high, T *m)
{
    lrp_status status = FN(conv_arguments)(s, rule, low, high);
    if (status != LRP_OK)
        return status;
    const int kind = rule->kind;
    const T gamma = (T)rule->gamma;
    if (lrp_conv_uses_product(kind, s, 0)) {
        const FN(conv_sum_form) im2col = {0, 0}; /* Winograd's products only sum */
        lrp_trace_tier(FN(sparse_max_applies)(s) ? "conv.absmax.sparse_inputs"
                                                 : "conv.absmax.packed_product");
        return FN(conv_sum_product)(&im2col, kind, 1, s, gamma, a, w, b, m);
    }
    if (kind == LRP_RULE_ZBOX && FN(conv_zbox_max_stacks)(s, 0, a, low, high)) {
        const lrp_conv_shape stacked = FN(conv_stacked_shape)(s, 2);
        lrp_trace_tier(FN(sparse_max_applies)(&stacked) ? "conv.absmax.zbox_sparse_inputs"
                                                        : "conv.absmax.zbox_packed_product");
        return FN(conv_zbox_absmax)(s, a, w, low, high, m);
    }
    lrp_trace_tier("conv.absmax.direct");
    FN(conv_pass) pass = {.s = s, .kind = kind, .max = 1, .gamma = gamma, .a = a, .w = w,
                          .b = b, .low = low, .high = high, .out = m};
    return FN(conv_rows_run)(&pass);
}

/* Real: R_j = a_j * sum_k rho(w_jk) * (R_k / z_k), a transposed convolution
 * of the ratios (z^B: with its three weight parts). The first tier whose
 * condition holds:
 *   winograd_fused, winograd, packed_product
 *       not z^B, unit stride, 4 input channels per group at least
 *       (lrp_conv_uses_product): the flipped convolution as a sum product,
 *       Winograd's where it pays (FN(conv_sum_form_of))
 *   spread_winograd_fused, spread_winograd, spread_packed_product
 *       not z^B, strides of 2 to 4 positions in all, 4 input channels per
 *       group at least (lrp_conv_spreads): the same for the layer at unit
 *       stride, over the ratios spread to its outputs with zeros between
 *   zbox_winograd_fused, zbox_winograd, zbox_packed_product
 *       z^B, one group, unit stride, 2 input channels at least
 *       (FN(conv_zbox_stacks)): the same for the stacked layer
 *   direct
 *       the rest: blocks of CONV_BLOCK input planes (z^B: one plane and
 *       three sums), tap by tap */
lrp_status FN(lrp_conv_relevance_real)(const lrp_conv_shape *s, const lrp_rule *rule,
                                       const T *a, const T *w, const T *low, const T *high,
                                       const T *z, const T *r_out, T *r_in)
{
    lrp_status status = FN(conv_arguments)(s, rule, low, high);
    if (status != LRP_OK)
        return status;
    const int kind = rule->kind;
    const T gamma = (T)rule->gamma;
    const ptrdiff_t out_total = s->n * s->out_c * s->out_h * s->out_w;
    /* from the pool: a batch's ratios are tens of megabytes, fresh pages
     * each call; every value is written below */
    T *ratio = lrp_scratch_alloc((size_t)out_total, sizeof(T));
    if (!ratio)
        return LRP_ERR_NOMEM;
    FN(quotients_run)(r_out, z, out_total, 0, ratio);
    if (lrp_conv_uses_product(kind, s, 1)) {
        const lrp_conv_shape view = lrp_conv_transposed_view(s);
        const FN(conv_sum_form) form = FN(conv_sum_form_of)(&view);
        lrp_trace_tier(FN(conv_sum_tier)(&form, "conv.real.packed_product", "conv.real.winograd",
                                         "conv.real.winograd_fused"));
        status = FN(conv_transposed_product)(&form, kind, 0, s, gamma, a, w, ratio, NULL, r_in);
    } else if (lrp_conv_spreads(kind, s)) {
        const lrp_conv_shape unit = lrp_conv_unit_stride(s);
        T *spread = lrp_conv_spread(s, &unit, ratio, sizeof(T));
        if (!spread) {
            lrp_scratch_free(ratio);
            return LRP_ERR_NOMEM;
        }
        const lrp_conv_shape view = lrp_conv_transposed_view(&unit);
        const FN(conv_sum_form) form = FN(conv_sum_form_of)(&view);
        lrp_trace_tier(FN(conv_sum_tier)(&form, "conv.real.spread_packed_product",
                                         "conv.real.spread_winograd",
                                         "conv.real.spread_winograd_fused"));
        status = FN(conv_transposed_product)(&form, kind, 0, &unit, gamma, a, w, spread, NULL,
                                             r_in);
        lrp_scratch_free(spread);
    } else if (kind == LRP_RULE_ZBOX && FN(conv_zbox_stacks)(s, 1)) {
        const lrp_conv_shape stacked = FN(conv_stacked_shape)(s, 3);
        const lrp_conv_shape view = lrp_conv_transposed_view(&stacked);
        const FN(conv_sum_form) form = FN(conv_sum_form_of)(&view);
        lrp_trace_tier(FN(conv_sum_tier)(&form, "conv.real.zbox_packed_product",
                                         "conv.real.zbox_winograd",
                                         "conv.real.zbox_winograd_fused"));
        status = FN(conv_zbox_transposed)(&form, s, a, w, low, high, ratio, r_in);
    } else {
        lrp_trace_tier("conv.real.direct");
        const FN(conv_pass) pass = {.s = s, .kind = kind, .gamma = gamma, .a = a, .w = w,
                                    .low = low, .high = high, .ratio = ratio,
                                    .r_in.values = r_in};
        status = kind == LRP_RULE_ZBOX
                     ? FN(conv_zbox_real_planes)(s, a, w, low, high, ratio, r_in)
                     : FN(conv_real_blocks_run)(&pass);
    }
    lrp_scratch_free(ratio);
    return status;
}

/* Boolean: R_j = OR_k [Theta(d_jk)] AND R_k. The first tier whose
 * condition holds:
 *   intervals  unit stride (FN(conv_uses_thresholds)): each n_jk against
 *              its output's passing interval, (sample, input channel)
 *              planes over the threads
 *   spread_intervals
 *              strides of 2 to 4 positions in all (lrp_conv_spread_pays):
 *              the same for the layer at unit stride, z and R spread to
 *              its outputs, R = 0 between
 *   direct     the rest: input plane by input plane, tap by tap */
lrp_status FN(lrp_conv_relevance_boolean)(const lrp_conv_shape *s, const lrp_rule *rule,
                                          const lrp_threshold *t, const T *a, const T *w,
                                          const T *low, const T *high, const T *z,
                                          const uint8_t *r_out, uint8_t *r_in)
{
    lrp_status status = FN(conv_arguments)(s, rule, low, high);
    if (status != LRP_OK)
        return status;
    const int kind = rule->kind;
    const T gamma = (T)rule->gamma, theta = (T)t->theta;
    if (FN(conv_uses_thresholds)(s)) {
        lrp_trace_tier("conv.boolean.intervals");
        return FN(conv_threshold_run)(kind, s, gamma, theta, t->absolute, a, w, low, high, z,
                                      r_out, NULL, NULL, 0, r_in, NULL);
    }
    if (lrp_conv_spread_pays(s)) { /* a spread output has R_k = 0: nothing passes there */
        const lrp_conv_shape unit = lrp_conv_unit_stride(s);
        T *spread_z = lrp_conv_spread(s, &unit, z, sizeof(T));
        uint8_t *spread_r = lrp_conv_spread(s, &unit, r_out, sizeof(uint8_t));
        status = spread_z && spread_r
                     ? FN(conv_threshold_run)(kind, &unit, gamma, theta, t->absolute, a, w, low,
                                              high, spread_z, spread_r, NULL, NULL, 0, r_in, NULL)
                     : LRP_ERR_NOMEM;
        lrp_scratch_free(spread_z), lrp_scratch_free(spread_r);
        if (status == LRP_OK)
            lrp_trace_tier("conv.boolean.spread_intervals");
        return status;
    }
    lrp_trace_tier("conv.boolean.direct");
    const FN(conv_pass) pass = {.s = s, .kind = kind, .gamma = gamma, .theta = theta,
                                .absolute = t->absolute, .a = a, .w = w, .low = low,
                                .high = high, .z = z, .r_out.flags = r_out, .r_in.flags = r_in};
    return FN(conv_for_rule)(kind, FN(conv_boolean_direct), &pass);
}

/* Counting: R_j = sum_k [Theta(d_jk)] * R_k in exact integers. The first
 * tier whose condition holds:
 *   intervals  unit stride (FN(conv_uses_thresholds)) and every sample's
 *              sum_k R_k at most 2^53: as boolean's, summing in double
 *   spread_intervals
 *              strides of 2 to 4 positions in all (lrp_conv_spread_pays),
 *              the same totals: as boolean's
 *   direct     the rest: input plane by input plane, tap by tap, in double
 *              or, for a sample past 2^53, in checked int64 */
lrp_status FN(lrp_conv_relevance_counting)(const lrp_conv_shape *s, const lrp_rule *rule,
                                           const lrp_threshold *t, const T *a, const T *w,
                                           const T *low, const T *high, const T *z,
                                           const int64_t *r_out, int64_t *r_in)
{
    lrp_status status = FN(conv_arguments)(s, rule, low, high);
    if (status != LRP_OK)
        return status;
    const int kind = rule->kind;
    const T gamma = (T)rule->gamma, theta = (T)t->theta;
    const int unit_stride = FN(conv_uses_thresholds)(s);
    if (unit_stride || lrp_conv_spread_pays(s)) {
        int exact_in_double;
        status = lrp_counts_fit_double(r_out, s->n, s->out_c * s->out_h * s->out_w,
                                       &exact_in_double);
        if (status != LRP_OK)
            return status;
        if (exact_in_double && unit_stride) {
            lrp_trace_tier("conv.counting.intervals");
            return FN(conv_counting_intervals)(kind, s, gamma, theta, t->absolute, a, w, low,
                                               high, z, r_out, r_in);
        }
        if (exact_in_double) { /* as boolean's: R_k = 0 counts nothing */
            const lrp_conv_shape unit = lrp_conv_unit_stride(s);
            T *spread_z = lrp_conv_spread(s, &unit, z, sizeof(T));
            int64_t *spread_r = lrp_conv_spread(s, &unit, r_out, sizeof(int64_t));
            status = spread_z && spread_r
                         ? FN(conv_counting_intervals)(kind, &unit, gamma, theta, t->absolute, a,
                                                       w, low, high, spread_z, spread_r, r_in)
                         : LRP_ERR_NOMEM;
            lrp_scratch_free(spread_z), lrp_scratch_free(spread_r);
            if (status == LRP_OK)
                lrp_trace_tier("conv.counting.spread_intervals");
            return status;
        }
    }
    lrp_trace_tier("conv.counting.direct");
    const FN(conv_pass) pass = {.s = s, .kind = kind, .gamma = gamma, .theta = theta,
                                .absolute = t->absolute, .a = a, .w = w, .low = low,
                                .high = high, .z = z, .r_out.counts = r_out,
                                .r_in.counts = r_in};
    return FN(conv_for_rule)(kind, FN(conv_counting_direct), &pass);
}

/* Viterbi: R_j = max_k |n_jk| / (m_k + 1e-9) * R_k. The first tier whose
 * condition holds:
 *   sparse_inputs   as packed_product, float32 on AVX-512, one group, 32
 *                   input channels at least (FN(sparse_max_applies)): the
 *                   max product over the nonzero ratios only
 *   few_channels    as packed_product, one group, unit dilation, at most
 *                   8 input channels (FN(max_few_channels_applies)): the
 *                   same maxima tap by tap, q read in place
 *   packed_product  not z^B, unit stride, 4 input channels per group at
 *                   least (lrp_conv_uses_product), and every R_j finite:
 *                   |a_j| * max_k |rho(w_jk)| * (R_k / (m_k + 1e-9)), a max
 *                   product, equal up to rounding
 *   spread_sparse_inputs, spread_few_channels, spread_packed_product
 *                   the same for a strided layer (lrp_conv_spreads): its
 *                   unit-stride layer's over the quotients spread to its
 *                   outputs, zeros between
 *   zbox_sparse_inputs, zbox_few_channels, zbox_packed_product
 *                   z^B, unit stride, one group, every input inside its box,
 *                   and every R_j finite: max products of the layer stacked
 *                   twice (FN(conv_zbox_viterbi)), equal up to rounding
 *   direct          the rest (R_j recomputed where the product overflowed):
 *                   (sample, input channel) planes over the threads, pair by
 *                   pair */
lrp_status FN(lrp_conv_relevance_viterbi)(const lrp_conv_shape *s, const lrp_rule *rule,
                                          const T *a, const T *w, const T *low, const T *high,
                                          const T *m, const T *r_out, T *r_in)
{
    lrp_status status = FN(conv_arguments)(s, rule, low, high);
    if (status != LRP_OK)
        return status;
    const int kind = rule->kind;
    const T gamma = (T)rule->gamma;
    if (lrp_conv_uses_product(kind, s, 1) || lrp_conv_spreads(kind, s)) {
        status = FN(conv_viterbi_product)(kind, s, gamma, a, w, m, r_out, r_in);
        if (status != LRP_OK)
            return status;
        if (FN(all_finite)(r_in, s->n * s->in_c * s->in_h * s->in_w)) {
            const lrp_conv_shape unit = lrp_conv_unit_stride(s);
            const lrp_conv_shape view = lrp_conv_transposed_view(&unit);
            const int spread = s->stride_h != 1 || s->stride_w != 1;
            if (FN(sparse_max_applies)(&view))
                lrp_trace_tier(spread ? "conv.viterbi.spread_sparse_inputs"
                                      : "conv.viterbi.sparse_inputs");
            else if (FN(max_few_channels_applies)(&unit))
                lrp_trace_tier(spread ? "conv.viterbi.spread_few_channels"
                                      : "conv.viterbi.few_channels");
            else
                lrp_trace_tier(spread ? "conv.viterbi.spread_packed_product"
                                      : "conv.viterbi.packed_product");
            return LRP_OK;
        }
    } else if (kind == LRP_RULE_ZBOX && FN(conv_zbox_max_stacks)(s, 1, a, low, high)) {
        status = FN(conv_zbox_viterbi)(s, a, w, low, high, m, r_out, r_in);
        if (status != LRP_OK)
            return status;
        if (FN(all_finite)(r_in, s->n * s->in_c * s->in_h * s->in_w)) {
            const lrp_conv_shape stacked = FN(conv_stacked_shape)(s, 2);
            const lrp_conv_shape view = lrp_conv_transposed_view(&stacked);
            lrp_trace_tier(FN(sparse_max_applies)(&view) ? "conv.viterbi.zbox_sparse_inputs"
                           : FN(max_few_channels_applies)(&stacked)
                               ? "conv.viterbi.zbox_few_channels"
                               : "conv.viterbi.zbox_packed_product");
            return LRP_OK;
        }
    }
    lrp_trace_tier("conv.viterbi.direct");
    FN(conv_pass) pass = {.s = s, .kind = kind, .gamma = gamma, .a = a, .w = w, .low = low,
                          .high = high, .z = m, .r_out.values = r_out, .r_in.values = r_in};
    return FN(conv_viterbi_run)(&pass);
}

#undef CONV_BLOCK

#endif /* LRP_INSTANCE_CONV_KERNELS */
