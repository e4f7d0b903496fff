"""export/regen.py: the firmware files embed exactly the words of their assembly
sources, and the embedding is what the engine runs."""

import ast
from pathlib import Path

import pytest

from microbit_nn.export import engine, regen, thumb
from microbit_nn.firmware import FIRMWARE_DIR


def data_calls(text: str, func: str) -> list[list[int]]:
    """The data() calls of asm function `func`, as written in a firmware file."""
    fn = next(d for d in ast.walk(ast.parse(text)) if isinstance(d, ast.FunctionDef) and d.name == func)
    calls = [n.value for n in fn.body if isinstance(n, ast.Expr)]
    return [[a.value for a in c.args[1:]] for c in calls if getattr(c.func, "id", "") == "data"]


def test_firmware_files_are_current():
    assert regen.stale() == [], "run: python -m microbit_nn.export.regen"


@pytest.mark.parametrize("name,func,source,entry", [
    ("lo.py", "rv", "loader.s", "rv"), ("le.py", "rv", "loader.s", "rv"), ("le.py", "ex", "loader.s", "ex"),
    ("le.py", "rl", "loader.s", "rl"), ("le.py", "ad", "loader.s", "ad"),
    ("qa.py", "_c", "dense_conv.s", "dense_conv"), ("qf.py", "_f", "features.s", "features")])
def test_embeddings_hold_the_source_words(name, func, source, entry):
    src = thumb.read(engine.ASM_DIR / source)
    calls = data_calls((Path(FIRMWARE_DIR) / name).read_text(), func)
    assert calls and all(len(c) <= regen.MAX_CALL_WORDS for c in calls)
    words = [w for c in calls for w in c]
    if src.entries[entry].kind == "routine":  # bl routine; b end; the engine's very words
        assert words[3:] == list(src.code(entry)) and words[:2] == thumb.encode("bl", ["r"], 0, {"r": 6})
    else:
        assert words == list(src.code(entry))


def test_a_changed_word_is_caught(tmp_path, monkeypatch):
    text = (Path(FIRMWARE_DIR) / "le.py").read_text()
    stale = text.replace("0x47A0", "0x4780", 1)  # blx r4 -> blx r0
    assert stale != text and regen.regenerate(stale) == text


def test_an_oversized_paragraph_is_refused(tmp_path):
    src = tmp_path / "big.s"
    src.write_text(".body big\nbig: " + "; ".join(["movs r0, #0"] * 70) + "\n")
    with pytest.raises(thumb.AsmError, match="at most"):
        regen.embedded_words(thumb.read(src), "big")
