"""`mbnn build MODEL [--target v1|v2] [-o FILE.hex]`: a complete, flashable .hex.

The bundled official MicroPython for the target with the app's files
(`mbnn export`) in its filesystem; refuses a model that does not fit.
The .hex appears whole or not at all (microbit_nn.atomic.write_file): an
interrupted build leaves the previous file as it was.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from microbit_nn.errors import MbnnError
from microbit_nn.host import modelargs
from microbit_nn.host.cmd_budget import check, explain


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a trained model (the 'mbnn train --out' folder or its model_int8.json)")
    p.add_argument("--target", choices=("v1", "v2"), default="v1", help="micro:bit version (default v1)")
    p.add_argument("-o", "--output", help="the .hex to write (default microbit-nn-<target>.hex)")
    p.add_argument("--asm", action=argparse.BooleanOptionalAction, default=None,
                   help="V1: run the model as machine code (the engine; default when it can run the model) "
                        "or, with --no-asm, in MicroPython (slower); the same on the V1 and the V2")
    modelargs.add_options(p)


def check_output(out: Path) -> None:
    """Refuses a folder before the build starts, and makes missing parent folders (as before)."""
    if out.is_dir():
        raise MbnnError("-o %s is a folder: give the .hex file to write, e.g. -o %s" % (out, out / "gestures.hex"))
    try:
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MbnnError("cannot make the folder for -o %s (%s): choose another path" % (out, e.strerror)) from None


def run(args: argparse.Namespace) -> int:
    from microbit_nn.atomic import write_file
    from microbit_nn.export.hexbuild import build_hex
    from microbit_nn.export.writer import device_files
    from microbit_nn.host.progress import console

    out = Path(args.output or "microbit-nn-%s.hex" % args.target)
    check_output(out)
    qm, program = modelargs.load(args)
    b = check(qm, args.target, args.asm, program)
    files = device_files(qm, args.target, asm=args.asm, program=program)
    for line in modelargs.name_mapping(qm):
        console.print("gesture name on the micro:bit: %s" % line)
    write_file(out, build_hex(files, args.target).encode("ascii"), "the .hex")
    console.print("wrote %s: MicroPython for the %s with %d files; %s; flash it with 'mbnn flash %s'"
                  % (out, args.target.upper(), len(files), explain(b, qm), out))
    return 0
