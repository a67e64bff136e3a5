/* Conv2d's product tiers for composed semirings (composed_products.h says
 * the arithmetic), written once against T and FN(), included by
 * composed_conv.h: max-plus as a max-plus product and min-max as a max-min
 * product of the layer's transposed view, with the weights packed as A and
 * kept in the weight cache (conv/conv_im2col.h), as Viterbi's product. Both
 * need what that product needs: unit stride, four input channels per group
 * at least, not z^B (lrp_conv_uses_product). */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#include "composed/composed_products.h"
#include "conv/conv_im2col.h"
#ifndef LRP_INSTANCE_COMPOSED_CONV_PRODUCTS /* once per instance */
#define LRP_INSTANCE_COMPOSED_CONV_PRODUCTS

#include <stddef.h>
#include <stdlib.h>
#include "lrp.h"
#include "conv/conv_geometry.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/microkernels.h"
#include "products/products.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"

/* Max-plus by the max-plus product; *ran = 0 when this tier does not
 * apply. */
static lrp_status FN(conv_max_plus)(const lrp_conv_shape *s, int kind, T gamma, const T *a,
                                    const T *w, const T *z, const T *r_out, T *r_in, int *ran)
{
    *ran = 0;
    if (!lrp_conv_uses_product(kind, s, 1))
        return LRP_OK;
    const ptrdiff_t outputs = s->n * s->out_c * s->out_h * s->out_w;
    T *t = lrp_alloc_array((size_t)outputs, sizeof(T));
    if (!t)
        return LRP_ERR_NOMEM;
    T z_lo, z_hi, a_lo, a_hi;
    const int good = FN(max_plus_outputs_run)(r_out, z, outputs, t, &z_lo, &z_hi);
    if (good != 1) {
        free(t);
        return good < 0 ? LRP_ERR_NOMEM : LRP_OK;
    }
    FN(log_magnitude_range)(a, s->n * s->in_c * s->in_h * s->in_w, &a_lo, &a_hi);
    const FN(lrp_micro) *micro = FN(lrp_micro_for)();
    FN(conv_product) cp = {lrp_conv_transposed_view(s), t, 0, NULL, 0, r_in, NULL, a, NULL,
                           PRODUCT_MAX_PLUS};
    void *own;
    lrp_status status;
    cp.packed = FN(conv_packed_weights)(&cp.view, PRODUCT_MAX_PLUS, kind, gamma, w, 1, micro,
                                        &cp.packed_per_group, &own, &status);
    if (status == LRP_OK) {
        const T *w_range = cp.packed + cp.packed_per_group * (size_t)s->groups;
        if (FN(max_plus_in_range)(a_lo, a_hi, w_range[0], w_range[1], z_lo, z_hi)) {
            status = FN(conv_product_run)(&cp, PRODUCT_MAX_PLUS, kind, gamma, w, 1,
                                          s->interrupt);
            *ran = status == LRP_OK;
        }
    }
    free(own);
    free(t);
    return status;
}


/* The max-min product of the transposed view v: C = R_in of each (sample,
 * group), rows the group's input channels, columns the input pixels, inner
 * steps (output channel, tap); A = |rho(W)| flipped, B = the im2col of s and
 * of R (two panels), side = |a|. Blocked as FN(product_run) blocks, B
 * packed by each item. */
typedef struct {
    lrp_conv_shape view;
    const FN(lrp_micro) *micro;
    const T *packed;
    size_t per_group;
    FN(product) scale_panels, bound_panels; /* FN(conv_pack_strip)'s view of s and R */
    const T *side;
    T *out;
    ptrdiff_t m, n, k, chunk, col_block, row_block, col_blocks, row_blocks;
} FN(conv_min_max_job);

/* One tile of C at c (rows x cols of at most mr x nr), through full-size
 * copies of C and side where the edge of C cuts it. */
static LRP_INLINE void FN(min_max_tile)(const FN(conv_min_max_job) *job, ptrdiff_t kc,
                                        const T *a, const T *b, const T *bound, const T *side,
                                        T *c, ptrdiff_t rows, ptrdiff_t cols, int load,
                                        T *restrict tile)
{
    const int mr = job->micro->mr, nr = job->micro->nr;
    const ptrdiff_t ldc = job->n;
    if (rows == mr && cols == nr) {
        job->micro->max_min(kc, a, b, bound, side, c, ldc, load);
        return;
    }
    T *side_tile = tile + mr * nr;
    for (ptrdiff_t r = 0; r < mr; r++)
        for (ptrdiff_t j = 0; j < nr; j++) {
            const int inside = r < rows && j < cols;
            tile[r * nr + j] = load && inside ? c[r * ldc + j] : (T)0;
            side_tile[r * nr + j] = inside ? side[r * ldc + j] : (T)0;
        }
    job->micro->max_min(kc, a, b, bound, side_tile, tile, nr, 1);
    for (ptrdiff_t r = 0; r < rows; r++)
        for (ptrdiff_t j = 0; j < cols; j++)
            c[r * ldc + j] = tile[r * nr + j];
}

/* Items [begin, end): each one (sample, group)'s block of rows by block of
 * columns over the whole inner dimension, in chunks of job->chunk steps. */
static lrp_status FN(conv_min_max_task)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                        int worker, lrp_team *team)
{
    const FN(conv_min_max_job) *job = context;
    const lrp_conv_shape *v = &job->view;
    const int mr = job->micro->mr, nr = job->micro->nr;
    const ptrdiff_t kc_max = job->k < job->chunk ? job->k : job->chunk;
    const size_t panel_size = (size_t)(kc_max > 0 ? kc_max : 1) * (size_t)job->col_block;
    T *panels = lrp_alloc_aligned(2 * panel_size + 2 * (size_t)mr * (size_t)nr, sizeof(T));
    if (!panels)
        return LRP_ERR_NOMEM;
    T *bounds = panels + panel_size, *tile = bounds + panel_size;
    const ptrdiff_t plane = v->out_h * v->out_w, rows_per_group = v->out_c / v->groups;
    lrp_status status = LRP_OK;
    for (ptrdiff_t item = begin; item < end && status == LRP_OK; item++) {
        const ptrdiff_t q = item / (job->col_blocks * job->row_blocks);
        const ptrdiff_t rest = item % (job->col_blocks * job->row_blocks);
        const ptrdiff_t j0 = rest / job->row_blocks * job->col_block;
        const ptrdiff_t i0 = rest % job->row_blocks * job->row_block;
        const ptrdiff_t j1 = j0 + job->col_block < job->n ? j0 + job->col_block : job->n;
        const ptrdiff_t i1 = i0 + job->row_block < job->m ? i0 + job->row_block : job->m;
        const T *a = job->packed + (size_t)(q % v->groups) * job->per_group;
        const ptrdiff_t first = (q / v->groups * v->out_c + q % v->groups * rows_per_group) * plane;
        T *c = job->out + first;
        const T *side = job->side + first;
        for (ptrdiff_t pc = 0; pc < job->k; pc += job->chunk) {
            if (lrp_team_stop(team, worker)) {
                status = LRP_ERR_INTERRUPTED;
                break;
            }
            const ptrdiff_t kc = job->k - pc < job->chunk ? job->k - pc : job->chunk;
            for (ptrdiff_t js = j0; js < j1; js += nr) {
                const ptrdiff_t at = (js - j0) / nr * kc * nr;
                FN(conv_pack_strip)(&job->scale_panels, q, pc, kc, js, nr, panels + at, 0);
                FN(conv_pack_strip)(&job->bound_panels, q, pc, kc, js, nr, bounds + at, 0);
            }
            for (ptrdiff_t js = j0; js < j1; js += nr) {
                const ptrdiff_t at = (js - j0) / nr * kc * nr;
                const ptrdiff_t cols = j1 - js < nr ? j1 - js : nr;
                for (ptrdiff_t ir = i0; ir < i1; ir += mr)
                    FN(min_max_tile)(job, kc, a + ir * job->k + pc * mr, panels + at,
                                     bounds + at, side + ir * plane + js, c + ir * plane + js,
                                     i1 - ir < mr ? i1 - ir : mr, cols, pc > 0, tile);
            }
        }
    }
    free(panels);
    return status;
}

/* Min-max by the max-min product; *ran = 0 when this tier does not
 * apply. */
static lrp_status FN(conv_min_max)(const lrp_conv_shape *s, int kind, T gamma, const T *a,
                                   const T *w, const T *z, const T *r_out, T *r_in, int *ran)
{
    *ran = 0;
    if (!lrp_conv_uses_product(kind, s, 1))
        return LRP_OK;
    const ptrdiff_t outputs = s->n * s->out_c * s->out_h * s->out_w;
    const ptrdiff_t inputs = s->n * s->in_c * s->in_h * s->in_w;
    T *scale = lrp_alloc_array((size_t)outputs + (size_t)inputs, sizeof(T));
    if (!scale)
        return LRP_ERR_NOMEM;
    T *side = scale + outputs, scale_most, a_most = 0;
    const int good = FN(min_max_outputs_run)(r_out, z, outputs, scale, &scale_most);
    for (ptrdiff_t j = 0; good == 1 && j < inputs; j++) {
        side[j] = FN(absolute)(a[j]);
        a_most = side[j] > a_most ? side[j] : a_most;
    }
    const ptrdiff_t weights = s->out_c * (s->in_c / s->groups) * s->k_h * s->k_w;
    lrp_status status = good < 0 ? LRP_ERR_NOMEM : LRP_OK;
    if (good != 1 ||
        !FN(min_max_finite)(s->cache, kind, gamma, w, weights, scale_most, a_most, &status)) {
        free(scale);
        return status;
    }
    const FN(lrp_micro) *micro = FN(lrp_micro_for)();
    FN(conv_min_max_job) job = {.view = lrp_conv_transposed_view(s), .micro = micro,
                                .side = side, .out = r_in};
    const lrp_conv_shape *v = &job.view;
    job.m = v->out_c / v->groups, job.n = v->out_h * v->out_w;
    job.k = v->in_c / v->groups * v->k_h * v->k_w;
    void *own;
    job.packed = FN(conv_packed_weights)(v, PRODUCT_MAX, kind, gamma, w, 1, micro,
                                         &job.per_group, &own, &status);
    if (status != LRP_OK) {
        free(scale);
        return status;
    }
    /* FN(conv_pack_strip) reads the view, its input and the columns' count */
    FN(conv_product) scales = {*v, scale, 0, NULL, 0, NULL, NULL, NULL, NULL, PRODUCT_SUM};
    FN(conv_product) bounds = {*v, r_out, 0, NULL, 0, NULL, NULL, NULL, NULL, PRODUCT_SUM};
    job.scale_panels = (FN(product)){.n = job.n, .layer = &scales};
    job.bound_panels = (FN(product)){.n = job.n, .layer = &bounds};
    /* work items cut as FN(product_run) cuts them */
    const lrp_blocks blocks = lrp_block_sizes();
    const ptrdiff_t problems = s->n * s->groups;
    const lrp_product_split split =
        lrp_product_split_of(problems, job.m, job.n, micro->mr, micro->nr, blocks.product_nb);
    job.chunk = blocks.product_kc;
    job.col_block = split.col_block, job.row_block = split.row_block;
    job.col_blocks = split.col_blocks, job.row_blocks = split.row_blocks;
    ptrdiff_t items;
    if (__builtin_mul_overflow(problems, job.col_blocks * job.row_blocks, &items)) {
        status = LRP_ERR_NOMEM;
    } else {
        const double work = (double)problems * (double)job.m * (double)job.n * (double)job.k;
        status = lrp_parallel_for_upto(items, (ptrdiff_t)(work / LRP_MIN_WORK_PER_THREAD),
                                       FN(conv_min_max_task), &job, s->interrupt);
        *ran = status == LRP_OK;
    }
    free(own);
    free(scale);
    return status;
}

#endif /* LRP_INSTANCE_COMPOSED_CONV_PRODUCTS */
