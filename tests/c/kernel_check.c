/* The C kernel library on its own, without Python: dense and conv passes
 * (forward, absmax, real and Viterbi relevance; LRP-0 and LRP-gamma; float
 * and double) on awkward sizes and on the layer shapes of
 * tests/bit_for_bit.py's networks, on every instruction set lrp_set_isa
 * accepts here. Each pass is checked
 *   - against literal loops over (j, k) in double, to rounding;
 *   - with 1 and 2 threads: the same bits;
 *   - against the portable path given the same inputs: the sums (forward,
 *     real) to rounding, as the SIMD paths fuse their multiply-adds; absmax
 *     and Viterbi bit for bit, as they have no fused step;
 *   - against every other fusing path (AVX2, AVX-512, NEON): bit for bit,
 *     as all of them fuse the same multiply-adds in the same order.
 * .ci/aarch64 runs it natively with `--write FILE`, which writes every
 * case's digests of the portable path and (where the CPU has AVX2) of a
 * fusing path, then builds it for aarch64 and runs it under qemu-aarch64
 * with `--expect FILE`, which asks the portable path and NEON for the same
 * digests, so that NEON is held to AVX2's bits.
 *
 *     cc -std=c11 -O2 -Icsrc tests/c/kernel_check.c <the library's .c files> -lm -pthread
 *
 * Exits 0 when every check holds, 1 (naming the first failures) otherwise. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrp.h"
#include "products/microkernels.h"

static int failures;

static void fail(const char *what, const char *message)
{
    if (failures++ < 20)
        fprintf(stderr, "%s: %s\n", what, message);
}

/* A reproducible value in [-1, 1) (a linear congruential sequence), or 0
 * for `zeros` in 8 of them (ReLU's dead units, sparse inputs). Float
 * values, so that float and double passes get the same inputs. */
static void random_values(double *x, size_t count, uint64_t seed, int zeros)
{
    for (size_t i = 0; i < count; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        const double v = (double)(seed >> 11) / 9007199254740992.0 * 2 - 1;
        x[i] = (int)(seed >> 61) < zeros ? 0 : (double)(float)v;
    }
}

/* One layer: dense (conv 0) or a unit-stride conv with square kernels. */
typedef struct {
    int conv;
    lrp_dense_shape dense;
    lrp_conv_shape shape;
    size_t ins, outs, weights, biases;
} layer;

static layer dense_layer(ptrdiff_t n, ptrdiff_t in, ptrdiff_t out)
{
    layer l = {0};
    l.dense = (lrp_dense_shape){n, in, out, NULL, NULL};
    l.ins = (size_t)(n * in), l.outs = (size_t)(n * out);
    l.weights = (size_t)(out * in), l.biases = (size_t)out;
    return l;
}

static layer conv_layer(ptrdiff_t n, ptrdiff_t in_c, ptrdiff_t size, ptrdiff_t out_c,
                        ptrdiff_t k, ptrdiff_t pad)
{
    const ptrdiff_t out_size = size + 2 * pad - k + 1;
    layer l = {0};
    l.conv = 1;
    l.shape = (lrp_conv_shape){n,   in_c, size, size, out_c, out_size, out_size, k, k, 1, 1,
                               pad, pad,  1,    1,    1,     NULL,     NULL};
    l.ins = (size_t)(n * in_c * size * size), l.outs = (size_t)(n * out_c * out_size * out_size);
    l.weights = (size_t)(out_c * in_c * k * k), l.biases = (size_t)out_c;
    return l;
}

static void layer_name(const layer *l, char *name, size_t size)
{
    if (l->conv)
        snprintf(name, size, "conv n%td %td->%td ch %tdx%td k%td pad%td", l->shape.n,
                 l->shape.in_c, l->shape.out_c, l->shape.in_h, l->shape.in_w, l->shape.k_h,
                 l->shape.pad_h);
    else
        snprintf(name, size, "dense n%td %td->%td", l->dense.n, l->dense.in, l->dense.out);
}

/* The pairs (input j, weight index) that reach output k (flat over the
 * batch): their count. */
static ptrdiff_t pairs_of(const layer *l, ptrdiff_t k, ptrdiff_t *j, ptrdiff_t *widx)
{
    ptrdiff_t count = 0;
    if (!l->conv) {
        const ptrdiff_t in = l->dense.in, i = k / l->dense.out, o = k % l->dense.out;
        for (ptrdiff_t c = 0; c < in; c++, count++)
            j[count] = i * in + c, widx[count] = o * in + c;
        return count;
    }
    const lrp_conv_shape *s = &l->shape;
    const ptrdiff_t out_plane = s->out_h * s->out_w, plane = s->in_h * s->in_w;
    const ptrdiff_t i = k / (s->out_c * out_plane), co = k / out_plane % s->out_c;
    const ptrdiff_t oy = k % out_plane / s->out_w, ox = k % s->out_w;
    for (ptrdiff_t ci = 0; ci < s->in_c; ci++)
        for (ptrdiff_t ky = 0; ky < s->k_h; ky++)
            for (ptrdiff_t kx = 0; kx < s->k_w; kx++) {
                const ptrdiff_t iy = oy - s->pad_h + ky, ix = ox - s->pad_w + kx;
                if (iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w)
                    continue;
                j[count] = (i * s->in_c + ci) * plane + iy * s->in_w + ix;
                widx[count++] = ((co * s->in_c + ci) * s->k_h + ky) * s->k_w + kx;
            }
    return count;
}

static ptrdiff_t channel_of(const layer *l, ptrdiff_t k)
{
    return l->conv ? k / (l->shape.out_h * l->shape.out_w) % l->shape.out_c
                   : k % l->dense.out;
}

static double rho(const lrp_rule *rule, double w)
{
    return rule->kind == LRP_RULE_GAMMA ? w + rule->gamma * (w > 0 ? w : 0) : w;
}

/* The four passes' literal values: z, m, R_in of the real pass (R_out = z)
 * and of Viterbi's (R_out = |z|), from the z and m given. */
typedef struct {
    double *z, *m, *real, *viterbi;
} outputs;

static outputs outputs_new(const layer *l)
{
    return (outputs){calloc(l->outs, sizeof(double)), calloc(l->outs, sizeof(double)),
                     calloc(l->ins, sizeof(double)), calloc(l->ins, sizeof(double))};
}

static void outputs_free(outputs o)
{
    free(o.z), free(o.m), free(o.real), free(o.viterbi);
}

static void literal(const layer *l, const lrp_rule *rule, const double *a, const double *w,
                    const double *b, const double *z, const double *m, outputs *want)
{
    const ptrdiff_t most = l->conv ? l->shape.in_c * l->shape.k_h * l->shape.k_w : l->dense.in;
    ptrdiff_t *j = malloc((size_t)most * sizeof(ptrdiff_t));
    ptrdiff_t *widx = malloc((size_t)most * sizeof(ptrdiff_t));
    for (ptrdiff_t k = 0; k < (ptrdiff_t)l->outs; k++) {
        const ptrdiff_t count = pairs_of(l, k, j, widx);
        const double beta = rho(rule, b[channel_of(l, k)]);
        double sum = beta, best = fabs(beta);
        for (ptrdiff_t p = 0; p < count; p++) {
            const double n = a[j[p]] * rho(rule, w[widx[p]]);
            sum += n;
            best = fabs(n) > best ? fabs(n) : best;
            if (z[k] != 0)
                want->real[j[p]] += n / z[k] * z[k];
            const double v = fabs(n) / (m[k] + 1e-9) * fabs(z[k]);
            want->viterbi[j[p]] = v > want->viterbi[j[p]] ? v : want->viterbi[j[p]];
        }
        want->z[k] = sum, want->m[k] = best;
    }
    free(j), free(widx);
}

/* A pass of the library in float (f64 0) or double, on double arrays. */
typedef enum { PASS_FORWARD, PASS_ABSMAX, PASS_REAL, PASS_VITERBI } pass;

static float *to_float(const double *x, size_t count)
{
    float *f = malloc((count ? count : 1) * sizeof(float));
    for (size_t i = 0; x && i < count; i++)
        f[i] = (float)x[i];
    return f;
}

static lrp_status run_f32(const layer *l, pass p, const lrp_rule *rule, const double *a,
                          const double *w, const double *b, const double *den,
                          const double *r_out, double *out)
{
    float *fa = to_float(a, l->ins), *fw = to_float(w, l->weights);
    float *fb = to_float(b, l->biases), *fden = to_float(den, l->outs);
    float *fr = to_float(r_out, l->outs);
    const size_t count = p == PASS_FORWARD || p == PASS_ABSMAX ? l->outs : l->ins;
    float *fo = to_float(NULL, count);
    lrp_status status;
    if (l->conv) {
        const lrp_conv_shape *s = &l->shape;
        status = p == PASS_FORWARD  ? lrp_conv_forward_f32(s, rule, fa, fw, fb, NULL, NULL, fo)
                 : p == PASS_ABSMAX ? lrp_conv_absmax_f32(s, rule, fa, fw, fb, NULL, NULL, fo)
                 : p == PASS_REAL
                     ? lrp_conv_relevance_real_f32(s, rule, fa, fw, NULL, NULL, fden, fr, fo)
                     : lrp_conv_relevance_viterbi_f32(s, rule, fa, fw, NULL, NULL, fden, fr, fo);
    } else {
        const lrp_dense_shape *s = &l->dense;
        status = p == PASS_FORWARD  ? lrp_dense_forward_f32(s, rule, fa, fw, fb, NULL, NULL, fo)
                 : p == PASS_ABSMAX ? lrp_dense_absmax_f32(s, rule, fa, fw, fb, NULL, NULL, fo)
                 : p == PASS_REAL
                     ? lrp_dense_relevance_real_f32(s, rule, fa, fw, NULL, NULL, fden, fr, fo)
                     : lrp_dense_relevance_viterbi_f32(s, rule, fa, fw, NULL, NULL, fden, fr, fo);
    }
    for (size_t i = 0; i < count; i++)
        out[i] = fo[i];
    free(fa), free(fw), free(fb), free(fden), free(fr), free(fo);
    return status;
}

static lrp_status run_f64(const layer *l, pass p, const lrp_rule *rule, const double *a,
                          const double *w, const double *b, const double *den,
                          const double *r_out, double *out)
{
    if (l->conv) {
        const lrp_conv_shape *s = &l->shape;
        return p == PASS_FORWARD  ? lrp_conv_forward_f64(s, rule, a, w, b, NULL, NULL, out)
               : p == PASS_ABSMAX ? lrp_conv_absmax_f64(s, rule, a, w, b, NULL, NULL, out)
               : p == PASS_REAL
                   ? lrp_conv_relevance_real_f64(s, rule, a, w, NULL, NULL, den, r_out, out)
                   : lrp_conv_relevance_viterbi_f64(s, rule, a, w, NULL, NULL, den, r_out, out);
    }
    const lrp_dense_shape *s = &l->dense;
    return p == PASS_FORWARD  ? lrp_dense_forward_f64(s, rule, a, w, b, NULL, NULL, out)
           : p == PASS_ABSMAX ? lrp_dense_absmax_f64(s, rule, a, w, b, NULL, NULL, out)
           : p == PASS_REAL
               ? lrp_dense_relevance_real_f64(s, rule, a, w, NULL, NULL, den, r_out, out)
               : lrp_dense_relevance_viterbi_f64(s, rule, a, w, NULL, NULL, den, r_out, out);
}

/* got against want to the type's rounding: relative to the largest |want|
 * of the array, as sums of terms of both signs round. */
static void check_close(const char *what, const double *got, const double *want, size_t count,
                        int f64)
{
    double scale = 0;
    for (size_t i = 0; i < count; i++)
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    const double tolerance = (f64 ? 1e-12 : 1e-4) * scale + 1e-30;
    for (size_t i = 0; i < count; i++)
        if (!(fabs(got[i] - want[i]) <= tolerance)) {
            char message[160];
            snprintf(message, sizeof message, "[%zu] got %.17g, want %.17g", i, got[i], want[i]);
            fail(what, message);
            return;
        }
}

static void check_same(const char *what, const char *relation, const double *a,
                       const double *b, size_t count)
{
    if (memcmp(a, b, count * sizeof(double)) != 0)
        fail(what, relation);
}

/* FNV-1a over the values' bytes (little-endian on both targets). */
static uint64_t digest(const double *x, size_t count)
{
    uint64_t h = 14695981039346656037ULL;
    const unsigned char *bytes = (const unsigned char *)x;
    for (size_t i = 0; i < count * sizeof(double); i++)
        h = (h ^ bytes[i]) * 1099511628211ULL;
    return h;
}

/* The instruction sets lrp_set_isa accepts, portable first. */
static int isas_here(lrp_isa *isas)
{
    static const lrp_isa all[] = {LRP_ISA_PORTABLE, LRP_ISA_AVX2, LRP_ISA_AVX512, LRP_ISA_NEON};
    int count = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (lrp_isa_runs(all[i]))
            isas[count++] = all[i];
    return count;
}

static const char *isa_name(lrp_isa isa)
{
    return isa == LRP_ISA_AVX2 ? "avx2" : isa == LRP_ISA_AVX512 ? "avx512"
                                      : isa == LRP_ISA_NEON   ? "neon"
                                                              : "portable";
}

/* Digests written by the native run (--write) or asked for (--expect):
 * lines "<path> <case> <digest>", path portable or fused. */
static FILE *digest_out;
static char *expected; /* the --expect file's text */

static void digest_record(const char *path, const char *what, uint64_t d)
{
    char line[320];
    snprintf(line, sizeof line, "%s %s %016llx\n", path, what, (unsigned long long)d);
    if (digest_out)
        fputs(line, digest_out);
    if (expected) {
        char key[300];
        snprintf(key, sizeof key, "%s %s ", path, what);
        const char *at = strstr(expected, key);
        if (!at)
            fail(what, path[0] == 'f' ? "no fused digest to compare with"
                                      : "no portable digest to compare with");
        else if (strncmp(at, line, strlen(line)) != 0)
            fail(what, path[0] == 'f' ? "differs from the native fused path's bits"
                                      : "differs from the native portable path's bits");
    }
}

/* Every entry of the micro-kernel table of the instruction set in use
 * (sum, max, max_plus, rows, cols, max_min) and of its edge kernels (the
 * first five over the edge's first columns; none on some sets) and its short
 * tiles (the sums over the first 4, 2 and 1 rows; none on some sets) on one
 * tile, from its current values and from the identity, against the same
 * arithmetic written out
 * per element, bit for bit: the sum fused (one rounding, C's fma) where
 * the set fuses, else rounded twice; max as AVX2's max (acc > x ? acc : x)
 * where it fuses, the portable path's (x > acc ? x : acc) otherwise, which
 * differ only on ties of signed zeros (present: the inputs hold zeros) and
 * NaNs; min-max's minimum likewise (x < u ? x : u, u < x ? u : x). */
enum { MICRO_SUM, MICRO_MAX, MICRO_MAX_PLUS, MICRO_ROWS, MICRO_COLS, MICRO_MAX_MIN };
static const char *const micro_names[] = {"sum", "max", "max_plus", "rows", "cols", "max_min"};

#define MICRO_CHECK(T, SUF, FMA)                                                               \
    static void micro_check_##SUF(const char *isa, int fused, ptrdiff_t kc, int load,         \
                                  uint64_t seed)                                               \
    {                                                                                          \
        const lrp_micro_##SUF *micro = lrp_micro_for_##SUF();                                  \
        const ptrdiff_t mr = micro->mr, nr = micro->nr, ldc = nr + 3, lda_rows = kc + 2;       \
        const ptrdiff_t lda_cols = mr + 5;                                                     \
        const size_t a_count = (size_t)(mr * lda_rows + kc * lda_cols + kc * mr);              \
        const size_t b_bytes = ((size_t)(kc * nr) * sizeof(T) + 63) / 64 * 64;                 \
        double *values = malloc((a_count + 3 * (size_t)(mr * ldc)) * sizeof(double));          \
        random_values(values, a_count + 3 * (size_t)(mr * ldc), seed, 2);                      \
        T *a = malloc(a_count * sizeof(T)), *b = aligned_alloc(64, b_bytes);                   \
        T *bound = aligned_alloc(64, b_bytes), *side = malloc((size_t)(mr * ldc) * sizeof(T)); \
        T *c = malloc((size_t)(mr * ldc) * sizeof(T)), *want = malloc((size_t)(mr * ldc) * sizeof(T)); \
        T *start = malloc((size_t)(mr * ldc) * sizeof(T));                                     \
        for (size_t i = 0; i < a_count; i++)                                                   \
            a[i] = (T)values[i];                                                               \
        for (ptrdiff_t i = 0; i < mr * ldc; i++) {                                             \
            start[i] = (T)values[a_count + (size_t)i];                                         \
            side[i] = (T)fabs(values[a_count + (size_t)(mr * ldc + i)]);                       \
        }                                                                                      \
        for (ptrdiff_t i = 0; i < kc * nr; i++) {                                              \
            b[i] = (T)values[(size_t)i % a_count] * (T)1.5;                                    \
            bound[i] = (T)fabs(values[a_count + (size_t)(2 * mr * ldc) + (size_t)i % (size_t)(mr * ldc)]); \
        }                                                                                      \
        const T *a_rows = a, *a_cols = a + mr * lda_rows, *a_packed = a_cols + kc * lda_cols;  \
        for (int edge = 0; edge < 2; edge++)                                                   \
        for (int kind = MICRO_SUM; kind <= (edge ? MICRO_COLS : MICRO_MAX_MIN); kind++) {      \
            /* the edge kernels write the first edge.nr columns only */                        \
            const ptrdiff_t width = edge ? micro->edge.nr : nr;                                \
            if (width == 0)                                                                    \
                break;                                                                         \
            memcpy(want, start, (size_t)(mr * ldc) * sizeof(T));                               \
            for (ptrdiff_t r = 0; r < mr; r++)                                                 \
                for (ptrdiff_t j = 0; j < width; j++) {                                        \
                    T acc = load ? start[r * ldc + j]                                          \
                            : kind == MICRO_MAX_PLUS ? -(T)INFINITY : (T)0;                    \
                    for (ptrdiff_t p = 0; p < kc; p++) {                                       \
                        const T ar = kind == MICRO_ROWS   ? a_rows[r * lda_rows + p]           \
                                     : kind == MICRO_COLS ? a_cols[p * lda_cols + r]           \
                                                          : a_packed[p * mr + r];              \
                        const T bj = b[p * nr + j];                                            \
                        T x;                                                                   \
                        if (kind == MICRO_SUM || kind == MICRO_ROWS || kind == MICRO_COLS) {   \
                            acc = fused ? FMA(ar, bj, acc) : acc + ar * bj;                    \
                            continue;                                                          \
                        }                                                                      \
                        if (kind == MICRO_MAX_MIN) {                                           \
                            const T v = ar * bj * side[r * ldc + j], u = bound[p * nr + j];    \
                            x = fused ? (v < u ? v : u) : (u < v ? u : v);                     \
                        } else {                                                               \
                            x = kind == MICRO_MAX ? ar * bj : ar + bj;                         \
                        }                                                                      \
                        acc = fused ? (acc > x ? acc : x) : (x > acc ? x : acc);               \
                    }                                                                          \
                    want[r * ldc + j] = acc;                                                   \
                }                                                                              \
            memcpy(c, start, (size_t)(mr * ldc) * sizeof(T));                                  \
            const lrp_micro_##SUF *m = micro;                                                  \
            switch (kind + 10 * edge) {                                                        \
            case MICRO_SUM: m->sum(kc, a_packed, b, c, ldc, load); break;                      \
            case MICRO_MAX: m->max(kc, a_packed, b, c, ldc, load); break;                      \
            case MICRO_MAX_PLUS: m->max_plus(kc, a_packed, b, c, ldc, load); break;            \
            case MICRO_ROWS: m->rows(kc, a_rows, lda_rows, b, c, ldc, load); break;            \
            case MICRO_COLS: m->cols(kc, a_cols, lda_cols, b, c, ldc, load); break;            \
            case MICRO_MAX_MIN: m->max_min(kc, a_packed, b, bound, side, c, ldc, load); break; \
            case 10 + MICRO_SUM: m->edge.sum(kc, a_packed, b, c, ldc, load); break;            \
            case 10 + MICRO_MAX: m->edge.max(kc, a_packed, b, c, ldc, load); break;            \
            case 10 + MICRO_MAX_PLUS: m->edge.max_plus(kc, a_packed, b, c, ldc, load); break;  \
            case 10 + MICRO_ROWS: m->edge.rows(kc, a_rows, lda_rows, b, c, ldc, load); break;  \
            default: m->edge.cols(kc, a_cols, lda_cols, b, c, ldc, load); break;               \
            }                                                                                  \
            /* whole rows of ldc: columns past the kernel's keep their values */               \
            for (ptrdiff_t r = 0; r < mr; r++)                                                 \
                if (memcmp(c + r * ldc, want + r * ldc, (size_t)ldc * sizeof(T)) != 0) {       \
                    char what[160];                                                            \
                    snprintf(what, sizeof what, "%s micro %s%s_%s kc %td load %d", isa,        \
                             edge ? "edge " : "", micro_names[kind], #SUF, kc, load);          \
                    fail(what, "differs from its arithmetic written out");                     \
                    break;                                                                     \
                }                                                                              \
        }                                                                                      \
        /* the short tiles: the first 4, 2 or 1 rows, the rest untouched */                  \
        for (int part = 0; part < 3 && micro->short_tiles.sum[0]; part++)                      \
        for (int kind = MICRO_SUM; kind <= MICRO_COLS; kind += MICRO_COLS - MICRO_SUM) {       \
            const ptrdiff_t size = 4 >> part;                                                  \
            if (size > mr)                                                                     \
                continue;                                                                      \
            memcpy(want, start, (size_t)(mr * ldc) * sizeof(T));                               \
            for (ptrdiff_t r = 0; r < size; r++)                                               \
                for (ptrdiff_t j = 0; j < nr; j++) {                                           \
                    T acc = load ? start[r * ldc + j] : (T)0;                                  \
                    for (ptrdiff_t p = 0; p < kc; p++) {                                       \
                        const T ar = kind == MICRO_COLS ? a_cols[p * lda_cols + r]             \
                                                        : a_packed[p * mr + r];                \
                        acc = fused ? FMA(ar, b[p * nr + j], acc) : acc + ar * b[p * nr + j];  \
                    }                                                                          \
                    want[r * ldc + j] = acc;                                                   \
                }                                                                              \
            memcpy(c, start, (size_t)(mr * ldc) * sizeof(T));                                  \
            if (kind == MICRO_COLS)                                                            \
                micro->short_tiles.cols[part](kc, a_cols, lda_cols, b, c, ldc, load);          \
            else                                                                               \
                micro->short_tiles.sum[part](kc, a_packed, b, c, ldc, load);                   \
            if (memcmp(c, want, (size_t)(mr * ldc) * sizeof(T)) != 0) {                        \
                char what[160];                                                                \
                snprintf(what, sizeof what, "%s micro short %td-row %s_%s kc %td load %d",     \
                         isa, size, micro_names[kind], #SUF, kc, load);                        \
                fail(what, "differs from its arithmetic written out");                         \
            }                                                                                  \
        }                                                                                      \
        free(values), free(a), free(b), free(bound), free(side), free(c), free(want);         \
        free(start);                                                                           \
    }
MICRO_CHECK(float, f32, fmaf)
MICRO_CHECK(double, f64, fma)
#undef MICRO_CHECK

static const char *const pass_names[] = {"forward", "absmax", "real", "viterbi"};

/* One layer, rule and type on every instruction set: each pass gets the
 * portable path's z and m, so that all sets see the same inputs. */
static void layer_case(const layer *l, const lrp_rule *rule, int f64, uint64_t seed,
                       int zeros, int winograd_mode)
{
    char name[200], what[260];
    layer_name(l, name, sizeof name);
    double *a = malloc(l->ins * sizeof(double)), *w = malloc(l->weights * sizeof(double));
    double *b = malloc(l->biases * sizeof(double)), *r_abs = malloc(l->outs * sizeof(double));
    random_values(a, l->ins, seed, zeros);
    random_values(w, l->weights, seed + 1, 0);
    random_values(b, l->biases, seed + 2, 0);
    lrp_isa isas[4];
    const int count = isas_here(isas);
    outputs got[4], fused = {0}, want = outputs_new(l);
    lrp_set_winograd_fusion(winograd_mode);
    for (int s = 0; s < count; s++) {
        lrp_set_isa(isas[s]);
        got[s] = outputs_new(l);
        double *threads2 = malloc((l->ins > l->outs ? l->ins : l->outs) * sizeof(double));
        for (pass p = PASS_FORWARD; p <= PASS_VITERBI; p++) {
            double *out = p == PASS_FORWARD  ? got[s].z
                          : p == PASS_ABSMAX ? got[s].m
                          : p == PASS_REAL   ? got[s].real
                                             : got[s].viterbi;
            const size_t size = p <= PASS_ABSMAX ? l->outs : l->ins;
            const double *den = p == PASS_REAL ? got[0].z : got[0].m;
            const double *r_out = p == PASS_REAL ? got[0].z : r_abs;
            snprintf(what, sizeof what, "%s %s %s rule %d %s", isa_name(isas[s]),
                     f64 ? "f64" : "f32", name, (int)rule->kind, pass_names[p]);
            for (int threads = 1; threads <= 2; threads++) {
                lrp_set_num_threads(threads);
                const lrp_status status =
                    (f64 ? run_f64 : run_f32)(l, p, rule, a, w, b, den, r_out,
                                              threads == 1 ? out : threads2);
                if (status != LRP_OK)
                    fail(what, "status not LRP_OK");
            }
            check_same(what, "1 and 2 threads differ", out, threads2, size);
            if (s == 0 && p == PASS_ABSMAX) {
                for (size_t k = 0; k < l->outs; k++)
                    r_abs[k] = fabs(got[0].z[k]);
                literal(l, rule, a, w, b, got[0].z, got[0].m, &want);
            }
        }
        free(threads2);
        snprintf(what, sizeof what, "%s %s %s rule %d wg%d", isa_name(isas[s]),
                 f64 ? "f64" : "f32", name, (int)rule->kind, winograd_mode);
        check_close(what, got[s].z, want.z, l->outs, f64);
        check_close(what, got[s].m, want.m, l->outs, f64);
        check_close(what, got[s].real, want.real, l->ins, f64);
        check_close(what, got[s].viterbi, want.viterbi, l->ins, f64);
        /* the portable path's relations (see the top of the file) */
        check_close(what, got[s].z, got[0].z, l->outs, f64);
        check_close(what, got[s].real, got[0].real, l->ins, f64);
        check_same(what, "absmax differs from the portable path", got[s].m, got[0].m, l->outs);
        check_same(what, "Viterbi differs from the portable path", got[s].viterbi,
                   got[0].viterbi, l->ins);
        if (s > 0 && fused.z) {
            check_same(what, "forward differs from the other fused path", got[s].z, fused.z,
                       l->outs);
            check_same(what, "real differs from the other fused path", got[s].real,
                       fused.real, l->ins);
        }
        if (s > 0 && !fused.z)
            fused = got[s];
    }
    snprintf(what, sizeof what, "%s %s rule %d wg%d", f64 ? "f64" : "f32", name, (int)rule->kind,
             winograd_mode);
    for (int path = 0; path < 2; path++) {
        const outputs *o = path ? &fused : &got[0];
        if (!o->z)
            continue;
        const uint64_t d = digest(o->z, l->outs) ^ digest(o->m, l->outs) * 3 ^
                           digest(o->real, l->ins) * 5 ^ digest(o->viterbi, l->ins) * 7;
        digest_record(path ? "fused" : "portable", what, d);
    }
    if (expected && !fused.z)
        fail(what, "no fused path here to compare with the native one");
    for (int s = 0; s < count; s++)
        outputs_free(got[s]);
    outputs_free(want);
    free(a), free(w), free(b), free(r_abs);
    lrp_set_winograd_fusion(LRP_WINOGRAD_FUSION_AUTO);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc((size_t)size + 1, 1);
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size)
        text[0] = 0;
    fclose(f);
    return text;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--write") && !(digest_out = fopen(argv[i + 1], "w"))) {
            fprintf(stderr, "kernel_check: cannot write %s\n", argv[i + 1]);
            return 2;
        }
        if (!strcmp(argv[i], "--expect") && !(expected = read_text(argv[i + 1]))) {
            fprintf(stderr, "kernel_check: cannot read %s\n", argv[i + 1]);
            return 2;
        }
    }
    const lrp_rule zero = {LRP_RULE_ZERO, 0, LRP_EPS_SIGN, 0};
    const lrp_rule gamma = {LRP_RULE_GAMMA, 0, LRP_EPS_SIGN, 0.25};
    const int never = LRP_WINOGRAD_FUSION_NEVER, always = LRP_WINOGRAD_FUSION_ALWAYS;
    const int automatic = LRP_WINOGRAD_FUSION_AUTO;
    /* awkward sizes: a few samples (their own loops), a batch past the
     * products' row tiles, widths past the column strips, channels past the
     * tiles; then bit_for_bit.py's layers: its dense net 196-64-33-10 on 1,
     * 3 and 40 samples and on 300 mostly-zero ones (the sparse tier), the
     * conv net's 3->8, 8->32, 32->33 (Winograd, both forms), 33->16 5x5,
     * 12->10 1x1 and its 90->7 head */
    struct {
        layer l;
        int zeros, winograd;
    } cases[] = {
        {dense_layer(1, 37, 11), 3, automatic},
        {dense_layer(5, 300, 70), 3, automatic},
        {dense_layer(70, 131, 53), 3, automatic},
        {conv_layer(2, 6, 13, 9, 3, 1), 3, automatic},
        {conv_layer(1, 16, 9, 20, 3, 1), 3, automatic},
        {conv_layer(2, 5, 7, 12, 1, 0), 3, automatic},
        {conv_layer(1, 4, 11, 6, 5, 2), 3, automatic},
        {dense_layer(1, 196, 64), 0, automatic},
        {dense_layer(3, 196, 64), 0, automatic},
        {dense_layer(40, 196, 64), 0, automatic},
        {dense_layer(300, 196, 64), 7, automatic},
        {dense_layer(40, 64, 33), 3, automatic},
        {dense_layer(3, 33, 10), 3, automatic},
        {dense_layer(2, 90, 7), 3, automatic},
        {conv_layer(2, 3, 16, 8, 3, 1), 0, automatic},
        {conv_layer(2, 8, 16, 32, 3, 1), 3, automatic},
        {conv_layer(2, 32, 16, 33, 3, 1), 3, never},
        {conv_layer(2, 32, 16, 33, 3, 1), 3, always},
        {conv_layer(2, 33, 8, 16, 5, 2), 3, automatic},
        {conv_layer(2, 12, 3, 10, 1, 0), 3, automatic},
    };
    const int count = (int)(sizeof cases / sizeof cases[0]);
    lrp_isa isas[4];
    const int sets = isas_here(isas);
    int micro_runs = 0;
    for (int s = 0; s < sets; s++) {
        lrp_set_isa(isas[s]);
        const ptrdiff_t steps[] = {1, 2, 37};
        for (int i = 0; i < 3; i++)
            for (int load = 0; load < 2; load++, micro_runs += 2) {
                micro_check_f32(isa_name(isas[s]), s > 0, steps[i], load, 100 + (uint64_t)i);
                micro_check_f64(isa_name(isas[s]), s > 0, steps[i], load, 200 + (uint64_t)i);
            }
    }
    int runs = 0;
    for (int c = 0; c < count; c++)
        for (int f64 = 0; f64 < 2; f64++)
            for (int r = 0; r < 2; r++, runs++)
                layer_case(&cases[c].l, r ? &gamma : &zero, f64, 1000 * (uint64_t)c + 1,
                           cases[c].zeros, cases[c].winograd);
    printf("kernel_check: %d micro-kernel tables' checks (6 kernels, any 5 edge kernels and "
           "any 6 short tiles each), %d cases (%d layers, float and double, 2 rules) on",
           micro_runs, runs, count);
    for (int s = 0; s < sets; s++)
        printf(" %s", isa_name(isas[s]));
    printf("%s, %d failure(s)\n",
           digest_out ? ", digests written" : expected ? ", digests compared" : "", failures);
    if (digest_out)
        fclose(digest_out);
    free(expected);
    return failures ? 1 : 0;
}
