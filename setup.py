"""Builds the C extension semiring_lrp._core; metadata lives in pyproject.toml.

SEMIRING_LRP_STRICT=1 turns every warning into an error (CI sets it; a
user's newer compiler must not break their install).
SEMIRING_LRP_SANITIZE=1 builds with AddressSanitizer and UBSan.
"""
import os
from pathlib import Path

import numpy
from setuptools import Extension, setup

SOURCES = sorted(str(p) for p in Path("csrc").glob("*.c"))

# -ffp-contract=off: a multiply-add fuses only where a kernel asks for it, so the
# portable path rounds the same on every compiler
compile_args = ["-std=c11", "-O3", "-ffp-contract=off", "-fno-math-errno", "-pthread"]
link_args = ["-pthread"]
if os.environ.get("SEMIRING_LRP_STRICT") == "1":
    compile_args += ["-Wall", "-Wextra", "-Werror", "-Wno-error=unused-function"]
if os.environ.get("SEMIRING_LRP_SANITIZE") == "1":
    sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=undefined", "-O1", "-g"]
    compile_args += sanitize
    link_args += sanitize

setup(
    ext_modules=[
        Extension(
            "semiring_lrp._core",
            sources=SOURCES,
            depends=sorted(str(p) for p in Path("csrc").glob("*.h")),
            include_dirs=["csrc", numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    ]
)
