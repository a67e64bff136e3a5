/* Linear passes of a few samples (a batch of at most DENSE_FEW), written
 * once against T and FN(), included by dense_kernels.h. A product would
 * fill its micro-tiles' rows with padding; these loops instead stream the
 * weights once, row by row, with every output's reduction the same chain
 * the products compute (multiply-adds fused exactly where their micro-kernels
 * fuse them), so a sample gets the same bits in a batch of 1 or of 1000:
 *   transposed  c_j = sum or max over k of x_k rho(w_kj), in order of k
 *               (the real pass: x = R / z; Viterbi's: x = R / (m + 1e-9),
 *               with absolute weights), then the products' epilogue;
 *   forward     z_k = sum_j rho(w_kj) a_j + beta_k, in order of j, FEW_ROWS
 *               outputs' chains side by side in the lanes of a vector;
 *   absmax      m_k = max_j |a_j| |rho(w_kj)| (exact in any order).
 * Work items are blocks of inputs (transposed), of FEW_ROWS outputs
 * (forward) or single outputs (absmax). */

#if LRP_X86_DISPATCH
#include <immintrin.h>
#endif

#define DENSE_FEW 8
#define FEW_BLOCK 1024 /* inputs per transposed item */
#define FEW_ROWS 16    /* outputs per forward item */
#define FEW_COLS 64    /* inputs per forward tile: whole cache lines of each row */

#define FEW_TRANSPOSED 0 /* FN(dense_few).pass */
#define FEW_FORWARD 1
#define FEW_ABSMAX 2

typedef struct {
    const lrp_dense_shape *s;
    int pass, kind, max;
    T gamma;
    const T *w, *x;        /* x: (n, out) for the transposed passes, else a (n, in) */
    const T *scale, *cap;  /* the transposed passes' epilogue (see FN(dense_finish)) */
    const T *beta;         /* forward: beta_k; absmax: |beta_k| */
    T *out;
    int gather;            /* forward: FN(few_gather_tile) may take full tiles */
} FN(dense_few);

static LRP_INLINE void FN(few_transposed)(const FN(dense_few) *f, ptrdiff_t item, int kind,
                                          int max, int fused)
{
    const lrp_dense_shape *s = f->s;
    const ptrdiff_t j0 = item * FEW_BLOCK;
    const ptrdiff_t width = s->in - j0 < FEW_BLOCK ? s->in - j0 : FEW_BLOCK;
    T acc[DENSE_FEW][FEW_BLOCK];
    for (ptrdiff_t n = 0; n < s->n; n++)
        for (ptrdiff_t j = 0; j < width; j++)
            acc[n][j] = 0;
    for (ptrdiff_t k = 0; k < s->out; k++) {
        const T *restrict wk = f->w + k * s->in + j0;
        for (ptrdiff_t n = 0; n < s->n; n++) {
            /* a zero term leaves every chain as it was (none is ever -0) */
            const T xk = f->x[n * s->out + k];
            if (xk == 0)
                continue;
            T *restrict an = acc[n];
            if (max) {
                for (ptrdiff_t j = 0; j < width; j++) {
                    const T v = xk * FN(absolute)(FN(rho)(kind, f->gamma, wk[j]));
                    an[j] = v > an[j] ? v : an[j];
                }
            } else if (fused) {
                for (ptrdiff_t j = 0; j < width; j++)
                    an[j] = FMA(xk, FN(rho)(kind, f->gamma, wk[j]), an[j]);
            } else {
                for (ptrdiff_t j = 0; j < width; j++)
                    an[j] = an[j] + xk * FN(rho)(kind, f->gamma, wk[j]);
            }
        }
    }
    for (ptrdiff_t n = 0; n < s->n; n++) {
        T *row = f->out + n * s->in;
        const T *a = f->scale + n * s->in;
        for (ptrdiff_t j = 0; j < width; j++)
            row[j0 + j] = acc[n][j];
        if (max) {
            FN(viterbi_scale)(row, a, j0, j0 + width, f->cap[n]);
        } else {
            for (ptrdiff_t j = j0; j < j0 + width; j++)
                row[j] = a[j] * row[j];
        }
    }
}

static LRP_INLINE void FN(few_absmax)(const FN(dense_few) *f, ptrdiff_t k, int kind)
{
    const lrp_dense_shape *s = f->s;
    const T *restrict wk = f->w + k * s->in;
    for (ptrdiff_t n = 0; n < s->n; n++) {
        const T *restrict an = f->x + n * s->in;
        T best[16] = {0};
        ptrdiff_t j = 0;
        for (; j + 16 <= s->in; j += 16) {
            LRP_LANE_LOOP
            for (int l = 0; l < 16; l++) {
                const T v = FN(absolute)(an[j + l]) * FN(absolute)(FN(rho)(kind, f->gamma, wk[j + l]));
                best[l] = v > best[l] ? v : best[l];
            }
        }
        for (; j < s->in; j++) {
            const T v = FN(absolute)(an[j]) * FN(absolute)(FN(rho)(kind, f->gamma, wk[j]));
            best[0] = v > best[0] ? v : best[0];
        }
        T m = f->beta[k];
        for (int l = 0; l < 16; l++)
            m = best[l] > m ? best[l] : m;
        f->out[n * s->out + k] = m;
    }
}

#if LRP_X86_DISPATCH
/* tile[jj][l] = w[l * ld + jj] for FEW_ROWS rows, one gather per column: the
 * turn element by element cost the few-sample forward of VGG-16's fc6 more
 * than reading its 411 MB of weights. Only with AVX-512, whose clone calls
 * it (never inlined, so the other clones need not be compiled for it). */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(few_gather_tile)(
    const T *w, ptrdiff_t ld, ptrdiff_t width, T (*tile)[FEW_ROWS])
{
    if (sizeof(T) == 4) {
        const __m512i rows = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32((int)ld));
        for (ptrdiff_t jj = 0; jj < width; jj++)
            _mm512_storeu_ps((float *)tile[jj], _mm512_i32gather_ps(rows, (const float *)(w + jj), 4));
    } else {
        const __m256i low = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                               _mm256_set1_epi32((int)ld));
        const __m256i high = _mm256_add_epi32(low, _mm256_set1_epi32((int)(8 * ld)));
        for (ptrdiff_t jj = 0; jj < width; jj++) {
            _mm512_storeu_pd((double *)tile[jj], _mm512_i32gather_pd(low, (const double *)(w + jj), 8));
            _mm512_storeu_pd((double *)tile[jj] + 8,
                             _mm512_i32gather_pd(high, (const double *)(w + jj), 8));
        }
    }
}
#endif

/* FEW_ROWS outputs from k0 on: the weights are read FEW_ROWS x FEW_COLS at
 * a time and turned in a small tile, so that each input j adds one term to
 * every chain of the block (one vector multiply-add per sample). */
static LRP_INLINE void FN(few_forward)(const FN(dense_few) *f, ptrdiff_t item, int kind,
                                       int fused)
{
    const lrp_dense_shape *s = f->s;
    const ptrdiff_t k0 = item * FEW_ROWS;
    const ptrdiff_t rows = s->out - k0 < FEW_ROWS ? s->out - k0 : FEW_ROWS;
    T acc[DENSE_FEW][FEW_ROWS], tile[FEW_COLS][FEW_ROWS];
    for (ptrdiff_t n = 0; n < s->n; n++)
        for (int l = 0; l < FEW_ROWS; l++)
            acc[n][l] = 0;
    for (ptrdiff_t j0 = 0; j0 < s->in; j0 += FEW_COLS) {
        const ptrdiff_t width = s->in - j0 < FEW_COLS ? s->in - j0 : FEW_COLS;
#if LRP_X86_DISPATCH
        if (f->gather && rows == FEW_ROWS) {
            FN(few_gather_tile)(f->w + k0 * s->in + j0, s->in, width, tile);
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
        for (ptrdiff_t n = 0; n < s->n; n++) {
            const T *restrict an = f->x + n * s->in + j0;
            T *restrict chain = acc[n];
            for (ptrdiff_t jj = 0; jj < width; jj++) {
                const T x = an[jj];
                const T *restrict wj = tile[jj];
                if (fused) {
                    LRP_LANE_LOOP
                    for (int l = 0; l < FEW_ROWS; l++)
                        chain[l] = FMA(wj[l], x, chain[l]);
                } else {
                    LRP_LANE_LOOP
                    for (int l = 0; l < FEW_ROWS; l++)
                        chain[l] = chain[l] + wj[l] * x;
                }
            }
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
        /* absmax items are single outputs: poll every 64 of them */
        if ((f->pass != FEW_ABSMAX || (item - begin) % 64 == 0) && lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        const int gamma = f->kind == LRP_RULE_GAMMA;
        if (f->pass == FEW_ABSMAX)
            gamma ? FN(few_absmax)(f, item, LRP_RULE_GAMMA) : FN(few_absmax)(f, item, LRP_RULE_ZERO);
        else if (f->pass == FEW_FORWARD)
            gamma ? FN(few_forward)(f, item, LRP_RULE_GAMMA, fused)
                  : FN(few_forward)(f, item, LRP_RULE_ZERO, fused);
        else if (f->max)
            gamma ? FN(few_transposed)(f, item, LRP_RULE_GAMMA, 1, fused)
                  : FN(few_transposed)(f, item, LRP_RULE_ZERO, 1, fused);
        else
            gamma ? FN(few_transposed)(f, item, LRP_RULE_GAMMA, 0, fused)
                  : FN(few_transposed)(f, item, LRP_RULE_ZERO, 0, fused);
    }
    return LRP_OK;
}

LRP_ISA_TASKS(few_task, FN(few_items))

static lrp_status FN(few_run)(FN(dense_few) *f, ptrdiff_t items)
{
    lrp_task task = LRP_ISA_TASK(few_task);
    const double pairs = (double)f->s->n * (double)f->s->in * (double)f->s->out;
    return lrp_parallel_for_upto(items, (ptrdiff_t)(pairs / 262144.0), task, f, f->s->interrupt);
}

/* The transposed passes (see dense_product_run) of a few samples. */
static lrp_status FN(few_transposed_run)(const lrp_dense_shape *s, int kind, T gamma, int max,
                                         const T *x, const T *w, const T *scale, const T *cap,
                                         T *out)
{
    FN(dense_few) f = {s, FEW_TRANSPOSED, kind, max, gamma, w, x, scale, cap, NULL, out, 0};
    return FN(few_run)(&f, (s->in + FEW_BLOCK - 1) / FEW_BLOCK);
}

/* z (n, out) of a few samples, beta_k added last as the products do. */
static lrp_status FN(few_forward_run)(const lrp_dense_shape *s, int kind, T gamma, const T *a,
                                      const T *w, const T *beta, T *z)
{
    FN(dense_few) f = {s, FEW_FORWARD, kind, 0, gamma, w, a, NULL, NULL, beta, z, 0};
#if LRP_X86_DISPATCH
    /* the gathers' offsets, up to (FEW_ROWS - 1) rows, are 32-bit */
    f.gather = lrp_current_isa() == LRP_ISA_AVX512 && s->in <= INT32_MAX / FEW_ROWS;
#endif
    return FN(few_run)(&f, (s->out + FEW_ROWS - 1) / FEW_ROWS);
}

/* m (n, out) of a few samples; beta holds |beta_k|. */
static lrp_status FN(few_absmax_run)(const lrp_dense_shape *s, int kind, T gamma, const T *a,
                                     const T *w, const T *beta, T *m)
{
    FN(dense_few) f = {s, FEW_ABSMAX, kind, 1, gamma, w, a, NULL, NULL, beta, m, 0};
    return FN(few_run)(&f, s->out);
}

#undef FEW_BLOCK
#undef FEW_ROWS
#undef FEW_COLS
#undef FEW_TRANSPOSED
#undef FEW_FORWARD
#undef FEW_ABSMAX
