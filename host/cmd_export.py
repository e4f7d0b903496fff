"""`mbnn export MODEL [--out DIR] [--target v1|v2]`: the files the micro:bit needs.

Writes main.py, the app, the kernels, model.py (and model.bin for the V1)
and the selftest with its golden vectors into DIR, after checking that the
model fits the target (`mbnn budget`). `mbnn deploy DIR` copies them onto a
micro:bit running MicroPython; `mbnn build` makes a .hex instead.
"""

from __future__ import annotations

import argparse

from microbit_nn.host.cmd_budget import check, explain


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a trained model (the 'mbnn train --out' folder or its model_int8.json)")
    p.add_argument("--out", default="export", help="output folder (default ./export)")
    p.add_argument("--target", choices=("v1", "v2"), default="v1", help="micro:bit version (default v1)")


def run(args: argparse.Namespace) -> int:
    from microbit_nn.export.qmodel import load_model
    from microbit_nn.export.writer import write_export
    from microbit_nn.host.progress import console

    qm = load_model(args.model)
    b = check(qm, args.target)
    paths = write_export(qm, args.out, args.target)
    console.print("wrote %d files (%d bytes) to %s/ for the %s: %s" % (
        len(paths), sum(p.stat().st_size for p in paths.values()), args.out, args.target.upper(), explain(b, qm)))
    return 0
