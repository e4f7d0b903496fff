"""`mbnn budget MODEL [--target v1|v2] [--measure/--no-measure] [--json]`: will it fit?

Prints the estimated free heap after loading MODEL and one inference (and,
for the V1 when QEMU is installed, the free heap measured on the emulated
V1: at the banner and after one replayed window), the filesystem use, and a
verdict: fits (at least 2,048 bytes free), tight (at least 1,920: it runs,
with little headroom) or does not fit (export and build refuse it; exit 1).
"""

from __future__ import annotations

import argparse
import json
import shutil

from microbit_nn.errors import MbnnError
from microbit_nn.host import modelargs


def check(qm, target: str, asm: bool | None = None, program: str | None = None) -> B.Budget:
    """The estimate; raises MbnnError (with the numbers and what to change) if it does not fit,
    or if the model was trained for the V2 and the target is a V1."""
    from microbit_nn.export import budget as B

    b = B.estimate(qm, target, asm=asm, program=program)
    if target == "v1" and getattr(qm, "target", "v1") == "v2":
        raise MbnnError("this model was trained for the V2 (mbnn train --target v2): on a V1 it would leave %d "
                        "bytes of heap (at least %d needed) and it was never checked there; train it again "
                        "with --target v1, or build with --target v2" % (b.free, B.MIN_FREE))
    if b.verdict == "does not fit":
        raise MbnnError(explain(b, qm))
    return b


def explain(b: B.Budget, qm) -> str:
    """One line: the figures, and what to change when the model does not fit."""
    from microbit_nn.export import budget as B
    from microbit_nn.export.program import PER_STATEMENT

    if b.fs_bytes > b.fs_size:
        return ("the files need %d bytes but the %s filesystem holds %d: train a smaller model (--hidden)"
                % (b.fs_bytes, b.target, b.fs_size))
    text = "%d bytes of heap free on the %s after loading and one inference (target %d, at least %d)" % (
        b.free, b.target, B.TARGET_FREE, b.min_free)
    if b.verdict == "does not fit" and b.program:
        text += (": your program and its event code take about %d bytes; cut statements (each ~%d bytes), "
                 "or train a smaller model (--hidden 8), or build for the V2" % (b.program, PER_STATEMENT))
    elif b.verdict == "does not fit":
        hint = "train with a smaller --hidden" + (", or an mlp instead of a cnn" if qm.kind == "cnn" else "")
        text += ": %s (the model's tables take %d bytes)" % (hint, b.tables)
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a trained model (the 'mbnn train --out' folder or its model_int8.json)")
    p.add_argument("--target", choices=("v1", "v2"), default="v1", help="micro:bit version (default v1)")
    p.add_argument("--measure", action=argparse.BooleanOptionalAction, default=None,
                   help="also measure on the emulated V1 (default: on for v1 when qemu-system-arm is installed)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    modelargs.add_options(p)


def run(args: argparse.Namespace) -> int:
    from microbit_nn.export import budget as B
    from microbit_nn.export.qmodel import load_model
    from microbit_nn.host.progress import console

    qm, program = modelargs.load(args)
    b = B.estimate(qm, args.target, program=program)
    measure = args.measure if args.measure is not None else (args.target == "v1" and shutil.which("qemu-system-arm"))
    if measure:
        if args.target != "v1":
            raise MbnnError("only the V1 can be measured (there is no V2 emulator): drop --measure")
        try:
            from microbit_nn.host.heap import measure

            measure(qm, b, program=program)
        except MbnnError as e:
            if args.json:
                print(json.dumps(dict(b.as_dict(), error=str(e))))
            raise MbnnError("the app did not run on the emulated V1 (%s): %s" % (e, explain(b, qm))) from None
    if args.json:
        print(json.dumps(b.as_dict()))
    else:
        console.print("%s on the %s: estimated %d bytes of heap free after loading and one inference "
                      "(code %d, tables %d, buffers %d)" % (qm.kind, args.target.upper(), b.estimate_free, b.code,
                                                            b.tables, b.buffers))
        if b.measured_free_load is not None:
            console.print("measured on the emulated V1: %d bytes free after loading, %d after one inference"
                          % (b.measured_free_load, b.measured_free_inference))
        console.print("filesystem: %d of %d bytes" % (b.fs_bytes, b.fs_size))
        console.print("verdict: %s (%s)" % (b.verdict, explain(b, qm)))
    return 0 if b.verdict != "does not fit" else 1
