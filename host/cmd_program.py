"""`mbnn program MODEL -o my_program.py`: a commented starter program that uses the
model's own gesture names (docs/program.md)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a trained model (the 'mbnn train --out' folder or its model_int8.json)")
    p.add_argument("-o", "--output", default="my_program.py", help="the file to write (default my_program.py)")
    p.add_argument("--force", action="store_true", help="replace the file if it exists")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from microbit_nn.atomic import write_file
    from microbit_nn.errors import MbnnError
    from microbit_nn.export.program import starter
    from microbit_nn.export.qmodel import load_model

    qm = load_model(args.model)
    out = Path(args.output)
    if out.is_dir():
        raise MbnnError("-o %s is a folder: give the file to write, e.g. -o %s" % (out, out / "my_program.py"))
    if out.exists() and not args.force:
        raise MbnnError("%s exists: choose another -o, or add --force to replace it" % out)
    write_file(out, starter(qm.classes).encode("utf-8"), "the program")
    print("wrote %s; put it on the board with 'mbnn build %s --program %s' (or 'mbnn deploy ... --program')"
          % (out, args.model, out))
    return 0
