/* The passes of dense and Conv2d layers: forward, absmax (Viterbi's
 * denominator) and one K-LRP step of each built-in semiring, in float32 and
 * float64, with the GIL released while a kernel runs. */
#include "module/convert.h" /* first: Python.h precedes the standard headers */
#include "module/module.h"
#include "lrp.h"

typedef enum { PASS_FORWARD, PASS_ABSMAX } sum_pass;

/* forward or absmax of a dense (geometry == NULL) or conv layer */
static PyObject *weighted_sum(PyObject *self, PyObject *args, PyObject *kwargs, sum_pass pass,
                              int is_conv)
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
    if (!(out = fresh_output(self, d.out_ndim, d.out_dims, d.typenum)))
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
    out = pass_result(status, out);
done:
    layer_args_clear(&d);
    return out;
}

static PyObject *py_dense_forward(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return weighted_sum(self, args, kwargs, PASS_FORWARD, 0);
}

static PyObject *py_dense_absmax(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return weighted_sum(self, args, kwargs, PASS_ABSMAX, 0);
}

static PyObject *py_conv_forward(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return weighted_sum(self, args, kwargs, PASS_FORWARD, 1);
}

static PyObject *py_conv_absmax(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return weighted_sum(self, args, kwargs, PASS_ABSMAX, 1);
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
    case SR_COMPOSED:                                                                            \
        status = lrp_##LAYER##_relevance_composed_##S(SHAPE, r, &sr, ad, wd, lo, hi, zd, ro, ri);\
        break;                                                                                   \
    }

static PyObject *weighted_relevance(PyObject *self, PyObject *args, PyObject *kwargs, int is_conv)
{
    static char *dense_kw[] = {"semiring", "a", "w", "z", "r_out", "rule",
                               "theta", "absolute", "low", "high", "cache", NULL};
    static char *conv_kw[] = {"semiring", "a", "w", "z", "r_out", "rule", "geometry",
                              "theta", "absolute", "low", "high", "cache", NULL};
    PyObject *semiring, *a, *w, *z_obj, *r_obj, *rule, *geometry = NULL, *low = Py_None;
    PyObject *high = Py_None;
    PyObject *cache = Py_None;
    double theta = 0.0;
    int absolute = 0;
    int parsed = is_conv
        ? PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOOO|dpOOO", conv_kw, &semiring, &a, &w,
                                      &z_obj, &r_obj, &rule, &geometry, &theta, &absolute,
                                      &low, &high, &cache)
        : PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOO|dpOOO", dense_kw, &semiring, &a, &w,
                                      &z_obj, &r_obj, &rule, &theta, &absolute, &low, &high,
                                      &cache);
    if (!parsed)
        return NULL;
    if (check_theta(theta) < 0)
        return NULL;
    layer_args d;
    PyArrayObject *z = NULL, *r_out = NULL;
    PyObject *r_in = NULL;
    semiring_kind kind;
    lrp_semiring sr;
    int relevance_type;
    if (layer_args_take(&d, a, w, NULL, rule, geometry, low, high, cache) < 0 ||
        parse_semiring(semiring, theta, &kind, &sr, &relevance_type, d.typenum) < 0)
        goto done;
    if (!(z = take_array(z_obj, d.typenum, d.out_ndim, "z")) ||
        !(r_out = take_array(r_obj, relevance_type, d.out_ndim, "r_out")))
        goto done;
    if (!PyArray_CompareLists(PyArray_DIMS(z), d.out_dims, d.out_ndim) ||
        !PyArray_CompareLists(PyArray_DIMS(r_out), d.out_dims, d.out_ndim)) {
        PyErr_SetString(PyExc_ValueError, "z and r_out must have the layer's output shape");
        goto done;
    }
    if (!(r_in = fresh_output(self, PyArray_NDIM(d.a), PyArray_DIMS(d.a), relevance_type)))
        goto done;

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
    r_in = kind == SR_COMPOSED ? composed_result(status, r_in, &sr) : pass_result(status, r_in);
done:
    Py_XDECREF(z);
    Py_XDECREF(r_out);
    layer_args_clear(&d);
    return r_in;
}

static PyObject *py_dense_relevance(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return weighted_relevance(self, args, kwargs, 0);
}

static PyObject *py_conv_relevance(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return weighted_relevance(self, args, kwargs, 1);
}

PyMethodDef weighted_methods[] = {
    KW_METHOD("dense_forward", py_dense_forward,
              "dense_forward(a, w, b, rule, low=None, high=None, cache=None) -> z\n\n"
              "z[n, k] = sum_j n_jk + beta_k for a (n, in), w (out, in), b (out,)."),
    KW_METHOD("dense_absmax", py_dense_absmax,
              "dense_absmax(a, w, b, rule, low=None, high=None, cache=None) -> m\n\n"
              "m[n, k] = max(|beta_k|, max_j |n_jk|), the Viterbi denominator."),
    KW_METHOD("dense_relevance", py_dense_relevance,
              "dense_relevance(semiring, a, w, z, r_out, rule, theta=0.0, absolute=False,\n"
              "                low=None, high=None, cache=None) -> r_in\n\n"
              "One K-LRP step through a dense layer for semiring SEMIRING_REAL,\n"
              "SEMIRING_BOOLEAN, SEMIRING_COUNTING or SEMIRING_VITERBI (for Viterbi, z is\n"
              "dense_absmax's m), or a composed semiring's descriptor (add, mul, elem,\n"
              "zero, one, source, steps): z is m for SOURCE_VITERBI, r_out and r_in have\n"
              "dtype elem, theta is the threshold step's and absolute is ignored."),
    KW_METHOD("conv_forward", py_conv_forward,
              "conv_forward(a, w, b, rule, geometry, low=None, high=None, cache=None) -> z\n\n"
              "Conv2d pre-activations, NCHW; geometry is (stride_h, stride_w, pad_h,\n"
              "pad_w, dil_h, dil_w, groups)."),
    KW_METHOD("conv_absmax", py_conv_absmax,
              "conv_absmax(a, w, b, rule, geometry, low=None, high=None, cache=None) -> m"),
    KW_METHOD("conv_relevance", py_conv_relevance,
              "conv_relevance(semiring, a, w, z, r_out, rule, geometry, theta=0.0,\n"
              "               absolute=False, low=None, high=None, cache=None) -> r_in"),
    {NULL, NULL, 0, NULL}};
