"""export/pysource.py: minify keeps each firmware file's program, prune keeps what is called."""

from __future__ import annotations

import ast
import io
import os
import tokenize

import pytest

from microbit_nn.export import pysource as P
from microbit_nn.firmware import FIRMWARE_DIR


def firmware(name: str) -> str:
    with open(os.path.join(FIRMWARE_DIR, name), encoding="ascii") as f:
        return f.read()


# __init__.py is the host's loader for this folder, never copied to the device.
DEVICE_FILES = sorted(p for p in os.listdir(FIRMWARE_DIR) if p.endswith(".py") and p != "__init__.py")


def comments(src: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type == tokenize.COMMENT]


@pytest.mark.parametrize("name", DEVICE_FILES)
def test_minify_keeps_the_program(name):
    src = firmware(name)
    small = P.minify(src)
    assert small != src, "minify fell back to the original source"  # the fallback returns src unchanged
    assert ast.dump(ast.parse(small)) == ast.dump(ast.parse(src))
    assert len(small) < len(src) and not comments(small) and "\n\n" not in small


@pytest.mark.parametrize("src, falls_back", [
    ('s = """a\n    # not a comment\n"""\n', True),  # stripping the string's lines would change it
    ('s = """a\n\nb"""\n', True),  # so would dropping its blank line
    ('s = """a\nb"""  # c\n', False),  # a multi-line string that stripping leaves alone
    ("if x:\n    y = '#'  # c\n\n", False),
])
def test_minify_falls_back_only_when_stripping_changes_the_program(src, falls_back):
    small = P.minify(src)
    assert (small == src) == falls_back
    assert ast.dump(ast.parse(small)) == ast.dump(ast.parse(src))
    if not falls_back:
        assert not comments(small)


def test_minify_falls_back_on_a_docstring_with_blank_lines():
    src = firmware("__init__.py")  # its module docstring has a blank line
    assert P.minify(src) == src


def test_prune_keeps_what_is_called():
    src = firmware("qk.py")
    assert P.closure(src, ["conf"]) == ["amax", "conf"]
    assert set(P.closure(src, ["dense", "featq"])) == {"rq", "dense", "featq"}
    kept = P.prune(src, ["conf"])
    assert {d.name for d in ast.parse(kept).body if isinstance(d, ast.FunctionDef)} == {"amax", "conf"}
    assert P.closure(src, ["nothing"]) == []
