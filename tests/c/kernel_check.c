/* The C kernel library on its own, without Python: dense and conv passes
 * (forward, real and Viterbi relevance; LRP-0 and LRP-gamma) against
 * literal loops over (j, k) in double, on awkward sizes, with 1 and 2
 * threads (the same bits), on every instruction set the CPU has (the
 * portable path's values to rounding). .ci/aarch64 builds it for aarch64
 * and runs it under qemu-aarch64, where the portable path is the one that
 * runs; on x86-64 it also runs natively.
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

static int failures;

/* A reproducible value in [-1, 1) (a linear congruential sequence), or 0
 * for one in `zeros` of them (ReLU's dead units). */
static double next_value(uint64_t *state, int zeros)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double v = (double)(*state >> 11) / 9007199254740992.0 * 2 - 1;
    return zeros && (*state >> 60) % zeros == 0 ? 0 : v;
}

static float *random_floats(size_t count, uint64_t seed, int zeros)
{
    float *x = malloc(count * sizeof(float));
    for (size_t i = 0; x && i < count; i++)
        x[i] = (float)next_value(&seed, zeros);
    return x;
}

static double rho(const lrp_rule *rule, double w)
{
    return rule->kind == LRP_RULE_GAMMA ? w + rule->gamma * (w > 0 ? w : 0) : w;
}

/* got against want (double) to float32 rounding: relative to the largest
 * |want| of the array, as sums of terms of both signs round. */
static void check_close(const char *what, const float *got, const double *want, size_t count)
{
    double scale = 0;
    for (size_t i = 0; i < count; i++)
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    for (size_t i = 0; i < count; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-4 * scale + 1e-30)) {
            if (failures++ < 10)
                fprintf(stderr, "%s: [%zu] got %.9g, want %.9g\n", what, i, got[i], want[i]);
            return;
        }
}

static void check_same(const char *what, const float *a, const float *b, size_t count)
{
    if (memcmp(a, b, count * sizeof(float)) != 0 && failures++ < 10)
        fprintf(stderr, "%s: 1 and 2 threads differ\n", what);
}

static void check_status(const char *what, lrp_status status)
{
    if (status != LRP_OK && failures++ < 10)
        fprintf(stderr, "%s: status %d\n", what, (int)status);
}

/* Dense (n, in) -> (n, out): z, R_in of the real pass (R_out = z) and of
 * Viterbi's (m, R_out = |z|), each against the literal sums. */
static void dense_case(ptrdiff_t n, ptrdiff_t in, ptrdiff_t out, const lrp_rule *rule,
                       uint64_t seed)
{
    char what[128];
    const lrp_dense_shape s = {n, in, out, NULL, NULL};
    float *a = random_floats((size_t)(n * in), seed, 3);
    float *w = random_floats((size_t)(out * in), seed + 1, 0);
    float *b = random_floats((size_t)out, seed + 2, 0);
    float *z = malloc((size_t)(n * out) * sizeof(float));
    float *m = malloc((size_t)(n * out) * sizeof(float));
    float *r = malloc((size_t)(n * out) * sizeof(float));
    float *r_in[2] = {malloc((size_t)(n * in) * sizeof(float)),
                      malloc((size_t)(n * in) * sizeof(float))};
    double *want_z = malloc((size_t)(n * out) * sizeof(double));
    double *want = malloc((size_t)(n * in) * sizeof(double));
    snprintf(what, sizeof what, "dense %tdx%td->%td rule %d", n, in, out, (int)rule->kind);
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t k = 0; k < out; k++) {
            double sum = rho(rule, b[k]);
            for (ptrdiff_t j = 0; j < in; j++)
                sum += a[i * in + j] * rho(rule, w[k * in + j]);
            want_z[i * out + k] = sum;
        }
    check_status(what, lrp_dense_forward_f32(&s, rule, a, w, b, NULL, NULL, z));
    check_close(what, z, want_z, (size_t)(n * out));
    for (ptrdiff_t i = 0; i < n * out; i++)
        r[i] = z[i];
    for (int threads = 1; threads <= 2; threads++) {
        lrp_set_num_threads(threads);
        check_status(what, lrp_dense_relevance_real_f32(&s, rule, a, w, NULL, NULL, z, r,
                                                        r_in[threads - 1]));
    }
    check_same(what, r_in[0], r_in[1], (size_t)(n * in));
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t j = 0; j < in; j++) {
            double sum = 0;
            for (ptrdiff_t k = 0; k < out; k++)
                if (z[i * out + k] != 0)
                    sum += a[i * in + j] * rho(rule, w[k * in + j]) / z[i * out + k] *
                           r[i * out + k];
            want[i * in + j] = sum;
        }
    check_close(what, r_in[0], want, (size_t)(n * in));
    /* Viterbi: R_j = max_k |n_jk| / (m_k + 1e-9) R_k, R_k = |z_k| */
    check_status(what, lrp_dense_absmax_f32(&s, rule, a, w, b, NULL, NULL, m));
    for (ptrdiff_t i = 0; i < n * out; i++)
        r[i] = fabsf(z[i]);
    for (int threads = 1; threads <= 2; threads++) {
        lrp_set_num_threads(threads);
        check_status(what, lrp_dense_relevance_viterbi_f32(&s, rule, a, w, NULL, NULL, m, r,
                                                           r_in[threads - 1]));
    }
    check_same(what, r_in[0], r_in[1], (size_t)(n * in));
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t j = 0; j < in; j++) {
            double best = 0;
            for (ptrdiff_t k = 0; k < out; k++) {
                const double v = fabs(a[i * in + j] * rho(rule, w[k * in + j])) /
                                 (m[i * out + k] + 1e-9) * r[i * out + k];
                best = v > best ? v : best;
            }
            want[i * in + j] = best;
        }
    check_close(what, r_in[0], want, (size_t)(n * in));
    free(a), free(w), free(b), free(z), free(m), free(r), free(r_in[0]), free(r_in[1]);
    free(want_z), free(want);
}

/* Conv2d, unit stride, square kernel k with padding pad: z and the real
 * pass's R_in against the literal sums over taps. */
static void conv_case(ptrdiff_t n, ptrdiff_t in_c, ptrdiff_t size, ptrdiff_t out_c, ptrdiff_t k,
                      ptrdiff_t pad, const lrp_rule *rule, uint64_t seed)
{
    char what[128];
    const ptrdiff_t out_size = size + 2 * pad - k + 1, plane = size * size;
    const ptrdiff_t out_plane = out_size * out_size;
    const lrp_conv_shape s = {n, in_c, size, size, out_c, out_size, out_size, k, k,
                              1, 1, pad, pad, 1, 1, 1, NULL, NULL};
    const size_t ins = (size_t)(n * in_c * plane), outs = (size_t)(n * out_c * out_plane);
    float *a = random_floats(ins, seed, 3);
    float *w = random_floats((size_t)(out_c * in_c * k * k), seed + 1, 0);
    float *b = random_floats((size_t)out_c, seed + 2, 0);
    float *z = malloc(outs * sizeof(float));
    float *r_in[2] = {malloc(ins * sizeof(float)), malloc(ins * sizeof(float))};
    double *want_z = calloc(outs, sizeof(double));
    double *want = calloc(ins, sizeof(double));
    snprintf(what, sizeof what, "conv %td x %td ch %tdx%td -> %td ch, %tdx%td pad %td, rule %d",
             n, in_c, size, size, out_c, k, k, pad, (int)rule->kind);
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t co = 0; co < out_c; co++)
            for (ptrdiff_t oy = 0; oy < out_size; oy++)
                for (ptrdiff_t ox = 0; ox < out_size; ox++) {
                    double sum = rho(rule, b[co]);
                    for (ptrdiff_t ci = 0; ci < in_c; ci++)
                        for (ptrdiff_t ky = 0; ky < k; ky++)
                            for (ptrdiff_t kx = 0; kx < k; kx++) {
                                const ptrdiff_t iy = oy - pad + ky, ix = ox - pad + kx;
                                if (iy < 0 || iy >= size || ix < 0 || ix >= size)
                                    continue;
                                sum += a[(i * in_c + ci) * plane + iy * size + ix] *
                                       rho(rule, w[((co * in_c + ci) * k + ky) * k + kx]);
                            }
                    want_z[(i * out_c + co) * out_plane + oy * out_size + ox] = sum;
                }
    check_status(what, lrp_conv_forward_f32(&s, rule, a, w, b, NULL, NULL, z));
    check_close(what, z, want_z, outs);
    for (int threads = 1; threads <= 2; threads++) {
        lrp_set_num_threads(threads);
        check_status(what, lrp_conv_relevance_real_f32(&s, rule, a, w, NULL, NULL, z, z,
                                                       r_in[threads - 1]));
    }
    check_same(what, r_in[0], r_in[1], ins);
    /* R_out = z: each pair's n_jk / z_k * z_k, the numerator itself */
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t co = 0; co < out_c; co++)
            for (ptrdiff_t oy = 0; oy < out_size; oy++)
                for (ptrdiff_t ox = 0; ox < out_size; ox++) {
                    if (z[(i * out_c + co) * out_plane + oy * out_size + ox] == 0)
                        continue;
                    for (ptrdiff_t ci = 0; ci < in_c; ci++)
                        for (ptrdiff_t ky = 0; ky < k; ky++)
                            for (ptrdiff_t kx = 0; kx < k; kx++) {
                                const ptrdiff_t iy = oy - pad + ky, ix = ox - pad + kx;
                                if (iy < 0 || iy >= size || ix < 0 || ix >= size)
                                    continue;
                                const ptrdiff_t j = (i * in_c + ci) * plane + iy * size + ix;
                                want[j] += a[j] * rho(rule, w[((co * in_c + ci) * k + ky) * k + kx]);
                            }
                }
    check_close(what, r_in[0], want, ins);
    free(a), free(w), free(b), free(z), free(r_in[0]), free(r_in[1]), free(want_z), free(want);
}

int main(void)
{
    const lrp_rule zero = {LRP_RULE_ZERO, 0, LRP_EPS_SIGN, 0};
    const lrp_rule gamma = {LRP_RULE_GAMMA, 0, LRP_EPS_SIGN, 0.25};
    const lrp_isa best = lrp_best_isa();
    int cases = 0;
    for (int isa = LRP_ISA_PORTABLE; isa <= (int)best; isa++) {
        lrp_set_isa((lrp_isa)isa);
        for (int r = 0; r < 2; r++) {
            const lrp_rule *rule = r ? &gamma : &zero;
            /* a few samples (their own loops), a batch past the products'
             * row tiles, widths past the column strips */
            dense_case(1, 37, 11, rule, 1), cases++;
            dense_case(5, 300, 70, rule, 2), cases++;
            dense_case(70, 131, 53, rule, 3), cases++;
            /* 3x3 with padding (Winograd), 1x1, 5x5; channels past the tiles */
            conv_case(2, 6, 13, 9, 3, 1, rule, 4), cases++;
            conv_case(1, 16, 9, 20, 3, 1, rule, 5), cases++;
            conv_case(2, 5, 7, 12, 1, 0, rule, 6), cases++;
            conv_case(1, 4, 11, 6, 5, 2, rule, 7), cases++;
        }
    }
    printf("kernel_check: %d cases on %d instruction set(s), %d failure(s)\n", cases,
           (int)best + 1, failures);
    return failures ? 1 : 0;
}
