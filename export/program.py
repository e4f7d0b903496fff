"""The user's program on the device: checks and the starter `mbnn program` writes.

A program is a MicroPython file (shipped as program.py with its loader
firmware/pl.py; app.py calls it) that may define on_start(name, certainty), on_stop(name) and
on_prediction(name, certainty); `name` is the gesture's device form
(export/names.py), None for an unknown one. docs/program.md has the API.
"""

from __future__ import annotations

import ast

from microbit_nn.errors import MbnnError
from microbit_nn.export import names

HANDLERS = ("on_start", "on_stop", "on_prediction")
# Heap a program keeps on the V1 once loaded, with app.py's event code ("#P" lines)
# and firmware/pl.py: measured on the emulated V1 (default mlp, f.bin build: free heap
# after an inference without and with the program; docs/program.md): an empty
# program 576, a 3-statement one 1,024, the 15-statement one of
# tests/test_export_flashplace.py 928. Where the compile leaves the kept objects
# moves these by a few hundred bytes, so the base covers the worst seen.
PROGRAM_BASE = 1000
PER_STATEMENT = 24  # the estimate stays on the safe side of every figure above


def statements(source: str) -> int:
    """The program's statements (what its compiled code grows with)."""
    return sum(isinstance(n, ast.stmt) for n in ast.walk(ast.parse(source)))


def heap_cost(source: str) -> int:
    """Estimated bytes of heap the program and its event code keep on the device."""
    return PROGRAM_BASE + PER_STATEMENT * statements(source)


def check(source: str, where: str = "the program") -> str:
    """`source` if it is Python the device can compile; MbnnError with the line otherwise."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise MbnnError("%s has a syntax error on line %s: %s" % (where, e.lineno, e.msg)) from None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in HANDLERS:
            want = 1 if node.name == "on_stop" else 2
            if len(node.args.args) != want:
                raise MbnnError("%s: %s takes %d argument%s (%s)" % (
                    where, node.name, want, "s" if want > 1 else "",
                    "name" if want == 1 else "name, certainty"))
    return source


def starter(classes: list[str]) -> str:
    """A commented example program that uses the model's own class names."""
    forms = names.check(classes)
    first = forms[0]
    lines = [
        "# My micro:bit program: the app classifies gestures and calls these",
        "# functions (docs/program.md). Build it with",
        "#   mbnn build MODEL --program my_program.py -o my.hex",
        "# The model's gestures, as the micro:bit names them:",
    ] + ["#   %r%s" % (f, "" if f == c else "   (%s)" % c) for f, c in zip(forms, classes)] + [
        "from microbit import display, Image",
        "",
        "count = 0",
        "",
        "",
        "def on_start(name, certainty):",
        "    # a gesture began (certainty in percent)",
        "    global count",
        "    if name == %r:" % first,
        "        count += 1",
        "        display.show(count % 10)",
        "    else:",
        "        display.show(Image.HAPPY)",
        "",
        "",
        "def on_stop(name):",
        "    # it ended",
        "    display.clear()",
        "",
        "",
        "# def on_prediction(name, certainty):",
        "#     every prediction (4 a second); name is None when unknown",
        "",
    ]
    return "\n".join(lines)
