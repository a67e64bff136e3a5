/* From Python arguments to what the kernels take, and from the kernels'
 * status codes back to Python exceptions. Every conversion fills its output
 * and returns 0 (or a new reference), or returns -1 (or NULL) with an
 * exception set that names the argument: no Python value reaches a kernel
 * unchecked, truncated or in another dtype than the Python layer chose. */
#ifndef SEMIRING_LRP_MODULE_CONVERT_H
#define SEMIRING_LRP_MODULE_CONVERT_H

#include "module/numpy_api.h"
#include "lrp.h"

/* ---- arrays and numbers ---- */

/* A new reference to obj as a C-contiguous, aligned array of native byte
 * order: obj itself when it is one, else a copy. */
PyArrayObject *native_c_array(PyObject *obj);

/* obj as a new reference to a C-contiguous, aligned array of exactly
 * `typenum` and `ndim` (never converted from another dtype); errors call it
 * `name`. */
PyArrayObject *take_array(PyObject *obj, int typenum, int ndim, const char *name);

/* The dtype of the array a, which must be float32 or float64. */
int take_float_dtype(PyObject *a, int *typenum);

/* arg (any integral object but a bool) as a C long in [low, high]; errors
 * call it `what`. */
int bounded_long(PyObject *arg, const char *what, long low, long high, long *out);

/* Whether arr's extent along axis is want; errors say "name has N what". */
int check_dim(PyArrayObject *arr, int axis, npy_intp want, const char *name, const char *what);

/* theta, a threshold: anything but NaN. */
int check_theta(double theta);

/* The index of arg in names[0..count), a str naming one of them, or -1;
 * errors call the choice `what` and list the names. */
int choice_index(PyObject *arg, const char *const *names, int count, const char *what);
#define CHOICE_INDEX(arg, names, what) \
    choice_index(arg, names, (int)(sizeof(names) / sizeof(*(names))), what)

/* The instruction sets as Python names them, indexed by lrp_isa. */
extern const char *const isa_names[LRP_ISA_NEON + 1];

/* ---- rules and semirings ---- */

/* A rule tuple (kind, eps, eps_mode, gamma) as the kernels take it. */
int parse_rule(PyObject *obj, lrp_rule *rule);

/* The semirings the kernels compute, by the id Python passes: _core.SEMIRING_*;
 * SR_COMPOSED: a descriptor tuple (issue 21's contract). */
typedef enum { SR_REAL, SR_BOOLEAN, SR_COUNTING, SR_VITERBI, SR_COMPOSED } semiring_kind;

/* The semiring an id or a composed semiring's descriptor
 * (add, mul, elem, zero, one, source, steps) names, and the dtype of its
 * relevance for a layer of float dtype typenum (bool, int64, typenum itself,
 * or the descriptor's elem). A descriptor fills *composed, its threshold
 * step taking theta. ValueError for an unknown id or a value out of range,
 * TypeError for a wrong type, each naming the field. */
int parse_semiring(PyObject *obj, double theta, semiring_kind *kind, lrp_semiring *composed,
                   int *relevance_type, int typenum);

/* A composed pass's result: out itself if status is LRP_OK; otherwise out
 * released and status raised (a NaN: ValueError naming sr's operators),
 * NULL. */
PyObject *composed_result(lrp_status status, PyObject *out, const lrp_semiring *sr);

/* ---- kernels' hooks and results ---- */

/* Stops a long pass when a signal handler raises (Ctrl-C); the exception
 * stays set for raise_status. */
extern const lrp_interrupt interrupt_on_signal;

/* Sets the exception a kernel status other than LRP_OK stands for; NULL. */
PyObject *raise_status(lrp_status status);

/* A pass's result: out itself if status is LRP_OK; otherwise out released
 * and status raised, NULL. */
PyObject *pass_result(lrp_status status, PyObject *out);

/* ---- weight caches ---- */

#define WEIGHT_CACHE_NAME "semiring_lrp._core.weight_cache"

/* The lrp_weight_cache of a weight_cache() capsule, NULL for None. */
int take_weight_cache(PyObject *obj, lrp_weight_cache **cache);

/* ---- a layer's arrays ---- */

/* The arrays a weighted-layer call works on, all of one float dtype: a dense
 * layer (a 2-D, w 2-D) or a Conv2d layer (a 4-D NCHW, w 4-D). Each array is
 * a new reference or NULL; out_dims is the layer's output shape. */
typedef struct {
    int typenum;
    int is_conv;
    lrp_dense_shape dense;
    lrp_conv_shape conv;
    lrp_rule rule;
    PyArrayObject *a, *w, *b, *low, *high;
    int out_ndim;
    npy_intp out_dims[4];
} layer_args;

/* geometry NULL: a dense layer, a (n, in), w (out, in). Otherwise a Conv2d
 * layer, a (n, c, h, w), w (out_c, c / groups, k_h, k_w), and geometry the
 * tuple (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups). b may be
 * NULL (not taken); low and high (the z^B bounds, shaped like a) are read
 * only under the z^B rule; cache is None or a weight_cache(w). Call
 * layer_args_clear afterwards, whatever it returned. */
int layer_args_take(layer_args *d, PyObject *a, PyObject *w, PyObject *b, PyObject *rule,
                    PyObject *geometry, PyObject *low, PyObject *high, PyObject *cache);
void layer_args_clear(layer_args *d);

/* The arrays of a pooling call: a (n, c, h, w), the window table and, for
 * average pooling, the weights (out_h, out_w). */
typedef struct {
    int typenum;
    lrp_pool_shape shape;
    PyArrayObject *a, *weight, *bounds[4];
} pool_args;

/* windows: (row_start, row_end, col_start, col_end), int64 arrays. Call
 * pool_args_clear afterwards, whatever it returned. */
int pool_args_take(pool_args *p, PyObject *a, int mode, PyObject *windows, PyObject *weight);
void pool_args_clear(pool_args *p);

/* The data of an optional array: NULL for none. */
#define DATA(arr) ((arr) ? PyArray_DATA(arr) : NULL)

#endif
