"""`mbnn export MODEL [--out DIR] [--target v1|v2]`: the files the micro:bit needs.

Writes main.py, the app, the kernels, model.py (and model.bin for the V1)
and the selftest with its golden vectors into DIR, after checking that the
model fits the target (`mbnn budget`). `mbnn deploy DIR` copies them onto a
micro:bit running MicroPython; `mbnn build` makes a .hex instead.

DIR is written whole or not at all: the files go into a temporary folder
beside it that replaces DIR at the end (microbit_nn.atomic), so a failed or
interrupted export leaves the previous one as it was. Because DIR is
replaced, an existing DIR must be empty or an earlier export.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from microbit_nn.errors import MbnnError
from microbit_nn.host.cmd_budget import check, explain

# The first line of every exported model.py (export/writer.py): marks a folder export may replace.
_MARK = b"# model.py: written by mbnn export"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a trained model (the 'mbnn train --out' folder or its model_int8.json)")
    p.add_argument("--out", default="export", help="output folder (default ./export)")
    p.add_argument("--target", choices=("v1", "v2"), default="v1", help="micro:bit version (default v1)")


def check_out(out: str) -> None:
    """MbnnError unless `out` is new, an empty folder or an earlier export (it is replaced whole)."""
    d = Path(out)
    if not d.is_dir():
        try:  # as before: missing parent folders are made
            d.absolute().parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MbnnError("cannot make the folder for --out %s (%s): choose another path" % (out, e.strerror)) from None
        return  # a file: replacing_dir says so
    if not any(d.iterdir()):
        return
    try:
        with open(d / "model.py", "rb") as f:
            if f.read(len(_MARK)) == _MARK:
                return
    except OSError:
        pass
    raise MbnnError("--out %s is a folder with other files in it and export replaces the whole folder: "
                    "give a new or empty folder" % out)


def run(args: argparse.Namespace) -> int:
    from microbit_nn.atomic import replacing_dir
    from microbit_nn.export.qmodel import load_model
    from microbit_nn.export.writer import write_export
    from microbit_nn.host.progress import console

    qm = load_model(args.model)
    b = check(qm, args.target)
    check_out(args.out)
    with replacing_dir(args.out, "the export folder") as tmp:
        paths = write_export(qm, tmp, args.target)
        size = sum(p.stat().st_size for p in paths.values())
    console.print("wrote %d files (%d bytes) to %s/ for the %s: %s" % (
        len(paths), size, args.out, args.target.upper(), explain(b, qm)))
    return 0
