/* _core._testing: switches and queries only the tests, fuzzers and
 * benchmarks use, kept out of the namespace the package calls. Each switch
 * gives the same values either way; it chooses what a test compares. */
#include "module/convert.h" /* first: Python.h precedes the standard headers */
#include <stdatomic.h>
#include <time.h>
#include "module/module.h"
#include "lrp.h"
#include "runtime/parallel.h"

static PyObject *py_set_poison(PyObject *module, PyObject *arg)
{
    const int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    core_state_of(module)->poison_outputs = on;
    Py_RETURN_NONE;
}

static PyObject *py_poison(PyObject *module, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(core_state_of(module)->poison_outputs);
}

/* A C core's on/off switch set from arg's truth: None, or NULL with
 * Python's error where arg has none. */
static PyObject *set_switch(PyObject *arg, void (*set)(int))
{
    const int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    set(on);
    Py_RETURN_NONE;
}

static PyObject *py_set_sparse_passes(PyObject *module, PyObject *arg)
{
    (void)module;
    return set_switch(arg, lrp_set_sparse_passes);
}

static PyObject *py_sparse_passes(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyBool_FromLong(lrp_sparse_passes());
}

static PyObject *py_set_short_tiles(PyObject *module, PyObject *arg)
{
    (void)module;
    return set_switch(arg, lrp_set_short_tiles);
}

static PyObject *py_short_tiles(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyBool_FromLong(lrp_short_tiles());
}

static PyObject *py_set_sparse_max_lead(PyObject *module, PyObject *arg)
{
    (void)module;
    const long percent = PyLong_AsLong(arg);
    if (percent == -1 && PyErr_Occurred())
        return NULL;
    if (percent < 0 || percent > 100 || lrp_set_sparse_max_lead((int)percent) != LRP_OK) {
        PyErr_Format(PyExc_ValueError, "sparse_max_lead takes a percent in [0, 100], not %ld",
                     percent);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *py_sparse_max_lead(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyLong_FromLong(lrp_sparse_max_lead());
}

static PyObject *py_set_pieces_per_thread(PyObject *module, PyObject *arg)
{
    (void)module;
    const long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 1 || n > LRP_MAX_PIECES_PER_THREAD || lrp_set_pieces_per_thread((int)n) != LRP_OK) {
        PyErr_Format(PyExc_ValueError, "pieces_per_thread takes 1 .. %d, not %ld",
                     LRP_MAX_PIECES_PER_THREAD, n);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *py_pieces_per_thread(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyLong_FromLong(lrp_pieces_per_thread());
}

static PyObject *py_set_composed_fast_tiers(PyObject *module, PyObject *arg)
{
    (void)module;
    return set_switch(arg, lrp_set_composed_fast_tiers);
}

static PyObject *py_composed_fast_tiers(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyBool_FromLong(lrp_composed_fast_tiers());
}

static PyObject *py_set_cache_sizes(PyObject *module, PyObject *args)
{
    (void)module;
    Py_ssize_t l1d, l2, l3;
    if (!PyArg_ParseTuple(args, "nnn", &l1d, &l2, &l3))
        return NULL;
    if (l1d < 0 || l2 < 0 || l3 < 0) {
        PyErr_SetString(PyExc_ValueError, "cache sizes must be at least 0");
        return NULL;
    }
    lrp_set_cache_sizes((size_t)l1d, (size_t)l2, (size_t)l3);
    Py_RETURN_NONE;
}

static const char *const fusion_names[] = {"never", "auto", "always"};

static PyObject *py_set_winograd_fusion(PyObject *module, PyObject *arg)
{
    (void)module;
    const int mode = CHOICE_INDEX(arg, fusion_names, "Winograd fusion mode");
    if (mode < 0)
        return NULL;
    (void)lrp_set_winograd_fusion(mode);
    Py_RETURN_NONE;
}

static PyObject *py_winograd_fusion(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyUnicode_FromString(fusion_names[lrp_winograd_fusion()]);
}

static PyObject *py_best_isa(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyUnicode_FromString(isa_names[lrp_best_isa()]);
}

static PyObject *py_isas(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    PyObject *names = PyList_New(0);
    for (int isa = LRP_ISA_PORTABLE; names && isa <= LRP_ISA_NEON; isa++) {
        if (!lrp_isa_runs((lrp_isa)isa))
            continue;
        PyObject *name = PyUnicode_FromString(isa_names[isa]);
        if (!name || PyList_Append(names, name) < 0)
            Py_CLEAR(names);
        Py_XDECREF(name);
    }
    return names;
}

/* What claim_probe's task records: for each item, how often it ran and the
 * worker that ran it. `slow_worker` sleeps at its first piece, and the
 * others wait in theirs until it is asleep (for delay_us at most), so that
 * none has taken its share before. */
typedef struct {
    atomic_int *runs;
    int *worker_of;
    int slow_worker;
    long delay_us;
    atomic_int slept;
} claim_probe;

static void sleep_us(long us)
{
    struct timespec pause = {us / 1000000, us % 1000000 * 1000};
    while (nanosleep(&pause, &pause) != 0)
        continue;
}

static lrp_status claim_probe_task(void *context, ptrdiff_t begin, ptrdiff_t end, int worker,
                                   lrp_team *team)
{
    (void)team;
    claim_probe *probe = context;
    if (worker == probe->slow_worker && !atomic_exchange(&probe->slept, 1))
        sleep_us(probe->delay_us);
    for (long waited = 0; probe->slow_worker >= 0 && !atomic_load(&probe->slept) &&
                          waited < probe->delay_us; waited += 100)
        sleep_us(100);
    for (ptrdiff_t i = begin; i < end; i++) {
        atomic_fetch_add(&probe->runs[i], 1);
        probe->worker_of[i] = worker;
    }
    return LRP_OK;
}

static PyObject *py_claim_probe(PyObject *module, PyObject *args)
{
    (void)module;
    Py_ssize_t items;
    int slow_worker;
    long delay_us;
    if (!PyArg_ParseTuple(args, "nil", &items, &slow_worker, &delay_us))
        return NULL;
    if (items < 0 || items > 1000000 || delay_us < 0 || delay_us > 10000000) {
        PyErr_SetString(PyExc_ValueError,
                         "claim_probe takes 0 .. 1000000 items and 0 .. 10 s of delay");
        return NULL;
    }
    claim_probe probe = {PyMem_Calloc((size_t)items + 1, sizeof(atomic_int)),
                         PyMem_Calloc((size_t)items + 1, sizeof(int)), slow_worker, delay_us, 0};
    PyObject *runs = NULL, *workers = NULL, *result = NULL;
    if (!probe.runs || !probe.worker_of) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < items; i++)
        atomic_init(&probe.runs[i], 0), probe.worker_of[i] = -1;
    lrp_status status;
    Py_BEGIN_ALLOW_THREADS
    status = lrp_parallel_for(items, claim_probe_task, &probe, NULL);
    Py_END_ALLOW_THREADS
    if (status != LRP_OK) {
        PyErr_Format(PyExc_RuntimeError, "claim_probe: status %d", (int)status);
        goto done;
    }
    runs = PyList_New(items);
    workers = PyList_New(items);
    for (Py_ssize_t i = 0; runs && workers && i < items; i++) {
        PyList_SET_ITEM(runs, i, PyLong_FromLong(atomic_load(&probe.runs[i])));
        PyList_SET_ITEM(workers, i, PyLong_FromLong(probe.worker_of[i]));
    }
    if (runs && workers && !PyErr_Occurred())
        result = PyTuple_Pack(2, runs, workers);
done:
    Py_XDECREF(runs);
    Py_XDECREF(workers);
    PyMem_Free(probe.runs);
    PyMem_Free(probe.worker_of);
    return result;
}

/* Each function's self is the _core module object (testing_namespace
 * binds it), whose state holds the poison switch. */
static PyMethodDef testing_methods[] = {
    {"set_poison", py_set_poison, METH_O,
     "set_poison(on): whether new outputs start filled with 0xFF bytes rather than\n"
     "whatever memory held, so that a value no path writes shows (the environment\n"
     "variable SEMIRING_LRP_POISON=1 sets it at import)."},
    {"poison", py_poison, METH_NOARGS, "poison() -> whether new outputs start as 0xFF bytes."},
    {"set_sparse_passes", py_set_sparse_passes, METH_O,
     "set_sparse_passes(on): whether dense layers and conv max products may take their\n"
     "sparse-input passes\n"
     "(the products' results either way)."},
    {"sparse_passes", py_sparse_passes, METH_NOARGS,
     "sparse_passes() -> whether dense layers and conv max products may take their\n"
     "sparse-input passes."},
    {"set_short_tiles", py_set_short_tiles, METH_O,
     "set_short_tiles(on): whether the packed products compute a last block of fewer\n"
     "rows than a micro-tile's in short tiles of 4, 2 and 1 rows (the same results\n"
     "either way)."},
    {"short_tiles", py_short_tiles, METH_NOARGS,
     "short_tiles() -> whether set_short_tiles left the short tiles on."},
    {"set_sparse_max_lead", py_set_sparse_max_lead, METH_O,
     "set_sparse_max_lead(percent): about how many of the nonzero inputs (percent) the\n"
     "conv sparse max products take in their first pass, whose maxima let the second\n"
     "skip inputs that cannot raise them (the same results for any percent; 100: one\n"
     "pass over every nonzero input)."},
    {"sparse_max_lead", py_sparse_max_lead, METH_NOARGS,
     "sparse_max_lead() -> the percent set_sparse_max_lead last set (15 at import)."},
    {"set_pieces_per_thread", py_set_pieces_per_thread, METH_O,
     "set_pieces_per_thread(n): how many pieces per thread a pass's work is cut into,\n"
     "claimed by the threads in turn (1 .. 1024; 1: one fixed share each; the same\n"
     "values for any n)."},
    {"pieces_per_thread", py_pieces_per_thread, METH_NOARGS,
     "pieces_per_thread() -> the count set_pieces_per_thread last set (4 at import)."},
    {"set_composed_fast_tiers", py_set_composed_fast_tiers, METH_O,
     "set_composed_fast_tiers(on): whether composed semirings may take their faster\n"
     "tiers (products, counting) rather than the generic one (the same values up to\n"
     "rounding either way)."},
    {"composed_fast_tiers", py_composed_fast_tiers, METH_NOARGS,
     "composed_fast_tiers() -> whether composed semirings may take their faster tiers."},
    {"set_cache_sizes", py_set_cache_sizes, METH_VARARGS,
     "set_cache_sizes(l1d, l2, l3): report these cache sizes (bytes) from now on; l1d or l2\n"
     "at 0: the CPU's again."},
    {"set_winograd_fusion", py_set_winograd_fusion, METH_O,
     "set_winograd_fusion(mode): 'auto' (the fused form of Winograd's 3x3 products where\n"
     "its buffers fit a core's L2), 'always' or 'never' (the same values either way)."},
    {"winograd_fusion", py_winograd_fusion, METH_NOARGS,
     "winograd_fusion() -> 'never', 'auto' or 'always'."},
    {"best_isa", py_best_isa, METH_NOARGS,
     "best_isa() -> the best instruction set this CPU supports."},
    {"claim_probe", py_claim_probe, METH_VARARGS,
     "claim_probe(items, slow_worker, delay_us) -> (runs, workers): runs a task over\n"
     "items on the threads, worker slow_worker sleeping delay_us at its first piece\n"
     "and the others waiting in theirs until it sleeps; for each item, how often it\n"
     "ran and which worker ran it last."},
    {"isas", py_isas, METH_NOARGS,
     "isas() -> the instruction sets set_isa accepts here, portable first."},
    {NULL, NULL, 0, NULL}};

#define TESTING_NAME "semiring_lrp._core._testing"

PyObject *testing_namespace(PyObject *module)
{
    PyObject *testing = PyModule_New(TESTING_NAME);
    PyObject *owner = PyUnicode_FromString(TESTING_NAME);
    if (!testing || !owner ||
        PyModule_AddStringConstant(testing, "__doc__", "Switches for tests and comparisons; "
                                   "not part of semiring_lrp's API.") < 0)
        goto fail;
    for (PyMethodDef *def = testing_methods; def->ml_name; def++) {
        PyObject *function = PyCFunction_NewEx(def, module, owner);
        if (!function)
            goto fail;
        if (PyModule_AddObject(testing, def->ml_name, function) < 0) {
            Py_DECREF(function);
            goto fail;
        }
    }
    Py_DECREF(owner);
    return testing;
fail:
    Py_XDECREF(owner);
    Py_XDECREF(testing);
    return NULL;
}
