/* Python and the NumPy C API, for every file of the module. NumPy's table of
 * functions is one symbol shared by those files: module.c, the one file that
 * defines SEMIRING_LRP_IMPORTS_NUMPY before including this header, defines it
 * and fills it (import_array); the others declare it, since a table of
 * their own would stay empty. */
#ifndef SEMIRING_LRP_MODULE_NUMPY_API_H
#define SEMIRING_LRP_MODULE_NUMPY_API_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define PY_ARRAY_UNIQUE_SYMBOL semiring_lrp_ARRAY_API
#ifndef SEMIRING_LRP_IMPORTS_NUMPY
#define NO_IMPORT_ARRAY
#endif
#ifndef NPY_NO_DEPRECATED_API
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#endif
#include <numpy/arrayobject.h>

#endif
