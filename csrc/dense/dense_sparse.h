/* Linear passes of batches whose inputs are mostly zero (the pixels of a
 * digit image), written once against T and FN(), included by
 * dense_kernels.h. Consecutive samples go through the weights together,
 * reading only the rows of rho(W)^T (row j: input j's weights to every
 * output; packed once per call) of the inputs nonzero in any of them:
 *   forward  groups of SPARSE_GROUP samples, z_k = sum_j a_j rho(w_kj) in
 *            order of j over those inputs, then + beta_k;
 *   real     bands of SPARSE_BAND samples, R_j = a_j c_j, c_j = sum_k x_k
 *            rho(w_kj) in order of k (x = R / z) for those inputs, R_j = 0
 *            for the others.
 * Each result is the products' chain (dense_products.h) less terms with a
 * zero factor, which leave a chain as it was: the same values (a zero's sign
 * aside: where the products write 0 * c = -0, these may write 0), so whether
 * a batch takes these passes (FN(dense_sparse_pays)) may depend on the batch.
 * A product reads every weight for every sample; a group or band reads the
 * rows of its union of nonzero inputs only. */
#include "kernel/template.h"
#include "kernel/rule_math.h"

#ifndef SEMIRING_LRP_DENSE_SPARSE_SIZES /* once per unit: the same for every T */
#define SEMIRING_LRP_DENSE_SPARSE_SIZES
enum {
    SPARSE_LANES = 16,     /* rows of rho(W)^T are whole vectors */
    SPARSE_GROUP = 4,      /* forward: samples that share their pass */
    SPARSE_BAND = 32,      /* real: samples that share their pass, two float vectors */
    SPARSE_ROWS = 12,      /* real: inputs whose sums run side by side */
    SPARSE_PACK_ROWS = 64, /* inputs per packing item */
    SPARSE_PROBES = 64     /* samples the decision reads */
};
/* rho(W)^T is packed once per layer where the weight cache keeps it, else
 * on every call, a cost that only a large batch repays: the forward from
 * SPARSE_MIN_FORWARD samples on, the real pass from SPARSE_MIN_REAL (each
 * where the sparse pass overtook the products); and up to
 * SPARSE_MAX_WEIGHTS weights the copy costs milliseconds and little
 * memory. */
enum { SPARSE_MIN_FORWARD = 64, SPARSE_MIN_REAL = 256, SPARSE_MAX_WEIGHTS = 4194304 };
#endif

#ifndef LRP_INSTANCE_DENSE_SPARSE /* once per instance */
#define LRP_INSTANCE_DENSE_SPARSE

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lrp.h"
#include "kernel/compiler.h"
#include "runtime/isa_dispatch.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/weight_cache.h"
#include "kernel/tuning.h"
#include "products/products.h"
#if LRP_X86_DISPATCH
#include <immintrin.h>
#endif

#define SPARSE_COLS (5 * (ptrdiff_t)(64 / sizeof(T))) /* forward: chains per block */

/* Whether the batch a (n, in) of at least min_samples takes the sparse
 * passes: at most a share 1 / sparseness of the inputs of up to
 * SPARSE_PROBES samples spread over it are nonzero. */
static int FN(dense_sparse_within)(const lrp_dense_shape *s, const T *a, ptrdiff_t min_samples,
                                   int sparseness)
{
    if (s->n < min_samples || (double)s->in * (double)s->out > SPARSE_MAX_WEIGHTS ||
        s->in > INT32_MAX / 2) /* inputs counted in 32 bits */
        return 0;
    const ptrdiff_t probes = s->n < SPARSE_PROBES ? s->n : SPARSE_PROBES;
    double nonzero = 0;
    for (ptrdiff_t p = 0; p < probes; p++) {
        const T *row = a + p * s->n / probes * s->in;
        ptrdiff_t count = 0;
        for (ptrdiff_t j = 0; j < s->in; j++)
            count += row[j] != 0;
        nonzero += (double)count;
    }
    return sparseness * nonzero <= (double)probes * (double)s->in;
}

/* The forward and real passes: at most a quarter nonzero (a band's union of
 * nonzero inputs is several times a sample's share, so a denser batch gains
 * too little). */
static int FN(dense_sparse_pays)(const lrp_dense_shape *s, const T *a, ptrdiff_t min_samples)
{
    return FN(dense_sparse_within)(s, a, min_samples, 4);
}

typedef struct {
    const T *w; /* (out, in) */
    ptrdiff_t in, out, ld;
    int kind;
    T gamma;
    T *wt; /* (in, ld): rho(w)^T, columns past out 0 */
} FN(sparse_pack_job);

static lrp_status FN(sparse_pack_task)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                       int worker, lrp_team *team)
{
    const FN(sparse_pack_job) *job = context;
    (void)worker, (void)team;
    for (ptrdiff_t item = begin; item < end; item++) {
        const ptrdiff_t j0 = item * SPARSE_PACK_ROWS;
        const ptrdiff_t j1 = j0 + SPARSE_PACK_ROWS < job->in ? j0 + SPARSE_PACK_ROWS : job->in;
        /* SPARSE_LANES weight rows side by side: a line of wt per input */
        for (ptrdiff_t k0 = 0; k0 < job->ld; k0 += SPARSE_LANES) {
            const ptrdiff_t lanes = job->out - k0 < SPARSE_LANES ? job->out - k0 : SPARSE_LANES;
            const T *restrict src = job->w + k0 * job->in;
            for (ptrdiff_t j = j0; j < j1; j++) {
                T *restrict dst = job->wt + j * job->ld + k0;
                if (lanes == SPARSE_LANES) {
                    for (ptrdiff_t kk = 0; kk < SPARSE_LANES; kk++)
                        dst[kk] = FN(rho)(job->kind, job->gamma, src[kk * job->in + j]);
                } else {
                    for (ptrdiff_t kk = 0; kk < SPARSE_LANES; kk++)
                        dst[kk] = kk < lanes ? FN(rho)(job->kind, job->gamma, src[kk * job->in + j])
                                             : (T)0;
                }
            }
        }
    }
    return LRP_OK;
}

static lrp_status FN(sparse_weights_build)(void *context, void *data)
{
    FN(sparse_pack_job) *job = context;
    T *wt = job->wt = data;
    const ptrdiff_t values = job->in * job->ld;
    memset(wt + values, 0, SPARSE_COLS * sizeof(T));
    /* no interrupt: a copy of the weights, under a second (VGG-16's fc6 for
     * the streamed forward: 0.15 s, 0.6 s on fresh pages) */
    (void)lrp_parallel_for_upto((job->in + SPARSE_PACK_ROWS - 1) / SPARSE_PACK_ROWS,
                                (ptrdiff_t)((double)values / LRP_MIN_PACK_PER_THREAD),
                                FN(sparse_pack_task), job, NULL);
    T largest = 0;
    for (ptrdiff_t c = 0; c < values; c++) /* NaN never wins; inf does */
        largest = FN(absolute)(wt[c]) > largest ? FN(absolute)(wt[c]) : largest;
    wt[values + SPARSE_COLS] = (T)FN(all_finite)(wt, values);
    wt[values + SPARSE_COLS + 1] = largest;
    return LRP_OK;
}

/* The cache key of FN(sparse_weights) for s, and its row length in *ld; 0
 * when its size overflows. rho has no multiply-add to fuse: the same bits on
 * every instruction set, so the key holds none. */
static int FN(sparse_weights_key)(const lrp_dense_shape *s, int kind, T gamma, ptrdiff_t *ld,
                                  lrp_cache_key *key)
{
    *ld = (s->out + SPARSE_LANES - 1) / SPARSE_LANES * SPARSE_LANES;
    size_t count;
    if (lrp_checked_count(SPARSE_COLS + 2, s->in, (size_t)*ld, &count) != LRP_OK)
        return 0;
    *key = (lrp_cache_key){.form = LRP_FORM_SPARSE_TRANSPOSED, .elem_size = (int)sizeof(T),
                           .kind = kind, .gamma = (double)gamma, .rows = s->out, .cols = s->in,
                           .groups = 1, .taps = 1, .count = count};
    return 1;
}

/* rho(w)^T, (in, *ld) (columns past out 0), then SPARSE_COLS zeros (the
 * forward reads whole blocks of a row), then 1 if every rho(w) is finite
 * (else 0) and the largest |rho(w)|: s->cache's entry where it has one,
 * else packed into memory handed back in *own for the caller to free. NULL
 * if out of memory. */
static const T *FN(sparse_weights)(const lrp_dense_shape *s, int kind, T gamma, const T *w,
                                   ptrdiff_t *ld, void **own)
{
    *own = NULL;
    lrp_cache_key key;
    if (!FN(sparse_weights_key)(s, kind, gamma, ld, &key))
        return NULL;
    FN(sparse_pack_job) job = {w, s->in, s->out, *ld, kind, gamma, NULL};
    lrp_status status;
    return lrp_weights_prepared(s->cache, w, &key, FN(sparse_weights_build), &job, own, &status);
}

/* Of FN(sparse_weights)'s wt for in inputs: whether every rho(w) is finite,
 * and the largest |rho(w)|. */
static LRP_INLINE int FN(sparse_weights_finite)(const T *wt, ptrdiff_t in, ptrdiff_t ld)
{
    return wt[in * ld + SPARSE_COLS] != 0;
}
static LRP_INLINE T FN(sparse_weights_largest)(const T *wt, ptrdiff_t in, ptrdiff_t ld)
{
    return wt[in * ld + SPARSE_COLS + 1];
}

/* FN(sparse_weights)'s rho(w)^T from s->cache only, for passes that a copy
 * per call would not repay: NULL unless lrp_weights_worth_keeping, when
 * memory runs out, or when some rho(w) is not finite (a zero input's term
 * would then not be zero). */
static const T *FN(sparse_weights_kept)(const lrp_dense_shape *s, int kind, T gamma,
                                        const T *w, ptrdiff_t *ld)
{
    lrp_cache_key key;
    void *own;
    if (!FN(sparse_weights_key)(s, kind, gamma, ld, &key) ||
        !lrp_weights_worth_keeping(s->cache, w, &key))
        return NULL;
    const T *wt = FN(sparse_weights)(s, kind, gamma, w, ld, &own);
    if (own) { /* another pass filled the cache meanwhile */
        free(own);
        return NULL;
    }
    return wt && FN(sparse_weights_finite)(wt, s->in, *ld) ? wt : NULL;
}

typedef struct {
    const lrp_dense_shape *s;
    const T *wt;
    ptrdiff_t ld;
    const T *a;    /* (n, in) */
    const T *beta; /* forward: beta_k */
    const T *x;    /* real: R / z, (n, out); NULL: the forward */
    T *out;        /* forward: z (n, out); real: R_in (n, in) */
    int avx512;    /* the inner loops below in AVX-512 intrinsics */
} FN(sparse_pass);

/* A group (forward) or band (real pass) of consecutive samples shares its
 * pass over the weights: the inputs nonzero in any of them, index[t] for
 * t < count in order, and for the forward each sample's value[g][t] (0
 * included). A zero term leaves a chain as it was, so a sample's results do
 * not depend on its group. */
typedef struct {
    int size; /* SPARSE_GROUP (forward) or SPARSE_BAND (real) */
    const T *a[SPARSE_BAND];
    int32_t *index;
    T *value[SPARSE_GROUP]; /* forward only */
    int32_t count;
} FN(sparse_group);

static LRP_INLINE void FN(sparse_union)(FN(sparse_group) *group, int32_t in)
{
    int32_t count = 0;
    for (int32_t j = 0; j < in; j++) {
        int any = 0;
        for (int g = 0; g < group->size; g++)
            any |= group->a[g][j] != 0;
        if (group->size == SPARSE_GROUP)
            for (int g = 0; g < SPARSE_GROUP; g++)
                group->value[g][count] = group->a[g][j];
        group->index[count] = j;
        count += any;
    }
    group->count = count;
}

/* chain[g][c] = sum over t of value[g][t] wt[index[t]][c], for SPARSE_COLS
 * columns from wt on */
static LRP_INLINE void FN(sparse_chains)(const FN(sparse_group) *group, const T *wt,
                                         ptrdiff_t ld, T (*restrict chain)[SPARSE_COLS],
                                         int fused)
{
    for (int g = 0; g < SPARSE_GROUP; g++)
        for (ptrdiff_t c = 0; c < SPARSE_COLS; c++)
            chain[g][c] = 0;
    for (int32_t t = 0; t < group->count; t++) {
        const T *restrict wj = wt + group->index[t] * ld;
        for (int g = 0; g < SPARSE_GROUP; g++) {
            const T x = group->value[g][t];
            if (fused) {
                for (ptrdiff_t c = 0; c < SPARSE_COLS; c++)
                    chain[g][c] = FMA(x, wj[c], chain[g][c]);
            } else {
                for (ptrdiff_t c = 0; c < SPARSE_COLS; c++)
                    chain[g][c] = chain[g][c] + x * wj[c];
            }
        }
    }
}

/* c[r][g] = sum over k < out of xs[k][g] wt_r[k] for SPARSE_ROWS rows wt_r
 * of wt and the band's SPARSE_BAND samples g, in order of k: the products'
 * chain, fused where theirs is */
static LRP_INLINE void FN(sparse_sums)(const T *restrict xs, const T *const *rows, ptrdiff_t out,
                                       T (*restrict c)[SPARSE_BAND], int fused)
{
    for (int r = 0; r < SPARSE_ROWS; r++)
        for (int g = 0; g < SPARSE_BAND; g++)
            c[r][g] = 0;
    for (ptrdiff_t k = 0; k < out; k++)
        for (int r = 0; r < SPARSE_ROWS; r++) {
            const T w = rows[r][k];
            const T *restrict xk = xs + k * SPARSE_BAND;
            T *restrict cr = c[r];
            if (fused) {
                LRP_LANE_LOOP
                for (int g = 0; g < SPARSE_BAND; g++)
                    cr[g] = FMA(xk[g], w, cr[g]);
            } else {
                LRP_LANE_LOOP
                for (int g = 0; g < SPARSE_BAND; g++)
                    cr[g] = cr[g] + xk[g] * w;
            }
        }
}

#if LRP_X86_DISPATCH
/* The three loops above in AVX-512, the same arithmetic in the same order
 * (never inlined, so the other clones need not be compiled for it). The
 * union compresses in registers and stores whole vectors: a compress
 * straight to memory is microcoded on AMD's Zen 4. */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(sparse_union_avx512)(
    FN(sparse_group) *group, int32_t in)
{
    int32_t count = 0;
    if (sizeof(T) == 4) {
        const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int32_t j = 0; j < in; j += 16) {
            const __mmask16 valid = in - j >= 16 ? (__mmask16)0xffff
                                                 : (__mmask16)((1u << (in - j)) - 1);
            __mmask16 any = 0;
            for (int g = 0; g < group->size; g++)
                any |= _mm512_mask_cmp_ps_mask(
                    valid, _mm512_maskz_loadu_ps(valid, (const float *)group->a[g] + j),
                    _mm512_setzero_ps(), _CMP_NEQ_UQ);
            if (group->size == SPARSE_GROUP)
                for (int g = 0; g < SPARSE_GROUP; g++)
                    _mm512_storeu_ps((float *)group->value[g] + count,
                                     _mm512_maskz_compress_ps(
                                         any, _mm512_maskz_loadu_ps(
                                                  valid, (const float *)group->a[g] + j)));
            _mm512_storeu_si512(group->index + count,
                                _mm512_maskz_compress_epi32(
                                    any, _mm512_add_epi32(lanes, _mm512_set1_epi32(j))));
            count += __builtin_popcount(any);
        }
    } else {
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (int32_t j = 0; j < in; j += 8) {
            const __mmask8 valid = in - j >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (in - j)) - 1);
            __mmask8 any = 0;
            for (int g = 0; g < group->size; g++)
                any |= _mm512_mask_cmp_pd_mask(
                    valid, _mm512_maskz_loadu_pd(valid, (const double *)group->a[g] + j),
                    _mm512_setzero_pd(), _CMP_NEQ_UQ);
            if (group->size == SPARSE_GROUP)
                for (int g = 0; g < SPARSE_GROUP; g++)
                    _mm512_storeu_pd((double *)group->value[g] + count,
                                     _mm512_maskz_compress_pd(
                                         any, _mm512_maskz_loadu_pd(
                                                  valid, (const double *)group->a[g] + j)));
            _mm256_storeu_si256((__m256i *)(group->index + count),
                                _mm256_maskz_compress_epi32(
                                    any, _mm256_add_epi32(lanes, _mm256_set1_epi32(j))));
            count += __builtin_popcount(any);
        }
    }
    group->count = count;
}

#define SPARSE_VECTORS (SPARSE_COLS / (ptrdiff_t)(64 / sizeof(T)))

/* The chains of the first `vectors` vectors of a block (a literal after
 * inlining, so that the chains stay in registers). */
LRP_TARGET_AVX512 static LRP_INLINE void FN(sparse_chains_avx512_body)(
    const FN(sparse_group) *group, const T *wt, ptrdiff_t ld, T (*chain)[SPARSE_COLS],
    int vectors)
{
    if (sizeof(T) == 4) {
        __m512 c[SPARSE_GROUP][SPARSE_VECTORS];
        for (int g = 0; g < SPARSE_GROUP; g++)
            for (int v = 0; v < vectors; v++)
                c[g][v] = _mm512_setzero_ps();
        for (int32_t t = 0; t < group->count; t++) {
            const float *w = (const float *)(wt + group->index[t] * ld);
            __m512 row[SPARSE_VECTORS];
            for (int v = 0; v < vectors; v++)
                row[v] = _mm512_loadu_ps(w + 16 * v);
            for (int g = 0; g < SPARSE_GROUP; g++) {
                const __m512 x = _mm512_set1_ps((float)group->value[g][t]);
                for (int v = 0; v < vectors; v++)
                    c[g][v] = _mm512_fmadd_ps(x, row[v], c[g][v]);
            }
        }
        for (int g = 0; g < SPARSE_GROUP; g++)
            for (int v = 0; v < vectors; v++)
                _mm512_storeu_ps((float *)chain[g] + 16 * v, c[g][v]);
    } else {
        __m512d c[SPARSE_GROUP][SPARSE_VECTORS];
        for (int g = 0; g < SPARSE_GROUP; g++)
            for (int v = 0; v < vectors; v++)
                c[g][v] = _mm512_setzero_pd();
        for (int32_t t = 0; t < group->count; t++) {
            const double *w = (const double *)(wt + group->index[t] * ld);
            __m512d row[SPARSE_VECTORS];
            for (int v = 0; v < vectors; v++)
                row[v] = _mm512_loadu_pd(w + 8 * v);
            for (int g = 0; g < SPARSE_GROUP; g++) {
                const __m512d x = _mm512_set1_pd((double)group->value[g][t]);
                for (int v = 0; v < vectors; v++)
                    c[g][v] = _mm512_fmadd_pd(x, row[v], c[g][v]);
            }
        }
        for (int g = 0; g < SPARSE_GROUP; g++)
            for (int v = 0; v < vectors; v++)
                _mm512_storeu_pd((double *)chain[g] + 8 * v, c[g][v]);
    }
}

/* chain[g][c] for c < width (at most SPARSE_COLS), in whole vectors: a
 * narrow last block computes no padding columns past its last vector */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(sparse_chains_avx512)(
    const FN(sparse_group) *group, const T *wt, ptrdiff_t ld, T (*chain)[SPARSE_COLS],
    ptrdiff_t width)
{
    switch ((width + (ptrdiff_t)(64 / sizeof(T)) - 1) / (ptrdiff_t)(64 / sizeof(T))) {
    case 1:
        FN(sparse_chains_avx512_body)(group, wt, ld, chain, 1);
        break;
    case 2:
        FN(sparse_chains_avx512_body)(group, wt, ld, chain, 2);
        break;
    case 3:
        FN(sparse_chains_avx512_body)(group, wt, ld, chain, 3);
        break;
    case 4:
        FN(sparse_chains_avx512_body)(group, wt, ld, chain, 4);
        break;
    default:
        FN(sparse_chains_avx512_body)(group, wt, ld, chain, SPARSE_VECTORS);
        break;
    }
}

#undef SPARSE_VECTORS

/* SPARSE_BAND / 16 float vectors of samples per row, or twice as many
 * double vectors, half the rows at a time */
LRP_TARGET_AVX512 __attribute__((noinline)) static void FN(sparse_sums_avx512)(
    const T *xs, const T *const *rows, ptrdiff_t out, T (*c)[SPARSE_BAND])
{
    if (sizeof(T) == 4) {
        __m512 acc[SPARSE_ROWS][2];
        for (int r = 0; r < SPARSE_ROWS; r++)
            acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        for (ptrdiff_t k = 0; k < out; k++) {
            const float *xk = (const float *)xs + k * SPARSE_BAND;
            const __m512 x0 = _mm512_load_ps(xk), x1 = _mm512_load_ps(xk + 16);
            for (int r = 0; r < SPARSE_ROWS; r++) {
                const __m512 w = _mm512_set1_ps((float)rows[r][k]);
                acc[r][0] = _mm512_fmadd_ps(x0, w, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(x1, w, acc[r][1]);
            }
        }
        for (int r = 0; r < SPARSE_ROWS; r++) {
            _mm512_storeu_ps((float *)c[r], acc[r][0]);
            _mm512_storeu_ps((float *)c[r] + 16, acc[r][1]);
        }
    } else {
        for (int r0 = 0; r0 < SPARSE_ROWS; r0 += SPARSE_ROWS / 2) {
            __m512d acc[SPARSE_ROWS / 2][4];
            for (int r = 0; r < SPARSE_ROWS / 2; r++)
                for (int v = 0; v < 4; v++)
                    acc[r][v] = _mm512_setzero_pd();
            for (ptrdiff_t k = 0; k < out; k++) {
                const double *xk = (const double *)xs + k * SPARSE_BAND;
                __m512d x[4];
                for (int v = 0; v < 4; v++)
                    x[v] = _mm512_load_pd(xk + 8 * v);
                for (int r = 0; r < SPARSE_ROWS / 2; r++) {
                    const __m512d w = _mm512_set1_pd((double)rows[r0 + r][k]);
                    for (int v = 0; v < 4; v++)
                        acc[r][v] = _mm512_fmadd_pd(x[v], w, acc[r][v]);
                }
            }
            for (int r = 0; r < SPARSE_ROWS / 2; r++)
                for (int v = 0; v < 4; v++)
                    _mm512_storeu_pd((double *)c[r0 + r] + 8 * v, acc[r][v]);
        }
    }
}
#endif

/* Scratch of one thread: the group's inputs; the real pass's x^T of a band
 * and its sums c, zero outside the union; the forward's chains. */
typedef struct {
    FN(sparse_group) group;
    T *xs;   /* (out, SPARSE_BAND) */
    T *sums; /* (SPARSE_BAND, in) */
    T (*chain)[SPARSE_COLS];
    void *memory;
} FN(sparse_scratch);

static lrp_status FN(sparse_scratch_init)(FN(sparse_scratch) *scratch, ptrdiff_t in,
                                          ptrdiff_t out)
{
    /* the AVX-512 union stores whole vectors' worth past its last value */
    const size_t room = (size_t)in + 16;
    size_t band, sums, values;
    if (lrp_checked_count(0, out, SPARSE_BAND, &band) != LRP_OK ||
        lrp_checked_count(0, in, SPARSE_BAND, &sums) != LRP_OK ||
        lrp_checked_count((ptrdiff_t)(band + sums), SPARSE_GROUP + 1, room + SPARSE_COLS,
                          &values) != LRP_OK) {
        scratch->memory = NULL;
        return LRP_ERR_NOMEM;
    }
    T *memory = lrp_alloc_aligned(values, sizeof(T));
    scratch->memory = memory;
    if (!memory)
        return LRP_ERR_NOMEM;
    scratch->xs = memory; /* first: aligned for whole-vector loads */
    scratch->sums = memory + band;
    T *rest = memory + band + sums;
    for (int g = 0; g < SPARSE_GROUP; g++)
        scratch->group.value[g] = rest + g * room;
    /* room values of T hold room int32_t indices */
    scratch->group.index = (int32_t *)(rest + SPARSE_GROUP * room);
    scratch->chain = (T(*)[SPARSE_COLS])(rest + (SPARSE_GROUP + 1) * room);
    return LRP_OK;
}

static LRP_INLINE void FN(sparse_forward_group)(const FN(sparse_pass) *p,
                                                FN(sparse_scratch) *scratch, ptrdiff_t first,
                                                int present, int fused)
{
    const lrp_dense_shape *s = p->s;
    for (ptrdiff_t c0 = 0; c0 < s->out; c0 += SPARSE_COLS) {
        const ptrdiff_t width = s->out - c0 < SPARSE_COLS ? s->out - c0 : SPARSE_COLS;
#if LRP_X86_DISPATCH
        if (p->avx512)
            FN(sparse_chains_avx512)(&scratch->group, p->wt + c0, p->ld, scratch->chain, width);
        else
#endif
            FN(sparse_chains)(&scratch->group, p->wt + c0, p->ld, scratch->chain, fused);
        for (int g = 0; g < present; g++) {
            T *z = p->out + (first + g) * s->out + c0;
            for (ptrdiff_t c = 0; c < width; c++)
                z[c] = scratch->chain[g][c] + p->beta[c0 + c];
        }
    }
}

static LRP_INLINE void FN(sparse_real_band)(const FN(sparse_pass) *p,
                                            FN(sparse_scratch) *scratch, ptrdiff_t first,
                                            int present, int fused)
{
    const lrp_dense_shape *s = p->s;
    const FN(sparse_group) *group = &scratch->group;
    /* a short band repeats its first sample */
    const T *x[SPARSE_BAND];
    for (int g = 0; g < SPARSE_BAND; g++)
        x[g] = p->x + (first + (g < present ? g : 0)) * s->out;
    for (ptrdiff_t k = 0; k < s->out; k++)
        for (int g = 0; g < SPARSE_BAND; g++)
            scratch->xs[k * SPARSE_BAND + g] = x[g][k];
    memset(scratch->sums, 0, (size_t)s->in * SPARSE_BAND * sizeof(T));
    for (int32_t t0 = 0; t0 < group->count; t0 += SPARSE_ROWS) {
        const T *rows[SPARSE_ROWS];
        T c[SPARSE_ROWS][SPARSE_BAND];
        /* past the last input, the rows repeat it; their sums are dropped */
        for (int u = 0; u < SPARSE_ROWS; u++)
            rows[u] = p->wt + group->index[t0 + u < group->count ? t0 + u : group->count - 1] * p->ld;
#if LRP_X86_DISPATCH
        if (p->avx512)
            FN(sparse_sums_avx512)(scratch->xs, rows, s->out, c);
        else
#endif
            FN(sparse_sums)(scratch->xs, rows, s->out, c, fused);
        for (int u = 0; u < SPARSE_ROWS && t0 + u < group->count; u++) {
            T *column = scratch->sums + group->index[t0 + u];
            for (int g = 0; g < present; g++)
                column[g * s->in] = c[u][g];
        }
    }
    /* R_j = a_j c_j as the products' epilogue writes it (c_j = 0 outside
     * the union, where every a_j is 0) */
    for (int g = 0; g < present; g++) {
        const T *restrict a = group->a[g], *restrict c = scratch->sums + g * s->in;
        T *restrict r = p->out + (first + g) * s->in;
        for (ptrdiff_t j = 0; j < s->in; j++)
            r[j] = a[j] * c[j];
    }
}

static LRP_INLINE lrp_status FN(sparse_items)(void *context, ptrdiff_t begin, ptrdiff_t end,
                                              int worker, lrp_team *team, int fused)
{
    const FN(sparse_pass) *p = context;
    const lrp_dense_shape *s = p->s;
    FN(sparse_scratch) scratch;
    lrp_status status = FN(sparse_scratch_init)(&scratch, s->in, s->out);
    const int size = p->x ? SPARSE_BAND : SPARSE_GROUP;
    scratch.group.size = size;
    for (ptrdiff_t item = begin; item < end && status == LRP_OK; item++) {
        if (lrp_team_stop(team, worker)) {
            status = LRP_ERR_INTERRUPTED;
            break;
        }
        const ptrdiff_t first = item * size;
        const int present = s->n - first < size ? (int)(s->n - first) : size;
        /* a short group repeats its first sample, whose inputs are in the union */
        for (int g = 0; g < size; g++)
            scratch.group.a[g] = p->a + (first + (g < present ? g : 0)) * s->in;
#if LRP_X86_DISPATCH
        if (p->avx512)
            FN(sparse_union_avx512)(&scratch.group, (int32_t)s->in);
        else
#endif
            FN(sparse_union)(&scratch.group, (int32_t)s->in);
        if (p->x)
            FN(sparse_real_band)(p, &scratch, first, present, fused);
        else
            FN(sparse_forward_group)(p, &scratch, first, present, fused);
    }
    free(scratch.memory);
    return status;
}

LRP_ISA_TASKS(sparse_task, FN(sparse_items))

/* Runs the pass over the whole batch. */
static lrp_status FN(sparse_run)(FN(sparse_pass) *p)
{
#if LRP_X86_DISPATCH
    p->avx512 = lrp_current_isa() == LRP_ISA_AVX512;
#endif
    const int size = p->x ? SPARSE_BAND : SPARSE_GROUP;
    /* about a third of a product's work */
    const double pairs = (double)p->s->n * (double)p->s->in * (double)p->s->out / 3;
    return lrp_parallel_for_upto((p->s->n + size - 1) / size, (ptrdiff_t)(pairs / LRP_MIN_WORK_PER_THREAD),
                                 LRP_ISA_TASK(sparse_task), p, p->s->interrupt);
}

/* The pass with rho(W)^T packed for it: the forward (x NULL) or the real
 * pass (x = R / z). */
static lrp_status FN(sparse_inputs_run)(const lrp_dense_shape *s, int kind, T gamma,
                                        const T *a, const T *w, const T *beta, const T *x,
                                        T *out)
{
    ptrdiff_t ld;
    void *own;
    const T *wt = FN(sparse_weights)(s, kind, gamma, w, &ld, &own);
    if (!wt)
        return LRP_ERR_NOMEM;
    FN(sparse_pass) p = {.s = s, .wt = wt, .ld = ld, .a = a, .beta = beta, .x = x, .out = out};
    lrp_status status = FN(sparse_run)(&p);
    free(own);
    return status;
}

/* z (n, out) = a rho(W)^T + beta through the inputs nonzero in each group. */
static LRP_INLINE lrp_status FN(sparse_forward_run)(const lrp_dense_shape *s, int kind, T gamma,
                                                    const T *a, const T *w, const T *beta,
                                                    T *z)
{
    return FN(sparse_inputs_run)(s, kind, gamma, a, w, beta, NULL, z);
}

/* R_in (n, in) = a * (x rho(W)), x = R / z, through the inputs nonzero in
 * each band. */
static LRP_INLINE lrp_status FN(sparse_real_run)(const lrp_dense_shape *s, int kind, T gamma,
                                                 const T *a, const T *w, const T *x, T *r_in)
{
    return FN(sparse_inputs_run)(s, kind, gamma, a, w, NULL, x, r_in);
}

#undef SPARSE_COLS

#endif /* LRP_INSTANCE_DENSE_SPARSE */
