/* Element by element: the stabiliser of a rule's denominators (with its
 * finiteness checks), ReLU, and
 * whether an array holds a nonzero value, with the GIL released while a
 * kernel runs. */
#include "module/convert.h" /* first: Python.h precedes the standard headers */
#include "module/module.h"
#include "lrp.h"

static PyObject *py_stabilise(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *z_obj, *rule_obj;
    int in_place = 0, relative = 0;
    lrp_rule rule;
    int typenum;
    if (!PyArg_ParseTuple(args, "OO|pp", &z_obj, &rule_obj, &in_place, &relative) ||
        parse_rule(rule_obj, &rule) < 0 || take_float_dtype(z_obj, &typenum) < 0)
        return NULL;
    PyArrayObject *z, *out;
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
        out = z;
        Py_INCREF(out);
    } else {
        /* a fresh array written in the same pass: the caller's z stays as it was */
        z = native_c_array(z_obj);
        if (!z)
            return NULL;
        out = (PyArrayObject *)PyArray_NewLikeArray(z, NPY_CORDER, NULL, 0);
        if (!out) {
            Py_DECREF(z);
            return NULL;
        }
    }
    const npy_intp count = PyArray_SIZE(z);
    const npy_intp samples = PyArray_NDIM(z) ? PyArray_DIM(z, 0) : 1;
    const npy_intp per_sample = samples ? count / samples : 0;
    int not_finite = 0;
    lrp_status status;
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        status = lrp_stabilise_f32(&rule, relative, samples, per_sample, PyArray_DATA(z),
                                   PyArray_DATA(out), &not_finite);
    else
        status = lrp_stabilise_f64(&rule, relative, samples, per_sample, PyArray_DATA(z),
                                   PyArray_DATA(out), &not_finite);
    Py_END_ALLOW_THREADS
    Py_DECREF(z);
    if (status != LRP_OK) {
        Py_DECREF(out);
        return raise_status(status);
    }
    return Py_BuildValue("NOO", (PyObject *)out,
                         (not_finite & LRP_Z_NOT_FINITE) ? Py_False : Py_True,
                         (not_finite & LRP_STABILISED_NOT_FINITE) ? Py_False : Py_True);
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

/* arg as a native, C-ordered array of a type any_nonzero reads, or NULL
 * with TypeError naming `name`. */
static PyArrayObject *nonzero_operand(PyObject *arg, const char *name)
{
    if (!PyArray_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s needs a NumPy array, not %.100s", name,
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const int typenum = PyArray_TYPE((PyArrayObject *)arg);
    if (typenum != NPY_FLOAT32 && typenum != NPY_FLOAT64 && typenum != NPY_BOOL &&
        !PyTypeNum_ISINTEGER(typenum)) {
        PyErr_Format(PyExc_TypeError, "%s takes float32, float64, bool or integer "
                     "arrays, not %R", name, PyArray_DESCR((PyArrayObject *)arg));
        return NULL;
    }
    return native_c_array(arg);
}

/* Whether the count values of x (x's type: typenum, item size `item`)
 * hold a nonzero value, -0 not being one. */
static int any_nonzero_of(int typenum, npy_intp count, npy_intp item, const void *x)
{
    if (typenum == NPY_FLOAT32)
        return lrp_any_nonzero_f32(count, x);
    if (typenum == NPY_FLOAT64)
        return lrp_any_nonzero_f64(count, x);
    return lrp_any_nonzero_bytes((size_t)(count * item), x);
}

static PyObject *py_any_nonzero(PyObject *self, PyObject *arg)
{
    (void)self;
    PyArrayObject *x = nonzero_operand(arg, "any_nonzero");
    if (!x)
        return NULL;
    int any;
    Py_BEGIN_ALLOW_THREADS
    any = any_nonzero_of(PyArray_TYPE(x), PyArray_SIZE(x), PyArray_ITEMSIZE(x), PyArray_DATA(x));
    Py_END_ALLOW_THREADS
    Py_DECREF(x);
    return PyBool_FromLong(any);
}

static PyObject *py_rows_any_nonzero(PyObject *self, PyObject *arg)
{
    (void)self;
    PyArrayObject *x = nonzero_operand(arg, "rows_any_nonzero");
    if (!x)
        return NULL;
    if (PyArray_NDIM(x) != 2) {
        PyErr_Format(PyExc_ValueError, "rows_any_nonzero needs a 2-D array, not %d-D",
                     PyArray_NDIM(x));
        Py_DECREF(x);
        return NULL;
    }
    const npy_intp rows = PyArray_DIM(x, 0), columns = PyArray_DIM(x, 1);
    PyArrayObject *any = (PyArrayObject *)PyArray_SimpleNew(1, &rows, NPY_BOOL);
    if (!any) {
        Py_DECREF(x);
        return NULL;
    }
    const int typenum = PyArray_TYPE(x);
    const npy_intp item = PyArray_ITEMSIZE(x);
    const char *data = PyArray_DATA(x);
    npy_bool *out = PyArray_DATA(any);
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp i = 0; i < rows; i++)
        out[i] = (npy_bool)any_nonzero_of(typenum, columns, item, data + i * columns * item);
    Py_END_ALLOW_THREADS
    Py_DECREF(x);
    return (PyObject *)any;
}

static PyObject *py_all_finite(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyArray_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "all_finite needs a NumPy array, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const int typenum = PyArray_TYPE((PyArrayObject *)arg);
    if (typenum != NPY_FLOAT32 && typenum != NPY_FLOAT64) {
        PyErr_Format(PyExc_TypeError, "all_finite takes float32 or float64 arrays, not %R",
                     PyArray_DESCR((PyArrayObject *)arg));
        return NULL;
    }
    PyArrayObject *x = native_c_array(arg);
    if (!x)
        return NULL;
    const npy_intp count = PyArray_SIZE(x);
    int finite;
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        finite = lrp_all_finite_f32(count, PyArray_DATA(x));
    else
        finite = lrp_all_finite_f64(count, PyArray_DATA(x));
    Py_END_ALLOW_THREADS
    Py_DECREF(x);
    return PyBool_FromLong(finite);
}

PyMethodDef elementwise_methods[] = {
    {"stabilise", py_stabilise, METH_VARARGS,
     "stabilise(z, rule, in_place=False, relative=False) -> (out, z finite, out finite):\n"
     "out = z stabilised under rule (a new array, or z itself in place), eps scaled by\n"
     "each sample's root mean square of z with relative; whether every value of z\n"
     "and of out is finite, seen in the same pass over the threads."},
    {"relu", py_relu, METH_O,
     "relu(a) -> a new C-ordered array max(a, 0) as NumPy's maximum forms it (NaN\n"
     "stays, -0 becomes 0); float32 or float64, over the threads."},
    {"any_nonzero", py_any_nonzero, METH_O,
     "any_nonzero(x) -> whether x (float32, float64, bool or integer) holds a nonzero\n"
     "value (NaN is one, -0 is not), stopping at the first."},
    {"rows_any_nonzero", py_rows_any_nonzero, METH_O,
     "rows_any_nonzero(x) -> for each row of the 2-D array x (as any_nonzero takes),\n"
     "whether it holds a nonzero value: a bool array, each row stopping at its first."},
    {"all_finite", py_all_finite, METH_O,
     "all_finite(x) -> whether every value of x (float32 or float64) is finite, over\n"
     "the threads."},
    {NULL, NULL, 0, NULL}};
