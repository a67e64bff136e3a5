/* The passes of pooling layers (average and max, channel by channel):
 * forward and one K-LRP step of each built-in semiring, with the GIL
 * released while a kernel runs. */
#include "module/convert.h" /* first: Python.h precedes the standard headers */
#include "module/module.h"
#include "lrp.h"

static PyObject *py_pool_forward(PyObject *self, PyObject *args, PyObject *kwargs)
{
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
    if (!(out = fresh_output(self, 4, dims, p.typenum)))
        goto done;
    void *wd = DATA(p.weight), *ad = DATA(p.a), *od = PyArray_DATA((PyArrayObject *)out);
    lrp_status status;
    Py_BEGIN_ALLOW_THREADS
    status = p.typenum == NPY_FLOAT32 ? lrp_pool_forward_f32(&p.shape, wd, ad, od)
                                      : lrp_pool_forward_f64(&p.shape, wd, ad, od);
    Py_END_ALLOW_THREADS
    out = pass_result(status, out);
done:
    pool_args_clear(&p);
    return out;
}

/* One K-LRP step: the four semirings of one dtype. */
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
    case SR_COMPOSED:                                                                   \
        status = lrp_pool_relevance_composed_##S(&p.shape, &sr, wd, ad, ro, ri);        \
        break;                                                                          \
    }

static PyObject *py_pool_relevance(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"semiring", "a", "r_out", "mode", "windows", "weight",
                             "theta", "absolute", NULL};
    PyObject *semiring, *a, *r_obj, *mode_obj, *windows, *weight = Py_None;
    long mode;
    int absolute = 0;
    double theta = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO|Odp", kwlist, &semiring, &a, &r_obj,
                                     &mode_obj, &windows, &weight, &theta, &absolute) ||
        bounded_long(mode_obj, "the pooling mode", LRP_POOL_AVERAGE, LRP_POOL_MAX, &mode) < 0)
        return NULL;
    if (check_theta(theta) < 0)
        return NULL;
    pool_args p;
    PyArrayObject *r_out = NULL;
    PyObject *r_in = NULL;
    semiring_kind kind;
    lrp_semiring sr;
    int relevance_type;
    if (pool_args_take(&p, a, (int)mode, windows, weight) < 0 ||
        parse_semiring(semiring, theta, &kind, &sr, &relevance_type, p.typenum) < 0)
        goto done;
    npy_intp dims[4] = {p.shape.n, p.shape.channels, p.shape.out_h, p.shape.out_w};
    if (!(r_out = take_array(r_obj, relevance_type, 4, "r_out")))
        goto done;
    if (!PyArray_CompareLists(PyArray_DIMS(r_out), dims, 4)) {
        PyErr_SetString(PyExc_ValueError, "r_out must have the pooling layer's output shape");
        goto done;
    }
    if (!(r_in = fresh_output(self, 4, PyArray_DIMS(p.a), relevance_type)))
        goto done;
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
    r_in = kind == SR_COMPOSED ? composed_result(status, r_in, &sr) : pass_result(status, r_in);
done:
    Py_XDECREF(r_out);
    pool_args_clear(&p);
    return r_in;
}

PyMethodDef pooling_methods[] = {
    KW_METHOD("pool_forward", py_pool_forward,
              "pool_forward(a, mode, windows, weight=None) -> z\n\n"
              "windows = (row_start, row_end, col_start, col_end), int64; mode\n"
              "POOL_AVERAGE (weight (out_h, out_w) per output) or POOL_MAX."),
    KW_METHOD("pool_relevance", py_pool_relevance,
              "pool_relevance(semiring, a, r_out, mode, windows, weight=None, theta=0.0,\n"
              "               absolute=False) -> r_in\n\n"
              "semiring: a SEMIRING_* id or a composed semiring's descriptor (see\n"
              "dense_relevance)."),
    {NULL, NULL, 0, NULL}};
