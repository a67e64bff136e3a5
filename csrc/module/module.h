/* semiring_lrp._core: the module object's state, and the tables of functions
 * each file of the module contributes (module.c adds them all).
 *
 *   module.c            module definition, state, set-up; new outputs
 *   convert.c           Python arguments to C, status codes to exceptions
 *   weighted.c          dense and Conv2d passes
 *   pooling.c           pooling passes
 *   elementwise.c       stabilise, relu, any_nonzero
 *   runtime_calls.c     threads, instruction set, weight caches, tier trace
 *   numpy_allocator.c   NumPy's allocations through the array pool
 *   testing.c           _core._testing: switches only tests use
 */
#ifndef SEMIRING_LRP_MODULE_MODULE_H
#define SEMIRING_LRP_MODULE_MODULE_H

#include "module/numpy_api.h"

/* One per module object (PEP 489): what its functions share. */
typedef struct {
    /* NumPy's allocator handler over the array pool (numpy_allocator.c) */
    PyObject *pool_capsule;
    /* new outputs start as 0xFF bytes rather than uninitialised (tests) */
    int poison_outputs;
} core_state;

/* The state of the _core module object `module` (a function's self). */
core_state *core_state_of(PyObject *module);

/* A new, C-ordered array for a pass's output, which the pass writes in
 * full: uninitialised, or 0xFF bytes under the module's poison switch. */
PyObject *fresh_output(PyObject *module, int ndim, npy_intp *dims, int typenum);

#define KW_METHOD(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_VARARGS | METH_KEYWORDS, doc}

/* Each file's functions, NULL-terminated. */
extern PyMethodDef weighted_methods[];
extern PyMethodDef pooling_methods[];
extern PyMethodDef elementwise_methods[];
extern PyMethodDef runtime_methods[];
extern PyMethodDef numpy_allocator_methods[];

/* A new reference to the handler capsule that routes NumPy's allocations
 * to the array pool (numpy_allocator.c). */
PyObject *array_pool_handler(void);

/* A new reference to the _testing namespace of the module object `module`
 * (testing.c); its functions take `module` as their self. */
PyObject *testing_namespace(PyObject *module);

#endif
