"""Lists every function symbol of the built extension semiring_lrp/_core*.so
with the source file that defines it, into csrc/SYMBOLS.txt, so that a name a
profiler or debugger shows leads to its code.

    python tools/list_symbols.py [--so PATH] [--out PATH]

Run it after building (`python setup.py build_ext --inplace`) whenever csrc/
changed. Reads the symbol table (`nm`) and the debug information (`readelf`)
of the build: binutils and a build with -g (Python's own CFLAGS carry it)
are needed. Each symbol is one of
  exported  in the module's dynamic symbol table (PyInit__core only)
  global    external linkage, hidden: called from other units of the module
  local     a static function, or a copy the compiler made of one
            (name.constprop.0, name.isra.0, name.part.0, name.cold)
with the file whose code it is (a kernel template's header, or the file that
expands a macro into it) and, when that is a header, the unit that compiled
it. tests/test_symbols.py checks that every global one is spelled out in
csrc/; the local ones depend on the compiler.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "csrc" / "SYMBOLS.txt"

_DIE = re.compile(r"^\s*<(\d+)><([0-9a-f]+)>: Abbrev Number: \d+ \((DW_TAG_\w+)\)")
_ATTRIBUTE = re.compile(r"^\s*<[0-9a-f]+>\s+(DW_AT_\w+)\s*:\s*(.*)$")
_FUNCTION_TYPES = set("tTwWi")  # text, weak and indirect symbols


def built_extension():
    """The _core*.so of the package in this tree."""
    found = sorted((REPO_ROOT / "semiring_lrp").glob("_core*.so"))
    if not found:
        sys.exit("no semiring_lrp/_core*.so: build first (python setup.py build_ext --inplace)")
    return found[0]


def _value(text):
    """An attribute's value as readelf prints it, less the form readelf
    names: "(indirect string, offset: 0xea): name" -> "name",
    "(addr) 0x4750" -> "0x4750"."""
    if text.startswith("(") and "): " in text:
        return text.split("): ", 1)[1].strip()
    return re.sub(r"^(\(\w+\)\s*)+", "", text).strip()


def dwarf_functions(so):
    """Every function `so` defines, from its debug information: a list of
    (name, external, unit, address), where `external` says whether the
    function has external linkage (for a compiler's copy, the original's)
    and `unit` is the source file compiled. Empty without debug information."""
    dump = subprocess.run(["readelf", "--debug-dump=info", str(so)],
                          capture_output=True, text=True, check=True).stdout
    dies, unit, current = {}, {}, None
    for line in dump.splitlines():
        die = _DIE.match(line)
        if die:
            depth, offset, tag = int(die[1]), int(die[2], 16), die[3]
            current = None
            if tag == "DW_TAG_compile_unit":
                unit = current = {}
            elif depth == 1 and tag == "DW_TAG_subprogram":
                current = dies[offset] = {"unit": unit}
            continue
        attribute = _ATTRIBUTE.match(line) if current is not None else None
        if attribute:
            current[attribute[1]] = _value(attribute[2])

    def origin(die):
        """The entry that names `die`: itself, or what it is a copy of."""
        for _ in range(8):
            ref = die.get("DW_AT_abstract_origin") or die.get("DW_AT_specification")
            if "DW_AT_name" in die or not ref:
                break
            die = dies.get(int(re.search(r"<0x([0-9a-f]+)>", ref)[1], 16), {})
        return die

    functions = []
    for die in dies.values():
        if "DW_AT_low_pc" not in die:
            continue  # a declaration, or an inline function's abstract entry
        named = origin(die)
        external = any("DW_AT_external" in d for d in (die, named))
        functions.append((named.get("DW_AT_name", "?"), external,
                          die["unit"].get("DW_AT_name", "?"), int(re.search(r"0x[0-9a-f]+", die["DW_AT_low_pc"])[0], 16)))
    return functions


def compiler(so):
    """The compiler named by the debug information, e.g. "GNU C11 12.2.0"."""
    dump = subprocess.run(["readelf", "--debug-dump=info", str(so)],
                          capture_output=True, text=True, check=True).stdout
    match = re.search(r"DW_AT_producer\s*:\s*(.*)", dump)
    return " ".join(_value(match[1]).split()[:3]) if match else "unknown compiler"


def exported(so):
    """The function names in `so`'s dynamic symbol table."""
    out = subprocess.run(["nm", "-D", "--defined-only", str(so)],
                         capture_output=True, text=True, check=True).stdout
    return {parts[2] for parts in (line.split() for line in out.splitlines())
            if len(parts) == 3 and parts[1] in _FUNCTION_TYPES}


def symbols(so):
    """(kind, name, file, unit) for every function symbol of `so`: file is
    where the code is, relative to the tree ("" when no debug information
    covers it: C library and libgcc code linked in), unit the source
    compiled."""
    out = subprocess.run(["nm", "--defined-only", "--line-numbers", str(so)],
                         capture_output=True, text=True, check=True).stdout
    functions = dwarf_functions(so)
    external = {name for name, is_external, _, _ in functions if is_external}
    unit_at = {address: unit for _, _, unit, address in functions}
    dynamic = exported(so)
    rows = []
    for line in out.splitlines():
        fields, _, where = line.partition("\t")
        parts = fields.split()
        if len(parts) != 3 or parts[1] not in _FUNCTION_TYPES:
            continue
        address, name = int(parts[0], 16), parts[2]
        if name in dynamic:
            kind = "exported"
        elif "." not in name and name in external:
            kind = "global"
        else:
            kind = "local"
        file = where.rpartition(":")[0] if where else ""
        file = file[file.index("csrc/"):] if "csrc/" in file else ""
        rows.append((kind, name, file, unit_at.get(address, "")))
    return rows


def write(so, out):
    rows = symbols(so)
    rank = {"exported": 0, "global": 1, "local": 2}
    rows.sort(key=lambda r: (rank[r[0]], r[2] == "", r[2], r[1]))
    width = max(len(r[1]) for r in rows)
    lines = [
        "# Function symbols of the extension and the file that defines each, made",
        f"# by tools/list_symbols.py from {so.name}'s symbol table",
        f"# and debug information ({compiler(so)}). Regenerate after changing csrc/:",
        "#     python setup.py build_ext --inplace && python tools/list_symbols.py",
        "# exported: the module's dynamic symbol table; global: called across units,",
        "# hidden; local: static, or a copy the compiler made (these differ between",
        "# compilers). (unit): the source that compiled a header's code.",
        "",
    ]
    for kind, name, file, unit in rows:
        where = file or "(no debug information: C library and libgcc code linked in)"
        if unit and unit != file:
            where += f" ({unit})"
        lines.append(f"{kind:8s}  {name:{width}s}  {where}")
    out.write_text("\n".join(lines) + "\n")
    counts = {k: sum(r[0] == k for r in rows) for k in rank}
    print(f"{out}: {len(rows)} functions ({', '.join(f'{n} {k}' for k, n in counts.items())})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--so", type=Path, help="the extension (default: semiring_lrp/_core*.so)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    so = args.so or built_extension()
    if not dwarf_functions(so):
        sys.exit(f"{so} has no debug information: build with -g")
    write(so, args.out)


if __name__ == "__main__":
    main()
