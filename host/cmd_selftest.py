"""`mbnn selftest (--port PORT | --emulator [MODEL])`: the on-device selftest.

The device runs the golden vectors its export wrote (st.bin: every kernel it
has, qk and qa, and the whole model on a few windows) and prints one `T` line
per test; this prints one line per test and `N passed, N failed`, and exits
non-zero on any failure. The device restarts after its selftest.
"""

from __future__ import annotations

import argparse
import json

from microbit_nn.errors import MbnnError
from microbit_nn.host.argtypes import port_name, positive_float
from microbit_nn.host.cmd_replay import open_device


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--port", type=port_name, help="serial port of a micro:bit running microbit-nn")
    src.add_argument("--emulator", nargs="?", const="", metavar="MODEL",
                     help="build the V1 app for MODEL (default: the built-in test model) and boot it in QEMU")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--timeout", type=positive_float, default=60.0, help="seconds to wait for each result line")


def _test_model_dir() -> str:
    """A small random mlp written to a temp folder (for --emulator without MODEL)."""
    import tempfile

    from microbit_nn.export.goldens import random_qmodel

    d = tempfile.mkdtemp(prefix="mbnn-selftest-")
    random_qmodel("mlp").save(d + "/model_int8.json")
    return d


def run(args: argparse.Namespace) -> int:
    from microbit_nn.host.progress import console

    emulate = args.emulator is not None
    if args.emulator:
        from microbit_nn.host.cmd_replay import refuse_hex

        refuse_hex(args.emulator, True)
    model = (args.emulator or _test_model_dir()) if emulate else None
    with open_device(model, args.port, emulate, args.timeout) as dev:
        try:
            results = dev.selftest(timeout=args.timeout)
        except MbnnError as e:
            raise MbnnError("the selftest did not finish: %s" % e) from None
    passed = sum(ok for _, ok, _ in results)
    failed = len(results) - passed
    if args.json:
        print(json.dumps({"passed": passed, "failed": failed,
                          "tests": [{"name": n, "ok": ok, "detail": d} for n, ok, d in results]}))
    else:
        for name, ok, detail in results:
            console.print("%-10s %s" % (name, "ok" if ok else "[red]FAIL[/] " + detail))
        console.print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not results else 0
