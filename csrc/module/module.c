/* semiring_lrp._core: the CPython face of the kernel library (module.h lists
 * its files). It checks arguments, hands contiguous arrays to the kernels
 * with the GIL released, and turns status codes into exceptions. No maths
 * lives here.
 *
 * Multi-phase initialisation (PEP 489): PyInit__core returns the module's
 * definition, and core_exec sets up each module object made from it.
 */
#define SEMIRING_LRP_IMPORTS_NUMPY /* this file fills NumPy's table (numpy_api.h) */
#include "module/module.h" /* first: Python.h precedes the standard headers */

#include <stdlib.h>
#include <string.h>

#include "lrp.h"
#include "kernel/tuning.h"
#include "module/convert.h"

core_state *core_state_of(PyObject *module)
{
    return (core_state *)PyModule_GetState(module);
}

/* The passes write every value of their output (each path clears what it
 * would not write), so outputs start uninitialised: zeroing them would be
 * one more sweep over every output on the calling thread. Under
 * _core._testing.set_poison(True) they start as 0xFF bytes instead (NaN,
 * -1, an invalid bool), so that a value a path leaves unwritten shows. */
PyObject *fresh_output(PyObject *module, int ndim, npy_intp *dims, int typenum)
{
    PyObject *out = PyArray_EMPTY(ndim, dims, typenum, 0);
    if (out && core_state_of(module)->poison_outputs)
        memset(PyArray_DATA((PyArrayObject *)out), 0xFF, (size_t)PyArray_NBYTES((PyArrayObject *)out));
    return out;
}

static int add_constants(PyObject *module)
{
    static const struct {
        const char *name;
        long value;
    } constants[] = {{"RULE_ZERO", LRP_RULE_ZERO},       {"RULE_EPSILON", LRP_RULE_EPSILON},
                     {"RULE_GAMMA", LRP_RULE_GAMMA},     {"RULE_ZBOX", LRP_RULE_ZBOX},
                     {"EPS_SIGN", LRP_EPS_SIGN},         {"EPS_PLUS", LRP_EPS_PLUS},
                     {"POOL_AVERAGE", LRP_POOL_AVERAGE}, {"POOL_MAX", LRP_POOL_MAX},
                     {"SEMIRING_REAL", SR_REAL},         {"SEMIRING_BOOLEAN", SR_BOOLEAN},
                     {"SEMIRING_COUNTING", SR_COUNTING}, {"SEMIRING_VITERBI", SR_VITERBI},
                     /* composed semirings' descriptors (issue 21's contract) */
                     {"ADD_PLUS", LRP_ADD_PLUS},         {"ADD_MAX", LRP_ADD_MAX},
                     {"ADD_MIN", LRP_ADD_MIN},           {"ADD_OR", LRP_ADD_OR},
                     {"ADD_AND", LRP_ADD_AND},           {"ADD_LOGADDEXP", LRP_ADD_LOGADDEXP},
                     {"MUL_TIMES", LRP_MUL_TIMES},       {"MUL_PLUS", LRP_MUL_PLUS},
                     {"MUL_MIN", LRP_MUL_MIN},           {"MUL_MAX", LRP_MUL_MAX},
                     {"MUL_AND", LRP_MUL_AND},
                     {"SOURCE_COEFFICIENT", LRP_SOURCE_COEFFICIENT},
                     {"SOURCE_VITERBI", LRP_SOURCE_VITERBI},
                     {"STEP_ABS", LRP_STEP_ABS},         {"STEP_LOG", LRP_STEP_LOG},
                     {"STEP_CLIP", LRP_STEP_CLIP},       {"STEP_THRESHOLD", LRP_STEP_THRESHOLD},
                     {"MAX_STEPS", LRP_MAX_STEPS}};
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++)
        if (PyModule_AddIntConstant(module, constants[i].name, constants[i].value) < 0)
            return -1;
    /* the Viterbi semiring's epsilon, so that its NumPy path adds the same */
    PyObject *eps = PyFloat_FromDouble(LRP_VITERBI_EPS);
    if (!eps || PyModule_AddObject(module, "VITERBI_EPS", eps) < 0) {
        Py_XDECREF(eps);
        return -1;
    }
    return 0;
}

/* Fills a new module object: NumPy's C API, the state, every file's
 * functions, the constants and the _testing namespace. On failure the
 * module is discarded and core_free releases what the state holds. */
static int core_exec(PyObject *module)
{
    import_array1(-1);
    core_state *state = core_state_of(module);
    const char *poison = getenv("SEMIRING_LRP_POISON");
    state->poison_outputs = poison && strcmp(poison, "1") == 0;
    /* an array allocated through the handler holds a reference of its own to
     * the capsule (NumPy keeps one per array), and the handler it wraps is
     * static: the module may let go of it while such arrays live */
    if (!(state->pool_capsule = array_pool_handler()))
        return -1;
    PyMethodDef *const tables[] = {weighted_methods, pooling_methods, elementwise_methods,
                                   runtime_methods, numpy_allocator_methods};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (PyModule_AddFunctions(module, tables[i]) < 0)
            return -1;
    if (add_constants(module) < 0)
        return -1;
    PyObject *testing = testing_namespace(module);
    if (!testing)
        return -1;
    if (PyModule_AddObject(module, "_testing", testing) < 0) {
        Py_DECREF(testing);
        return -1;
    }
    return 0;
}

static int core_traverse(PyObject *module, visitproc visit, void *arg)
{
    core_state *state = core_state_of(module);
    if (state)
        Py_VISIT(state->pool_capsule);
    return 0;
}

static int core_clear(PyObject *module)
{
    core_state *state = core_state_of(module);
    if (state)
        Py_CLEAR(state->pool_capsule);
    return 0;
}

static void core_free(void *module)
{
    (void)core_clear((PyObject *)module);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
#ifdef Py_mod_multiple_interpreters
    /* the kernel library's switches, threads and pools belong to the process,
     * and NumPy itself loads in one interpreter only */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL}};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "semiring_lrp._core",
    "C kernels of semiring_lrp (see csrc/lrp.h). Internal: use the semiring_lrp API.",
    sizeof(core_state),
    NULL, /* every file's functions are added by core_exec */
    core_slots,
    core_traverse,
    core_clear,
    core_free};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
