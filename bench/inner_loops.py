"""Instructions per multiply-add in the micro-kernels' inner loops.

Compiles csrc/products/microkernels.c with setup.py's flags natively (x86-64:
the AVX2 and AVX-512 kernels) and with Debian's aarch64 cross compiler (the
NEON kernels), disassembles both objects (objdump, aarch64-linux-gnu-objdump;
the kernels are static functions, named in the objects' symbol tables) and,
in each sum kernel (float and double) and max kernel, finds the innermost
loop: the shortest backward branch around the kernel's arithmetic. Prints per
kernel the loop's instructions, the multiply-adds one iteration does
(multiply-add or, in max, multiply instructions times their lanes; NEON's
by-element fmla and fmul count as one each) and instructions per
multiply-add. Counts instructions, not time: nothing is run.

    python bench/inner_loops.py

Needs cc and objdump (binutils) on x86-64, and gcc-aarch64-linux-gnu with
binutils-aarch64-linux-gnu; exits naming what is missing.
"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE = REPO_ROOT / "csrc" / "products" / "microkernels.c"
FLAGS = ["-std=c11", "-O3", "-ffp-contract=off", "-fno-math-errno", "-pthread", "-fPIC",
         "-I", str(REPO_ROOT / "csrc"), "-c"]  # setup.py's, as Python builds with -fPIC
KERNELS = ["sum_f32", "sum_f64", "max_f32", "max_f64"]

# (compiler, objdump, the instruction sets the object holds)
TARGETS = [
    ("cc", "objdump", ["avx2", "avx512"]),
    ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-objdump", ["neon"]),
]

_LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
_FUNCTION = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
_BRANCH_TARGET = re.compile(r"\b([0-9a-f]+) <")


def lanes_of(mnemonic, operands):
    """Products one multiply-add or multiply instruction makes, 0 if it is
    neither: x86's by register width and element type, aarch64's by
    arrangement."""
    x86 = re.match(r"v(fmadd|fnmadd|fmsub)\d*(p[sd])$|vmul(p[sd])$", mnemonic)
    if x86:
        kind = x86.group(2) or x86.group(3)
        bits = 512 if "zmm" in operands else 256 if "ymm" in operands else 128
        return bits // (32 if kind == "ps" else 64)
    if mnemonic in ("fmla", "fmul"):
        arrangement = re.search(r"v\d+\.(\d+)([sd])", operands)
        return int(arrangement.group(1)) if arrangement else 1
    return 0


def functions(disassembly):
    """{name: [(address, mnemonic, operands)]} of an objdump -d listing."""
    out, current = {}, None
    for line in disassembly.splitlines():
        head = _FUNCTION.match(line.strip())
        if head:
            current = out.setdefault(head.group(1), [])
            continue
        body = _LINE.match(line)
        if body and current is not None:
            current.append((int(body.group(1), 16), body.group(2), body.group(3)))
    return out


def is_branch(mnemonic):
    return mnemonic.startswith(("j", "b.", "cb", "tb")) or mnemonic == "b"


def inner_loop(code):
    """The instructions of the shortest loop (a branch back to an earlier
    address of the function) that multiplies, or None."""
    best = None
    for i, (address, mnemonic, operands) in enumerate(code):
        target = _BRANCH_TARGET.search(operands)
        if not is_branch(mnemonic) or not target or int(target.group(1), 16) >= address:
            continue
        start = int(target.group(1), 16)
        body = [ins for ins in code[: i + 1] if ins[0] >= start]
        if any(lanes_of(m, o) for _, m, o in body) and (best is None or len(body) < len(best)):
            best = body
    return best


def check_tools():
    missing = [tool for compiler, objdump, _ in TARGETS for tool in (compiler, objdump)
               if shutil.which(tool) is None]
    if missing:
        sys.exit(f"inner_loops.py: not installed: {', '.join(missing)} (x86-64: cc and "
                 "binutils; aarch64: apt-get install gcc-aarch64-linux-gnu "
                 "binutils-aarch64-linux-gnu)")


def disassemble(compiler, objdump, work):
    obj = Path(work) / f"microkernels-{compiler}.o"
    subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", str(obj)], check=True)
    listing = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(obj)], check=True,
                             capture_output=True, text=True).stdout
    return functions(listing)


def rows():
    """(isa, kernel, instructions, multiply-adds) per kernel."""
    check_tools()
    out = []
    with tempfile.TemporaryDirectory() as work:
        for compiler, objdump, isas in TARGETS:
            code = disassemble(compiler, objdump, work)
            for isa in isas:
                for kernel in KERNELS:
                    name = f"{kernel}_{isa}"
                    if name not in code:
                        sys.exit(f"inner_loops.py: {name} is not in the {compiler} object's "
                                 "symbol table")
                    loop = inner_loop(code[name])
                    if loop is None:
                        sys.exit(f"inner_loops.py: no loop that multiplies in {name}")
                    products = sum(lanes_of(m, o) for _, m, o in loop)
                    out.append((isa, kernel, len(loop), products))
    return out


def main():
    table = rows()
    print(f"{'isa':<8} {'kernel':<8} {'loop instructions':>17} {'multiply-adds':>13} "
          f"{'instructions per multiply-add':>29}")
    for isa, kernel, instructions, products in table:
        print(f"{isa:<8} {kernel:<8} {instructions:>17} {products:>13} "
              f"{instructions / products:>29.3f}")


if __name__ == "__main__":
    main()
