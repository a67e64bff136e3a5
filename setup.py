"""Builds the C extension semiring_lrp._core; metadata lives in pyproject.toml.

SEMIRING_LRP_STRICT=1 turns every warning into an error (CI sets it; a
user's newer compiler must not break their install).
SEMIRING_LRP_SANITIZE=1 builds with AddressSanitizer and UBSan.
The sources compile on as many threads as the machine has cores
(`build_ext -j N` sets another number); each finished one prints a line
(`pip install -v .` shows them).
"""
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCES = sorted(p.as_posix() for p in Path("csrc").rglob("*.c"))
# the units that take longest to compile go first, so that no core is left
# with a long one at the end
SLOWEST_FIRST = ["csrc/conv/conv_f32.c", "csrc/conv/conv_f64.c", "csrc/dense/dense.c",
                 "csrc/pooling/pool.c"]

# -ffp-contract=off: a multiply-add fuses only where a kernel asks for it, so the
# portable path rounds the same on every compiler
compile_args = ["-std=c11", "-O3", "-ffp-contract=off", "-fno-math-errno", "-pthread"]
# the module's one entry point is PyInit__core (PyMODINIT_FUNC exports it);
# every C function stays out of its dynamic symbol table
compile_args += ["-fvisibility=hidden"]
link_args = ["-pthread"]
if os.environ.get("SEMIRING_LRP_STRICT") == "1":
    compile_args += ["-Wall", "-Wextra", "-Werror", "-Wno-error=unused-function"]
if os.environ.get("SEMIRING_LRP_SANITIZE") == "1":
    sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=undefined", "-O1", "-g"]
    compile_args += sanitize
    link_args += sanitize


def compile_order(sources):
    """`sources`, those of SLOWEST_FIRST first (in its order), then the rest."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    return sorted(sources, key=lambda s: rank.get(Path(s).as_posix(), len(rank)))


def cores():
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class ParallelBuildExt(build_ext):
    """build_ext compiling one extension's sources on several threads, each
    source with the same command as a serial build gives it."""

    def build_extension(self, ext):
        jobs = int(self.parallel) if self.parallel else cores()
        if jobs < 2 or len(ext.sources) < 2:
            return super().build_extension(ext)
        serial = self.compiler.compile

        def compile_parallel(sources, *args, **kwargs):
            order = compile_order(sources)
            print(f"semiring_lrp: compiling {len(order)} C sources on {jobs} threads",
                  flush=True)
            start, objects = time.monotonic(), {}
            with ThreadPoolExecutor(jobs) as pool:
                futures = {pool.submit(serial, [s], *args, **kwargs): s for s in order}
                try:
                    for n, future in enumerate(as_completed(futures), 1):
                        (objects[futures[future]],) = future.result()
                        print(f"semiring_lrp: compiled {futures[future]} ({n}/{len(order)}, "
                              f"{time.monotonic() - start:.0f} s)", flush=True)
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
            return [objects[s] for s in sources]   # the link order of a serial build

        self.compiler.compile = compile_parallel
        try:
            return super().build_extension(ext)
        finally:
            del self.compiler.compile


setup(
    cmdclass={"build_ext": ParallelBuildExt},
    ext_modules=[
        Extension(
            "semiring_lrp._core",
            sources=SOURCES,
            depends=sorted(p.as_posix() for p in Path("csrc").rglob("*.h")),
            include_dirs=["csrc", numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    ]
)
