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
    LRP_ERR_INTERRUPTED = 4, /* the caller's interrupt hook asked to stop */
    LRP_ERR_NAN = 5          /* a composed semiring's arithmetic produced a NaN */
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

/* Composed semirings (csrc/composed/): a semiring given as data, an
 * additive monoid and a multiplicative operator from a fixed menu, an
 * element type, and an annotation chain that turns each pair's coefficient
 * into a value. For every pair (j, k): the source value (the coefficient
 * d = n_jk / z_k, 0 where z_k == 0; or Viterbi's |n_jk| / (m_k + 1e-9)) in
 * the network's dtype, each step in order (in that dtype), then converted
 * to the element type (a threshold step yields its one or zero), and
 *   R_j = add over k, ascending for each j, of mul(value_jk, R_k)
 * from zero; pairs whose R_k equals zero are skipped. */
typedef enum {
    LRP_ADD_PLUS = 0,
    LRP_ADD_MAX = 1,
    LRP_ADD_MIN = 2,
    LRP_ADD_OR = 3,       /* logical: 1 where either is nonzero, else 0 */
    LRP_ADD_AND = 4,      /* logical: 1 where both are nonzero, else 0 */
    LRP_ADD_LOGADDEXP = 5 /* log(exp x + exp y); floats only */
} lrp_add_op;

typedef enum {
    LRP_MUL_TIMES = 0,
    LRP_MUL_PLUS = 1,
    LRP_MUL_MIN = 2,
    LRP_MUL_MAX = 3,
    LRP_MUL_AND = 4 /* logical */
} lrp_mul_op;

/* The type of r_out and r_in. bool is one byte, 0 or 1 (a nonzero byte
 * reads as 1); on bool, plus and max are or, times and min are and. */
typedef enum { LRP_ELEM_F32 = 0, LRP_ELEM_F64 = 1, LRP_ELEM_I64 = 2, LRP_ELEM_BOOL = 3 } lrp_elem;

typedef enum {
    LRP_SOURCE_COEFFICIENT = 0, /* d = n / z: the pass takes z */
    LRP_SOURCE_VITERBI = 1      /* |n| / (m + LRP_VITERBI_EPS): the pass takes m */
} lrp_source;

typedef enum {
    LRP_STEP_ABS = 0,
    LRP_STEP_LOG = 1,      /* natural log; log 0 = -inf */
    LRP_STEP_CLIP = 2,     /* into [lo, hi] */
    LRP_STEP_THRESHOLD = 3 /* one where v >= theta (|v| >= theta if absolute), else zero */
} lrp_step_kind;

typedef struct {
    lrp_step_kind kind;
    double lo, hi; /* clip */
    double theta;  /* threshold */
    int absolute;  /* threshold */
} lrp_step;

#define LRP_MAX_STEPS 8

/* int64 and bool need a chain that ends in a threshold; logaddexp needs a
 * float element type; zero and one are exact values of the element type;
 * a threshold is the last step. Otherwise the passes return LRP_ERR_ARG.
 * int64 plus and times past the int64 range: LRP_ERR_OVERFLOW; a NaN
 * produced anywhere (inf - inf under plus, a NaN input): LRP_ERR_NAN. */
typedef struct {
    lrp_add_op add;
    lrp_mul_op mul;
    lrp_elem elem;
    double zero, one;
    lrp_source source;
    int steps; /* at most LRP_MAX_STEPS */
    lrp_step step[LRP_MAX_STEPS];
} lrp_semiring;

/* LRP_OK if sr describes a semiring the passes run (the rules above). */
lrp_status lrp_semiring_check(const lrp_semiring *sr);

/* One K-LRP step of a composed semiring: den is z (the stabilised
 * denominator) for LRP_SOURCE_COEFFICIENT and m (absmax) for
 * LRP_SOURCE_VITERBI; r_out and r_in hold sr->elem values. Pools form
 * their windows' z and m themselves, as the built-in passes do. Results do
 * not depend on threads, batch or instruction set. */
lrp_status lrp_dense_relevance_composed_f32(const lrp_dense_shape *s, const lrp_rule *rule,
                                            const lrp_semiring *sr, const float *a,
                                            const float *w, const float *low, const float *high,
                                            const float *den, const void *r_out, void *r_in);
lrp_status lrp_conv_relevance_composed_f32(const lrp_conv_shape *s, const lrp_rule *rule,
                                           const lrp_semiring *sr, const float *a,
                                           const float *w, const float *low, const float *high,
                                           const float *den, const void *r_out, void *r_in);
lrp_status lrp_pool_relevance_composed_f32(const lrp_pool_shape *s, const lrp_semiring *sr,
                                           const float *weight, const float *a,
                                           const void *r_out, void *r_in);

/* the same for double */
lrp_status lrp_dense_relevance_composed_f64(const lrp_dense_shape *s, const lrp_rule *rule,
                                            const lrp_semiring *sr, const double *a,
                                            const double *w, const double *low,
                                            const double *high, const double *den,
                                            const void *r_out, void *r_in);
lrp_status lrp_conv_relevance_composed_f64(const lrp_conv_shape *s, const lrp_rule *rule,
                                           const lrp_semiring *sr, const double *a,
                                           const double *w, const double *low,
                                           const double *high, const double *den,
                                           const void *r_out, void *r_in);
lrp_status lrp_pool_relevance_composed_f64(const lrp_pool_shape *s, const lrp_semiring *sr,
                                           const double *weight, const double *a,
                                           const void *r_out, void *r_in);

/* Element by element (elementwise.c): out = max(a, 0) as NumPy's maximum
 * forms it (a itself where a > 0 or NaN, else +0), over the threads;
 * whether any of count values is nonzero (NaN is; -0 is not), stopping at
 * the first; whether every one is finite, over the threads. */
void lrp_relu_f32(ptrdiff_t count, const float *a, float *out);
/* out = z + eps sign(z) (sign(0) = +1), or z + eps (rule->eps_mode), for
 * samples of per_sample values; eps is rule->eps, or with relative, rule->eps
 * times the root mean square of the sample's z (summed in double). out may
 * be z. Where rule->eps is 0 and not relative, out = z. *not_finite: the
 * LRP_Z_NOT_FINITE and LRP_STABILISED_NOT_FINITE bits of what was seen. */
lrp_status lrp_stabilise_f32(const lrp_rule *rule, int relative, ptrdiff_t samples,
                             ptrdiff_t per_sample, const float *z, float *out, int *not_finite);
int lrp_any_nonzero_f32(ptrdiff_t count, const float *x);
int lrp_all_finite_f32(ptrdiff_t count, const float *x);
enum { LRP_Z_NOT_FINITE = 1, LRP_STABILISED_NOT_FINITE = 2 };

/* the same for double */
void lrp_relu_f64(ptrdiff_t count, const double *a, double *out);
lrp_status lrp_stabilise_f64(const lrp_rule *rule, int relative, ptrdiff_t samples,
                             ptrdiff_t per_sample, const double *z, double *out,
                             int *not_finite);
int lrp_any_nonzero_f64(ptrdiff_t count, const double *x);
int lrp_all_finite_f64(ptrdiff_t count, const double *x);
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
/* Wakes the kept worker threads to watch for the next pass (for a short
 * while) before the caller gets to it, so that waking them overlaps the
 * caller's own work: a worker asleep for long can take a millisecond. */
void lrp_wake_workers(void);
/* How many pieces per thread a pass's work is cut into, which the threads
 * claim in turn (default 4; 1 gives each thread one fixed share). For tests
 * and comparisons: results do not depend on it. LRP_ERR_ARG outside 1 ..
 * LRP_MAX_PIECES_PER_THREAD. */
#define LRP_MAX_PIECES_PER_THREAD 1024
lrp_status lrp_set_pieces_per_thread(int n);
int lrp_pieces_per_thread(void);

/* Instruction sets of the packed products and threshold kernels: x86-64
 * runs portable and those of AVX2 and AVX-512 its CPU has; aarch64 runs
 * portable and NEON (Advanced SIMD, part of every ARMv8-A CPU). */
typedef enum {
    LRP_ISA_PORTABLE = 0,
    LRP_ISA_AVX2 = 1,
    LRP_ISA_AVX512 = 2,
    LRP_ISA_NEON = 3
} lrp_isa;

lrp_isa lrp_best_isa(void);         /* the best this CPU and OS support */
lrp_isa lrp_current_isa(void);      /* the one in use */
lrp_status lrp_set_isa(lrp_isa isa); /* LRP_ERR_ARG if this CPU lacks it */
int lrp_isa_runs(lrp_isa isa);      /* whether lrp_set_isa accepts it here */

/* Dense layers send a batch whose inputs are mostly zero (MNIST pixels)
 * through passes that read only the weights of nonzero inputs, and Conv2d
 * layers their max products (Viterbi's absmax and transposed pass), with
 * the products' results, unless switched off (for tests and comparisons);
 * a pass that takes them notes the tier "dense.<pass>.sparse_inputs" or
 * "conv.<pass>.sparse_inputs". */
void lrp_set_sparse_passes(int on);
int lrp_sparse_passes(void);

/* The packed products compute a last block of fewer rows than a
 * micro-tile's as short tiles of 4, 2 and 1 rows where the instruction
 * set has them, with the full tile's results, unless switched off (for
 * tests and comparisons). */
void lrp_set_short_tiles(int on);
int lrp_short_tiles(void);

/* The Conv2d sparse max products run in two passes: first the largest
 * nonzero inputs (about `percent` of them, by a histogram of a sample of
 * their values), then of the rest only those whose product with their
 * channel's largest weight exceeds every maximum they reach so far. Any
 * percent in [0, 100] gives the same bits (max is exact); 100 is one pass
 * over every nonzero input. LRP_ERR_ARG outside [0, 100]. */
lrp_status lrp_set_sparse_max_lead(int percent);
int lrp_sparse_max_lead(void);

/* Composed semirings that a faster tier than the generic one can run
 * (max-plus, min-max, float and log-counting) take it, unless switched off
 * (for tests and comparisons): the same values up to rounding either way. */
void lrp_set_composed_fast_tiers(int on);
int lrp_composed_fast_tiers(void);

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

/* The CPU's data caches (runtime/caches.c), read once: the bytes of one
 * core's L1 data and L2 caches and of the L3 (0 where none is known), and
 * where they came from: "sysfs" (Linux), "sysconf" (glibc), "cpuid" (x86),
 * "default" (nothing said: 32 KiB, 512 KiB and 8 MiB) or "set". */
typedef struct {
    size_t l1d, l2, l3;
    const char *source;
} lrp_caches;
lrp_caches lrp_cache_sizes(void);
/* These sizes from now on, source "set" (for tests and comparisons); l1d or
 * l2 at 0: the CPU's again. */
void lrp_set_cache_sizes(size_t l1d, size_t l2, size_t l3);

/* The block sizes the kernels take from lrp_cache_sizes() at each call
 * (runtime/caches.c): the packed products' inner chunk (a B panel of chunk
 * steps of an AVX-512 float tile's 32 columns fills L1d) and columns per
 * work item (a float panel of chunk x columns fills a quarter of L2), and
 * the bytes of Winograd's V and M that one item of its one-pass form holds
 * (L2); L1d counted up to 32 KiB and L2 up to 1 MiB; the bytes of V and M
 * of one block of Winograd's wide form (an eighth of L3, 0 where L3 is
 * unknown: no bound); and the input
 * channels per list of the sparse max products (conv_sparse_max.h: 32 or
 * 16, as a chunk's weights fit the whole L1d). Results do not depend on
 * them. */
typedef struct {
    ptrdiff_t product_kc, product_nb;
    double winograd_one_pass_bytes, winograd_wide_bytes;
    ptrdiff_t sparse_max_chunk;
} lrp_blocks;
lrp_blocks lrp_block_sizes(void);

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
 * NumPy's allocations here while a pass runs) and the kernels' largest
 * scratch (lrp_scratch_alloc), with blocks of 1 MiB and more
 * kept when freed, up to the limit in all, for the next allocation of about
 * their size. Blocks hold their capacity in a header: free and realloc take
 * only the pointer, which must come from these functions. The limit, until
 * set, is lrp_array_pool_default_limit(): the usable memory over
 * LRP_ARRAY_POOL_DEFAULT_SHARE, LRP_ARRAY_POOL_DEFAULT_FLOOR at least (a
 * pass over a large batch frees gigabytes that the next pass needs again).
 * lrp_usable_memory: the physical memory, or the process's cgroup limit
 * where that is less; 0 where neither is known. */
#define LRP_ARRAY_POOL_DEFAULT_SHARE 8
#define LRP_ARRAY_POOL_DEFAULT_FLOOR ((size_t)512 << 20)
size_t lrp_usable_memory(void);
size_t lrp_array_pool_default_limit(void);
void *lrp_array_pool_alloc(size_t bytes);
void *lrp_array_pool_calloc(size_t count, size_t size);
void *lrp_array_pool_realloc(void *data, size_t bytes);
void lrp_array_pool_free(void *data);
void lrp_array_pool_set_limit(size_t bytes); /* frees kept blocks past it */
size_t lrp_array_pool_limit(void);
size_t lrp_array_pool_held(void);            /* bytes kept for reuse */
void lrp_array_pool_clear(void);
/* Memory for a large array, 64-byte aligned; from LRP_HUGE_PAGES_LEAST
 * bytes on, where the OS has them (Linux), starting at a 2 MiB boundary
 * with huge pages asked for, as NumPy's own allocator does: the kernels
 * walk such arrays plane by plane, and 4 KiB pages cost a TLB miss per
 * plane row. The pool's blocks of that size and lrp_alloc_aligned's come
 * from here; free() releases it. */
#define LRP_HUGE_PAGES_LEAST ((size_t)4 << 20)
void *lrp_alloc_large(size_t bytes);

#endif
