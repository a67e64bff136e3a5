/* The packed products of products/products.h, written once against T and
 * FN() and compiled per dtype by products_f32.c and products_f64.c.
 *
 * Blocking, after Goto and van de Geijn (BLIS): the inner dimension in
 * chunks of p->chunk, B panels of chunk x nr kept in L1 while every A panel
 * of the item streams from L2 through the micro-kernel (microkernels.c).
 * Each C element's sum runs over p = 0 .. k-1 in order, chunk after chunk,
 * whoever computes it: results do not depend on the thread count.
 */
#include "kernel/template.h"
#include "kernel/rule_math.h"
#ifndef LRP_INSTANCE_PRODUCTS /* once per instance */
#define LRP_INSTANCE_PRODUCTS

#include <math.h>
#include <stdlib.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/tuning.h"
#include "products/microkernels.h"
#include "products/products.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"

void FN(pack_a)(const T *restrict src, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, int mr, int kind,
                T gamma, int absolute, T *restrict dst)
{
    for (ptrdiff_t i0 = 0; i0 < m; i0 += mr) {
        for (ptrdiff_t p = 0; p < k; p++)
            for (int r = 0; r < mr; r++) {
                T v = 0;
                if (i0 + r < m) {
                    v = FN(rho)(kind, gamma, src[(i0 + r) * lda + p]);
                    v = absolute ? FN(absolute)(v) : v;
                }
                dst[p * mr + r] = v;
            }
        dst += k * mr;
    }
}

int FN(all_finite)(const T *x, ptrdiff_t count)
{
    /* x - x is 0 for finite x and NaN otherwise; 16 sums side by side, so
     * that no chain of additions waits on the one before */
    T sum[16] = {0};
    ptrdiff_t i = 0;
    for (; i + 16 <= count; i += 16)
        for (int l = 0; l < 16; l++)
            sum[l] += x[i + l] - x[i + l];
    for (; i < count; i++)
        sum[0] += x[i] - x[i];
    int finite = 1;
    for (int l = 0; l < 16; l++)
        finite &= sum[l] == 0;
    return finite;
}

void FN(row_maxima)(const T *x, ptrdiff_t rows, ptrdiff_t count, T *maxima)
{
    for (ptrdiff_t i = 0; i < rows; i++) {
        /* 16 maxima side by side (the compiler makes a vector of them), then
         * theirs: the same value as one pass (NaN never wins, +0 beats -0) */
        const T *row = x + i * count;
        T best[16] = {0};
        ptrdiff_t j = 0;
        for (; j + 16 <= count; j += 16)
            for (int l = 0; l < 16; l++)
                best[l] = row[j + l] > best[l] ? row[j + l] : best[l];
        for (; j < count; j++)
            best[0] = row[j] > best[0] ? row[j] : best[0];
        T most = 0;
        for (int l = 0; l < 16; l++)
            most = best[l] > most ? best[l] : most;
        maxima[i] = most;
    }
}

/* The quotients in chunks of QUOTIENT_CHUNK values, one work item each. */
#define QUOTIENT_CHUNK 16384
typedef struct {
    const T *r, *z;
    T *out;
    ptrdiff_t count;
    int viterbi;
} FN(quotients);

/* compiled per instruction set: a division per value, the same IEEE
 * quotient on every set, 16 at a time with AVX-512 */
static LRP_INLINE lrp_status FN(quotients_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                                 int worker, lrp_team *team, int fused)
{
    const FN(quotients) *job = context;
    (void)worker, (void)team, (void)fused;
    ptrdiff_t first, last;
    lrp_chunk_span(begin, end, QUOTIENT_CHUNK, job->count, &first, &last);
    if (job->viterbi) {
        for (ptrdiff_t i = first; i < last; i++)
            job->out[i] = job->r[i] / (job->z[i] + (T)LRP_VITERBI_EPS);
    } else {
        for (ptrdiff_t i = first; i < last; i++)
            job->out[i] = FN(coefficient)(job->r[i], job->z[i]);
    }
    return LRP_OK;
}

LRP_ISA_TASKS(quotients_task, FN(quotients_items))

void FN(quotients_run)(const T *r, const T *z, ptrdiff_t count, int viterbi, T *out)
{
    FN(quotients) job = {r, z, out, count, viterbi};
    lrp_parallel_chunks(count, QUOTIENT_CHUNK, LRP_ISA_TASK(quotients_task), &job);
}
#undef QUOTIENT_CHUNK

T *FN(bias_terms)(int kind, T gamma, int absolute, const T *b, ptrdiff_t count)
{
    T *beta = lrp_alloc_array((size_t)count, sizeof(T));
    for (ptrdiff_t k = 0; beta && k < count; k++) {
        beta[k] = FN(bias_term)(kind, gamma, b[k]);
        beta[k] = absolute ? FN(absolute)(beta[k]) : beta[k];
    }
    return beta;
}

lrp_status FN(packed_a_count)(ptrdiff_t m, ptrdiff_t k, int mr, size_t *count)
{
    ptrdiff_t panels = (m + mr - 1) / mr;
    size_t rows;
    if (lrp_checked_count(0, panels, (size_t)mr, &rows) != LRP_OK)
        return LRP_ERR_NOMEM;
    if (rows > PTRDIFF_MAX || lrp_checked_count(0, (ptrdiff_t)rows, (size_t)k, count) != LRP_OK)
        return LRP_ERR_NOMEM;
    return LRP_OK;
}

/* One micro-tile, A packed or (in_place) rows of p->a_rows; a tile at most
 * the edge kernels' width goes by them, and tiles cut by the edge of C go
 * through a copy of the kernels' width. Each element's chain is the same
 * whichever kernel computes it. */
static LRP_INLINE void FN(product_tile)(const FN(product) *p, ptrdiff_t kc, const T *a,
                                        int in_place, const T *b, T *c, ptrdiff_t rows,
                                        ptrdiff_t cols, int load, T *restrict tile)
{
    const FN(lrp_micro) *micro = p->micro;
    const int mr = micro->mr, edge = cols <= micro->edge.nr;
    const int nr = edge ? micro->edge.nr : micro->nr;
    FN(lrp_micro_fn) kernel;
    if (p->combine == PRODUCT_MAX)
        kernel = edge ? micro->edge.max : micro->max;
    else if (p->combine == PRODUCT_MAX_PLUS)
        kernel = edge ? micro->edge.max_plus : micro->max_plus;
    else
        kernel = edge ? micro->edge.sum : micro->sum;
    FN(lrp_micro_rows_fn) unpacked = p->a_cols_of ? (edge ? micro->edge.cols : micro->cols)
                                     : in_place   ? (edge ? micro->edge.rows : micro->rows)
                                                  : NULL;
    const T identity = p->combine == PRODUCT_MAX_PLUS ? -(T)INFINITY : (T)0;
    if (rows < mr && cols == micro->nr && p->combine == PRODUCT_SUM && !in_place &&
        FN(short_tile_sums)(micro, rows, kc, a, p->a_cols_of != NULL, p->lda, b, c, p->ldc,
                            load))
        return;
    if (rows == mr && cols == nr) {
        if (unpacked)
            unpacked(kc, a, p->lda, b, c, p->ldc, load);
        else
            kernel(kc, a, b, c, p->ldc, load);
        return;
    }
    for (ptrdiff_t r = 0; r < mr; r++)
        for (ptrdiff_t j = 0; j < nr; j++)
            tile[r * nr + j] = load && r < rows && j < cols ? c[r * p->ldc + j] : identity;
    if (unpacked) /* in place: rows == mr, as partial rows come packed */
        unpacked(kc, a, p->lda, b, tile, nr, 1);
    else
        kernel(kc, a, b, tile, nr, 1);
    for (ptrdiff_t r = 0; r < rows; r++)
        for (ptrdiff_t j = 0; j < cols; j++)
            c[r * p->ldc + j] = tile[r * nr + j];
}

/* Work items [begin, end) of FN(product_run): each is one problem's block
 * of rows by block of columns, summed over the whole inner dimension. */
static lrp_status FN(product_task)(void *context, ptrdiff_t begin, ptrdiff_t end, int worker,
                                   lrp_team *team)
{
    const FN(product) *p = context;
    const int mr = p->micro->mr, nr = p->micro->nr;
    const ptrdiff_t kc_max = p->k < p->chunk ? p->k : p->chunk;
    const int packed = p->shared_b || p->b_of; /* B needs no packing here */
    const size_t panel_size = packed ? 0 : (size_t)(kc_max > 0 ? kc_max : 1) * (size_t)p->col_block;
    const size_t tail_size = p->a_rows ? (size_t)(kc_max > 0 ? kc_max : 1) * (size_t)mr : 0;
    T *panel = lrp_scratch_alloc(panel_size + tail_size + (size_t)mr * (size_t)nr, sizeof(T));
    if (!panel)
        return LRP_ERR_NOMEM;
    T *tail = panel + panel_size, *tile = tail + tail_size;
    lrp_status status = LRP_OK;
    for (ptrdiff_t item = begin; item < end; item++) {
        const ptrdiff_t q = item / (p->col_blocks * p->row_blocks);
        const ptrdiff_t rest = item % (p->col_blocks * p->row_blocks);
        /* with B shared, a thread's range runs over whole row blocks, which
         * split evenly; else over column blocks, so each packs its own B */
        const ptrdiff_t col = packed ? rest % p->col_blocks : rest / p->row_blocks;
        const ptrdiff_t row = packed ? rest / p->col_blocks : rest % p->row_blocks;
        const ptrdiff_t j0 = col * p->col_block, i0 = row * p->row_block;
        const ptrdiff_t j1 = j0 + p->col_block < p->n ? j0 + p->col_block : p->n;
        const ptrdiff_t i1 = i0 + p->row_block < p->m ? i0 + p->row_block : p->m;
        const T *a = p->a_rows ? NULL : p->a_cols_of ? p->a_cols_of(p, q) : p->a_of(p, q);
        const T *whole_b = p->b_of ? p->b_of(p, q) : p->shared_b;
        T *c = p->c_of(p, q);
        ptrdiff_t pc = 0;
        do {
            if (lrp_team_stop(team, worker)) {
                status = LRP_ERR_INTERRUPTED;
                goto done;
            }
            const ptrdiff_t kc = p->k - pc < p->chunk ? p->k - pc : p->chunk;
            if (!whole_b)
                for (ptrdiff_t js = j0; js < j1; js += nr)
                    p->pack_b(p, q, pc, kc, js, nr, panel + (js - j0) / nr * kc * nr);
            /* unpacked A: the rows past the last full tile, packed here */
            const ptrdiff_t full_end = p->a_rows ? i0 + (i1 - i0) / mr * mr : i0;
            if (p->a_rows && full_end < i1)
                FN(pack_a)(p->a_rows + full_end * p->lda + pc, p->lda, i1 - full_end, kc, mr,
                           LRP_RULE_ZERO, 0, 0, tail);
            for (ptrdiff_t js = j0; js < j1; js += nr) {
                const T *b = whole_b ? whole_b + FN(whole_b_at)(p->n, p->k, nr, p->chunk, pc, js)
                                     : panel + (js - j0) / nr * kc * nr;
                const ptrdiff_t cols = j1 - js < nr ? j1 - js : nr;
                for (ptrdiff_t ir = i0; ir < i1; ir += mr) {
                    const int in_place = p->a_rows && ir < full_end;
                    const T *at = in_place       ? p->a_rows + ir * p->lda + pc
                                  : p->a_rows     ? tail
                                  : p->a_cols_of ? a + pc * p->lda + ir
                                                 : a + ir * p->k + pc * mr;
                    FN(product_tile)(p, kc, at, in_place, b, c + ir * p->ldc + js,
                                     i1 - ir < mr ? i1 - ir : mr, cols, pc > 0, tile);
                }
            }
            pc += kc;
        } while (pc < p->k);
        if (p->finish)
            p->finish(p, q, i0, i1, j0, j1);
    }
done:
    lrp_scratch_free(panel);
    return status;
}

/* Where FN(product_pack_b_whole) packs: dst, for p. */
typedef struct {
    const FN(product) *p;
    T *dst;
} FN(whole_b_job);

static lrp_status FN(whole_b_task)(void *context, ptrdiff_t begin, ptrdiff_t end, int worker,
                                   lrp_team *team)
{
    const FN(whole_b_job) *job = context;
    const FN(product) *p = job->p;
    const int nr = p->micro->nr;
    for (ptrdiff_t strip = begin; strip < end; strip++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        for (ptrdiff_t pc = 0; pc < p->k; pc += p->chunk) {
            const ptrdiff_t kc = p->k - pc < p->chunk ? p->k - pc : p->chunk;
            p->pack_b(p, 0, pc, kc, strip * nr, nr,
                      job->dst + FN(whole_b_at)(p->n, p->k, nr, p->chunk, pc, strip * nr));
        }
    }
    return LRP_OK;
}

lrp_status FN(product_pack_b_whole)(const FN(product) *p, T *dst)
{
    const ptrdiff_t strips = (p->n + p->micro->nr - 1) / p->micro->nr;
    const double values = (double)strips * p->micro->nr * (double)p->k;
    FN(whole_b_job) job = {p, dst};
    return lrp_parallel_for_upto(strips, (ptrdiff_t)(values / LRP_MIN_PACK_PER_THREAD),
                                 FN(whole_b_task), &job, p->interrupt);
}

lrp_status FN(product_run)(FN(product) *p)
{
    const int mr = p->micro->mr, nr = p->micro->nr;
    if (p->problems < 1 || p->m < 1 || p->n < 1)
        return LRP_OK;
    const lrp_blocks blocks = lrp_block_sizes();
    if (p->chunk < 1)
        p->chunk = blocks.product_kc;
    const lrp_product_split split =
        lrp_product_split_of(p->problems, p->m, p->n, mr, nr, blocks.product_nb);
    p->col_block = split.col_block, p->row_block = split.row_block;
    p->col_blocks = split.col_blocks, p->row_blocks = split.row_blocks;
    const ptrdiff_t strips = (p->n + nr - 1) / nr;
    ptrdiff_t items;
    if (__builtin_mul_overflow(p->problems, p->col_blocks * p->row_blocks, &items))
        return LRP_ERR_NOMEM;
    /* a thread costs tens of microseconds to start: one per LRP_MIN_WORK_PER_THREAD
     * multiply-adds at most */
    const double work = (double)p->problems * (double)p->m * (double)p->n * (double)p->k;
    const double threads = work / LRP_MIN_WORK_PER_THREAD;
    const ptrdiff_t team = threads < items ? (ptrdiff_t)threads : items;
    /* one problem cut into row blocks: pack its B once, not once per block
     * (up to PRODUCT_SHARED_B bytes; past that the copy costs more memory
     * than the repacking costs time) */
    p->shared_b = NULL;
    if (p->problems == 1 && p->row_blocks > 1 && !p->b_of &&
        (double)strips * nr * (double)p->k * sizeof(T) <= PRODUCT_SHARED_B) {
        p->shared_b = lrp_scratch_alloc((size_t)strips * (size_t)nr * (size_t)p->k, sizeof(T));
        if (!p->shared_b)
            return LRP_ERR_NOMEM;
        lrp_status status = FN(product_pack_b_whole)(p, p->shared_b);
        if (status != LRP_OK) {
            lrp_scratch_free(p->shared_b);
            return status;
        }
    }
    lrp_status status = lrp_parallel_for_upto(items, team, FN(product_task), p, p->interrupt);
    lrp_scratch_free(p->shared_b);
    p->shared_b = NULL;
    return status;
}

#endif /* LRP_INSTANCE_PRODUCTS */
