/* The kernel library's run-time settings and services: threads, the
 * instruction set, weight caches and the tier trace. */
#include "module/convert.h" /* first: Python.h precedes the standard headers */
#include "module/module.h"
#include "lrp.h"
#include "kernel/tuning.h"

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

static PyObject *py_wake_workers(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    lrp_wake_workers();
    Py_RETURN_NONE;
}

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

static PyObject *py_cache_sizes(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    const lrp_caches c = lrp_cache_sizes();
    return Py_BuildValue("{s:n,s:n,s:n,s:s}", "l1d", (Py_ssize_t)c.l1d, "l2", (Py_ssize_t)c.l2,
                         "l3", (Py_ssize_t)c.l3, "source", c.source);
}

static PyObject *py_block_sizes(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    const lrp_blocks b = lrp_block_sizes();
    return Py_BuildValue("{s:n,s:n,s:d,s:d,s:d,s:n}", "product_kc", (Py_ssize_t)b.product_kc,
                         "product_nb", (Py_ssize_t)b.product_nb, "product_shared_b",
                         PRODUCT_SHARED_B, "winograd_one_pass_bytes",
                         b.winograd_one_pass_bytes, "winograd_wide_bytes",
                         b.winograd_wide_bytes, "sparse_max_chunk",
                         (Py_ssize_t)b.sparse_max_chunk);
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

static PyObject *py_trace_start(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    lrp_trace_start();
    Py_RETURN_NONE;
}

/* The notes as str, in call order; notes past the C list's capacity are
 * lost, which a RuntimeWarning says (taking them after every layer keeps
 * far below it). */
static PyObject *py_trace_take(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    const char *tiers[LRP_TRACE_CAPACITY];
    const size_t noted = lrp_trace_take(tiers, LRP_TRACE_CAPACITY);
    const size_t kept = noted < LRP_TRACE_CAPACITY ? noted : LRP_TRACE_CAPACITY;
    PyObject *list = PyList_New((Py_ssize_t)kept);
    if (!list)
        return NULL;
    for (size_t i = 0; i < kept; i++) {
        PyObject *tier = PyUnicode_FromString(tiers[i]);
        if (!tier) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, tier);
    }
    if (noted > kept &&
        PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "%zu tier notes past the trace's %d were "
                         "not kept: take them more often", noted - kept, LRP_TRACE_CAPACITY) < 0) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

static PyObject *py_trace_stop(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    lrp_trace_stop();
    Py_RETURN_NONE;
}

PyMethodDef runtime_methods[] = {
    {"wake_workers", py_wake_workers, METH_NOARGS,
     "wake_workers(): wakes the worker threads to watch for the pass about to come."},
    {"set_num_threads", py_set_num_threads, METH_O,
     "set_num_threads(n): threads of every later pass (1 to 1024)."},
    {"num_threads", py_num_threads, METH_NOARGS, "num_threads() -> the thread count in use."},
    {"set_isa", py_set_isa, METH_O,
     "set_isa(name): force 'portable', 'avx2' or 'avx512' kernels on x86-64, 'portable' or\n"
     "'neon' on aarch64 (those this CPU runs)."},
    {"isa", py_isa, METH_NOARGS, "isa() -> the instruction set the kernels use."},
    {"cache_sizes", py_cache_sizes, METH_NOARGS,
     "cache_sizes() -> {'l1d', 'l2', 'l3': bytes (0: unknown), 'source': where they came\n"
     "from ('sysfs', 'sysconf', 'cpuid', 'default' or 'set')}."},
    {"block_sizes", py_block_sizes, METH_NOARGS,
     "block_sizes() -> the block sizes of the packed products and Winograd's one-pass form,\n"
     "derived from cache_sizes() at each call."},
    {"weight_cache", py_weight_cache, METH_O,
     "weight_cache(w) -> a cache of what the passes prepare from w (rho(W) packed,\n"
     "Winograd's U), for their cache= argument; w must be read-only and own its data."},
    {"weight_cache_size", py_weight_cache_size, METH_O,
     "weight_cache_size(cache) -> (entries, bytes) it holds."},
    {"trace_start", py_trace_start, METH_NOARGS,
     "trace_start(): from now on every pass this thread makes notes the tier it took\n"
     "(\"family.pass.tier\"); forgets earlier notes."},
    {"trace_take", py_trace_take, METH_NOARGS,
     "trace_take() -> the tiers this thread's passes noted since the last take, in call\n"
     "order, as a list of str; forgets them."},
    {"trace_stop", py_trace_stop, METH_NOARGS,
     "trace_stop(): this thread's passes note nothing more; forgets the notes."},
    {NULL, NULL, 0, NULL}};
