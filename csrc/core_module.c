/* semiring_lrp._core: the CPython face of the kernel library.
 *
 * It checks arguments, hands contiguous arrays to the kernels with the GIL
 * released, and turns status codes into exceptions. No maths lives here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <math.h>
#include <string.h>

#include "lrp.h"

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
    return (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, NPY_ARRAY_IN_ARRAY, NULL);
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

static PyObject *raise_status(lrp_status status)
{
    switch (status) {
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

/* The arrays a dense-layer call works on, all of one float dtype. */
typedef struct {
    int typenum;
    lrp_dense_shape shape;
    lrp_rule rule;
    PyArrayObject *a, *w, *b, *low, *high;
} dense_args;

static void dense_args_clear(dense_args *d)
{
    Py_XDECREF(d->a);
    Py_XDECREF(d->w);
    Py_XDECREF(d->b);
    Py_XDECREF(d->low);
    Py_XDECREF(d->high);
}

/* a (n, in), w (out, in), optional b (out), and z^B bounds shaped like a. */
static int dense_args_take(dense_args *d, PyObject *a, PyObject *w, PyObject *b,
                           PyObject *rule, PyObject *low, PyObject *high)
{
    memset(d, 0, sizeof(*d));
    if (parse_rule(rule, &d->rule) < 0)
        return -1;
    if (!PyArray_Check(a)) {
        PyErr_Format(PyExc_TypeError, "a must be a numpy.ndarray, not %.100s", Py_TYPE(a)->tp_name);
        return -1;
    }
    d->typenum = PyArray_TYPE((PyArrayObject *)a);
    if (d->typenum != NPY_FLOAT32 && d->typenum != NPY_FLOAT64) {
        PyErr_Format(PyExc_TypeError, "a must be float32 or float64, not %S",
                     (PyObject *)PyArray_DESCR((PyArrayObject *)a));
        return -1;
    }
    if (!(d->a = take_array(a, d->typenum, 2, "a")) ||
        !(d->w = take_array(w, d->typenum, 2, "w")))
        return -1;
    d->shape.n = PyArray_DIM(d->a, 0);
    d->shape.in = PyArray_DIM(d->a, 1);
    d->shape.out = PyArray_DIM(d->w, 0);
    if (check_dim(d->w, 1, d->shape.in, "w", "input columns") < 0)
        return -1;
    if (b) {
        if (!(d->b = take_array(b, d->typenum, 1, "b")) ||
            check_dim(d->b, 0, d->shape.out, "b", "entries") < 0)
            return -1;
    }
    int zbox = d->rule.kind == LRP_RULE_ZBOX;
    if (zbox && (low == Py_None || high == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "the z^B rule needs low and high bounds");
        return -1;
    }
    if (zbox) {
        if (!(d->low = take_array(low, d->typenum, 2, "low")) ||
            !(d->high = take_array(high, d->typenum, 2, "high")) ||
            check_dim(d->low, 0, d->shape.n, "low", "rows") < 0 ||
            check_dim(d->low, 1, d->shape.in, "low", "columns") < 0 ||
            check_dim(d->high, 0, d->shape.n, "high", "rows") < 0 ||
            check_dim(d->high, 1, d->shape.in, "high", "columns") < 0)
            return -1;
    }
    return 0;
}

#define DATA(arr) ((arr) ? PyArray_DATA(arr) : NULL)

static PyObject *new_array(npy_intp rows, npy_intp cols, int typenum)
{
    npy_intp dims[2] = {rows, cols};
    return PyArray_ZEROS(2, dims, typenum, 0);
}

typedef enum { PASS_FORWARD, PASS_ABSMAX } dense_pass;

static PyObject *dense_weighted_sum(PyObject *args, PyObject *kwargs, dense_pass pass)
{
    static char *kwlist[] = {"a", "w", "b", "rule", "low", "high", NULL};
    PyObject *a, *w, *b, *rule, *low = Py_None, *high = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|OO", kwlist,
                                     &a, &w, &b, &rule, &low, &high))
        return NULL;
    dense_args d;
    PyObject *out = NULL;
    if (dense_args_take(&d, a, w, b, rule, low, high) < 0)
        goto done;
    out = new_array(d.shape.n, d.shape.out, d.typenum);
    if (!out)
        goto done;
    lrp_status status;
    Py_BEGIN_ALLOW_THREADS
    if (d.typenum == NPY_FLOAT32) {
        status = (pass == PASS_FORWARD ? lrp_dense_forward_f32 : lrp_dense_absmax_f32)(
            &d.shape, &d.rule, DATA(d.a), DATA(d.w), DATA(d.b), DATA(d.low), DATA(d.high),
            PyArray_DATA((PyArrayObject *)out));
    } else {
        status = (pass == PASS_FORWARD ? lrp_dense_forward_f64 : lrp_dense_absmax_f64)(
            &d.shape, &d.rule, DATA(d.a), DATA(d.w), DATA(d.b), DATA(d.low), DATA(d.high),
            PyArray_DATA((PyArrayObject *)out));
    }
    Py_END_ALLOW_THREADS
    if (status != LRP_OK) {
        Py_CLEAR(out);
        raise_status(status);
    }
done:
    dense_args_clear(&d);
    return out;
}

static PyObject *py_dense_forward(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return dense_weighted_sum(args, kwargs, PASS_FORWARD);
}

static PyObject *py_dense_absmax(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return dense_weighted_sum(args, kwargs, PASS_ABSMAX);
}

static PyObject *py_stabilise(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *z_obj, *rule_obj;
    lrp_rule rule;
    if (!PyArg_ParseTuple(args, "OO", &z_obj, &rule_obj) || parse_rule(rule_obj, &rule) < 0)
        return NULL;
    if (!PyArray_Check(z_obj)) {
        PyErr_SetString(PyExc_TypeError, "z must be a numpy.ndarray");
        return NULL;
    }
    int typenum = PyArray_TYPE((PyArrayObject *)z_obj);
    if (typenum != NPY_FLOAT32 && typenum != NPY_FLOAT64) {
        PyErr_SetString(PyExc_TypeError, "z must be float32 or float64");
        return NULL;
    }
    /* a fresh C-ordered copy: the caller's z stays as it was */
    PyArrayObject *z = (PyArrayObject *)PyArray_NewCopy((PyArrayObject *)z_obj, NPY_CORDER);
    if (!z)
        return NULL;
    npy_intp count = PyArray_SIZE(z);
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        lrp_stabilise_f32(&rule, count, PyArray_DATA(z));
    else
        lrp_stabilise_f64(&rule, count, PyArray_DATA(z));
    Py_END_ALLOW_THREADS
    return (PyObject *)z;
}

typedef enum { SR_REAL, SR_BOOLEAN, SR_COUNTING, SR_VITERBI } semiring_kind;

static int parse_semiring(const char *name, semiring_kind *kind, int *relevance_type,
                          int typenum)
{
    if (strcmp(name, "real") == 0) {
        *kind = SR_REAL;
        *relevance_type = typenum;
    } else if (strcmp(name, "boolean") == 0) {
        *kind = SR_BOOLEAN;
        *relevance_type = NPY_BOOL;
    } else if (strcmp(name, "counting") == 0) {
        *kind = SR_COUNTING;
        *relevance_type = NPY_INT64;
    } else if (strcmp(name, "viterbi") == 0) {
        *kind = SR_VITERBI;
        *relevance_type = typenum;
    } else {
        PyErr_Format(PyExc_ValueError,
                     "unknown semiring '%.100s'; the kernels know 'real', 'boolean', "
                     "'counting' and 'viterbi'", name);
        return -1;
    }
    return 0;
}

/* dense_relevance(semiring, a, w, z, r_out, rule, theta=0, absolute=False,
 * low=None, high=None) -> r_in. For viterbi, z is the absmax denominator. */
static PyObject *py_dense_relevance(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    static char *kwlist[] = {"semiring", "a", "w", "z", "r_out", "rule",
                             "theta", "absolute", "low", "high", NULL};
    const char *name;
    PyObject *a, *w, *z_obj, *r_obj, *rule, *low = Py_None, *high = Py_None;
    double theta = 0.0;
    int absolute = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sOOOOO|dpOO", kwlist, &name, &a, &w,
                                     &z_obj, &r_obj, &rule, &theta, &absolute, &low, &high))
        return NULL;
    if (theta != theta) {
        PyErr_SetString(PyExc_ValueError, "theta must not be NaN");
        return NULL;
    }
    dense_args d;
    PyArrayObject *z = NULL, *r_out = NULL;
    PyObject *r_in = NULL;
    semiring_kind kind;
    int relevance_type;
    if (dense_args_take(&d, a, w, NULL, rule, low, high) < 0 ||
        parse_semiring(name, &kind, &relevance_type, d.typenum) < 0)
        goto fail;
    if (!(z = take_array(z_obj, d.typenum, 2, "z")) ||
        !(r_out = take_array(r_obj, relevance_type, 2, "r_out")) ||
        check_dim(z, 0, d.shape.n, "z", "rows") < 0 ||
        check_dim(z, 1, d.shape.out, "z", "columns") < 0 ||
        check_dim(r_out, 0, d.shape.n, "r_out", "rows") < 0 ||
        check_dim(r_out, 1, d.shape.out, "r_out", "columns") < 0)
        goto fail;
    if (!(r_in = new_array(d.shape.n, d.shape.in, relevance_type)))
        goto fail;

    lrp_threshold t = {theta, absolute};
    const lrp_dense_shape *s = &d.shape;
    const lrp_rule *r = &d.rule;
    void *zd = PyArray_DATA(z), *ro = PyArray_DATA(r_out);
    void *ri = PyArray_DATA((PyArrayObject *)r_in);
    void *ad = DATA(d.a), *wd = DATA(d.w), *lo = DATA(d.low), *hi = DATA(d.high);
    lrp_status status = LRP_OK;
    Py_BEGIN_ALLOW_THREADS
    if (d.typenum == NPY_FLOAT32) {
        switch (kind) {
        case SR_REAL: status = lrp_dense_relevance_real_f32(s, r, ad, wd, lo, hi, zd, ro, ri); break;
        case SR_BOOLEAN: status = lrp_dense_relevance_boolean_f32(s, r, &t, ad, wd, lo, hi, zd, ro, ri); break;
        case SR_COUNTING: status = lrp_dense_relevance_counting_f32(s, r, &t, ad, wd, lo, hi, zd, ro, ri); break;
        case SR_VITERBI: status = lrp_dense_relevance_viterbi_f32(s, r, ad, wd, lo, hi, zd, ro, ri); break;
        }
    } else {
        switch (kind) {
        case SR_REAL: status = lrp_dense_relevance_real_f64(s, r, ad, wd, lo, hi, zd, ro, ri); break;
        case SR_BOOLEAN: status = lrp_dense_relevance_boolean_f64(s, r, &t, ad, wd, lo, hi, zd, ro, ri); break;
        case SR_COUNTING: status = lrp_dense_relevance_counting_f64(s, r, &t, ad, wd, lo, hi, zd, ro, ri); break;
        case SR_VITERBI: status = lrp_dense_relevance_viterbi_f64(s, r, ad, wd, lo, hi, zd, ro, ri); break;
        }
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
    dense_args_clear(&d);
    return r_in;
}

static PyMethodDef core_methods[] = {
    {"dense_forward", (PyCFunction)(void (*)(void))py_dense_forward, METH_VARARGS | METH_KEYWORDS,
     "dense_forward(a, w, b, rule, low=None, high=None) -> z\n\n"
     "z[n, k] = sum_j n_jk + beta_k for a (n, in), w (out, in), b (out,)."},
    {"dense_absmax", (PyCFunction)(void (*)(void))py_dense_absmax, METH_VARARGS | METH_KEYWORDS,
     "dense_absmax(a, w, b, rule, low=None, high=None) -> m\n\n"
     "m[n, k] = max(|beta_k|, max_j |n_jk|), the Viterbi denominator."},
    {"stabilise", py_stabilise, METH_VARARGS,
     "stabilise(z, rule) -> a stabilised copy of z."},
    {"dense_relevance", (PyCFunction)(void (*)(void))py_dense_relevance,
     METH_VARARGS | METH_KEYWORDS,
     "dense_relevance(semiring, a, w, z, r_out, rule, theta=0.0, absolute=False,\n"
     "                low=None, high=None) -> r_in\n\n"
     "One K-LRP step through a dense layer for semiring 'real', 'boolean',\n"
     "'counting' or 'viterbi' (for viterbi, z is dense_absmax's m)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "semiring_lrp._core",
    "C kernels of semiring_lrp (see csrc/lrp.h). Internal: use the semiring_lrp API.",
    -1, core_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__core(void)
{
    import_array();
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
    if (PyModule_AddIntConstant(m, "RULE_ZERO", LRP_RULE_ZERO) < 0 ||
        PyModule_AddIntConstant(m, "RULE_EPSILON", LRP_RULE_EPSILON) < 0 ||
        PyModule_AddIntConstant(m, "RULE_GAMMA", LRP_RULE_GAMMA) < 0 ||
        PyModule_AddIntConstant(m, "RULE_ZBOX", LRP_RULE_ZBOX) < 0 ||
        PyModule_AddIntConstant(m, "EPS_SIGN", LRP_EPS_SIGN) < 0 ||
        PyModule_AddIntConstant(m, "EPS_PLUS", LRP_EPS_PLUS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
