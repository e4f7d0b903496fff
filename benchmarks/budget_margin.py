"""How far the V1 heap estimate (export/budget.py) sits from the emulated V1: prints JSON.

For a range of model shapes (random weights: the heap depends on the sizes, not the
values; icon DIAMOND, the worst case of the qstr pool: see ENGINE_COST), builds the
default V1 engine build (f.bin in flash), boots it on the emulated V1 (`-icount
shift=0`, repeatable), replays one window and compares the free heap after that
inference with `estimate(...).estimate_free`. `margin` = measured minus estimate: it
must stay positive (the estimate on the safe side). With --program, the 15-line
program of docs/program.md is built in too.

    .venv/bin/python benchmarks/budget_margin.py [--program] [--parallel 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# (family, first conv channels (cnn), hidden, classes)
SHAPES = [("mlp", 0, h, c) for h, c in ((12, 3), (24, 4), (32, 5), (48, 4), (64, 4), (80, 3), (96, 3))] + [
    ("cnn", f, h, c) for f, h, c in ((8, 12, 3), (8, 16, 4), (12, 24, 4), (16, 24, 5), (16, 32, 4), (16, 40, 3))]


def model(family: str, first: int, hidden: int, classes: int):
    from microbit_nn.export.goldens import random_affine, random_qmodel
    from microbit_nn.export.qmodel import Conv1d

    qm = random_qmodel(family, seed=hidden, n_classes=classes, hidden=hidden)
    if family == "cnn" and first != qm.layers[0].w.shape[0]:
        rng = np.random.default_rng(first)
        qm.layers[0] = Conv1d(stride=2, pad=2, relu=True, **random_affine(rng, (first, 5, 3), 3.0))
        qm.layers[1] = Conv1d(stride=2, pad=2, relu=True, **random_affine(rng, (hidden, 5, first), 0.7))
    # the worst case of export/budget.py's qstr chunk: an icon the firmware's qstrs lack
    qm.icons[0] = "DIAMOND"
    return qm


def row(shape, program: str | None) -> dict:
    from microbit_nn.errors import MbnnError
    from microbit_nn.export.budget import estimate
    from microbit_nn.host.heap import measure

    family, first, hidden, classes = shape
    qm = model(*shape)
    name = f"{family}-{first}x{hidden}" if family == "cnn" else f"{family}-{hidden}"
    b = estimate(qm, "v1", program=program)
    out = {"model": name, "classes": classes, "estimate_free": b.estimate_free, "verdict": b.verdict}
    try:
        measure(qm, b, program=program)
        out.update(measured_free_load=b.measured_free_load, measured_free_inference=b.measured_free_inference,
                   margin=b.measured_free_inference - b.estimate_free)
    except MbnnError as e:
        out["failed"] = str(e)[:100]
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def main() -> int:
    from microbit_nn.host.argtypes import int_in

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--program", action="store_true", help="build the 15-line program of docs/program.md in")
    ap.add_argument("--parallel", type=int_in(1, 8), default=2, help="boots at once")
    args = ap.parse_args()
    program = None
    if args.program:
        sys.path.insert(0, str(ROOT / "tests"))
        from test_export_flashplace import PROGRAM

        program = PROGRAM.decode()
    with ThreadPoolExecutor(args.parallel) as pool:
        rows = list(pool.map(lambda s: row(s, program), SHAPES))
    margins = [r["margin"] for r in rows if "margin" in r]
    print(json.dumps({"benchmark": "budget_margin", "program": args.program, "rows": rows,
                      "least_margin": min(margins) if margins else None,
                      "loaded_but_refused": [r["model"] for r in rows if "margin" in r and r["verdict"] == "does not fit"],
                      "failed_but_accepted": [r["model"] for r in rows if "failed" in r and r["verdict"] != "does not fit"]},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
