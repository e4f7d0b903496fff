"""export/pysource.py: minify keeps each firmware file's program, prune keeps what is called."""

from __future__ import annotations

import ast
import os

import pytest

from microbit_nn.export import pysource as P
from microbit_nn.firmware import FIRMWARE_DIR


def firmware(name: str) -> str:
    with open(os.path.join(FIRMWARE_DIR, name), encoding="ascii") as f:
        return f.read()


@pytest.mark.parametrize("name", sorted(p for p in os.listdir(FIRMWARE_DIR) if p.endswith(".py")))
def test_minify_keeps_the_program(name):
    src = firmware(name)
    small = P.minify(src)
    assert ast.dump(ast.parse(small)) == ast.dump(ast.parse(src))
    assert len(small) <= len(src)


def test_minify_refuses_to_change_a_program():
    src = "s = \"\"\"a\n    # not a comment\n\"\"\"\n"
    assert P.minify(src) == src  # a multi-line string: stripping its lines would change it


def test_prune_keeps_what_is_called():
    src = firmware("qk.py")
    assert P.closure(src, ["conf"]) == ["amax", "conf"]
    assert set(P.closure(src, ["dense", "featq"])) == {"rq", "dense", "featq"}
    kept = P.prune(src, ["conf"])
    assert {d.name for d in ast.parse(kept).body if isinstance(d, ast.FunctionDef)} == {"amax", "conf"}
    assert P.closure(src, ["nothing"]) == []
