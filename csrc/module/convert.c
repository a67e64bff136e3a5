/* Python arguments to the kernels' C types, and status codes back to
 * exceptions (convert.h). */
#include "module/convert.h" /* first: Python.h precedes the standard headers */

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A new reference to obj as a C-contiguous, aligned array of native byte
 * order: obj itself when it is one, else a copy (an array of the other byte
 * order gets a native one); NULL with an exception set. */
PyArrayObject *native_c_array(PyObject *obj)
{
    return (PyArrayObject *)PyArray_CheckFromAny(obj, NULL, 0, 0,
                                            NPY_ARRAY_IN_ARRAY | NPY_ARRAY_NOTSWAPPED, NULL);
}

/* A borrowed argument turned into a new reference to a C-contiguous, aligned
 * array of exactly `typenum` and `ndim`; NULL with an exception otherwise.
 * Types are never converted here: the Python layer chooses dtypes. */
PyArrayObject *take_array(PyObject *obj, int typenum, int ndim, const char *name)
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
int bounded_long(PyObject *arg, const char *what, long low, long high, long *out)
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

int check_dim(PyArrayObject *arr, int axis, npy_intp want, const char *name,
                     const char *what)
{
    if (PyArray_DIM(arr, axis) != want) {
        PyErr_Format(PyExc_ValueError, "%s has %zd %s, expected %zd",
                     name, (Py_ssize_t)PyArray_DIM(arr, axis), what, (Py_ssize_t)want);
        return -1;
    }
    return 0;
}

int check_theta(double theta)
{
    if (theta != theta) {
        PyErr_SetString(PyExc_ValueError, "theta must not be NaN");
        return -1;
    }
    return 0;
}

/* The index of arg in names[0..count) (a str naming one of them), or -1 with
 * TypeError or ValueError set; what names is what the messages call them. */
int choice_index(PyObject *arg, const char *const *names, int count, const char *what)
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

const char *const isa_names[LRP_ISA_NEON + 1] = {"portable", "avx2", "avx512", "neon"};

int parse_rule(PyObject *obj, lrp_rule *rule)
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

static const char *const add_names[] = {"plus", "max", "min", "or", "and", "logaddexp"};
static const char *const mul_names[] = {"times", "plus", "min", "max", "and"};

/* item `index` of a descriptor as a C long in [low, high], errors naming it */
static int descriptor_long(PyObject *item, const char *field, long low, long high, long *out)
{
    char what[96];
    snprintf(what, sizeof what, "the composed semiring's %s", field);
    return bounded_long(item, what, low, high, out);
}

/* a number (int, float or bool, not NaN) as a double, errors naming field */
static int descriptor_double(PyObject *item, const char *field, double *out)
{
    if (!PyFloat_Check(item) && !PyLong_Check(item)) {
        PyErr_Format(PyExc_TypeError, "the composed semiring's %s must be a float, not %.100s",
                     field, Py_TYPE(item)->tp_name);
        return -1;
    }
    *out = PyFloat_AsDouble(item);
    if (*out == -1.0 && PyErr_Occurred())
        return -1;
    if (*out != *out) {
        PyErr_Format(PyExc_ValueError, "the composed semiring's %s must not be NaN", field);
        return -1;
    }
    return 0;
}

/* The element type of a NumPy type number, or -1. */
static int elem_of_typenum(long typenum)
{
    switch (typenum) {
    case NPY_FLOAT32:
        return LRP_ELEM_F32;
    case NPY_FLOAT64:
        return LRP_ELEM_F64;
    case NPY_INT64:
        return LRP_ELEM_I64;
    case NPY_BOOL:
        return LRP_ELEM_BOOL;
    default:
        return -1;
    }
}

/* Whether x is a value elem holds exactly. */
static int elem_holds(int elem, double x)
{
    switch (elem) {
    case LRP_ELEM_F32: /* in float's range before converting */
        return isinf(x) || (fabs(x) <= FLT_MAX && (double)(float)x == x);
    case LRP_ELEM_F64:
        return 1;
    case LRP_ELEM_I64:
        return x >= -9223372036854775808.0 && x < 9223372036854775808.0 && x == floor(x);
    default:
        return x == 0 || x == 1;
    }
}

/* step i of a descriptor's steps: (kind, p1, p2) */
static int parse_step(PyObject *item, int i, int last, lrp_step *step, double theta)
{
    char field[64];
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) {
        PyErr_Format(PyExc_TypeError, "the composed semiring's step %d must be a tuple "
                     "(step, p1, p2), not %R", i, item);
        return -1;
    }
    long kind;
    double p1, p2;
    snprintf(field, sizeof field, "step %d's kind", i);
    if (descriptor_long(PyTuple_GET_ITEM(item, 0), field, LRP_STEP_ABS, LRP_STEP_THRESHOLD,
                        &kind) < 0)
        return -1;
    snprintf(field, sizeof field, "step %d's p1", i);
    if (descriptor_double(PyTuple_GET_ITEM(item, 1), field, &p1) < 0)
        return -1;
    snprintf(field, sizeof field, "step %d's p2", i);
    if (descriptor_double(PyTuple_GET_ITEM(item, 2), field, &p2) < 0)
        return -1;
    memset(step, 0, sizeof *step);
    step->kind = (lrp_step_kind)kind;
    if (kind == LRP_STEP_CLIP) {
        if (!(p1 <= p2)) {
            PyErr_Format(PyExc_ValueError, "the composed semiring's step %d clips to [%R, %R]: "
                         "lo must be <= hi", i, PyTuple_GET_ITEM(item, 1),
                         PyTuple_GET_ITEM(item, 2));
            return -1;
        }
        step->lo = p1, step->hi = p2;
    } else if (kind == LRP_STEP_THRESHOLD) {
        if (!last) {
            PyErr_Format(PyExc_ValueError, "the composed semiring's threshold (step %d) must "
                         "be its last step", i);
            return -1;
        }
        if (p1 != 0 && p1 != 1) {
            PyErr_Format(PyExc_ValueError, "the composed semiring's step %d's p1 (absolute) "
                         "must be 0.0 or 1.0, not %R", i, PyTuple_GET_ITEM(item, 1));
            return -1;
        }
        step->absolute = p1 != 0;
        step->theta = theta;
    }
    return 0;
}

/* A descriptor tuple into sr, every field checked. */
static int parse_descriptor(PyObject *obj, double theta, lrp_semiring *sr)
{
    if (PyTuple_GET_SIZE(obj) != 7) {
        PyErr_Format(PyExc_TypeError, "a composed semiring's descriptor is a tuple (add, mul, "
                     "elem, zero, one, source, steps) of 7 items, not %zd",
                     PyTuple_GET_SIZE(obj));
        return -1;
    }
    memset(sr, 0, sizeof *sr);
    long add, mul, typenum, source;
    if (descriptor_long(PyTuple_GET_ITEM(obj, 0), "add", LRP_ADD_PLUS, LRP_ADD_LOGADDEXP,
                        &add) < 0 ||
        descriptor_long(PyTuple_GET_ITEM(obj, 1), "mul", LRP_MUL_TIMES, LRP_MUL_AND, &mul) < 0 ||
        descriptor_long(PyTuple_GET_ITEM(obj, 2), "elem", LONG_MIN, LONG_MAX, &typenum) < 0 ||
        descriptor_double(PyTuple_GET_ITEM(obj, 3), "zero", &sr->zero) < 0 ||
        descriptor_double(PyTuple_GET_ITEM(obj, 4), "one", &sr->one) < 0 ||
        descriptor_long(PyTuple_GET_ITEM(obj, 5), "source", LRP_SOURCE_COEFFICIENT,
                        LRP_SOURCE_VITERBI, &source) < 0)
        return -1;
    const int elem = elem_of_typenum(typenum);
    if (elem < 0) {
        PyErr_Format(PyExc_ValueError, "the composed semiring's elem must be the type number "
                     "of float32 (%d), float64 (%d), int64 (%d) or bool (%d), not %ld",
                     NPY_FLOAT32, NPY_FLOAT64, NPY_INT64, NPY_BOOL, typenum);
        return -1;
    }
    sr->add = (lrp_add_op)add, sr->mul = (lrp_mul_op)mul, sr->elem = (lrp_elem)elem;
    sr->source = (lrp_source)source;
    if (!elem_holds(elem, sr->zero) || !elem_holds(elem, sr->one)) {
        PyErr_Format(PyExc_ValueError, "the composed semiring's zero (%R) and one (%R) must be "
                     "exact values of its element type", PyTuple_GET_ITEM(obj, 3),
                     PyTuple_GET_ITEM(obj, 4));
        return -1;
    }
    const int floats = elem == LRP_ELEM_F32 || elem == LRP_ELEM_F64;
    if (!floats && add == LRP_ADD_LOGADDEXP) {
        PyErr_SetString(PyExc_ValueError,
                        "the composed semiring's add logaddexp needs a float element type");
        return -1;
    }
    PyObject *steps = PyTuple_GET_ITEM(obj, 6);
    if (!PyTuple_Check(steps)) {
        PyErr_Format(PyExc_TypeError, "the composed semiring's steps must be a tuple, not "
                     "%.100s", Py_TYPE(steps)->tp_name);
        return -1;
    }
    const Py_ssize_t count = PyTuple_GET_SIZE(steps);
    if (count > LRP_MAX_STEPS) {
        PyErr_Format(PyExc_ValueError, "the composed semiring has %zd steps; the kernels take "
                     "at most %d", count, LRP_MAX_STEPS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++)
        if (parse_step(PyTuple_GET_ITEM(steps, i), (int)i, i == count - 1, &sr->step[i],
                       theta) < 0)
            return -1;
    sr->steps = (int)count;
    const int thresholded = count > 0 && sr->step[count - 1].kind == LRP_STEP_THRESHOLD;
    if (!floats && !thresholded) {
        PyErr_SetString(PyExc_ValueError, "the composed semiring's int64 or bool elements "
                        "need steps that end in a threshold");
        return -1;
    }
    if (lrp_semiring_check(sr) != LRP_OK) { /* the checks above are the kernels' */
        PyErr_SetString(PyExc_SystemError, "composed semiring descriptor not accepted");
        return -1;
    }
    return 0;
}

/* The semiring an id (_core.SEMIRING_*) or a descriptor names, and the
 * dtype of its relevance. */
int parse_semiring(PyObject *obj, double theta, semiring_kind *kind, lrp_semiring *composed,
                   int *relevance_type, int typenum)
{
    /* the relevance's dtype by semiring; -1: the float dtype of the layer */
    static const int types[] = {[SR_REAL] = -1, [SR_BOOLEAN] = NPY_BOOL,
                                [SR_COUNTING] = NPY_INT64, [SR_VITERBI] = -1};
    static const int elem_types[] = {[LRP_ELEM_F32] = NPY_FLOAT32, [LRP_ELEM_F64] = NPY_FLOAT64,
                                     [LRP_ELEM_I64] = NPY_INT64, [LRP_ELEM_BOOL] = NPY_BOOL};
    if (PyTuple_Check(obj)) {
        if (parse_descriptor(obj, theta, composed) < 0)
            return -1;
        *kind = SR_COMPOSED;
        *relevance_type = elem_types[composed->elem];
        return 0;
    }
    long value;
    if (bounded_long(obj, "the semiring", LONG_MIN, LONG_MAX, &value) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear(); /* past a C long: no semiring's id, reported below */
        value = -1;
    }
    if (value < SR_REAL || value > SR_VITERBI) {
        PyErr_Format(PyExc_ValueError,
                     "unknown semiring %R; the kernels know SEMIRING_REAL (%d), "
                     "SEMIRING_BOOLEAN (%d), SEMIRING_COUNTING (%d), SEMIRING_VITERBI (%d) "
                     "and composed semirings' descriptor tuples",
                     obj, SR_REAL, SR_BOOLEAN, SR_COUNTING, SR_VITERBI);
        return -1;
    }
    *kind = (semiring_kind)value;
    *relevance_type = types[value] < 0 ? typenum : types[value];
    return 0;
}

PyObject *composed_result(lrp_status status, PyObject *out, const lrp_semiring *sr)
{
    if (status != LRP_ERR_NAN)
        return pass_result(status, out);
    Py_DECREF(out);
    PyErr_Format(PyExc_ValueError,
                 "the composed semiring (add=%s, mul=%s) produced a NaN in this layer's "
                 "relevance (e.g. inf - inf under plus, or a NaN input)",
                 add_names[sr->add], mul_names[sr->mul]);
    return NULL;
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

const lrp_interrupt interrupt_on_signal = {signal_arrived, NULL};

PyObject *raise_status(lrp_status status)
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
    case LRP_ERR_NAN:
        PyErr_SetString(PyExc_ValueError, "a composed semiring produced a NaN");
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

PyObject *pass_result(lrp_status status, PyObject *out)
{
    if (status == LRP_OK)
        return out;
    Py_DECREF(out);
    return raise_status(status);
}

int take_float_dtype(PyObject *a, int *typenum)
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

/* The lrp_weight_cache of a weight_cache() capsule; NULL for None (and with
 * an exception for anything else). */
int take_weight_cache(PyObject *obj, lrp_weight_cache **cache)
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

void layer_args_clear(layer_args *d)
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

/* d's conv shape and output shape from the geometry tuple, d->a and d->w
 * taken: every value in range and the sizes consistent. */
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

int layer_args_take(layer_args *d, PyObject *a, PyObject *w, PyObject *b, PyObject *rule,
                    PyObject *geometry, PyObject *low, PyObject *high, PyObject *cache)
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

void pool_args_clear(pool_args *p)
{
    Py_XDECREF(p->a);
    Py_XDECREF(p->weight);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(p->bounds[i]);
}

int pool_args_take(pool_args *p, PyObject *a, int mode, PyObject *windows, PyObject *weight)
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
