"""How repeatable a boot's free heap is on the emulated V1: prints JSON.

Boots one build (the 15-line program of docs/program.md beside a random mlp,
as tests/test_export_flashplace.py ships it) many times, with QEMU counting
instructions (`-icount shift=0`, the emulator's default) and in real time,
with `--parallel` boots at once so that QEMU is starved of CPU as on a busy
CI machine. Reports how often each outcome (free heap at the banner, or the
program dropped / the load failed) occurred.

    .venv/bin/python benchmarks/boot_heap.py [--boots 15] [--parallel 3]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def boot(files, icount: bool) -> str:
    from microbit_nn.errors import MbnnError
    from microbit_nn.host.device import Device
    from microbit_nn.host.emulator import Emulator

    try:
        with Emulator.from_files(files, icount=icount) as emu:
            dev = Device(emu.serial, timeout=60.0)
            free = dev.wait_banner()["free"]
            dropped = [e for e in dev.errors if e.startswith("program")]
            return f"free {free}" + (" (program dropped)" if dropped else "")
    except MbnnError as e:
        return "failed: " + str(e)[:80]


def main() -> int:
    from microbit_nn.host.argtypes import int_in

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--boots", type=int_in(1), default=15, help="boots per mode and worker")
    ap.add_argument("--parallel", type=int_in(1, 8), default=3, help="boots at once")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from test_export_flashplace import MODELS, PROGRAM

    from microbit_nn.export.writer import device_files

    files = device_files(MODELS["mlp"](), "v1", flash=True, program=PROGRAM.decode())
    out = {"benchmark": "boot_heap", "build": "random mlp (hidden 20), flash build, 15-line program",
           "parallel": args.parallel}
    for mode, icount in (("icount", True), ("realtime", False)):
        n = args.boots * args.parallel
        with ThreadPoolExecutor(args.parallel) as pool:
            seen = collections.Counter(pool.map(lambda _: boot(files, icount), range(n)))
        out[mode] = {"boots": n, "outcomes": dict(seen.most_common())}
        print(json.dumps({mode: out[mode]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
