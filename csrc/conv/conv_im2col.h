/* A convolution as a packed product (products/products.h), written once
 * against T and FN(): A = rho(W) packed per group (kept in the weight
 * cache; |rho(W)| for max products, log|rho(W)| for max-plus), B = im2col
 * of the input, packed one L1-sized panel at a time by the callbacks, and
 * an epilogue that adds the bias or multiplies by the activations (adds
 * log|a| for max-plus). conv/conv_products.h chooses between this and
 * Winograd. */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_CONV_IM2COL /* once per instance */
#define LRP_INSTANCE_CONV_IM2COL

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lrp.h"
#include "conv/conv_geometry.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/microkernels.h"
#include "products/products.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/weight_cache.h"

/* What the callbacks read: the convolution the product computes (`view`:
 * for the transposed passes, the flipped convolution), its input x, packed
 * A per group, the output, and the epilogue's operands. */
typedef struct {
    lrp_conv_shape view;
    const T *x;
    int absolute_x;
    const T *packed;
    size_t packed_per_group;
    T *out;
    const T *bias; /* forward/absmax: beta per output channel; NULL otherwise */
    const T *scale; /* transposed passes: a, multiplied in (|a| if absolute_x) */
    const T *cap;   /* Viterbi: R_in's bound per sample (FN(viterbi_scale)) */
    product_combine combine; /* set by FN(conv_product_run) */
} FN(conv_product);

static const T *FN(conv_a_of)(const FN(product) *p, ptrdiff_t q)
{
    const FN(conv_product) *cp = p->layer;
    return cp->packed + (size_t)(q % cp->view.groups) * cp->packed_per_group;
}

static T *FN(conv_c_of)(const FN(product) *p, ptrdiff_t q)
{
    const FN(conv_product) *cp = p->layer;
    const lrp_conv_shape *v = &cp->view;
    const ptrdiff_t n = q / v->groups, g = q % v->groups;
    return cp->out + (n * v->out_c + g * (v->out_c / v->groups)) * v->out_h * v->out_w;
}

/* im2col of one column strip: row p = (channel, ky, kx) of the group's
 * inputs, column = output pixel; zero where the tap falls in the padding.
 * A strip is a few dozen values per row, so the row's indices advance
 * without divisions (a division per row costs as much as its copy). */
static LRP_INLINE void FN(conv_pack_strip)(const FN(product) *p, ptrdiff_t q, ptrdiff_t p0,
                                           ptrdiff_t kc, ptrdiff_t j0, int nr, T *restrict dst,
                                           int absolute)
{
    const FN(conv_product) *cp = p->layer;
    const lrp_conv_shape *v = &cp->view;
    const ptrdiff_t n = q / v->groups, g = q % v->groups, cin_g = v->in_c / v->groups;
    const ptrdiff_t taps = v->k_h * v->k_w, plane = v->in_h * v->in_w;
    /* a tap in the padding adds no term: 0 absorbs a product, -inf a sum */
    const T pad = cp->combine == PRODUCT_MAX_PLUS ? -(T)INFINITY : (T)0;
    const T *x = cp->x + (n * v->in_c + g * cin_g) * plane;
    const ptrdiff_t oy0 = j0 / v->out_w, ox0 = j0 % v->out_w;
    ptrdiff_t cl = p0 / taps, ky = p0 % taps / v->k_w, kx = p0 % v->k_w;
    for (ptrdiff_t pp = 0; pp < kc; pp++) {
        T *restrict d = dst + pp * nr;
        ptrdiff_t ox_lo, ox_hi;
        if (v->stride_w == 1) {
            const ptrdiff_t offset = kx * v->dil_w - v->pad_w;
            ox_lo = offset >= 0 ? 0 : -offset;
            ox_hi = v->in_w - offset < v->out_w ? v->in_w - offset : v->out_w;
        } else {
            lrp_conv_range(v->out_w, v->in_w, v->stride_w, v->pad_w, v->dil_w, kx, &ox_lo,
                           &ox_hi);
        }
        const T *channel = x + cl * plane + kx * v->dil_w - v->pad_w;
        ptrdiff_t col = j0, c = 0, oy = oy0, ox = ox0;
        while (c < nr) {
            if (col >= p->n) {
                for (; c < nr; c++)
                    d[c] = pad;
                break;
            }
            const ptrdiff_t run = nr - c < v->out_w - ox ? nr - c : v->out_w - ox;
            const ptrdiff_t iy = oy * v->stride_h - v->pad_h + ky * v->dil_h;
            ptrdiff_t lo = ox_lo > ox ? ox_lo : ox, hi = ox_hi < ox + run ? ox_hi : ox + run;
            if (iy < 0 || iy >= v->in_h || hi < lo)
                lo = hi = ox;
            T *restrict out = d + c - ox; /* out[o] is column (oy, o) */
            const T *src = channel + iy * v->in_w;
            if (run == nr && lo == ox && hi == ox + run && v->stride_w == 1) {
                /* a whole strip from inside one row: a copy (or |.|) of
                 * constant size compiles to a few vector operations */
                if (!absolute) {
                    switch (nr) {
                    case 32: memcpy(out + ox, src + ox, 32 * sizeof(T)); break;
                    case 16: memcpy(out + ox, src + ox, 16 * sizeof(T)); break;
                    case 8: memcpy(out + ox, src + ox, 8 * sizeof(T)); break;
                    default: memcpy(out + ox, src + ox, (size_t)nr * sizeof(T)); break;
                    }
                } else if (nr == 32) {
                    for (int o = 0; o < 32; o++)
                        out[ox + o] = FN(absolute)(src[ox + o]);
                } else if (nr == 16) {
                    for (int o = 0; o < 16; o++)
                        out[ox + o] = FN(absolute)(src[ox + o]);
                } else {
                    for (ptrdiff_t o = ox; o < ox + nr; o++)
                        out[o] = FN(absolute)(src[o]);
                }
                break;
            }
            for (ptrdiff_t o = ox; o < lo; o++)
                out[o] = pad;
            if (v->stride_w == 1) {
                for (ptrdiff_t o = lo; o < hi; o++)
                    out[o] = absolute ? FN(absolute)(src[o]) : src[o];
            } else {
                for (ptrdiff_t o = lo; o < hi; o++)
                    out[o] = absolute ? FN(absolute)(src[o * v->stride_w]) : src[o * v->stride_w];
            }
            for (ptrdiff_t o = hi; o < ox + run; o++)
                out[o] = pad;
            c += run;
            col += run;
            ox += run;
            if (ox == v->out_w)
                ox = 0, oy++;
        }
        if (++kx == v->k_w) {
            kx = 0;
            if (++ky == v->k_h)
                ky = 0, cl++;
        }
    }
}

static void FN(conv_pack_b)(const FN(product) *p, ptrdiff_t q, ptrdiff_t p0, ptrdiff_t kc,
                            ptrdiff_t j0, int nr, T *restrict dst)
{
    if (((const FN(conv_product) *)p->layer)->absolute_x)
        FN(conv_pack_strip)(p, q, p0, kc, j0, nr, dst, 1);
    else
        FN(conv_pack_strip)(p, q, p0, kc, j0, nr, dst, 0);
}

static void FN(conv_finish)(const FN(product) *p, ptrdiff_t q, ptrdiff_t i0, ptrdiff_t i1,
                            ptrdiff_t j0, ptrdiff_t j1)
{
    const FN(conv_product) *cp = p->layer;
    T *c = FN(conv_c_of)(p, q);
    if (cp->bias) {
        const ptrdiff_t first = q % cp->view.groups * (cp->view.out_c / cp->view.groups);
        for (ptrdiff_t i = i0; i < i1; i++) {
            const T beta = cp->bias[first + i];
            T *row = c + i * p->ldc;
            if (p->combine == PRODUCT_MAX) {
                for (ptrdiff_t j = j0; j < j1; j++)
                    row[j] = beta > row[j] ? beta : row[j];
            } else {
                for (ptrdiff_t j = j0; j < j1; j++)
                    row[j] = row[j] + beta;
            }
        }
        return;
    }
    const T *scale = cp->scale + (c - cp->out);
    for (ptrdiff_t i = i0; i < i1; i++) {
        T *row = c + i * p->ldc;
        const T *a = scale + i * p->ldc;
        if (p->combine == PRODUCT_MAX_PLUS) {
            for (ptrdiff_t j = j0; j < j1; j++)
                row[j] = a[j] == 0 ? -(T)INFINITY : FN(log_abs)(a[j]) + row[j];
        } else if (cp->absolute_x) {
            FN(viterbi_scale)(row, a, j0, j1, cp->cap[q / cp->view.groups]);
        } else {
            for (ptrdiff_t j = j0; j < j1; j++)
                row[j] = a[j] * row[j];
        }
    }
}

/* The weights packed as A (FN(pack_a)'s layout), one panel of mr rows per
 * item, as rho(w), |rho(w)| (absolute) or log|rho(w)| (logarithm). flipped:
 * see FN(conv_product_run). */
typedef struct {
    const lrp_conv_shape *v;
    const T *w;
    ptrdiff_t m, k;
    int mr, kind, absolute, logarithm, flipped;
    T gamma;
    T *packed;
    size_t per_group;
} FN(conv_weights);

static lrp_status FN(conv_weights_task)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                        int worker, lrp_team *team)
{
    const FN(conv_weights) *job = context;
    (void)worker, (void)team;
    const ptrdiff_t panels = (job->m + job->mr - 1) / job->mr, mr = job->mr, k = job->k;
    const ptrdiff_t taps = job->v->k_h * job->v->k_w, cout_w = k / taps;
    for (ptrdiff_t item = begin; item < end; item++) {
        const ptrdiff_t g = item / panels, i0 = item % panels * mr;
        const ptrdiff_t rows = job->m - i0 < mr ? job->m - i0 : mr;
        T *dst = job->packed + (size_t)g * job->per_group + i0 * k;
        /* the copy in the order that reads w along its rows (a weight
         * matrix is megabytes: read across them, every value would be a
         * cache miss), then rho over the panel in one vectorisable loop */
        if (job->flipped) {
            /* w is (in_c of view, m, k_h, k_w) for this group (the view's
             * inputs are the layer's outputs), the kernel turned by 180
             * degrees: row i0 + r, column (channel co, tap t) */
            for (ptrdiff_t co = 0; co < cout_w; co++) {
                const T *src = job->w + ((g * cout_w + co) * job->m + i0) * taps;
                T *d = dst + co * taps * mr;
                for (ptrdiff_t r = 0; r < rows; r++)
                    for (ptrdiff_t t = 0; t < taps; t++)
                        d[t * mr + r] = src[r * taps + taps - 1 - t];
                for (ptrdiff_t t = 0; t < taps; t++)
                    for (ptrdiff_t r = rows; r < mr; r++)
                        d[t * mr + r] = 0;
            }
        } else {
            const T *src = job->w + (g * job->m + i0) * k;
            for (ptrdiff_t r = 0; r < rows; r++)
                for (ptrdiff_t p = 0; p < k; p++)
                    dst[p * mr + r] = src[r * k + p];
            for (ptrdiff_t p = 0; p < k; p++)
                for (ptrdiff_t r = rows; r < mr; r++)
                    dst[p * mr + r] = 0;
        }
        /* rho(0) = 0: the rows past m stay 0 */
        const ptrdiff_t count = k * mr;
        if (job->kind == LRP_RULE_GAMMA)
            for (ptrdiff_t i = 0; i < count; i++)
                dst[i] = FN(rho)(LRP_RULE_GAMMA, job->gamma, dst[i]);
        if (job->logarithm)
            for (ptrdiff_t i = 0; i < count; i++)
                dst[i] = FN(log_abs)(dst[i]);
        else if (job->absolute)
            for (ptrdiff_t i = 0; i < count; i++)
                dst[i] = FN(absolute)(dst[i]);
    }
    return LRP_OK;
}

/* A into data (the cache's build callback: context is the job); with
 * logarithm, followed by the least and the largest finite log|rho(w)|
 * (FN(finite_range)). */
static lrp_status FN(conv_weights_build)(void *context, void *data)
{
    FN(conv_weights) *job = context;
    const ptrdiff_t panels = (job->m + job->mr - 1) / job->mr;
    job->packed = data;
    lrp_status status = lrp_parallel_for_upto(
        job->v->groups * panels, (ptrdiff_t)((double)job->m * job->k * job->v->groups / LRP_MIN_PACK_PER_THREAD),
        FN(conv_weights_task), job, job->v->interrupt);
    if (status == LRP_OK && job->logarithm) {
        const size_t count = job->per_group * (size_t)job->v->groups;
        FN(finite_range)(job->packed, (ptrdiff_t)count, &job->packed[count],
                         &job->packed[count + 1]);
    }
    return status;
}

/* A of the product for `view` (FN(conv_weights), flipped as in
 * FN(conv_product_run)), from v's cache or freshly built, then handed back
 * in *own for the caller to free; NULL only when *status is not LRP_OK.
 * *per_group: its values per group. */
static const T *FN(conv_packed_weights)(const lrp_conv_shape *v, product_combine combine,
                                        int kind, T gamma, const T *w, int flipped,
                                        const FN(lrp_micro) *micro, size_t *per_group,
                                        void **own, lrp_status *status)
{
    const ptrdiff_t m = v->out_c / v->groups, k = v->in_c / v->groups * v->k_h * v->k_w;
    const int logarithm = combine == PRODUCT_MAX_PLUS, absolute = combine == PRODUCT_MAX;
    *own = NULL;
    *status = LRP_ERR_NOMEM;
    if (FN(packed_a_count)(m, k, micro->mr, per_group) != LRP_OK ||
        *per_group > (SIZE_MAX - 2) / (size_t)v->groups)
        return NULL;
    FN(conv_weights) job = {v, w, m, k, micro->mr, kind, absolute, logarithm, flipped, gamma,
                            NULL, *per_group};
    const lrp_cache_key key = {.form = logarithm ? LRP_FORM_PACKED_LOG_A : LRP_FORM_PACKED_A,
                               .elem_size = (int)sizeof(T), .isa = (int)lrp_current_isa(),
                               .kind = kind, .gamma = (double)gamma, .flipped = flipped,
                               .absolute = absolute, .mr = micro->mr, .rows = m, .cols = k,
                               .groups = v->groups, .taps = v->k_h * v->k_w,
                               .count = *per_group * (size_t)v->groups + (logarithm ? 2 : 0)};
    return lrp_weights_prepared(v->cache, w, &key, FN(conv_weights_build), &job, own, status);
}

/* Runs the product for `view`, with A packed (FN(conv_packed_weights)) or
 * read in place, or as the caller set cp->packed and cp->packed_per_group.
 * flipped: A row ci of group g is W[g's outputs][ci] with the kernel turned
 * by 180 degrees, row order (output channel, ky, kx), as the transposed
 * passes need. */
static lrp_status FN(conv_product_run)(FN(conv_product) *cp, product_combine combine, int kind,
                                       T gamma, const T *w, int flipped,
                                       const lrp_interrupt *interrupt)
{
    const lrp_conv_shape *v = &cp->view;
    const FN(lrp_micro) *micro = FN(lrp_micro_for)();
    const ptrdiff_t m = v->out_c / v->groups, k = v->in_c / v->groups * v->k_h * v->k_w;
    /* W itself as A, row-major (out_c, in_c * k_h * k_w), where it needs no
     * rho, flip or |.|: packing it costs as much as the product of a 14x14
     * layer */
    const int in_place =
        !flipped && combine == PRODUCT_SUM && kind != LRP_RULE_GAMMA && v->groups == 1;
    void *packed = NULL;
    cp->combine = combine;
    if (!in_place && !cp->packed) {
        lrp_status status;
        cp->packed = FN(conv_packed_weights)(v, combine, kind, gamma, w, flipped, micro,
                                             &cp->packed_per_group, &packed, &status);
        if (status != LRP_OK)
            return status;
    }
    FN(product) p = {.problems = v->n * v->groups, .m = m, .n = v->out_h * v->out_w, .k = k,
                     .combine = combine, .a_of = FN(conv_a_of), .a_rows = in_place ? w : NULL,
                     .lda = k, .pack_b = FN(conv_pack_b), .c_of = FN(conv_c_of),
                     .ldc = v->out_h * v->out_w, .finish = FN(conv_finish), .layer = cp,
                     .interrupt = interrupt, .micro = micro};
    lrp_status status = FN(product_run)(&p);
    free(packed);
    return status;
}

#endif /* LRP_INSTANCE_CONV_IM2COL */
