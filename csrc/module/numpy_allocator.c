/* NumPy's allocations through the array pool (runtime/array_pool.c) while a
 * pass runs: a handler set for the current context (PyDataMem_SetHandler)
 * and put back after; arrays keep their handler, so one made in a pass
 * returns its memory to the pool whenever it is freed. Also the pool's
 * size limit and what it holds. */
#include "module/module.h" /* first: Python.h precedes the standard headers */
#include "lrp.h"

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

PyObject *array_pool_handler(void)
{
    return PyCapsule_New(&pool_handler, "mem_handler", NULL);
}

static PyObject *py_use_array_pool(PyObject *self, PyObject *unused)
{
    (void)unused;
    return PyDataMem_SetHandler(core_state_of(self)->pool_capsule);
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

static PyObject *py_array_pool_default_limit(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromSize_t(lrp_array_pool_default_limit());
}

static PyObject *py_usable_memory(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromSize_t(lrp_usable_memory());
}

static PyObject *py_clear_array_pool(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    lrp_array_pool_clear();
    Py_RETURN_NONE;
}

PyMethodDef numpy_allocator_methods[] = {
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
    {"array_pool_default_limit", py_array_pool_default_limit, METH_NOARGS,
     "array_pool_default_limit() -> the limit until one is set: an eighth of\n"
     "usable_memory(), 512 MiB at least."},
    {"usable_memory", py_usable_memory, METH_NOARGS,
     "usable_memory() -> bytes of memory this process may use: the physical memory,\n"
     "or its cgroup's limit where that is less; 0 where neither is known."},
    {"clear_array_pool", py_clear_array_pool, METH_NOARGS,
     "clear_array_pool(): frees every block the array pool keeps."},
    {NULL, NULL, 0, NULL}};
