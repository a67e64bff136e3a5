"""What the fuzz harnesses share: the byte provider, outcome checks, the
list of known library bugs, and resource limits.

Nothing here imports atheris. A harness's target function runs the same
way under atheris (fuzzing) and under plain pytest (replaying the corpus in
tests/test_fuzz_regressions.py): `provider(data)` hands out atheris's
FuzzedDataProvider when atheris has been imported by the harness's main(),
and otherwise `BytesProvider`, a pure-Python copy of the few methods the
harnesses use, byte for byte the same (tests check that when atheris is
installed).
"""
from __future__ import annotations

import os
import re
import resource
import shlex
import sys
import traceback

STRICT = os.environ.get("FUZZ_STRICT") == "1"
"""FUZZ_STRICT=1: known library bugs fail the run too (see KNOWN_ISSUES)."""


class Finding(Exception):
    """An outcome the library must never produce: the harness raises it (and
    atheris then saves the input as a crash) unless it is a known issue."""


# ---------------------------------------------------------------------------
# the byte provider


class BytesProvider:
    """The subset of atheris.FuzzedDataProvider the harnesses use, with its
    exact semantics (atheris 3.0: bytes and booleans from the front, integers
    in a range from the back)."""

    def __init__(self, data: bytes):
        self._data = bytes(data)
        self._start = 0
        self._end = len(self._data)

    def remaining_bytes(self) -> int:
        return self._end - self._start

    def ConsumeBytes(self, count: int) -> bytes:
        count = max(0, min(int(count), self.remaining_bytes()))
        out = self._data[self._start:self._start + count]
        self._start += count
        return out

    def ConsumeBool(self) -> bool:
        if not self.remaining_bytes():
            return False
        value = self._data[self._start] & 1
        self._start += 1
        return bool(value)

    def ConsumeIntInRange(self, lo: int, hi: int) -> int:
        delta = hi - lo
        if delta < 0:
            raise ValueError("ConsumeIntInRange: min must be <= max")
        size = delta.bit_length()
        if size > 64:
            raise ValueError("BytesProvider handles ranges of at most 64 bits")
        result, offset = 0, 0
        while offset < size and (delta >> offset) > 0 and self.remaining_bytes():
            self._end -= 1
            result = (result << 8) | self._data[self._end]
            offset += 8
        if delta != (1 << 64) - 1:
            result %= delta + 1
        return lo + result


def provider(data: bytes):
    """atheris's provider while fuzzing, the pure-Python one otherwise."""
    atheris = sys.modules.get("atheris")
    if atheris is not None and hasattr(atheris, "FuzzedDataProvider"):
        return atheris.FuzzedDataProvider(data)
    return BytesProvider(data)


class Draw:
    """Convenience draws on a provider. When the input runs out every draw
    returns its first, most ordinary choice, so short inputs make ordinary
    calls and the fuzzer adds the unusual ones byte by byte."""

    def __init__(self, fdp):
        self.fdp = fdp

    def int(self, lo: int, hi: int) -> int:
        return self.fdp.ConsumeIntInRange(lo, hi)

    def bool(self) -> bool:
        return self.fdp.ConsumeBool()

    def pick(self, choices):
        return choices[self.fdp.ConsumeIntInRange(0, len(choices) - 1)]

    def maybe(self, one_in: int) -> bool:
        """True with probability 1/one_in; False once the input is used up."""
        return self.fdp.ConsumeIntInRange(0, one_in - 1) == one_in - 1

    def bytes(self, count: int) -> bytes:
        return self.fdp.ConsumeBytes(count)

    def rest(self) -> bytes:
        return self.fdp.ConsumeBytes(self.fdp.remaining_bytes())


# ---------------------------------------------------------------------------
# outcomes


def signature(exc: BaseException) -> str:
    """`Type: message @ file:function` of an exception, with numbers and
    temporary paths blanked, for matching known issues and grouping."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    message = re.sub(r"/[^\s:'\"]*", "<path>", message)
    message = re.sub(r"\d+", "N", message)[:200]
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    library = [f for f in frames if "semiring_lrp" in f.filename]
    frame = library[-1] if library else (frames[-1] if frames else None)
    if frame is not None:
        where = f" @ {os.path.basename(frame.filename)}:{frame.name}"
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, Finding) and cause is not None:
        return f"Finding: {message} <- {signature(cause)}"
    return f"{type(exc).__name__}: {message}{where}"


class KnownIssue:
    """A library bug the fuzzers found, reported and documented by a strict
    xfail test in tests/test_fuzz_regressions.py. While the bug is there the
    harnesses count it instead of stopping, so that fuzzing can find the next
    one; FUZZ_STRICT=1 makes it fail again."""

    def __init__(self, ident, harnesses, pattern, summary):
        self.ident = ident
        self.harnesses = tuple(harnesses)
        self.pattern = re.compile(pattern)
        self.summary = summary

    def matches(self, harness, sig):
        """`sig` is a signature(); a Finding's ends with " <- " and the
        signature of its cause."""
        return harness in self.harnesses and self.pattern.search(sig) is not None


# Patterns are searched in signature(exc): "Type: message @ file:function"
# of the innermost semiring_lrp frame, and for a Finding "Finding: ... <- "
# followed by the signature of its cause. Numbers read as N.
_NOT_VALUE_OR_TYPE = r"(?!ValueError|TypeError|Finding)\w+(?:\.\w+)?"
_UNNAMED = r"^Finding: ValueError without the file name <- \w+: "

KNOWN_ISSUES = [
    # Every issue fuzzing found (SystemError for non-tuple rule/geometry,
    # arrays of the other byte order read as native, and file readers
    # leaking zip/zlib/JSON/torch errors or allocating what a header claims)
    # is fixed; its reproducer is a plain regression test in
    # tests/test_fuzz_regressions.py. New findings are listed here with a
    # strict xfail test until they are fixed.
]

_seen_known: dict[str, int] = {}


def known_issue(harness: str, exc: BaseException):
    """The KnownIssue `exc` is an instance of, or None (always None when strict)."""
    if STRICT:
        return None
    sig = signature(exc)
    for issue in KNOWN_ISSUES:
        if issue.matches(harness, sig):
            count = _seen_known[issue.ident] = _seen_known.get(issue.ident, 0) + 1
            if count & (count - 1) == 0:
                # libFuzzer ends the process without running atexit handlers:
                # report counts as they grow (1, 2, 4, 8...) for run.py
                print(f"[{harness}] known issue {issue.ident} hit {count} time(s)",
                      file=sys.stderr, flush=True)
            return issue
    return None


def known_counts() -> dict[str, int]:
    return dict(_seen_known)


def report(harness: str, exc: BaseException):
    """Raises `exc` as a Finding unless it is a known issue."""
    if not isinstance(exc, Finding):
        finding = Finding(f"{harness}: unexpected outcome {signature(exc)}")
        finding.__cause__ = exc
        exc = finding
    if known_issue(harness, exc) is None:
        if exc.__cause__ is not None and "<-" not in str(exc):
            exc.args = (f"{exc.args[0] if exc.args else ''} <- {signature(exc.__cause__)}",)
        raise exc


# ---------------------------------------------------------------------------
# resource limits


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    except OSError:  # pragma: no cover - not Linux
        return 0


class address_space_headroom:
    """Caps the address space at what the process uses now plus `headroom`
    bytes, so that a request for an absurd array fails fast with MemoryError
    instead of touching gigabytes; restores the old limit on exit."""

    def __init__(self, headroom=6 << 30):
        self.headroom = headroom
        self.saved = None

    def __enter__(self):
        if "asan" in os.environ.get("LD_PRELOAD", ""):
            # AddressSanitizer reserves terabytes of shadow memory and grows
            # its quarantine: cap allocations with ASAN_OPTIONS
            # max_allocation_size_mb instead.
            return self
        try:
            self.saved = resource.getrlimit(resource.RLIMIT_AS)
            soft, hard = self.saved
            want = _address_space() + self.headroom
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            if soft == resource.RLIM_INFINITY or want < soft:
                resource.setrlimit(resource.RLIMIT_AS, (want, hard))
        except (ValueError, OSError):  # pragma: no cover
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            resource.setrlimit(resource.RLIMIT_AS, self.saved)
        return False


def fuzz_main(harnesses: dict, default: str | None = None, instrument=()):
    """Shared main(): `python fuzz/<file>.py [harness] [libFuzzer args...]`.

    Imports atheris (only here), instruments the named modules for coverage,
    caps the address space and hands the chosen target to atheris.Fuzz.
    """
    import importlib

    import atheris

    argv = list(sys.argv)
    name = default
    if len(argv) > 1 and argv[1] in harnesses:
        name = argv.pop(1)
    if name is None:
        sys.exit(f"usage: {argv[0]} {{{','.join(harnesses)}}} [libFuzzer flags] [corpus dirs]")
    # libFuzzer runs argv[0] through the shell for -merge=1, -fork and -jobs:
    # make it the interpreter, the script and the harness
    argv[0] = " ".join(shlex.quote(part) for part in
                       (sys.executable, os.path.abspath(sys.argv[0]), name))
    target, setup = harnesses[name]
    if setup is not None:
        setup()
    # Coverage comes from Python bytecode: the harness's own branches and the
    # library's Python layer (the C core has no coverage instrumentation).
    # atheris.instrument_all() would take half a minute; instrumenting the
    # functions of the few modules that matter takes well under a second.
    for module_name in instrument:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # e.g. numpy.lib._npyio_impl is numpy.lib.npyio before 2.0
            continue
        instrument_module(atheris, module)

    atheris.Setup(argv, target)
    with address_space_headroom():
        atheris.Fuzz()


def instrument_module(atheris, module):
    """Instruments every function and method defined in `module`."""
    done = set()

    def visit(obj, depth):
        if id(obj) in done or depth > 2:
            return
        done.add(id(obj))
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for part in (obj.fget, obj.fset):
                if part is not None:
                    visit(part, depth + 1)
            return
        if isinstance(obj, type):
            if obj.__module__ == module.__name__:
                for member in list(vars(obj).values()):
                    visit(member, depth + 1)
            return
        if hasattr(obj, "__code__") and getattr(obj, "__module__", None) == module.__name__:
            try:
                atheris.instrument_func(obj)
            except Exception:  # pragma: no cover - best effort
                pass

    for value in list(vars(module).values()):
        visit(value, 0)
