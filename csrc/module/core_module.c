/* semiring_lrp._core: the CPython face of the kernel library.
 *
 * It checks arguments, hands contiguous arrays to the kernels with the GIL
 * released, and turns status codes into exceptions. No maths lives here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <limits.h>
#include <math.h>
#include <string.h>

#include "lrp.h"

/* A new reference to obj as a C-contiguous, aligned array of native byte
 * order: obj itself when it is one, else a copy (an array of the other byte
 * order gets a native one); NULL with an exception set. */
static PyArrayObject *native_c_array(PyObject *obj)
{
    return (PyArrayObject *)PyArray_CheckFromAny(obj, NULL, 0, 0,
                                            NPY_ARRAY_IN_ARRAY | NPY_ARRAY_NOTSWAPPED, NULL);
}

/* A borrowed argument turned into a new reference to a C-contiguous, aligned
 * array of exactly `typenum` and `ndim`; NULL with an exception otherwise.
 * Types are never converted here: the Python layer chooses dtypes. */
static PyArrayObject *take_array(PyObject *obj, int typenum, int ndim, const char *name)
{
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a numpy.ndarray, not %.100s",
                     name, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)obj;
    if (PyArray_TYPE(arr) != typenum) {
        PyArray_Descr *want = PyArray_DescrFromType(typenum);
        PyErr_Format(PyExc_TypeError, "%s must have dtype %S, not %S",
                     name, (PyObject *)want, (PyObject *)PyArray_DESCR(arr));
        Py_XDECREF(want);
        return NULL;
    }
    if (PyArray_NDIM(arr) != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must have %d dimensions, not %d",
                     name, ndim, PyArray_NDIM(arr));
        return NULL;
    }
    return native_c_array(obj);
}

/* arg as a C long in [low, high]: any integral object but a bool (as
 * operator.index takes it); TypeError, ValueError (or OverflowError past a
 * C long) naming `what` otherwise, so that no Python int is silently
 * truncated or wrapped in C. */
static int bounded_long(PyObject *arg, const char *what, long low, long high, long *out)
{
    if (PyBool_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not the bool %R", what, arg);
        return -1;
    }
    PyObject *index = PyNumber_Index(arg);
    if (!index) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what,
                         Py_TYPE(arg)->tp_name);
        }
        return -1;
    }
    int overflow = 0;
    const long value = PyLong_AsLongAndOverflow(index, &overflow);
    Py_DECREF(index);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (overflow || value < low || value > high) {
        /* OverflowError past a C long, as CPython's own conversions raise */
        PyErr_Format(overflow ? PyExc_OverflowError : PyExc_ValueError,
                     "%s must be %ld to %ld, not %R", what, low, high, arg);
        return -1;
    }
    *out = value;
    return 0;
}

static int check_dim(PyArrayObject *arr, int axis, npy_intp want, const char *name,
                     const char *what)
{
    if (PyArray_DIM(arr, axis) != want) {
        PyErr_Format(PyExc_ValueError, "%s has %zd %s, expected %zd",
                     name, (Py_ssize_t)PyArray_DIM(arr, axis), what, (Py_ssize_t)want);
        return -1;
    }
    return 0;
}

static int parse_rule(PyObject *obj, lrp_rule *rule)
{
    int kind, eps_mode;
    double eps, gamma;
    if (!PyTuple_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "rule must be a tuple (kind, eps, eps_mode, gamma), "
                     "not %.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (!PyArg_ParseTuple(obj, "idid;rule must be (kind, eps, eps_mode, gamma)",
                          &kind, &eps, &eps_mode, &gamma))
        return -1;
    if (kind < LRP_RULE_ZERO || kind > LRP_RULE_ZBOX) {
        PyErr_Format(PyExc_ValueError, "unknown rule kind %d", kind);
        return -1;
    }
    if (eps_mode != LRP_EPS_SIGN && eps_mode != LRP_EPS_PLUS) {
        PyErr_Format(PyExc_ValueError, "unknown eps mode %d", eps_mode);
        return -1;
    }
    if (!(eps >= 0 && eps < HUGE_VAL) || !(gamma >= 0 && gamma < HUGE_VAL)) {
        PyErr_SetString(PyExc_ValueError, "rule eps and gamma must be finite and >= 0");
        return -1;
    }
    rule->kind = (lrp_rule_kind)kind;
    rule->eps = eps;
    rule->eps_mode = (lrp_eps_mode)eps_mode;
    rule->gamma = gamma;
    return 0;
}

/* The kernels' interrupt hook: Ctrl-C (or any signal handler that raises)
 * stops a long pass between tiles. It takes the GIL for the moment of the
 * check; the handler runs and its exception stays set for the caller. */
static int signal_arrived(void *context)
{
    (void)context;
    PyGILState_STATE gil = PyGILState_Ensure();
    int stop = PyErr_CheckSignals() < 0;
    PyGILState_Release(gil);
    return stop;
}

static const lrp_interrupt interrupt_on_signal = {signal_arrived, NULL};

static PyObject *raise_status(lrp_status status)
{
    switch (status) {
    case LRP_ERR_INTERRUPTED:
        if (!PyErr_Occurred())
            PyErr_SetNone(PyExc_KeyboardInterrupt);
        break;
    case LRP_ERR_OVERFLOW:
        PyErr_SetString(PyExc_OverflowError,
                        "a relevance count exceeds the int64 range (2**63 - 1)");
        break;
    case LRP_ERR_NOMEM:
        PyErr_NoMemory();
        break;
    case LRP_ERR_ARG:
        PyErr_SetString(PyExc_ValueError,
                        "invalid kernel argument (negative count, or z^B without bounds)");
        break;
    default:
        PyErr_Format(PyExc_SystemError, "kernel returned unknown status %d", (int)status);
    }
    return NULL;
}

/* The arrays a weighted-layer call works on, all of one float dtype: a dense
 * layer (a 2-D, w 2-D) or a Conv2d layer (a 4-D NCHW, w 4-D). */
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

static void layer_args_clear(layer_args *d)
{
    Py_XDECREF(d->a);
    Py_XDECREF(d->w);
    Py_XDECREF(d->b);
    Py_XDECREF(d->low);
    Py_XDECREF(d->high);
}

/* PyTorch's output length of one convolution axis, or -1 if there is none. */
static npy_intp conv_out_len(npy_intp in, npy_intp k, Py_ssize_t stride, Py_ssize_t pad,
                             Py_ssize_t dil)
{
    const Py_ssize_t limit = (Py_ssize_t)1 << 30; /* keeps every product below in range */
    if (stride < 1 || pad < 0 || dil < 1 || stride > limit || pad > limit || dil > limit ||
        k > limit || in > PY_SSIZE_T_MAX / 4)
        return -1;
    npy_intp span = in + 2 * (npy_intp)pad - (npy_intp)dil * (k - 1) - 1;
    return span < 0 ? -1 : span / stride + 1;
}

static int parse_geometry(PyObject *geometry, layer_args *d)
{
    static const char *const names[7] = {"geometry's stride_h", "geometry's stride_w",
                                         "geometry's pad_h",    "geometry's pad_w",
                                         "geometry's dil_h",    "geometry's dil_w",
                                         "geometry's groups"};
    /* stride, padding and dilation at most 2**30 keep conv_out_len's
     * products in range; groups is checked against the channels below */
    static const long low[7] = {1, 1, 0, 0, 1, 1, 1};
    const long limit = 1L << 30;
    long value[7];
    if (!PyTuple_Check(geometry) || PyTuple_GET_SIZE(geometry) != 7) {
        PyErr_Format(PyExc_TypeError, "geometry must be a tuple (stride_h, stride_w, pad_h, "
                     "pad_w, dil_h, dil_w, groups), not %R", geometry);
        return -1;
    }
    for (int i = 0; i < 7; i++)
        if (bounded_long(PyTuple_GET_ITEM(geometry, i), names[i], low[i],
                         i == 6 ? LONG_MAX : limit, &value[i]) < 0)
            return -1;
    const Py_ssize_t sh = value[0], sw = value[1], ph = value[2], pw = value[3];
    const Py_ssize_t dh = value[4], dw = value[5], groups = value[6];
    lrp_conv_shape *c = &d->conv;
    c->n = PyArray_DIM(d->a, 0);
    c->in_c = PyArray_DIM(d->a, 1);
    c->in_h = PyArray_DIM(d->a, 2);
    c->in_w = PyArray_DIM(d->a, 3);
    c->out_c = PyArray_DIM(d->w, 0);
    c->k_h = PyArray_DIM(d->w, 2);
    c->k_w = PyArray_DIM(d->w, 3);
    c->stride_h = sh, c->stride_w = sw, c->pad_h = ph, c->pad_w = pw;
    c->dil_h = dh, c->dil_w = dw, c->groups = groups;
    c->interrupt = &interrupt_on_signal;
    if (groups < 1 || c->in_c % groups != 0 || c->out_c % groups != 0) {
        PyErr_Format(PyExc_ValueError, "groups=%zd must divide the %zd input and %zd output "
                     "channels", groups, (Py_ssize_t)c->in_c, (Py_ssize_t)c->out_c);
        return -1;
    }
    if (PyArray_DIM(d->w, 1) != c->in_c / groups) {
        PyErr_Format(PyExc_ValueError, "w has %zd input channels per group, expected %zd",
                     (Py_ssize_t)PyArray_DIM(d->w, 1), (Py_ssize_t)(c->in_c / groups));
        return -1;
    }
    c->out_h = conv_out_len(c->in_h, c->k_h, sh, ph, dh);
    c->out_w = conv_out_len(c->in_w, c->k_w, sw, pw, dw);
    if (c->out_h < 1 || c->out_w < 1 || c->k_h < 1 || c->k_w < 1) {
        PyErr_Format(PyExc_ValueError, "a %zdx%zd input has no output under a %zdx%zd kernel "
                     "with this stride, padding and dilation", (Py_ssize_t)c->in_h,
                     (Py_ssize_t)c->in_w, (Py_ssize_t)c->k_h, (Py_ssize_t)c->k_w);
        return -1;
    }
    if (lrp_conv_check(c) != LRP_OK) {
        PyErr_SetString(PyExc_ValueError, "inconsistent convolution geometry");
        return -1;
    }
    d->out_ndim = 4;
    d->out_dims[0] = c->n, d->out_dims[1] = c->out_c;
    d->out_dims[2] = c->out_h, d->out_dims[3] = c->out_w;
    return 0;
}

static int take_float_dtype(PyObject *a, int *typenum)
{
    if (!PyArray_Check(a)) {
        PyErr_Format(PyExc_TypeError, "a must be a numpy.ndarray, not %.100s", Py_TYPE(a)->tp_name);
        return -1;
    }
    *typenum = PyArray_TYPE((PyArrayObject *)a);
    if (*typenum != NPY_FLOAT32 && *typenum != NPY_FLOAT64) {
        PyErr_Format(PyExc_TypeError, "a must be float32 or float64, not %S",
                     (PyObject *)PyArray_DESCR((PyArrayObject *)a));
        return -1;
    }
    return 0;
}

/* geometry == NULL: a dense layer, a (n, in), w (out, in). Otherwise a
 * Conv2d layer, a (n, c, h, w), w (out_c, c / groups, k_h, k_w). b is
 * optional; z^B bounds are shaped like a. */
#define WEIGHT_CACHE_NAME "semiring_lrp._core.weight_cache"

/* The lrp_weight_cache of a weight_cache() capsule; NULL for None (and with
 * an exception for anything else). */
static int take_weight_cache(PyObject *obj, lrp_weight_cache **cache)
{
    *cache = NULL;
    if (obj == Py_None)
        return 0;
    if (!PyCapsule_IsValid(obj, WEIGHT_CACHE_NAME)) {
        PyErr_Format(PyExc_TypeError, "cache must be None or a weight_cache(w), not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    *cache = PyCapsule_GetPointer(obj, WEIGHT_CACHE_NAME);
    return *cache ? 0 : -1;
}

static int layer_args_take(layer_args *d, PyObject *a, PyObject *w, PyObject *b,
                           PyObject *rule, PyObject *geometry, PyObject *low, PyObject *high,
                           PyObject *cache)
{
    memset(d, 0, sizeof(*d));
    lrp_weight_cache *kept;
    if (take_weight_cache(cache, &kept) < 0)
        return -1;
    d->dense.cache = d->conv.cache = kept;
    d->is_conv = geometry != NULL;
    const int ndim = d->is_conv ? 4 : 2;
    if (parse_rule(rule, &d->rule) < 0 || take_float_dtype(a, &d->typenum) < 0)
        return -1;
    if (!(d->a = take_array(a, d->typenum, ndim, "a")) ||
        !(d->w = take_array(w, d->typenum, ndim, "w")))
        return -1;
    npy_intp out_features = PyArray_DIM(d->w, 0);
    if (d->is_conv) {
        if (parse_geometry(geometry, d) < 0)
            return -1;
    } else {
        d->dense.n = PyArray_DIM(d->a, 0);
        d->dense.in = PyArray_DIM(d->a, 1);
        d->dense.out = out_features;
        d->dense.interrupt = &interrupt_on_signal;
        if (check_dim(d->w, 1, d->dense.in, "w", "input columns") < 0)
            return -1;
        d->out_ndim = 2;
        d->out_dims[0] = d->dense.n, d->out_dims[1] = d->dense.out;
    }
    if (b) {
        if (!(d->b = take_array(b, d->typenum, 1, "b")) ||
            check_dim(d->b, 0, out_features, "b", "entries") < 0)
            return -1;
    }
    if (d->rule.kind != LRP_RULE_ZBOX)
        return 0;
    if (low == Py_None || high == Py_None) {
        PyErr_SetString(PyExc_ValueError, "the z^B rule needs low and high bounds");
        return -1;
    }
    if (!(d->low = take_array(low, d->typenum, ndim, "low")) ||
        !(d->high = take_array(high, d->typenum, ndim, "high")))
        return -1;
    if (!PyArray_SAMESHAPE(d->low, d->a) || !PyArray_SAMESHAPE(d->high, d->a)) {
        PyErr_SetString(PyExc_ValueError, "low and high must have the shape of a");
        return -1;
    }
    return 0;
}

/* The passes write every value of their output (each path clears what it
 * would not write), so outputs start uninitialised: zeroing them here had
 * taken 2% of a VGG-16 pass on the calling thread alone. Under
 * _core.set_poison(True) (tests) they start as 0xFF bytes instead (NaN,
 * -1, an invalid bool), so that a value a path leaves unwritten shows. */
static int poison_outputs;

static PyObject *fresh_output(int ndim, npy_intp *dims, int typenum)
{
    PyObject *out = PyArray_EMPTY(ndim, dims, typenum, 0);
    if (out && poison_outputs)
        memset(PyArray_DATA((PyArrayObject *)out), 0xFF, (size_t)PyArray_NBYTES((PyArrayObject *)out));
    return out;
}

#define DATA(arr) ((arr) ? PyArray_DATA(arr) : NULL)

typedef enum { PASS_FORWARD, PASS_ABSMAX } sum_pass;

/* forward or absmax of a dense (geometry == NULL) or conv layer */
static PyObject *weighted_sum(PyObject *args, PyObject *kwargs, sum_pass pass, int is_conv)
{
    static char *dense_kw[] = {"a", "w", "b", "rule", "low", "high", "cache", NULL};
    static char *conv_kw[] = {"a", "w", "b", "rule", "geometry", "low", "high", "cache", NULL};
    PyObject *a, *w, *b, *rule, *geometry = NULL, *low = Py_None, *high = Py_None;
    PyObject *cache = Py_None;
    int parsed = is_conv
        ? PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO|OOO", conv_kw, &a, &w, &b, &rule,
                                      &geometry, &low, &high, &cache)
        : PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|OOO", dense_kw, &a, &w, &b, &rule,
                                      &low, &high, &cache);
    if (!parsed)
        return NULL;
    layer_args d;
    PyObject *out = NULL;
    if (layer_args_take(&d, a, w, b, rule, geometry, low, high, cache) < 0)
        goto done;
    if (!(out = fresh_output(d.out_ndim, d.out_dims, d.typenum)))
        goto done;
    void *ad = DATA(d.a), *wd = DATA(d.w), *bd = DATA(d.b), *lo = DATA(d.low), *hi = DATA(d.high);
    void *od = PyArray_DATA((PyArrayObject *)out);
    int f32 = d.typenum == NPY_FLOAT32;
    lrp_status status;
    Py_BEGIN_ALLOW_THREADS
    if (is_conv && pass == PASS_FORWARD)
        status = f32 ? lrp_conv_forward_f32(&d.conv, &d.rule, ad, wd, bd, lo, hi, od)
                     : lrp_conv_forward_f64(&d.conv, &d.rule, ad, wd, bd, lo, hi, od);
    else if (is_conv)
        status = f32 ? lrp_conv_absmax_f32(&d.conv, &d.rule, ad, wd, bd, lo, hi, od)
                     : lrp_conv_absmax_f64(&d.conv, &d.rule, ad, wd, bd, lo, hi, od);
    else if (pass == PASS_FORWARD)
        status = f32 ? lrp_dense_forward_f32(&d.dense, &d.rule, ad, wd, bd, lo, hi, od)
                     : lrp_dense_forward_f64(&d.dense, &d.rule, ad, wd, bd, lo, hi, od);
    else
        status = f32 ? lrp_dense_absmax_f32(&d.dense, &d.rule, ad, wd, bd, lo, hi, od)
                     : lrp_dense_absmax_f64(&d.dense, &d.rule, ad, wd, bd, lo, hi, od);
    Py_END_ALLOW_THREADS
    if (status != LRP_OK) {
        Py_CLEAR(out);
        raise_status(status);
    }
done:
    layer_args_clear(&d);
    return out;
}

static PyObject *py_dense_forward(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return weighted_sum(args, kwargs, PASS_FORWARD, 0);
}

static PyObject *py_dense_absmax(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return weighted_sum(args, kwargs, PASS_ABSMAX, 0);
}

static PyObject *py_conv_forward(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return weighted_sum(args, kwargs, PASS_FORWARD, 1);
}

static PyObject *py_conv_absmax(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return weighted_sum(args, kwargs, PASS_ABSMAX, 1);
}

static PyObject *py_stabilise(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *z_obj, *rule_obj;
    int in_place = 0;
    lrp_rule rule;
    int typenum;
    if (!PyArg_ParseTuple(args, "OO|p", &z_obj, &rule_obj, &in_place) ||
        parse_rule(rule_obj, &rule) < 0 || take_float_dtype(z_obj, &typenum) < 0)
        return NULL;
    PyArrayObject *z;
    if (in_place) {
        /* a z the caller owns and no one else reads (a fresh forward's):
         * no copy of tens of megabytes */
        const int needed = NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_WRITEABLE;
        if (!PyArray_Check(z_obj) || !PyArray_ISNOTSWAPPED((PyArrayObject *)z_obj) ||
            !PyArray_CHKFLAGS((PyArrayObject *)z_obj, needed)) {
            PyErr_SetString(PyExc_ValueError, "stabilise in place needs a writeable, C-ordered, "
                                              "aligned array of native byte order");
            return NULL;
        }
        z = (PyArrayObject *)z_obj;
        Py_INCREF(z);
    } else {
        /* a fresh, native, C-ordered copy: the caller's z stays as it was */
        z = (PyArrayObject *)PyArray_CheckFromAny(z_obj, NULL, 0, 0,
                                                  NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                                                      NPY_ARRAY_ENSURECOPY | NPY_ARRAY_NOTSWAPPED,
                                                  NULL);
        if (!z)
            return NULL;
    }
    npy_intp count = PyArray_SIZE(z);
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        lrp_stabilise_f32(&rule, count, PyArray_DATA(z));
    else
        lrp_stabilise_f64(&rule, count, PyArray_DATA(z));
    Py_END_ALLOW_THREADS
    return (PyObject *)z;
}

static PyObject *py_relu(PyObject *self, PyObject *arg)
{
    (void)self;
    int typenum;
    if (take_float_dtype(arg, &typenum) < 0)
        return NULL;
    PyArrayObject *a = native_c_array(arg);
    if (!a)
        return NULL;
    PyArrayObject *out = (PyArrayObject *)PyArray_NewLikeArray(a, NPY_CORDER, NULL, 0);
    if (!out) {
        Py_DECREF(a);
        return NULL;
    }
    const npy_intp count = PyArray_SIZE(a);
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        lrp_relu_f32(count, PyArray_DATA(a), PyArray_DATA(out));
    else
        lrp_relu_f64(count, PyArray_DATA(a), PyArray_DATA(out));
    Py_END_ALLOW_THREADS
    Py_DECREF(a);
    return (PyObject *)out;
}

static PyObject *py_any_nonzero(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyArray_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "any_nonzero needs a NumPy array, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const int typenum = PyArray_TYPE((PyArrayObject *)arg);
    if (typenum != NPY_FLOAT32 && typenum != NPY_FLOAT64 && typenum != NPY_BOOL &&
        !PyTypeNum_ISINTEGER(typenum)) {
        PyErr_Format(PyExc_TypeError, "any_nonzero takes float32, float64, bool or integer "
                     "arrays, not %R", PyArray_DESCR((PyArrayObject *)arg));
        return NULL;
    }
    PyArrayObject *x = native_c_array(arg);
    if (!x)
        return NULL;
    const npy_intp count = PyArray_SIZE(x);
    int any;
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        any = lrp_any_nonzero_f32(count, PyArray_DATA(x));
    else if (typenum == NPY_FLOAT64)
        any = lrp_any_nonzero_f64(count, PyArray_DATA(x));
    else
        any = lrp_any_nonzero_bytes((size_t)PyArray_NBYTES(x), PyArray_DATA(x));
    Py_END_ALLOW_THREADS
    Py_DECREF(x);
    return PyBool_FromLong(any);
}

typedef enum { SR_REAL, SR_BOOLEAN, SR_COUNTING, SR_VITERBI } semiring_kind;

static int parse_semiring(const char *name, semiring_kind *kind, int *relevance_type,
                          int typenum)
{
    static const struct {
        const char *name;
        semiring_kind kind;
        int type; /* -1: the float dtype of the layer */
    } known[] = {{"real", SR_REAL, -1}, {"boolean", SR_BOOLEAN, NPY_BOOL},
                 {"counting", SR_COUNTING, NPY_INT64}, {"viterbi", SR_VITERBI, -1}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(name, known[i].name) == 0) {
            *kind = known[i].kind;
            *relevance_type = known[i].type < 0 ? typenum : known[i].type;
            return 0;
        }
    PyErr_Format(PyExc_ValueError,
                 "unknown semiring '%.100s'; the kernels know 'real', 'boolean', "
                 "'counting' and 'viterbi'", name);
    return -1;
}

/* One K-LRP step: the four semirings of one layer family and dtype. */
#define RELEVANCE_SWITCH(LAYER, S, SHAPE)                                                        \
    switch (kind) {                                                                              \
    case SR_REAL:                                                                                \
        status = lrp_##LAYER##_relevance_real_##S(SHAPE, r, ad, wd, lo, hi, zd, ro, ri);         \
        break;                                                                                   \
    case SR_BOOLEAN:                                                                             \
        status = lrp_##LAYER##_relevance_boolean_##S(SHAPE, r, &t, ad, wd, lo, hi, zd, ro, ri);  \
        break;                                                                                   \
    case SR_COUNTING:                                                                            \
        status = lrp_##LAYER##_relevance_counting_##S(SHAPE, r, &t, ad, wd, lo, hi, zd, ro, ri); \
        break;                                                                                   \
    case SR_VITERBI:                                                                             \
        status = lrp_##LAYER##_relevance_viterbi_##S(SHAPE, r, ad, wd, lo, hi, zd, ro, ri);      \
        break;                                                                                   \
    }

static PyObject *weighted_relevance(PyObject *args, PyObject *kwargs, int is_conv)
{
    static char *dense_kw[] = {"semiring", "a", "w", "z", "r_out", "rule",
                               "theta", "absolute", "low", "high", "cache", NULL};
    static char *conv_kw[] = {"semiring", "a", "w", "z", "r_out", "rule", "geometry",
                              "theta", "absolute", "low", "high", "cache", NULL};
    const char *name;
    PyObject *a, *w, *z_obj, *r_obj, *rule, *geometry = NULL, *low = Py_None, *high = Py_None;
    PyObject *cache = Py_None;
    double theta = 0.0;
    int absolute = 0;
    int parsed = is_conv
        ? PyArg_ParseTupleAndKeywords(args, kwargs, "sOOOOOO|dpOOO", conv_kw, &name, &a, &w,
                                      &z_obj, &r_obj, &rule, &geometry, &theta, &absolute,
                                      &low, &high, &cache)
        : PyArg_ParseTupleAndKeywords(args, kwargs, "sOOOOO|dpOOO", dense_kw, &name, &a, &w,
                                      &z_obj, &r_obj, &rule, &theta, &absolute, &low, &high,
                                      &cache);
    if (!parsed)
        return NULL;
    if (theta != theta) {
        PyErr_SetString(PyExc_ValueError, "theta must not be NaN");
        return NULL;
    }
    layer_args d;
    PyArrayObject *z = NULL, *r_out = NULL;
    PyObject *r_in = NULL;
    semiring_kind kind;
    int relevance_type;
    if (layer_args_take(&d, a, w, NULL, rule, geometry, low, high, cache) < 0 ||
        parse_semiring(name, &kind, &relevance_type, d.typenum) < 0)
        goto fail;
    if (!(z = take_array(z_obj, d.typenum, d.out_ndim, "z")) ||
        !(r_out = take_array(r_obj, relevance_type, d.out_ndim, "r_out")))
        goto fail;
    if (!PyArray_CompareLists(PyArray_DIMS(z), d.out_dims, d.out_ndim) ||
        !PyArray_CompareLists(PyArray_DIMS(r_out), d.out_dims, d.out_ndim)) {
        PyErr_SetString(PyExc_ValueError, "z and r_out must have the layer's output shape");
        goto fail;
    }
    if (!(r_in = fresh_output(PyArray_NDIM(d.a), PyArray_DIMS(d.a), relevance_type)))
        goto fail;

    lrp_threshold t = {theta, absolute};
    const lrp_rule *r = &d.rule;
    void *zd = PyArray_DATA(z), *ro = PyArray_DATA(r_out);
    void *ri = PyArray_DATA((PyArrayObject *)r_in);
    void *ad = DATA(d.a), *wd = DATA(d.w), *lo = DATA(d.low), *hi = DATA(d.high);
    lrp_status status = LRP_OK;
    Py_BEGIN_ALLOW_THREADS
    if (is_conv && d.typenum == NPY_FLOAT32) {
        RELEVANCE_SWITCH(conv, f32, &d.conv)
    } else if (is_conv) {
        RELEVANCE_SWITCH(conv, f64, &d.conv)
    } else if (d.typenum == NPY_FLOAT32) {
        RELEVANCE_SWITCH(dense, f32, &d.dense)
    } else {
        RELEVANCE_SWITCH(dense, f64, &d.dense)
    }
    Py_END_ALLOW_THREADS
    if (status != LRP_OK) {
        raise_status(status);
        goto fail;
    }
    goto done;
fail:
    Py_CLEAR(r_in);
done:
    Py_XDECREF(z);
    Py_XDECREF(r_out);
    layer_args_clear(&d);
    return r_in;
}

static PyObject *py_dense_relevance(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return weighted_relevance(args, kwargs, 0);
}

static PyObject *py_conv_relevance(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return weighted_relevance(args, kwargs, 1);
}

/* The arrays of a pooling call: a (n, c, h, w) and the window table. */
typedef struct {
    int typenum;
    lrp_pool_shape shape;
    PyArrayObject *a, *weight, *bounds[4];
} pool_args;

static void pool_args_clear(pool_args *p)
{
    Py_XDECREF(p->a);
    Py_XDECREF(p->weight);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(p->bounds[i]);
}

static int pool_args_take(pool_args *p, PyObject *a, int mode, PyObject *windows, PyObject *weight)
{
    static const char *names[4] = {"row_start", "row_end", "col_start", "col_end"};
    memset(p, 0, sizeof(*p));
    if (take_float_dtype(a, &p->typenum) < 0 || !(p->a = take_array(a, p->typenum, 4, "a")))
        return -1;
    if (mode != LRP_POOL_AVERAGE && mode != LRP_POOL_MAX) {
        PyErr_Format(PyExc_ValueError, "unknown pooling mode %d", mode);
        return -1;
    }
    if (!PyTuple_Check(windows) || PyTuple_GET_SIZE(windows) != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "windows must be a tuple (row_start, row_end, col_start, col_end)");
        return -1;
    }
    for (int i = 0; i < 4; i++)
        if (!(p->bounds[i] = take_array(PyTuple_GET_ITEM(windows, i), NPY_INT64, 1, names[i])))
            return -1;
    lrp_pool_shape *s = &p->shape;
    s->n = PyArray_DIM(p->a, 0);
    s->channels = PyArray_DIM(p->a, 1);
    s->in_h = PyArray_DIM(p->a, 2);
    s->in_w = PyArray_DIM(p->a, 3);
    s->out_h = PyArray_DIM(p->bounds[0], 0);
    s->out_w = PyArray_DIM(p->bounds[2], 0);
    s->mode = (lrp_pool_mode)mode;
    s->interrupt = &interrupt_on_signal;
    if (check_dim(p->bounds[1], 0, s->out_h, "row_end", "entries") < 0 ||
        check_dim(p->bounds[3], 0, s->out_w, "col_end", "entries") < 0)
        return -1;
    s->row_start = PyArray_DATA(p->bounds[0]);
    s->row_end = PyArray_DATA(p->bounds[1]);
    s->col_start = PyArray_DATA(p->bounds[2]);
    s->col_end = PyArray_DATA(p->bounds[3]);
    if (lrp_pool_check(s) != LRP_OK) {
        PyErr_SetString(PyExc_ValueError, "every pooling window must be non-empty and lie "
                        "inside the input");
        return -1;
    }
    if (mode == LRP_POOL_AVERAGE) {
        if (weight == Py_None) {
            PyErr_SetString(PyExc_ValueError, "average pooling needs its weights");
            return -1;
        }
        if (!(p->weight = take_array(weight, p->typenum, 2, "weight")) ||
            check_dim(p->weight, 0, s->out_h, "weight", "rows") < 0 ||
            check_dim(p->weight, 1, s->out_w, "weight", "columns") < 0)
            return -1;
    }
    return 0;
}

static PyObject *py_pool_forward(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *kwlist[] = {"a", "mode", "windows", "weight", NULL};
    PyObject *a, *mode_obj, *windows, *weight = Py_None;
    long mode;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|O", kwlist, &a, &mode_obj, &windows,
                                     &weight) ||
        bounded_long(mode_obj, "the pooling mode", LRP_POOL_AVERAGE, LRP_POOL_MAX, &mode) < 0)
        return NULL;
    pool_args p;
    PyObject *out = NULL;
    if (pool_args_take(&p, a, (int)mode, windows, weight) < 0)
        goto done;
    npy_intp dims[4] = {p.shape.n, p.shape.channels, p.shape.out_h, p.shape.out_w};
    if (!(out = fresh_output(4, dims, p.typenum)))
        goto done;
    void *wd = DATA(p.weight), *ad = DATA(p.a), *od = PyArray_DATA((PyArrayObject *)out);
    lrp_status status;
    Py_BEGIN_ALLOW_THREADS
    status = p.typenum == NPY_FLOAT32 ? lrp_pool_forward_f32(&p.shape, wd, ad, od)
                                      : lrp_pool_forward_f64(&p.shape, wd, ad, od);
    Py_END_ALLOW_THREADS
    if (status != LRP_OK) {
        Py_CLEAR(out);
        raise_status(status);
    }
done:
    pool_args_clear(&p);
    return out;
}

#define POOL_SWITCH(S)                                                                  \
    switch (kind) {                                                                     \
    case SR_REAL:                                                                       \
        status = lrp_pool_relevance_real_##S(&p.shape, wd, ad, ro, ri);                 \
        break;                                                                          \
    case SR_BOOLEAN:                                                                    \
        status = lrp_pool_relevance_boolean_##S(&p.shape, wd, &t, ad, ro, ri);          \
        break;                                                                          \
    case SR_COUNTING:                                                                   \
        status = lrp_pool_relevance_counting_##S(&p.shape, wd, &t, ad, ro, ri);         \
        break;                                                                          \
    case SR_VITERBI:                                                                    \
        status = lrp_pool_relevance_viterbi_##S(&p.shape, wd, ad, ro, ri);              \
        break;                                                                          \
    }

static PyObject *py_pool_relevance(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *kwlist[] = {"semiring", "a", "r_out", "mode", "windows", "weight",
                             "theta", "absolute", NULL};
    const char *name;
    PyObject *a, *r_obj, *mode_obj, *windows, *weight = Py_None;
    long mode;
    int absolute = 0;
    double theta = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sOOOO|Odp", kwlist, &name, &a, &r_obj,
                                     &mode_obj, &windows, &weight, &theta, &absolute) ||
        bounded_long(mode_obj, "the pooling mode", LRP_POOL_AVERAGE, LRP_POOL_MAX, &mode) < 0)
        return NULL;
    if (theta != theta) {
        PyErr_SetString(PyExc_ValueError, "theta must not be NaN");
        return NULL;
    }
    pool_args p;
    PyArrayObject *r_out = NULL;
    PyObject *r_in = NULL;
    semiring_kind kind;
    int relevance_type;
    if (pool_args_take(&p, a, (int)mode, windows, weight) < 0 ||
        parse_semiring(name, &kind, &relevance_type, p.typenum) < 0)
        goto fail;
    npy_intp dims[4] = {p.shape.n, p.shape.channels, p.shape.out_h, p.shape.out_w};
    if (!(r_out = take_array(r_obj, relevance_type, 4, "r_out")))
        goto fail;
    if (!PyArray_CompareLists(PyArray_DIMS(r_out), dims, 4)) {
        PyErr_SetString(PyExc_ValueError, "r_out must have the pooling layer's output shape");
        goto fail;
    }
    if (!(r_in = fresh_output(4, PyArray_DIMS(p.a), relevance_type)))
        goto fail;
    lrp_threshold t = {theta, absolute};
    void *wd = DATA(p.weight), *ad = DATA(p.a), *ro = PyArray_DATA(r_out);
    void *ri = PyArray_DATA((PyArrayObject *)r_in);
    lrp_status status = LRP_OK;
    Py_BEGIN_ALLOW_THREADS
    if (p.typenum == NPY_FLOAT32) {
        POOL_SWITCH(f32)
    } else {
        POOL_SWITCH(f64)
    }
    Py_END_ALLOW_THREADS
    if (status != LRP_OK) {
        raise_status(status);
        goto fail;
    }
    goto done;
fail:
    Py_CLEAR(r_in);
done:
    Py_XDECREF(r_out);
    pool_args_clear(&p);
    return r_in;
}

#define KW_METHOD(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_VARARGS | METH_KEYWORDS, doc}

static PyObject *py_set_num_threads(PyObject *self, PyObject *arg)
{
    (void)self;
    long n;
    if (bounded_long(arg, "the thread count", 1, 1024, &n) < 0)
        return NULL;
    lrp_set_num_threads((int)n);
    Py_RETURN_NONE;
}

static PyObject *py_num_threads(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromLong(lrp_num_threads());
}

/* The index of arg in names[0..count) (a str naming one of them), or -1 with
 * TypeError or ValueError set; what names is what the messages call them. */
static int choice_index(PyObject *arg, const char *const *names, int count, const char *what)
{
    const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!name) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "the %s must be a str, not %.100s", what,
                         Py_TYPE(arg)->tp_name);
        return -1;
    }
    for (int i = 0; i < count; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    char choices[256] = "";
    for (int i = 0; i < count; i++) {
        const size_t used = strlen(choices);
        snprintf(choices + used, sizeof choices - used, "%s'%s'",
                 i == 0 ? "" : i + 1 < count ? ", " : " or ", names[i]);
    }
    PyErr_Format(PyExc_ValueError, "unknown %s %R: use %s", what, arg, choices);
    return -1;
}

#define CHOICE_INDEX(arg, names, what) \
    choice_index(arg, names, (int)(sizeof(names) / sizeof(*(names))), what)

static const char *const isa_names[] = {"portable", "avx2", "avx512"};

static PyObject *py_set_isa(PyObject *self, PyObject *arg)
{
    (void)self;
    const int isa = CHOICE_INDEX(arg, isa_names, "instruction set");
    if (isa < 0)
        return NULL;
    if (lrp_set_isa((lrp_isa)isa) != LRP_OK) {
        PyErr_Format(PyExc_ValueError, "this CPU cannot run the %s kernels (best: %s)",
                     isa_names[isa], isa_names[lrp_best_isa()]);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *py_isa(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyUnicode_FromString(isa_names[lrp_current_isa()]);
}

static PyObject *py_best_isa(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyUnicode_FromString(isa_names[lrp_best_isa()]);
}

static PyObject *py_set_poison(PyObject *self, PyObject *arg)
{
    (void)self;
    const int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    poison_outputs = on;
    Py_RETURN_NONE;
}

static PyObject *py_poison(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyBool_FromLong(poison_outputs);
}

static PyObject *py_set_sparse_passes(PyObject *self, PyObject *arg)
{
    (void)self;
    const int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    lrp_set_sparse_passes(on);
    Py_RETURN_NONE;
}

static PyObject *py_sparse_passes(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyBool_FromLong(lrp_sparse_passes());
}

/* NumPy's allocations through the array pool while a pass runs: a handler
 * set for the current context (PyDataMem_SetHandler) and put back after;
 * arrays keep their handler, so one made in a pass returns its memory to
 * the pool whenever it is freed. */
static void *pool_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return lrp_array_pool_alloc(size);
}

static void *pool_calloc(void *ctx, size_t count, size_t size)
{
    (void)ctx;
    return lrp_array_pool_calloc(count, size);
}

static void *pool_realloc(void *ctx, void *data, size_t size)
{
    (void)ctx;
    return lrp_array_pool_realloc(data, size);
}

static void pool_free(void *ctx, void *data, size_t size)
{
    (void)ctx, (void)size;
    lrp_array_pool_free(data);
}

static PyDataMem_Handler pool_handler = {
    "semiring_lrp_array_pool", 1, {NULL, pool_malloc, pool_calloc, pool_realloc, pool_free}};
static PyObject *pool_capsule; /* lives as long as the module: arrays refer to it */

static PyObject *py_use_array_pool(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyDataMem_SetHandler(pool_capsule);
}

static PyObject *py_restore_array_handler(PyObject *self, PyObject *handler)
{
    (void)self;
    if (!PyCapsule_IsValid(handler, "mem_handler")) {
        PyErr_SetString(PyExc_TypeError, "restore_array_handler takes what use_array_pool returned");
        return NULL;
    }
    PyObject *ours = PyDataMem_SetHandler(handler);
    if (!ours)
        return NULL;
    Py_DECREF(ours);
    Py_RETURN_NONE;
}

static PyObject *py_array_pool_held(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromSize_t(lrp_array_pool_held());
}

static PyObject *py_array_pool_limit(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromSize_t(lrp_array_pool_limit());
}

static PyObject *py_set_array_pool_limit(PyObject *self, PyObject *arg)
{
    (void)self;
    const size_t bytes = PyLong_Check(arg) ? PyLong_AsSize_t(arg) : (size_t)-1;
    if (bytes == (size_t)-1) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "the array pool's limit must be an int of bytes from 0 "
                         "to %zu, not %R", (size_t)PY_SSIZE_T_MAX, arg);
        }
        return NULL;
    }
    lrp_array_pool_set_limit(bytes);
    Py_RETURN_NONE;
}

static PyObject *py_clear_array_pool(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    lrp_array_pool_clear();
    Py_RETURN_NONE;
}

static const char *const fusion_names[] = {"never", "auto", "always"};

static PyObject *py_set_winograd_fusion(PyObject *self, PyObject *arg)
{
    (void)self;
    const int mode = CHOICE_INDEX(arg, fusion_names, "Winograd fusion mode");
    if (mode < 0)
        return NULL;
    (void)lrp_set_winograd_fusion(mode);
    Py_RETURN_NONE;
}

static PyObject *py_winograd_fusion(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyUnicode_FromString(fusion_names[lrp_winograd_fusion()]);
}

static PyObject *py_sparse_runs(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromLong(lrp_sparse_runs());
}

static void weight_cache_destroy(PyObject *capsule)
{
    lrp_weight_cache_free(PyCapsule_GetPointer(capsule, WEIGHT_CACHE_NAME));
    Py_XDECREF(PyCapsule_GetContext(capsule));
}

/* The capsule holds its array: while the cache lives no other array can
 * take that address, which is what the kernels match entries against. */
static PyObject *py_weight_cache(PyObject *self, PyObject *w)
{
    (void)self;
    if (!PyArray_Check(w)) {
        PyErr_Format(PyExc_TypeError, "w must be a numpy.ndarray, not %.100s",
                     Py_TYPE(w)->tp_name);
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)w;
    if (PyArray_TYPE(arr) != NPY_FLOAT32 && PyArray_TYPE(arr) != NPY_FLOAT64) {
        PyErr_Format(PyExc_TypeError, "w must be float32 or float64, not %S",
                     (PyObject *)PyArray_DESCR(arr));
        return NULL;
    }
    if (PyArray_ISWRITEABLE(arr) || PyArray_BASE(arr) != NULL ||
        !PyArray_ISCARRAY_RO(arr) || !PyArray_ISNOTSWAPPED(arr)) {
        PyErr_SetString(PyExc_ValueError, "a weight cache needs a read-only, C-contiguous "
                        "array that owns its data: its values must never change");
        return NULL;
    }
    lrp_weight_cache *cache = lrp_weight_cache_new(PyArray_DATA(arr));
    if (!cache)
        return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(cache, WEIGHT_CACHE_NAME, weight_cache_destroy);
    if (!capsule) {
        lrp_weight_cache_free(cache);
        return NULL;
    }
    Py_INCREF(w);
    if (PyCapsule_SetContext(capsule, w) < 0) {
        Py_DECREF(w);
        Py_DECREF(capsule);
        return NULL;
    }
    return capsule;
}

static PyObject *py_weight_cache_size(PyObject *self, PyObject *capsule)
{
    (void)self;
    lrp_weight_cache *cache;
    if (take_weight_cache(capsule, &cache) < 0)
        return NULL;
    if (!cache) {
        PyErr_SetString(PyExc_TypeError, "weight_cache_size needs a weight_cache(w)");
        return NULL;
    }
    size_t bytes, entries;
    Py_BEGIN_ALLOW_THREADS /* the lock may be held by a pass building an entry */
    bytes = lrp_weight_cache_bytes(cache);
    entries = lrp_weight_cache_entries(cache);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("(nn)", (Py_ssize_t)entries, (Py_ssize_t)bytes);
}

static PyMethodDef core_methods[] = {
    {"weight_cache", py_weight_cache, METH_O,
     "weight_cache(w) -> a cache of what the passes prepare from w (rho(W) packed,\n"
     "Winograd's U), for their cache= argument; w must be read-only and own its data."},
    {"weight_cache_size", py_weight_cache_size, METH_O,
     "weight_cache_size(cache) -> (entries, bytes) it holds."},
    KW_METHOD("dense_forward", py_dense_forward,
              "dense_forward(a, w, b, rule, low=None, high=None, cache=None) -> z\n\n"
              "z[n, k] = sum_j n_jk + beta_k for a (n, in), w (out, in), b (out,)."),
    KW_METHOD("dense_absmax", py_dense_absmax,
              "dense_absmax(a, w, b, rule, low=None, high=None, cache=None) -> m\n\n"
              "m[n, k] = max(|beta_k|, max_j |n_jk|), the Viterbi denominator."),
    KW_METHOD("dense_relevance", py_dense_relevance,
              "dense_relevance(semiring, a, w, z, r_out, rule, theta=0.0, absolute=False,\n"
              "                low=None, high=None, cache=None) -> r_in\n\n"
              "One K-LRP step through a dense layer for semiring 'real', 'boolean',\n"
              "'counting' or 'viterbi' (for viterbi, z is dense_absmax's m)."),
    KW_METHOD("conv_forward", py_conv_forward,
              "conv_forward(a, w, b, rule, geometry, low=None, high=None, cache=None) -> z\n\n"
              "Conv2d pre-activations, NCHW; geometry is (stride_h, stride_w, pad_h,\n"
              "pad_w, dil_h, dil_w, groups)."),
    KW_METHOD("conv_absmax", py_conv_absmax,
              "conv_absmax(a, w, b, rule, geometry, low=None, high=None, cache=None) -> m"),
    KW_METHOD("conv_relevance", py_conv_relevance,
              "conv_relevance(semiring, a, w, z, r_out, rule, geometry, theta=0.0,\n"
              "               absolute=False, low=None, high=None, cache=None) -> r_in"),
    KW_METHOD("pool_forward", py_pool_forward,
              "pool_forward(a, mode, windows, weight=None) -> z\n\n"
              "windows = (row_start, row_end, col_start, col_end), int64; mode\n"
              "POOL_AVERAGE (weight (out_h, out_w) per output) or POOL_MAX."),
    KW_METHOD("pool_relevance", py_pool_relevance,
              "pool_relevance(semiring, a, r_out, mode, windows, weight=None, theta=0.0,\n"
              "               absolute=False) -> r_in"),
    {"stabilise", py_stabilise, METH_VARARGS, "stabilise(z, rule, in_place=False) -> z stabilised: a copy, or z itself."},
    {"relu", py_relu, METH_O,
     "relu(a) -> a new C-ordered array max(a, 0) as NumPy's maximum forms it (NaN\n"
     "stays, -0 becomes 0); float32 or float64, over the threads."},
    {"any_nonzero", py_any_nonzero, METH_O,
     "any_nonzero(x) -> whether x (float32, float64, bool or integer) holds a nonzero\n"
     "value (NaN is one, -0 is not), stopping at the first."},
    {"set_num_threads", py_set_num_threads, METH_O,
     "set_num_threads(n): threads of every later pass (1 to 1024)."},
    {"num_threads", py_num_threads, METH_NOARGS, "num_threads() -> the thread count in use."},
    {"set_isa", py_set_isa, METH_O,
     "set_isa(name): force 'portable', 'avx2' or 'avx512' kernels (at most best_isa())."},
    {"isa", py_isa, METH_NOARGS, "isa() -> the instruction set the kernels use."},
    {"best_isa", py_best_isa, METH_NOARGS, "best_isa() -> the best this CPU supports."},
    {"set_poison", py_set_poison, METH_O,
     "set_poison(on): whether new outputs start filled with 0xFF bytes rather than\n"
     "whatever memory held, so that a value no path writes shows (for tests; the\n"
     "environment variable SEMIRING_LRP_POISON=1 sets it at import)."},
    {"poison", py_poison, METH_NOARGS, "poison() -> whether new outputs start as 0xFF bytes."},
    {"set_sparse_passes", py_set_sparse_passes, METH_O,
     "set_sparse_passes(on): whether dense layers may take their sparse-input passes\n"
     "(the products' results either way; for tests and comparisons)."},
    {"sparse_passes", py_sparse_passes, METH_NOARGS,
     "sparse_passes() -> whether dense layers may take their sparse-input passes."},
    {"sparse_runs", py_sparse_runs, METH_NOARGS,
     "sparse_runs() -> how many dense-layer calls took the sparse-input passes."},
    {"set_winograd_fusion", py_set_winograd_fusion, METH_O,
     "set_winograd_fusion(mode): 'auto' (the fused form of Winograd's 3x3 products where\n"
     "its buffers fit a core's L2), 'always' or 'never' (the same values either way;\n"
     "for tests and comparisons)."},
    {"winograd_fusion", py_winograd_fusion, METH_NOARGS,
     "winograd_fusion() -> 'never', 'auto' or 'always'."},
    {"use_array_pool", py_use_array_pool, METH_NOARGS,
     "use_array_pool() -> the handler it replaces: NumPy allocates from the array pool\n"
     "in this context until restore_array_handler(that handler)."},
    {"restore_array_handler", py_restore_array_handler, METH_O,
     "restore_array_handler(handler): puts back what use_array_pool returned."},
    {"array_pool_held", py_array_pool_held, METH_NOARGS,
     "array_pool_held() -> bytes the array pool keeps for reuse."},
    {"array_pool_limit", py_array_pool_limit, METH_NOARGS,
     "array_pool_limit() -> the most bytes the array pool keeps."},
    {"set_array_pool_limit", py_set_array_pool_limit, METH_O,
     "set_array_pool_limit(bytes): the most bytes the array pool keeps (0: none);\n"
     "frees kept blocks past it."},
    {"clear_array_pool", py_clear_array_pool, METH_NOARGS,
     "clear_array_pool(): frees every block the array pool keeps."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "semiring_lrp._core",
    "C kernels of semiring_lrp (see csrc/lrp.h). Internal: use the semiring_lrp API.",
    -1, core_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__core(void)
{
    import_array();
    const char *poison = getenv("SEMIRING_LRP_POISON");
    poison_outputs = poison && strcmp(poison, "1") == 0;
    pool_capsule = PyCapsule_New(&pool_handler, "mem_handler", NULL);
    if (!pool_capsule)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
    if (PyModule_AddIntConstant(m, "RULE_ZERO", LRP_RULE_ZERO) < 0 ||
        PyModule_AddIntConstant(m, "RULE_EPSILON", LRP_RULE_EPSILON) < 0 ||
        PyModule_AddIntConstant(m, "RULE_GAMMA", LRP_RULE_GAMMA) < 0 ||
        PyModule_AddIntConstant(m, "RULE_ZBOX", LRP_RULE_ZBOX) < 0 ||
        PyModule_AddIntConstant(m, "EPS_SIGN", LRP_EPS_SIGN) < 0 ||
        PyModule_AddIntConstant(m, "EPS_PLUS", LRP_EPS_PLUS) < 0 ||
        PyModule_AddIntConstant(m, "POOL_AVERAGE", LRP_POOL_AVERAGE) < 0 ||
        PyModule_AddIntConstant(m, "POOL_MAX", LRP_POOL_MAX) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
