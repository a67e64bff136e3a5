/* Conv2d passes as packed products (products/products.h), written once
 * against T and FN(), included by conv_kernels.h:
 *   forward   z = W * a + beta            (sum; A = rho(W), B = im2col of a)
 *   absmax    m = max |rho(W)| |a|, |beta| (max; absolute values throughout)
 *   real      R_in = a * (rho(W)^T * s)    (sum; s = R / z)
 *   viterbi   R_in = |a| * max |rho(W)|^T q (max; q = R / (m + 1e-9))
 * For unit stride the transposed products are convolutions of s (or q) with
 * the flipped, transposed kernel, padded by dil * (k - 1) - pad. z^B's
 * forward and real passes are plain products of the stacked layer (inputs
 * a, l, h as 3 in_c channels, FN(conv_zbox_stacks)); its absmax and Viterbi
 * passes are not products (conv_kernels.h runs them tap by tap). */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_CONV_PRODUCTS /* once per instance */
#define LRP_INSTANCE_CONV_PRODUCTS

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lrp.h"
#include "conv/conv_geometry.h"
#include "conv/conv_im2col.h"
#include "conv/conv_max_few_channels.h"
#include "conv/conv_sparse_max.h"
#include "conv/conv_winograd.h"
#include "products/microkernels.h"
#include "products/products.h"
#include "runtime/memory.h"

/* How a sum product of the convolution v runs: by Winograd's F(m x m, 3x3)
 * where that pays (FN(conv_winograd_pays)), in its one-pass form with
 * `strips` strips of nr tiles per item (FN(winograd_one_pass_strips)) or,
 * with strips 0, in its wide form; else as W times the im2col of the input
 * (conv_im2col.h). Max products are the latter, or go over the nonzero
 * inputs only (conv_sparse_max.h). */
typedef struct {
    int winograd;
    ptrdiff_t strips;
} FN(conv_sum_form);

static FN(conv_sum_form) FN(conv_sum_form_of)(const lrp_conv_shape *v)
{
    FN(conv_sum_form) form = {0, 0};
    if (FN(conv_winograd_pays)(v)) {
        const FN(lrp_micro) *micro = FN(lrp_micro_for)();
        form.winograd = 1;
        form.strips = FN(winograd_one_pass_strips)(v, micro->mr, micro->nr);
    }
    return form;
}

/* Of a pass's names for the three forms, the one of `form`. */
static const char *FN(conv_sum_tier)(const FN(conv_sum_form) *form, const char *packed_product,
                                     const char *winograd, const char *winograd_fused)
{
    if (!form->winograd)
        return packed_product;
    return form->strips ? winograd_fused : winograd;
}

/* z (forward, max = 0) or m (absmax, max = 1) by a product of this form. */
static lrp_status FN(conv_sum_product)(const FN(conv_sum_form) *form, int kind, int max,
                                       const lrp_conv_shape *s, T gamma, const T *a, const T *w,
                                       const T *b, T *z)
{
    T *beta = FN(bias_terms)(kind, gamma, max, b, s->out_c);
    if (!beta)
        return LRP_ERR_NOMEM;
    FN(conv_product) cp = {*s, a, max, NULL, 0, z, beta, NULL, NULL, PRODUCT_SUM};
    lrp_status status;
    if (form->winograd)
        status = FN(conv_winograd_run)(&cp, kind, gamma, w, 0, form->strips, s->interrupt);
    else if (max && FN(sparse_max_applies)(s))
        status = FN(sparse_max_run)(s, kind, gamma, w, 0, a, beta, NULL, NULL, z);
    else
        status = FN(conv_product_run)(&cp, max ? PRODUCT_MAX : PRODUCT_SUM, kind, gamma, w, 0,
                                      s->interrupt);
    free(beta);
    return status;
}

/* R_in = a * (rho(W)^T s) (max = 0, x = s) or |a| * max(|rho(W)|^T q)
 * capped per sample (max = 1, x = q, cap), for a unit-stride layer, by a
 * product of this form (of lrp_conv_transposed_view). */
static lrp_status FN(conv_transposed_product)(const FN(conv_sum_form) *form, int kind, int max,
                                              const lrp_conv_shape *s, T gamma, const T *a,
                                              const T *w, const T *x, const T *cap, T *r_in)
{
    FN(conv_product) cp = {lrp_conv_transposed_view(s), x, max, NULL, 0, r_in, NULL, a, cap,
                           PRODUCT_SUM};
    if (form->winograd)
        return FN(conv_winograd_run)(&cp, kind, gamma, w, 1, form->strips, s->interrupt);
    return FN(conv_product_run)(&cp, max ? PRODUCT_MAX : PRODUCT_SUM, kind, gamma, w, 1,
                                s->interrupt);
}

/* Viterbi's R_in = |a| * max(|rho(W)|^T q), capped per sample at cap, for
 * a unit-stride layer: over the nonzero q only where that tier applies. */
static lrp_status FN(conv_viterbi_transposed)(int kind, const lrp_conv_shape *s, T gamma,
                                              const T *a, const T *w, const T *q, const T *cap,
                                              T *r_in)
{
    const lrp_conv_shape view = lrp_conv_transposed_view(s);
    const FN(conv_sum_form) im2col = {0, 0};
    if (FN(sparse_max_applies)(&view))
        return FN(sparse_max_run)(&view, kind, gamma, w, 1, q, NULL, a, cap, r_in);
    if (FN(max_few_channels_applies)(s))
        return FN(max_few_channels_run)(s, kind, gamma, w, q, a, cap, r_in);
    return FN(conv_transposed_product)(&im2col, kind, 1, s, gamma, a, w, q, cap, r_in);
}

/* q = R / (m + 1e-9), then (*cap) each sample's largest R (the cap of
 * FN(viterbi_scale)) after q's n * out_c * out_h * out_w values;
 * lrp_scratch_free(q) releases it. */
static T *FN(conv_viterbi_quotients)(const lrp_conv_shape *s, const T *m, const T *r_out,
                                     const T **cap)
{
    const ptrdiff_t out_sample = s->out_c * s->out_h * s->out_w;
    const ptrdiff_t out_total = s->n * out_sample;
    /* every value is written below */
    T *q = lrp_scratch_alloc((size_t)out_total + (size_t)s->n, sizeof(T));
    if (!q)
        return NULL;
    FN(quotients_run)(r_out, m, out_total, 1, q);
    FN(row_maxima)(r_out, s->n, out_sample, q + out_total);
    *cap = q + out_total;
    return q;
}

/* Viterbi's R_in = |a| * max(|rho(W)|^T q), q = R / (m + 1e-9), capped per
 * sample at its largest R (FN(viterbi_scale)), for a unit-stride layer or,
 * with q spread (lrp_conv_spread), a strided one: the spread's zeros raise
 * no maximum of terms >= 0. */
static lrp_status FN(conv_viterbi_product)(int kind, const lrp_conv_shape *s, T gamma,
                                           const T *a, const T *w, const T *m, const T *r_out,
                                           T *r_in)
{
    const T *cap;
    T *q = FN(conv_viterbi_quotients)(s, m, r_out, &cap);
    if (!q)
        return LRP_ERR_NOMEM;
    const lrp_conv_shape unit = lrp_conv_unit_stride(s);
    T *spread = NULL;
    if (s->stride_h != 1 || s->stride_w != 1) {
        spread = lrp_conv_spread(s, &unit, q, sizeof(T));
        if (!spread) {
            lrp_scratch_free(q);
            return LRP_ERR_NOMEM;
        }
    }
    lrp_status status =
        FN(conv_viterbi_transposed)(kind, &unit, gamma, a, w, spread ? spread : q, cap, r_in);
    lrp_scratch_free(spread);
    lrp_scratch_free(q);
    return status;
}

/* z^B as a plain product: with inputs (a, low, high) stacked as 3 in_c
 * channels and weights (w, -w+, -w-) to match, sum_j a w - l w+ - h w-
 * is one convolution of the stacked layer, and its transposed pass gives
 * a c, -l c+ and -h c- as three channel blocks. One group only. Its max
 * products stack the layer twice instead (FN(conv_zbox_max_stack)). */
typedef struct {
    lrp_conv_shape shape;
    T *x, *w; /* the stacked inputs and weights */
} FN(conv_stacked);

/* The layer s with its inputs stacked `copies` times over. */
static lrp_conv_shape FN(conv_stacked_shape)(const lrp_conv_shape *s, ptrdiff_t copies)
{
    lrp_conv_shape stacked = *s;
    stacked.in_c = copies * s->in_c;
    return stacked;
}

/* Whether a z^B pass of s (forward, or transposed) runs as a product of the
 * stacked layer: one group, and the stacked layer fills the products. */
static int FN(conv_zbox_stacks)(const lrp_conv_shape *s, int transposed)
{
    if (s->groups != 1 || s->in_c > PTRDIFF_MAX / 3)
        return 0;
    const lrp_conv_shape stacked = FN(conv_stacked_shape)(s, 3);
    return lrp_conv_uses_product(LRP_RULE_ZERO, &stacked, transposed);
}

/* st's shape (s stacked `copies` times) and its inputs and weights,
 * allocated in one block (st->x; lrp_scratch_free() it), for the caller to
 * fill. */
static lrp_status FN(conv_stack_alloc)(const lrp_conv_shape *s, ptrdiff_t copies,
                                       FN(conv_stacked) *st)
{
    const ptrdiff_t plane = s->in_h * s->in_w, taps = s->k_h * s->k_w, c = s->in_c;
    size_t inputs, weights;
    if (lrp_checked_count(0, s->n * copies * c, (size_t)plane, &inputs) != LRP_OK ||
        lrp_checked_count(0, s->out_c * copies * c, (size_t)taps, &weights) != LRP_OK ||
        inputs > SIZE_MAX - weights)
        return LRP_ERR_NOMEM;
    st->shape = FN(conv_stacked_shape)(s, copies);
    st->x = lrp_scratch_alloc(inputs + weights, sizeof(T));
    if (!st->x)
        return LRP_ERR_NOMEM;
    st->w = st->x + inputs;
    return LRP_OK;
}

static lrp_status FN(conv_stack)(const lrp_conv_shape *s, const T *a, const T *w, const T *low,
                                 const T *high, FN(conv_stacked) *st)
{
    const ptrdiff_t plane = s->in_h * s->in_w, taps = s->k_h * s->k_w, c = s->in_c;
    const lrp_status status = FN(conv_stack_alloc)(s, 3, st);
    if (status != LRP_OK)
        return status;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        const size_t bytes = (size_t)(c * plane) * sizeof(T);
        memcpy(st->x + (n * 3 + 0) * c * plane, a + n * c * plane, bytes);
        memcpy(st->x + (n * 3 + 1) * c * plane, low + n * c * plane, bytes);
        memcpy(st->x + (n * 3 + 2) * c * plane, high + n * c * plane, bytes);
    }
    for (ptrdiff_t co = 0; co < s->out_c; co++)
        for (ptrdiff_t i = 0; i < c * taps; i++) {
            const T v = w[co * c * taps + i];
            st->w[(co * 3 + 0) * c * taps + i] = v;
            st->w[(co * 3 + 1) * c * taps + i] = -FN(positive)(v);
            st->w[(co * 3 + 2) * c * taps + i] = -FN(negative)(v);
        }
    return LRP_OK;
}

/* z under z^B (no bias: b - b+ - b- = 0) by a product of this form (of the
 * stacked layer). */
static lrp_status FN(conv_zbox_forward)(const FN(conv_sum_form) *form, const lrp_conv_shape *s,
                                        const T *a, const T *w, const T *low, const T *high,
                                        T *z)
{
    FN(conv_stacked) st;
    lrp_status status = FN(conv_stack)(s, a, w, low, high, &st);
    if (status != LRP_OK)
        return status;
    T *zero_bias = lrp_alloc_array((size_t)s->out_c, sizeof(T));
    status = zero_bias ? FN(conv_sum_product)(form, LRP_RULE_ZERO, 0, &st.shape, 0, st.x, st.w,
                                              zero_bias, z)
                       : LRP_ERR_NOMEM;
    free(zero_bias);
    lrp_scratch_free(st.x);
    return status;
}

/* R_in = a c - l c+ - h c- with c = W^T ratio, c+- = (W+-)^T ratio, by a
 * product of this form (of the stacked layer's transposed view). */
static lrp_status FN(conv_zbox_transposed)(const FN(conv_sum_form) *form,
                                           const lrp_conv_shape *s, const T *a, const T *w,
                                           const T *low, const T *high, const T *ratio, T *r_in)
{
    FN(conv_stacked) st;
    lrp_status status = FN(conv_stack)(s, a, w, low, high, &st);
    if (status != LRP_OK)
        return status;
    const ptrdiff_t block = s->in_c * s->in_h * s->in_w;
    size_t count;
    /* every value is written by the product */
    T *parts = lrp_checked_count(0, s->n * 3, (size_t)block, &count) == LRP_OK
                   ? lrp_scratch_alloc(count, sizeof(T)) : NULL;
    status = parts ? FN(conv_transposed_product)(form, LRP_RULE_ZERO, 0, &st.shape, 0, st.x,
                                                 st.w, ratio, NULL, parts)
                   : LRP_ERR_NOMEM;
    for (ptrdiff_t n = 0; n < s->n && status == LRP_OK; n++) {
        const T *ac = parts + n * 3 * block, *lc = ac + block, *hc = lc + block;
        for (ptrdiff_t j = 0; j < block; j++)
            r_in[n * block + j] = ac[j] + lc[j] + hc[j];
    }
    lrp_scratch_free(parts);
    lrp_scratch_free(st.x);
    return status;
}

/* z^B's |n_jk| = |a w - l w+ - h w-| is w+ (a - l) + |w-| (h - a), one of
 * the two terms 0 and the other at least 0, where l <= a <= h: its absmax
 * and Viterbi pass are max products of the layer stacked twice, inputs
 * (a - l, h - a) and weights (w+, |w-|), equal up to rounding. Whether
 * they run so (transposed: the Viterbi pass): one group, the stacked layer
 * fills the products, and every input inside its box (else the pairs go one
 * by one, as the formula gives them). */
static int FN(conv_zbox_max_stacks)(const lrp_conv_shape *s, int transposed, const T *a,
                                    const T *low, const T *high)
{
    if (s->groups != 1 || s->in_c > PTRDIFF_MAX / 2)
        return 0;
    const lrp_conv_shape stacked = FN(conv_stacked_shape)(s, 2);
    if (!lrp_conv_uses_product(LRP_RULE_ZERO, &stacked, transposed))
        return 0;
    const ptrdiff_t count = s->n * s->in_c * s->in_h * s->in_w;
    int inside = 1;
    for (ptrdiff_t i = 0; i < count; i++)
        inside &= low[i] <= a[i] && a[i] <= high[i];
    return inside;
}

/* The stacked layer of FN(conv_zbox_max_stacks). */
static lrp_status FN(conv_zbox_max_stack)(const lrp_conv_shape *s, const T *a, const T *w,
                                          const T *low, const T *high, FN(conv_stacked) *st)
{
    const ptrdiff_t plane = s->in_h * s->in_w, taps = s->k_h * s->k_w, c = s->in_c;
    const lrp_status status = FN(conv_stack_alloc)(s, 2, st);
    if (status != LRP_OK)
        return status;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        const ptrdiff_t at = n * c * plane;
        T *above = st->x + 2 * at, *below = above + c * plane;
        for (ptrdiff_t j = 0; j < c * plane; j++) {
            above[j] = a[at + j] - low[at + j];
            below[j] = high[at + j] - a[at + j];
        }
    }
    for (ptrdiff_t co = 0; co < s->out_c; co++)
        for (ptrdiff_t i = 0; i < c * taps; i++) {
            const T v = w[co * c * taps + i];
            st->w[(co * 2 + 0) * c * taps + i] = FN(positive)(v);
            st->w[(co * 2 + 1) * c * taps + i] = -FN(negative)(v);
        }
    return LRP_OK;
}

/* z^B's m = max_j |n_jk| (its bias term is 0) by a max product of the
 * stacked layer. */
static lrp_status FN(conv_zbox_absmax)(const lrp_conv_shape *s, const T *a, const T *w,
                                       const T *low, const T *high, T *m)
{
    FN(conv_stacked) st;
    lrp_status status = FN(conv_zbox_max_stack)(s, a, w, low, high, &st);
    if (status != LRP_OK)
        return status;
    T *zero_bias = lrp_alloc_array((size_t)s->out_c, sizeof(T));
    const FN(conv_sum_form) im2col = {0, 0};
    status = zero_bias ? FN(conv_sum_product)(&im2col, LRP_RULE_ZERO, 1, &st.shape, 0, st.x,
                                              st.w, zero_bias, m)
                       : LRP_ERR_NOMEM;
    free(zero_bias);
    lrp_scratch_free(st.x);
    return status;
}

/* z^B's Viterbi pass: R_j = max((a - l)_j c+_j, (h - a)_j c-_j), c+- =
 * max_k |w+-_jk| q_k, each capped as FN(viterbi_scale) caps, by a max
 * product of the stacked layer's transposed view. */
static lrp_status FN(conv_zbox_viterbi)(const lrp_conv_shape *s, const T *a, const T *w,
                                        const T *low, const T *high, const T *m,
                                        const T *r_out, T *r_in)
{
    FN(conv_stacked) st;
    lrp_status status = FN(conv_zbox_max_stack)(s, a, w, low, high, &st);
    if (status != LRP_OK)
        return status;
    const ptrdiff_t block = s->in_c * s->in_h * s->in_w;
    size_t count;
    const T *cap;
    T *q = FN(conv_viterbi_quotients)(s, m, r_out, &cap);
    /* every value is written by the product */
    T *parts = q && lrp_checked_count(0, s->n * 2, (size_t)block, &count) == LRP_OK
                   ? lrp_scratch_alloc(count, sizeof(T)) : NULL;
    status = parts ? FN(conv_viterbi_transposed)(LRP_RULE_ZERO, &st.shape, 0, st.x, st.w, q,
                                                 cap, parts)
                   : LRP_ERR_NOMEM;
    for (ptrdiff_t n = 0; n < s->n && status == LRP_OK; n++) {
        const T *above = parts + n * 2 * block, *below = above + block;
        for (ptrdiff_t j = 0; j < block; j++)
            r_in[n * block + j] = below[j] > above[j] ? below[j] : above[j];
    }
    lrp_scratch_free(parts);
    lrp_scratch_free(q);
    lrp_scratch_free(st.x);
    return status;
}

#endif /* LRP_INSTANCE_CONV_PRODUCTS */
