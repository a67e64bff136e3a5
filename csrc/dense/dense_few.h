/* Linear passes of a few samples (a batch of at most DENSE_FEW_SAMPLES),
 * written once against T and FN(), included by dense_kernels.h. A product
 * would fill its micro-tiles' rows with padding; these loops instead stream
 * the weights once, row by row, with every output's reduction the same
 * chain the products compute (multiply-adds fused exactly where their
 * micro-kernels fuse them), so a sample gets the same bits in a batch of 1
 * or of 1000:
 *   transposed  c_j = sum or max over k of x_k rho(w_kj), in order of k
 *               (the real pass: x = R / z; Viterbi's: x = R / (m + 1e-9),
 *               with absolute weights), then the products' epilogue;
 *   forward     z_k = sum_j rho(w_kj) a_j + beta_k, in order of j, FEW_ROWS
 *               outputs' chains side by side in the lanes of a vector and
 *               the samples' vectors side by side in the registers;
 *   streamed forward  the same z_k of one or two samples from rho(W)^T
 *               kept in the weight cache, its rows streamed as the
 *               transposed pass streams W's;
 *   absmax      m_k = max_j |a_j| |rho(w_kj)| (exact in any order), also
 *               for batches up to DENSE_ABSMAX_GROUPS_SAMPLES, in groups.
 * The streamed passes (transposed, streamed forward) skip the rows whose x
 * is zero in every sample. Work items are blocks of columns (streamed
 * passes) or of FEW_ROWS outputs (forward, absmax). */
#include "kernel/template.h"
#include "kernel/rule_math.h"

#ifndef SEMIRING_LRP_DENSE_FEW_SIZES /* once per unit: the same for every T */
#define SEMIRING_LRP_DENSE_FEW_SIZES
enum {
    DENSE_FEW_SAMPLES = 8, /* the largest batch these loops take at once */
    /* the largest batch whose maxima go through them in groups: past it the
     * weights, read once per group, cost more than packing them once */
    DENSE_ABSMAX_GROUPS_SAMPLES = 32,
    FEW_BLOCK = 4096,      /* the most columns per streamed item */
    FEW_MIN_BLOCK = 256,   /* the fewest columns per streamed item, but the last */
    FEW_GROUP = 4,         /* rows a streamed item reads side by side */
    FEW_LIST = 256,        /* rows a streamed item lists at a time */
    FEW_ROWS = 16,         /* outputs per forward item */
    FEW_COLS = 64          /* inputs per forward tile: whole cache lines of each row */
};
/* The forward of one or two samples streams rho(W)^T, kept in the weight
 * cache, where its turns of tiles would cost more than reading the weights:
 * from a layer that fills no cache to one of VGG-16's fc6 size and a little
 * more (the copy's memory is the weights' own again). More samples' chains
 * cost more there than the turns, which they share. */
#define FEW_STREAMED_SAMPLES 2
#define FEW_STREAMED_MIN_WEIGHTS 65536.0
#define FEW_STREAMED_MAX_WEIGHTS 134217728.0
enum { FEW_TRANSPOSED, FEW_FORWARD, FEW_FORWARD_STREAMED, FEW_ABSMAX }; /* FN(dense_few).pass */
#endif

#ifndef LRP_INSTANCE_DENSE_FEW /* once per instance */
#define LRP_INSTANCE_DENSE_FEW

#include <stdlib.h>

#include "lrp.h"
#include "kernel/compiler.h"
#include "kernel/transpose16.h"
#include "products/products.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "kernel/tuning.h"
#if LRP_X86_DISPATCH
#include <immintrin.h>
#endif

typedef struct {
    const lrp_dense_shape *s;
    int pass, kind, max;
    T gamma;
    const T *w, *x;        /* x: (n, out) for the transposed passes, else a (n, in) */
    const T *scale, *cap;  /* the transposed passes' epilogue (see FN(dense_finish)) */
    const T *beta;         /* forward: beta_k; absmax: |beta_k| */
    T *out;
    int turn;              /* forward: FN(few_transpose_tile) may take full tiles */
    /* the streamed passes: out[n][c] is the chain over r of x[n][r] rho(m[r][c])
     * for `rows` rows r of m (ld apart) and `cols` columns c, `block` per item */
    const T *m;
    ptrdiff_t ld, rows, cols, block;
} FN(dense_few);

/* One term of a streamed chain: the real sum (fused or not) or the maximum. */
static LRP_INLINE T FN(few_term)(T chain, T x, T w, int max, int fused)
{
    if (max) {
        const T v = x * w;
        return v > chain ? v : chain;
    }
    return fused ? FMA(x, w, chain) : chain + x * w;
}

/* FEW_GROUP rows' terms in order, each chain read and written once for all
 * of them: a few streams of weights at once keep more of them in flight
 * than one. */
static LRP_INLINE void FN(few_streamed_group)(T *restrict chain, const T *const w[FEW_GROUP],
                                              const T x[FEW_GROUP], ptrdiff_t width, int kind,
                                              T gamma, int max, int fused)
{
    for (ptrdiff_t j = 0; j < width; j++) {
        T c = chain[j];
        for (int g = 0; g < FEW_GROUP; g++) {
            const T rho = FN(rho)(kind, gamma, w[g][j]);
            c = FN(few_term)(c, x[g], max ? FN(absolute)(rho) : rho, max, fused);
        }
        chain[j] = c;
    }
}

static LRP_INLINE void FN(few_streamed_row)(T *restrict chain, const T *restrict w, T x,
                                            ptrdiff_t width, int kind, T gamma, int max,
                                            int fused)
{
    for (ptrdiff_t j = 0; j < width; j++) {
        const T rho = FN(rho)(kind, gamma, w[j]);
        chain[j] = FN(few_term)(chain[j], x, max ? FN(absolute)(rho) : rho, max, fused);
    }
}

/* The terms of the rows listed in `rows`, in order, FEW_GROUP rows at a time
 * and each group to every sample while its rows are in cache: as one group
 * where the sample's x are all nonzero, else row by row. A zero term is
 * skipped: it would leave its chain as it was (none is ever -0). */
static LRP_INLINE void FN(few_streamed_rows)(const FN(dense_few) *f, ptrdiff_t c0,
                                             ptrdiff_t width, const ptrdiff_t *rows, int count,
                                             int kind, int max, int fused)
{
    const ptrdiff_t samples = f->s->n;
    int r = 0;
    for (; r + FEW_GROUP <= count; r += FEW_GROUP) {
        const T *w[FEW_GROUP];
        for (int g = 0; g < FEW_GROUP; g++)
            w[g] = f->m + rows[r + g] * f->ld + c0;
        for (ptrdiff_t n = 0; n < samples; n++) {
            T *chain = f->out + n * f->cols + c0;
            T x[FEW_GROUP];
            int nonzero = 1;
            for (int g = 0; g < FEW_GROUP; g++) {
                x[g] = f->x[n * f->rows + rows[r + g]];
                nonzero &= x[g] != 0;
            }
            if (nonzero) {
                FN(few_streamed_group)(chain, w, x, width, kind, f->gamma, max, fused);
                continue;
            }
            for (int g = 0; g < FEW_GROUP; g++)
                if (x[g] != 0)
                    FN(few_streamed_row)(chain, w[g], x[g], width, kind, f->gamma, max, fused);
        }
    }
    for (; r < count; r++)
        for (ptrdiff_t n = 0; n < samples; n++) {
            const T x = f->x[n * f->rows + rows[r]];
            if (x != 0)
                FN(few_streamed_row)(f->out + n * f->cols + c0, f->m + rows[r] * f->ld + c0,
                                     x, width, kind, f->gamma, max, fused);
        }
}

/* One block of columns of a streamed pass, summed straight into the output
 * rows: the rows where some sample's x is nonzero are listed FEW_LIST at a
 * time. Then the epilogue: the transposed passes' (see FN(dense_finish)), or
 * the forward's + beta_k. */
static LRP_INLINE void FN(few_streamed)(const FN(dense_few) *f, ptrdiff_t item, int kind,
                                        int max, int fused)
{
    const lrp_dense_shape *s = f->s;
    const ptrdiff_t c0 = item * f->block;
    const ptrdiff_t width = f->cols - c0 < f->block ? f->cols - c0 : f->block;
    for (ptrdiff_t n = 0; n < s->n; n++)
        for (ptrdiff_t c = 0; c < width; c++)
            f->out[n * f->cols + c0 + c] = 0;
    ptrdiff_t rows[FEW_LIST];
    for (ptrdiff_t r0 = 0; r0 < f->rows; r0 += FEW_LIST) {
        const ptrdiff_t r1 = f->rows - r0 < FEW_LIST ? f->rows : r0 + FEW_LIST;
        int count = 0;
        for (ptrdiff_t r = r0; r < r1; r++) {
            int nonzero = 0;
            for (ptrdiff_t n = 0; n < s->n; n++)
                nonzero |= f->x[n * f->rows + r] != 0;
            rows[count] = r;
            count += nonzero;
        }
        FN(few_streamed_rows)(f, c0, width, rows, count, kind, max, fused);
    }
    if (f->pass == FEW_FORWARD_STREAMED) {
        for (ptrdiff_t n = 0; n < s->n; n++)
            for (ptrdiff_t c = c0; c < c0 + width; c++)
                f->out[n * f->cols + c] += f->beta[c];
        return;
    }
    for (ptrdiff_t n = 0; n < s->n; n++) {
        T *row = f->out + n * s->in;
        const T *a = f->scale + n * s->in;
        if (max) {
            FN(viterbi_scale)(row, a, c0, c0 + width, f->cap[n]);
        } else {
            for (ptrdiff_t j = c0; j < c0 + width; j++)
                row[j] = a[j] * row[j];
        }
    }
}

/* m_k of every sample for FEW_ROWS outputs from k0 on, row by row (one
 * stream of weights at a time): each 16 weights' |rho(w_kj)| is made once
 * and taken to every sample's maxima, `samples` (a constant at each call)
 * of them side by side. x holds |a|. Lane l of an output sees the inputs
 * j = l mod 16 in order, as alone; max is exact in any order anyway. */
static LRP_INLINE void FN(few_absmax_samples)(const FN(dense_few) *f, ptrdiff_t k0, int kind,
                                              const int samples)
{
    const lrp_dense_shape *s = f->s;
    const ptrdiff_t rows = s->out - k0 < FEW_ROWS ? s->out - k0 : FEW_ROWS;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const T *restrict wk = f->w + (k0 + r) * s->in;
        T best[DENSE_FEW_SAMPLES][16];
        for (int n = 0; n < samples; n++)
            for (int l = 0; l < 16; l++)
                best[n][l] = 0;
        ptrdiff_t j = 0;
        for (; j + 16 <= s->in; j += 16) {
            T weight[16];
            LRP_LANE_LOOP
            for (int l = 0; l < 16; l++)
                weight[l] = FN(absolute)(FN(rho)(kind, f->gamma, wk[j + l]));
            for (int n = 0; n < samples; n++) {
                const T *restrict an = f->x + n * s->in + j;
                LRP_LANE_LOOP
                for (int l = 0; l < 16; l++) {
                    const T v = an[l] * weight[l];
                    best[n][l] = v > best[n][l] ? v : best[n][l];
                }
            }
        }
        for (; j < s->in; j++) {
            const T weight = FN(absolute)(FN(rho)(kind, f->gamma, wk[j]));
            for (int n = 0; n < samples; n++) {
                const T v = f->x[n * s->in + j] * weight;
                best[n][0] = v > best[n][0] ? v : best[n][0];
            }
        }
        for (int n = 0; n < samples; n++) {
            T m = f->beta[k0 + r];
            for (int l = 0; l < 16; l++)
                m = best[n][l] > m ? best[n][l] : m;
            f->out[n * s->out + k0 + r] = m;
        }
    }
}

static LRP_INLINE void FN(few_absmax)(const FN(dense_few) *f, ptrdiff_t item, int kind)
{
    const ptrdiff_t k0 = item * FEW_ROWS;
    switch (f->s->n) {
    case 1: FN(few_absmax_samples)(f, k0, kind, 1); break;
    case 2: FN(few_absmax_samples)(f, k0, kind, 2); break;
    case 3: FN(few_absmax_samples)(f, k0, kind, 3); break;
    case 4: FN(few_absmax_samples)(f, k0, kind, 4); break;
    case 5: FN(few_absmax_samples)(f, k0, kind, 5); break;
    case 6: FN(few_absmax_samples)(f, k0, kind, 6); break;
    case 7: FN(few_absmax_samples)(f, k0, kind, 7); break;
    default: FN(few_absmax_samples)(f, k0, kind, DENSE_FEW_SAMPLES);
    }
}

#if LRP_X86_DISPATCH
/* tile[jj][l] = w[l * ld + jj] for FEW_ROWS rows: 16 x 16 (float) or two
 * 8 x 8 (double) blocks loaded row by row and turned in registers, where a
 * gather per column would cost more than reading the weights. Called only
 * while AVX-512 is the instruction set in use (FN(dense_few).turn); never
 * inlined, so the other clones need not be compiled for it. Past width, the
 * rows load as zeros (masked loads touch no memory there) and no tile row
 * is written. */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(few_transpose_tile)(
    const T *w, ptrdiff_t ld, ptrdiff_t width, T (*tile)[FEW_ROWS])
{
    if (sizeof(T) == 4) {
        for (ptrdiff_t j = 0; j < width; j += 16) {
            const ptrdiff_t cols = width - j < 16 ? width - j : 16;
            const __mmask16 live = (__mmask16)(cols == 16 ? 0xFFFF : (1u << cols) - 1);
            __m512 r[16], column[16];
            for (int l = 0; l < 16; l++)
                r[l] = _mm512_maskz_loadu_ps(live, (const float *)(w + l * ld + j));
            lrp_transpose16_f32(r, column);
            /* a constant count for whole blocks: with cols alone, GCC copies
             * the columns through the stack by rep movs */
            if (cols == 16)
                for (int c = 0; c < 16; c++)
                    _mm512_storeu_ps((float *)tile[j + c], column[c]);
            else
                for (int c = 0; c < cols; c++)
                    _mm512_storeu_ps((float *)tile[j + c], column[c]);
        }
    } else {
        for (ptrdiff_t j = 0; j < width; j += 8) {
            const ptrdiff_t cols = width - j < 8 ? width - j : 8;
            const __mmask8 live = (__mmask8)(cols == 8 ? 0xFF : (1u << cols) - 1);
            for (int half = 0; half < 2; half++) {
                __m512d r[8], t[8];
                for (int l = 0; l < 8; l++)
                    r[l] = _mm512_maskz_loadu_pd(live, (const double *)(w + (8 * half + l) * ld + j));
                for (int l = 0; l < 8; l += 2) {
                    t[l] = _mm512_unpacklo_pd(r[l], r[l + 1]);
                    t[l + 1] = _mm512_unpackhi_pd(r[l], r[l + 1]);
                }
                /* t[2p] holds columns 0, 2, 4, 6 of rows 2p, 2p + 1; t[2p + 1]
                 * columns 1, 3, 5, 7 */
                for (int q = 0; q < 8; q += 4)
                    for (int h = 0; h < 2; h++) {
                        r[q + h] = _mm512_shuffle_f64x2(t[q + h], t[q + h + 2], 0x88);
                        r[q + h + 2] = _mm512_shuffle_f64x2(t[q + h], t[q + h + 2], 0xDD);
                    }
                /* r[q + c] (c < 4; q = 0 rows 0-3, q = 4 rows 4-7): column c
                 * in lanes 0 and 2, column c + 4 in lanes 1 and 3 */
                for (int c = 0; c < 4; c++) {
                    const __m512d low = _mm512_shuffle_f64x2(r[c], r[4 + c], 0x88);
                    const __m512d high = _mm512_shuffle_f64x2(r[c], r[4 + c], 0xDD);
                    if (c < cols)
                        _mm512_storeu_pd((double *)tile[j + c] + 8 * half, low);
                    if (c + 4 < cols)
                        _mm512_storeu_pd((double *)tile[j + c + 4] + 8 * half, high);
                }
            }
        }
    }
}
#endif

/* One tile's terms added to every sample's chains: input by input, the
 * samples' chains side by side, so that `samples` (a constant at each call)
 * independent multiply-adds are in flight rather than one chain's. Each
 * chain still takes its terms in order of j. */
static LRP_INLINE void FN(few_forward_chains)(const T *a, ptrdiff_t ld, ptrdiff_t width,
                                              const T (*tile)[FEW_ROWS], const int samples,
                                              int fused, T (*acc)[FEW_ROWS])
{
    T chain[DENSE_FEW_SAMPLES][FEW_ROWS];
    for (int n = 0; n < samples; n++)
        for (int l = 0; l < FEW_ROWS; l++)
            chain[n][l] = acc[n][l];
    for (ptrdiff_t jj = 0; jj < width; jj++) {
        const T *restrict wj = tile[jj];
        for (int n = 0; n < samples; n++) {
            const T x = a[n * ld + jj];
            if (fused) {
                LRP_LANE_LOOP
                for (int l = 0; l < FEW_ROWS; l++)
                    chain[n][l] = FMA(wj[l], x, chain[n][l]);
            } else {
                LRP_LANE_LOOP
                for (int l = 0; l < FEW_ROWS; l++)
                    chain[n][l] = chain[n][l] + wj[l] * x;
            }
        }
    }
    for (int n = 0; n < samples; n++)
        for (int l = 0; l < FEW_ROWS; l++)
            acc[n][l] = chain[n][l];
}

/* FEW_ROWS outputs from k0 on: the weights are read FEW_ROWS x FEW_COLS at
 * a time and turned in a small tile, so that each input j adds one term to
 * every chain of the block (one vector multiply-add per sample). */
static LRP_INLINE void FN(few_forward)(const FN(dense_few) *f, ptrdiff_t item, int kind,
                                       int fused)
{
    const lrp_dense_shape *s = f->s;
    const ptrdiff_t k0 = item * FEW_ROWS;
    const ptrdiff_t rows = s->out - k0 < FEW_ROWS ? s->out - k0 : FEW_ROWS;
    T acc[DENSE_FEW_SAMPLES][FEW_ROWS], tile[FEW_COLS][FEW_ROWS];
    for (ptrdiff_t n = 0; n < s->n; n++)
        for (int l = 0; l < FEW_ROWS; l++)
            acc[n][l] = 0;
    for (ptrdiff_t j0 = 0; j0 < s->in; j0 += FEW_COLS) {
        const ptrdiff_t width = s->in - j0 < FEW_COLS ? s->in - j0 : FEW_COLS;
#if LRP_X86_DISPATCH
        if (f->turn && rows == FEW_ROWS) {
            FN(few_transpose_tile)(f->w + k0 * s->in + j0, s->in, width, tile);
            if (kind == LRP_RULE_GAMMA)
                for (ptrdiff_t jj = 0; jj < width; jj++) {
                    LRP_LANE_LOOP
                    for (int l = 0; l < FEW_ROWS; l++)
                        tile[jj][l] = FN(rho)(kind, f->gamma, tile[jj][l]);
                }
        } else
#endif
        for (ptrdiff_t l = 0; l < FEW_ROWS; l++) {
            const T *restrict wk = f->w + (k0 + (l < rows ? l : 0)) * s->in + j0;
            for (ptrdiff_t jj = 0; jj < width; jj++)
                tile[jj][l] = l < rows ? FN(rho)(kind, f->gamma, wk[jj]) : (T)0;
        }
        const T *an = f->x + j0;
        const T(*wt)[FEW_ROWS] = (const T(*)[FEW_ROWS])tile;
        switch (s->n) {
        case 1: FN(few_forward_chains)(an, s->in, width, wt, 1, fused, acc); break;
        case 2: FN(few_forward_chains)(an, s->in, width, wt, 2, fused, acc); break;
        case 3: FN(few_forward_chains)(an, s->in, width, wt, 3, fused, acc); break;
        case 4: FN(few_forward_chains)(an, s->in, width, wt, 4, fused, acc); break;
        case 5: FN(few_forward_chains)(an, s->in, width, wt, 5, fused, acc); break;
        case 6: FN(few_forward_chains)(an, s->in, width, wt, 6, fused, acc); break;
        case 7: FN(few_forward_chains)(an, s->in, width, wt, 7, fused, acc); break;
        default: FN(few_forward_chains)(an, s->in, width, wt, DENSE_FEW_SAMPLES, fused, acc);
        }
    }
    for (ptrdiff_t n = 0; n < s->n; n++)
        for (ptrdiff_t l = 0; l < rows; l++)
            f->out[n * s->out + k0 + l] = acc[n][l] + f->beta[k0 + l];
}

static LRP_INLINE lrp_status FN(few_items)(const FN(dense_few) *f, ptrdiff_t begin, ptrdiff_t end,
                                           int worker, lrp_team *team, int fused)
{
    for (ptrdiff_t item = begin; item < end; item++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const int gamma = f->kind == LRP_RULE_GAMMA;
        if (f->pass == FEW_ABSMAX)
            gamma ? FN(few_absmax)(f, item, LRP_RULE_GAMMA) : FN(few_absmax)(f, item, LRP_RULE_ZERO);
        else if (f->pass == FEW_FORWARD)
            gamma ? FN(few_forward)(f, item, LRP_RULE_GAMMA, fused)
                  : FN(few_forward)(f, item, LRP_RULE_ZERO, fused);
        else if (f->pass == FEW_FORWARD_STREAMED) /* rho is in the weights */
            FN(few_streamed)(f, item, LRP_RULE_ZERO, 0, fused);
        else if (f->max)
            gamma ? FN(few_streamed)(f, item, LRP_RULE_GAMMA, 1, fused)
                  : FN(few_streamed)(f, item, LRP_RULE_ZERO, 1, fused);
        else
            gamma ? FN(few_streamed)(f, item, LRP_RULE_GAMMA, 0, fused)
                  : FN(few_streamed)(f, item, LRP_RULE_ZERO, 0, fused);
    }
    return LRP_OK;
}

LRP_ISA_TASKS(few_task, FN(few_items))

static lrp_status FN(few_run)(FN(dense_few) *f, ptrdiff_t items)
{
    lrp_task task = LRP_ISA_TASK(few_task);
    const double pairs = (double)f->s->n * (double)f->s->in * (double)f->s->out;
    return lrp_parallel_for_upto(items, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD), task, f, f->s->interrupt);
}

/* f's streamed pass over its columns in blocks of equal width in whole
 * vectors, at most FEW_BLOCK, and two per thread where that leaves
 * FEW_MIN_BLOCK columns each (a column's chain is the same whatever its
 * block). */
static lrp_status FN(few_streamed_run)(FN(dense_few) *f)
{
    ptrdiff_t items = (f->cols + FEW_BLOCK - 1) / FEW_BLOCK;
    const ptrdiff_t spread = (f->cols + FEW_MIN_BLOCK - 1) / FEW_MIN_BLOCK;
    const ptrdiff_t wanted = 2 * (ptrdiff_t)lrp_num_threads();
    if (items < (spread < wanted ? spread : wanted))
        items = spread < wanted ? spread : wanted;
    if (items < 1)
        return LRP_OK; /* no columns */
    f->block = ((f->cols + items - 1) / items + 15) / 16 * 16;
    return FN(few_run)(f, (f->cols + f->block - 1) / f->block);
}

/* The transposed passes (see dense_product_run) of a few samples: the rows
 * of W streamed. */
static lrp_status FN(few_transposed_run)(const lrp_dense_shape *s, int kind, T gamma, int max,
                                         const T *x, const T *w, const T *scale, const T *cap,
                                         T *out)
{
    FN(dense_few) f = {s, FEW_TRANSPOSED, kind, max, gamma, w, x, scale, cap, NULL, out, 0,
                       w, s->in, s->out, s->in, 0};
    return FN(few_streamed_run)(&f);
}

/* z (n, out) of a few samples from wt = rho(W)^T (in, ld): the rows of the
 * nonzero inputs streamed, each z_k the chain FN(few_forward_run) computes
 * less its zero terms, then + beta_k. */
static lrp_status FN(few_forward_streamed_run)(const lrp_dense_shape *s, const T *a,
                                               const T *wt, ptrdiff_t ld, const T *beta, T *z)
{
    FN(dense_few) f = {s, FEW_FORWARD_STREAMED, LRP_RULE_ZERO, 0, 0, NULL, a, NULL, NULL, beta,
                       z, 0, wt, ld, s->in, s->out, 0};
    return FN(few_streamed_run)(&f);
}

/* z (n, out) of a few samples, beta_k added last as the products do. */
static lrp_status FN(few_forward_run)(const lrp_dense_shape *s, int kind, T gamma, const T *a,
                                      const T *w, const T *beta, T *z)
{
    FN(dense_few) f = {s, FEW_FORWARD, kind, 0, gamma, w, a, NULL, NULL, beta, z, 0, NULL, 0, 0,
                       0, 0};
#if LRP_X86_DISPATCH
    f.turn = lrp_current_isa() == LRP_ISA_AVX512;
#endif
    return FN(few_run)(&f, (s->out + FEW_ROWS - 1) / FEW_ROWS);
}

/* m (n, out), DENSE_FEW_SAMPLES samples at a time; beta holds |beta_k|.
 * The items read |a|, made once here rather than once per output. */
static lrp_status FN(few_absmax_run)(const lrp_dense_shape *s, int kind, T gamma, const T *a,
                                     const T *w, const T *beta, T *m)
{
    size_t count;
    if (lrp_checked_count(0, s->n, (size_t)s->in, &count) != LRP_OK)
        return LRP_ERR_NOMEM;
    T *magnitude = lrp_alloc_array(count, sizeof(T));
    if (!magnitude)
        return LRP_ERR_NOMEM;
    for (size_t i = 0; i < count; i++)
        magnitude[i] = FN(absolute)(a[i]);
    lrp_status status = LRP_OK;
    for (ptrdiff_t n0 = 0; n0 < s->n && status == LRP_OK; n0 += DENSE_FEW_SAMPLES) {
        lrp_dense_shape group = *s;
        group.n = s->n - n0 < DENSE_FEW_SAMPLES ? s->n - n0 : DENSE_FEW_SAMPLES;
        FN(dense_few) f = {&group, FEW_ABSMAX, kind, 1, gamma, w, magnitude + n0 * s->in,
                           NULL, NULL, beta, m + n0 * s->out, 0, NULL, 0, 0, 0, 0};
        status = FN(few_run)(&f, (s->out + FEW_ROWS - 1) / FEW_ROWS);
    }
    free(magnitude);
    return status;
}

#endif /* LRP_INSTANCE_DENSE_FEW */
