/* semiring_lrp kernel library: Layer-wise Relevance Propagation in semirings.
 *
 * Plain C11, no Python. Every formula is the one of shared/docs/semantics.md:
 *   numerator  n_jk = a_j * rho(w_jk)           (z^B: x_j w_jk - l_j w_jk^+ - h_j w_jk^-)
 *   bias term  beta_k = rho(b_k)                (z^B: 0, the bias cancels)
 *   denominator z_k = stab(sum_j n_jk + beta_k)
 *   coefficient d_jk = n_jk / z_k, and 0 wherever z_k == 0
 *   K-LRP       R_j = (+)_k Theta(d)_jk (x) R_k
 *
 * Arrays are dense and row-major. A dense layer's weight matrix is stored as
 * PyTorch stores it, w[k][j] with shape (out, in).
 */
#ifndef SEMIRING_LRP_H
#define SEMIRING_LRP_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LRP_OK = 0,
    LRP_ERR_OVERFLOW = 1, /* a count does not fit in int64 */
    LRP_ERR_NOMEM = 2,
    LRP_ERR_ARG = 3       /* an argument the caller should have rejected */
} lrp_status;

typedef enum {
    LRP_RULE_ZERO = 0,
    LRP_RULE_EPSILON = 1,
    LRP_RULE_GAMMA = 2,
    LRP_RULE_ZBOX = 3
} lrp_rule_kind;

typedef enum {
    LRP_EPS_SIGN = 0, /* z + eps * sign(z), sign(0) = +1 */
    LRP_EPS_PLUS = 1  /* z + eps (the paper's tutorial variant) */
} lrp_eps_mode;

typedef struct {
    lrp_rule_kind kind;
    double eps;   /* stabiliser added to z; 0 adds nothing */
    lrp_eps_mode eps_mode;
    double gamma; /* LRP-gamma: rho(w) = w + gamma * max(w, 0) */
} lrp_rule;

typedef struct {
    double theta;
    int absolute; /* compare |d| instead of d */
} lrp_threshold;

/* A batch through one dense layer: a (n, in), w (out, in), b (out), z (n, out). */
typedef struct {
    ptrdiff_t n, in, out;
} lrp_dense_shape;

/* Every function exists once per dtype: T float with suffix _f32, T double
 * with suffix _f64. low/high are the z^B bounds, shaped like a; NULL unless
 * rule->kind == LRP_RULE_ZBOX. z is the stabilised denominator, m the
 * Viterbi denominator; r_out (n, out) is the relevance above the layer and
 * r_in (n, in) receives the relevance below it. */
#define LRP_DENSE_API(T, S)                                                                    \
    /* z (n, out) = sum_j n_jk + beta_k, before stabilisation */                               \
    lrp_status lrp_dense_forward_##S(const lrp_dense_shape *s, const lrp_rule *rule,           \
                                     const T *a, const T *w, const T *b,                       \
                                     const T *low, const T *high, T *z);                       \
    /* in place: z <- stab(z) */                                                               \
    void lrp_stabilise_##S(const lrp_rule *rule, ptrdiff_t count, T *z);                       \
    /* m (n, out) = max(|beta_k|, max_j |n_jk|) */                                             \
    lrp_status lrp_dense_absmax_##S(const lrp_dense_shape *s, const lrp_rule *rule,            \
                                    const T *a, const T *w, const T *b,                        \
                                    const T *low, const T *high, T *m);                        \
    lrp_status lrp_dense_relevance_real_##S(const lrp_dense_shape *s, const lrp_rule *rule,    \
                                            const T *a, const T *w,                            \
                                            const T *low, const T *high,                       \
                                            const T *z, const T *r_out, T *r_in);              \
    lrp_status lrp_dense_relevance_boolean_##S(const lrp_dense_shape *s, const lrp_rule *rule, \
                                               const lrp_threshold *t,                         \
                                               const T *a, const T *w,                         \
                                               const T *low, const T *high, const T *z,        \
                                               const uint8_t *r_out, uint8_t *r_in);           \
    /* counts must be >= 0 (else LRP_ERR_ARG); past INT64_MAX: LRP_ERR_OVERFLOW */             \
    lrp_status lrp_dense_relevance_counting_##S(const lrp_dense_shape *s, const lrp_rule *rule,\
                                                const lrp_threshold *t,                        \
                                                const T *a, const T *w,                        \
                                                const T *low, const T *high, const T *z,       \
                                                const int64_t *r_out, int64_t *r_in);          \
    lrp_status lrp_dense_relevance_viterbi_##S(const lrp_dense_shape *s, const lrp_rule *rule, \
                                               const T *a, const T *w,                         \
                                               const T *low, const T *high,                    \
                                               const T *m, const T *r_out, T *r_in);

LRP_DENSE_API(float, f32)
LRP_DENSE_API(double, f64)

#endif
