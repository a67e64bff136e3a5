/* semiring_lrp kernel library: Layer-wise Relevance Propagation in semirings.
 *
 * Plain C11, no Python. Every formula is the one of docs/semantics.md:
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
    LRP_ERR_ARG = 3,      /* an argument the caller should have rejected */
    LRP_ERR_INTERRUPTED = 4 /* the caller's interrupt hook asked to stop */
} lrp_status;

/* Long passes ask requested(context) between tiles (a sample of a dense
 * layer, a channel plane of a convolution or pool) and stop with
 * LRP_ERR_INTERRUPTED when it returns nonzero; outputs are then partial. */
typedef struct {
    int (*requested)(void *context);
    void *context;
} lrp_interrupt;

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

/* What a layer's passes prepare from its weights alone (rho(W) packed for
 * the products, Winograd's U), kept across calls: one cache per weight
 * array, whose values must not change while the cache lives (the entries
 * are keyed by everything else they depend on). Thread-safe. A pass given
 * another array than the cache's, or no cache, prepares per call. */
typedef struct lrp_weight_cache lrp_weight_cache;
lrp_weight_cache *lrp_weight_cache_new(const void *weights); /* NULL: no memory */
void lrp_weight_cache_free(lrp_weight_cache *cache);
size_t lrp_weight_cache_bytes(lrp_weight_cache *cache);   /* held by its entries */
size_t lrp_weight_cache_entries(lrp_weight_cache *cache);

/* A batch through one dense layer: a (n, in), w (out, in), b (out), z (n, out). */
typedef struct {
    ptrdiff_t n, in, out;
    const lrp_interrupt *interrupt; /* NULL: never interrupted */
    lrp_weight_cache *cache;        /* NULL: prepare per call */
} lrp_dense_shape;

/* Every function exists once per dtype: float with suffix _f32, double
 * with suffix _f64, the same comments holding for both. low/high are the z^B bounds, shaped like a; NULL unless
 * rule->kind == LRP_RULE_ZBOX. z is the stabilised denominator, m the
 * Viterbi denominator; r_out (n, out) is the relevance above the layer and
 * r_in (n, in) receives the relevance below it. */
/* z (n, out) = sum_j n_jk + beta_k, before stabilisation */
lrp_status lrp_dense_forward_f32(const lrp_dense_shape *s, const lrp_rule *rule,
                                 const float *a, const float *w, const float *b,
                                 const float *low, const float *high, float *z);
/* in place: z <- stab(z) */
void lrp_stabilise_f32(const lrp_rule *rule, ptrdiff_t count, float *z);
/* m (n, out) = max(|beta_k|, max_j |n_jk|) */
lrp_status lrp_dense_absmax_f32(const lrp_dense_shape *s, const lrp_rule *rule,
                                const float *a, const float *w, const float *b,
                                const float *low, const float *high, float *m);
lrp_status lrp_dense_relevance_real_f32(const lrp_dense_shape *s, const lrp_rule *rule,
                                        const float *a, const float *w,
                                        const float *low, const float *high,
                                        const float *z, const float *r_out, float *r_in);
lrp_status lrp_dense_relevance_boolean_f32(const lrp_dense_shape *s, const lrp_rule *rule,
                                           const lrp_threshold *t,
                                           const float *a, const float *w,
                                           const float *low, const float *high, const float *z,
                                           const uint8_t *r_out, uint8_t *r_in);
/* counts must be >= 0 (else LRP_ERR_ARG); past INT64_MAX: LRP_ERR_OVERFLOW */
lrp_status lrp_dense_relevance_counting_f32(const lrp_dense_shape *s, const lrp_rule *rule,
                                            const lrp_threshold *t,
                                            const float *a, const float *w,
                                            const float *low, const float *high, const float *z,
                                            const int64_t *r_out, int64_t *r_in);
lrp_status lrp_dense_relevance_viterbi_f32(const lrp_dense_shape *s, const lrp_rule *rule,
                                           const float *a, const float *w,
                                           const float *low, const float *high,
                                           const float *m, const float *r_out, float *r_in);

/* the same for double */
lrp_status lrp_dense_forward_f64(const lrp_dense_shape *s, const lrp_rule *rule,
                                 const double *a, const double *w, const double *b,
                                 const double *low, const double *high, double *z);
void lrp_stabilise_f64(const lrp_rule *rule, ptrdiff_t count, double *z);
lrp_status lrp_dense_absmax_f64(const lrp_dense_shape *s, const lrp_rule *rule,
                                const double *a, const double *w, const double *b,
                                const double *low, const double *high, double *m);
lrp_status lrp_dense_relevance_real_f64(const lrp_dense_shape *s, const lrp_rule *rule,
                                        const double *a, const double *w,
                                        const double *low, const double *high,
                                        const double *z, const double *r_out, double *r_in);
lrp_status lrp_dense_relevance_boolean_f64(const lrp_dense_shape *s, const lrp_rule *rule,
                                           const lrp_threshold *t,
                                           const double *a, const double *w,
                                           const double *low, const double *high, const double *z,
                                           const uint8_t *r_out, uint8_t *r_in);
lrp_status lrp_dense_relevance_counting_f64(const lrp_dense_shape *s, const lrp_rule *rule,
                                            const lrp_threshold *t,
                                            const double *a, const double *w,
                                            const double *low, const double *high, const double *z,
                                            const int64_t *r_out, int64_t *r_in);
lrp_status lrp_dense_relevance_viterbi_f64(const lrp_dense_shape *s, const lrp_rule *rule,
                                           const double *a, const double *w,
                                           const double *low, const double *high,
                                           const double *m, const double *r_out, double *r_in);

/* A batch through one Conv2d layer, NCHW: a (n, in_c, in_h, in_w),
 * w (out_c, in_c / groups, k_h, k_w), b (out_c), z (n, out_c, out_h, out_w);
 * zero padding. out_h and out_w must be PyTorch's output size. */
typedef struct {
    ptrdiff_t n, in_c, in_h, in_w;
    ptrdiff_t out_c, out_h, out_w;
    ptrdiff_t k_h, k_w;
    ptrdiff_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    const lrp_interrupt *interrupt; /* NULL: never interrupted */
    lrp_weight_cache *cache;        /* NULL: prepare per call */
} lrp_conv_shape;

/* LRP_ERR_ARG unless every size is consistent (the kernels check it too). */
lrp_status lrp_conv_check(const lrp_conv_shape *s);

/* The same passes as the dense layer's, with the same meaning per pair. */
lrp_status lrp_conv_forward_f32(const lrp_conv_shape *s, const lrp_rule *rule,
                                const float *a, const float *w, const float *b,
                                const float *low, const float *high, float *z);
lrp_status lrp_conv_absmax_f32(const lrp_conv_shape *s, const lrp_rule *rule,
                               const float *a, const float *w, const float *b,
                               const float *low, const float *high, float *m);
lrp_status lrp_conv_relevance_real_f32(const lrp_conv_shape *s, const lrp_rule *rule,
                                       const float *a, const float *w, const float *low,
                                       const float *high, const float *z, const float *r_out,
                                       float *r_in);
lrp_status lrp_conv_relevance_boolean_f32(const lrp_conv_shape *s, const lrp_rule *rule,
                                          const lrp_threshold *t, const float *a, const float *w,
                                          const float *low, const float *high, const float *z,
                                          const uint8_t *r_out, uint8_t *r_in);
lrp_status lrp_conv_relevance_counting_f32(const lrp_conv_shape *s, const lrp_rule *rule,
                                           const lrp_threshold *t, const float *a, const float *w,
                                           const float *low, const float *high, const float *z,
                                           const int64_t *r_out, int64_t *r_in);
lrp_status lrp_conv_relevance_viterbi_f32(const lrp_conv_shape *s, const lrp_rule *rule,
                                          const float *a, const float *w, const float *low,
                                          const float *high, const float *m, const float *r_out,
                                          float *r_in);

/* the same for double */
lrp_status lrp_conv_forward_f64(const lrp_conv_shape *s, const lrp_rule *rule,
                                const double *a, const double *w, const double *b,
                                const double *low, const double *high, double *z);
lrp_status lrp_conv_absmax_f64(const lrp_conv_shape *s, const lrp_rule *rule,
                               const double *a, const double *w, const double *b,
                               const double *low, const double *high, double *m);
lrp_status lrp_conv_relevance_real_f64(const lrp_conv_shape *s, const lrp_rule *rule,
                                       const double *a, const double *w, const double *low,
                                       const double *high, const double *z, const double *r_out,
                                       double *r_in);
lrp_status lrp_conv_relevance_boolean_f64(const lrp_conv_shape *s, const lrp_rule *rule,
                                          const lrp_threshold *t, const double *a, const double *w,
                                          const double *low, const double *high, const double *z,
                                          const uint8_t *r_out, uint8_t *r_in);
lrp_status lrp_conv_relevance_counting_f64(const lrp_conv_shape *s, const lrp_rule *rule,
                                           const lrp_threshold *t, const double *a, const double *w,
                                           const double *low, const double *high, const double *z,
                                           const int64_t *r_out, int64_t *r_in);
lrp_status lrp_conv_relevance_viterbi_f64(const lrp_conv_shape *s, const lrp_rule *rule,
                                          const double *a, const double *w, const double *low,
                                          const double *high, const double *m, const double *r_out,
                                          double *r_in);

/* Pooling, channel by channel, NCHW: output (oy, ox) of channel c reads the
 * window rows [row_start[oy], row_end[oy]) x columns [col_start[ox],
 * col_end[ox]) of the same input channel. A pool is a bias-free linear layer under
 * LRP-0 with n_jk = a_j * w_jk, where w_jk is weight[oy, ox] (average; one
 * weight per output) or, for max pooling (winner-take-all), 1 for the
 * window's first arg-max in row-major order and 0 for the rest. */
typedef enum { LRP_POOL_AVERAGE = 0, LRP_POOL_MAX = 1 } lrp_pool_mode;

typedef struct {
    ptrdiff_t n, channels, in_h, in_w, out_h, out_w;
    lrp_pool_mode mode;
    const int64_t *row_start, *row_end, *col_start, *col_end;
    const lrp_interrupt *interrupt; /* NULL: never interrupted */
} lrp_pool_shape;

/* LRP_ERR_ARG unless every window is non-empty and inside the input. */
lrp_status lrp_pool_check(const lrp_pool_shape *s);

/* weight (out_h, out_w) is read only for LRP_POOL_AVERAGE. Relevance
 * passes form z_k (and Viterbi's m_k) of each window themselves. */
lrp_status lrp_pool_forward_f32(const lrp_pool_shape *s, const float *weight, const float *a,
                                float *z);
lrp_status lrp_pool_relevance_real_f32(const lrp_pool_shape *s, const float *weight,
                                       const float *a, const float *r_out, float *r_in);
lrp_status lrp_pool_relevance_boolean_f32(const lrp_pool_shape *s, const float *weight,
                                          const lrp_threshold *t, const float *a,
                                          const uint8_t *r_out, uint8_t *r_in);
lrp_status lrp_pool_relevance_counting_f32(const lrp_pool_shape *s, const float *weight,
                                           const lrp_threshold *t, const float *a,
                                           const int64_t *r_out, int64_t *r_in);
lrp_status lrp_pool_relevance_viterbi_f32(const lrp_pool_shape *s, const float *weight,
                                          const float *a, const float *r_out, float *r_in);

/* the same for double */
lrp_status lrp_pool_forward_f64(const lrp_pool_shape *s, const double *weight, const double *a,
                                double *z);
lrp_status lrp_pool_relevance_real_f64(const lrp_pool_shape *s, const double *weight,
                                       const double *a, const double *r_out, double *r_in);
lrp_status lrp_pool_relevance_boolean_f64(const lrp_pool_shape *s, const double *weight,
                                          const lrp_threshold *t, const double *a,
                                          const uint8_t *r_out, uint8_t *r_in);
lrp_status lrp_pool_relevance_counting_f64(const lrp_pool_shape *s, const double *weight,
                                           const lrp_threshold *t, const double *a,
                                           const int64_t *r_out, int64_t *r_in);
lrp_status lrp_pool_relevance_viterbi_f64(const lrp_pool_shape *s, const double *weight,
                                          const double *a, const double *r_out, double *r_in);

/* Element by element (elementwise.c): out = max(a, 0) as NumPy's maximum
 * forms it (a itself where a > 0 or NaN, else +0), over the threads;
 * whether any of count values is nonzero (NaN is; -0 is not), stopping at
 * the first. */
void lrp_relu_f32(ptrdiff_t count, const float *a, float *out);
int lrp_any_nonzero_f32(ptrdiff_t count, const float *x);

/* the same for double */
void lrp_relu_f64(ptrdiff_t count, const double *a, double *out);
int lrp_any_nonzero_f64(ptrdiff_t count, const double *x);
/* the same for count bytes: bool and integer arrays, nonzero where a byte is */
int lrp_any_nonzero_bytes(size_t count, const void *data);

/* Threads: every pass splits its work over this many threads (default 1):
 * the calling thread and workers of a pool that start on first use and then
 * sleep between passes (runtime/threads.c). One caller's pass runs on the
 * pool at a time; a second caller meanwhile gets threads of its own, joined
 * before its pass returns. A forked child starts with an empty pool.
 * Results do not depend on the count. */
void lrp_set_num_threads(int n);
int lrp_num_threads(void);

/* Instruction sets of the packed products and threshold kernels. */
typedef enum { LRP_ISA_PORTABLE = 0, LRP_ISA_AVX2 = 1, LRP_ISA_AVX512 = 2 } lrp_isa;

lrp_isa lrp_best_isa(void);         /* the best this CPU and OS support */
lrp_isa lrp_current_isa(void);      /* the one in use */
lrp_status lrp_set_isa(lrp_isa isa); /* LRP_ERR_ARG if this CPU lacks it */

/* Dense layers send a batch whose inputs are mostly zero (MNIST pixels)
 * through passes that read only the weights of nonzero inputs, with the
 * products' results, unless switched off (for tests and comparisons); a
 * pass that takes them notes the tier "dense.<pass>.sparse_inputs". */
void lrp_set_sparse_passes(int on);
int lrp_sparse_passes(void);

/* Winograd's 3x3 products take their one-pass form (one thread per block
 * of tiles through all three steps; the tier "conv.<pass>.winograd_fused")
 * where its buffers fit a core's L2 (AUTO), or always, or never: the same
 * values either way, switched for tests and comparisons.
 * lrp_set_winograd_fusion returns LRP_ERR_ARG for another mode. */
typedef enum {
    LRP_WINOGRAD_FUSION_NEVER = 0,
    LRP_WINOGRAD_FUSION_AUTO = 1,
    LRP_WINOGRAD_FUSION_ALWAYS = 2
} lrp_winograd_fusion_mode;
lrp_status lrp_set_winograd_fusion(int mode);
int lrp_winograd_fusion(void);

/* Tier tracing (runtime/trace.c): between lrp_trace_start and
 * lrp_trace_stop, every pass the calling thread makes notes the name of the
 * tier it took (a string with static storage, "family.pass.tier", e.g.
 * "dense.forward.sparse_inputs"), in call order. lrp_trace_take copies up to
 * max of the notes since the last take into out, forgets them, and returns
 * how many there were (more than LRP_TRACE_CAPACITY are counted, not kept). */
#define LRP_TRACE_CAPACITY 256
void lrp_trace_start(void);
size_t lrp_trace_take(const char **out, size_t max);
void lrp_trace_stop(void);

/* array_pool.c: memory for the arrays of a pass (the Python module routes
 * NumPy's allocations here while a pass runs), with blocks of 1 MiB and more
 * kept when freed, up to the limit in all, for the next allocation of about
 * their size. Blocks hold their capacity in a header: free and realloc take
 * only the pointer, which must come from these functions. */
#define LRP_ARRAY_POOL_DEFAULT_LIMIT ((size_t)512 << 20)
void *lrp_array_pool_alloc(size_t bytes);
void *lrp_array_pool_calloc(size_t count, size_t size);
void *lrp_array_pool_realloc(void *data, size_t bytes);
void lrp_array_pool_free(void *data);
void lrp_array_pool_set_limit(size_t bytes); /* frees kept blocks past it */
size_t lrp_array_pool_limit(void);
size_t lrp_array_pool_held(void);            /* bytes kept for reuse */
void lrp_array_pool_clear(void);

#endif
