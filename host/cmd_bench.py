"""`mbnn bench [MODEL]`: what a model costs on a micro:bit V1, in emulated instructions.

The emulated V1 runs with `-icount shift=0`: one instruction takes exactly
1 ns of device time, so `utime.ticks_us()` differences count thousands of
instructions, the same on every run. Four boots (docs/bench.md):

1. the app exactly as `device_files` builds it: its banner and `!g` give the
   free heap after loading and after one replayed window (whose logits are
   checked against the numpy reference);
2. the same files, but main.py loads the model with the app's loader
   (`app.ld()`) without its main loop and runs firmware/bn.py, which times
   every step of the classify path on a few windows;
3. the same with the model run the other way (the Python kernels qk instead
   of the V1 engine's machine code, or the reverse), when it fits;
4. the kernels alone: what one more MAC costs in qa.dense (the machine code
   of the engine's dense/conv routine) and in qk.dense.

The V2 gets the same files as the V1 (the same engine): `--target v2` checks
that and reports the V1's count for it; its latency is an estimate from that
count at 64 MHz.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import tempfile
from pathlib import Path

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export import reference
from microbit_nn.export.qmodel import QModel, load_model
from microbit_nn.export.plan import kernels as plan_kernels
from microbit_nn.export.writer import device_files, minify, prune
from microbit_nn.firmware import FIRMWARE_DIR
from microbit_nn.host.argtypes import positive_int
from microbit_nn.host.progress import console

GOALS = {"mlp": 160_000, "cnn": 800_000}  # instructions per prediction (10 / 50 ms at 16 MHz)
INPUT_STEPS = ("feats", "featq", "rawq")
MAC_STEPS = ("dense", "conv")
HZ_V1, HZ_V2 = 16e6, 64e6
# The bench's main.py, as small as the app's (its bytecode stays in the heap while
# the model loads): the app without its main loop, then bn, whose run() loads the
# model with the app's own loaders.
def _read(name: str) -> str:
    return (Path(FIRMWARE_DIR) / name).read_text(encoding="ascii")


_BOOT = minify(_read("main.py"))
BENCH_MAIN = _BOOT[:_BOOT.index("if app.go()")] + "app.go = 0\nimport bn\nbn.run(app)\n"
# One more MAC in `dense` (raw REPL): one output, lengths MAC_N, both
# arrays made first so that both lengths see the same heap (a call's cost
# depends a little on where its frame is allocated); direct calls with local
# names (a global lookup costs more than a MAC); the least of 3 runs each.
MACS = ("from array import array\nimport gc,utime,%s as K\ndef g(p,q,r):\n o=[]\n for n in (p,q):\n"
        "  x=array('b',bytes(n))\n  for i in range(n):x[i]=i%%200-100\n  o.append(x)\n"
        " b=array('i',[5]);m=array('i',[3]);s=array('i',[16]);y=array('b',[0]);d=K.dense;t=[[],[]]\n"
        " for j in range(6):\n  x=o[j%%2]\n  d(x,x,b,m,s,y,-128)\n  gc.collect()\n  u=utime.ticks_us()\n"
        "  for i in range(r):d(x,x,b,m,s,y,-128)\n  t[j%%2].append(utime.ticks_diff(utime.ticks_us(),u))\n"
        " return [(r,min(t[0])),(r,min(t[1]))]\nprint(g(%d,%d,%d))")
MAC_N = (128, 640)  # items: both arrays must fit beside qa on the V1 (1,024 no longer does)
MAC_CALLS = {"qa": 300, "qk": 2}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="the directory 'mbnn train --out' wrote (default: train --model on synthetic data)")
    p.add_argument("--model", dest="kind", choices=["mlp", "cnn"], default="mlp",
                   help="without MODEL: which default model to train and measure (default mlp)")
    p.add_argument("--target", choices=("v1", "v2"), default="v1",
                   help="board whose build is measured (the V2's files are the V1's, run on the emulated V1)")
    p.add_argument("--kernels", choices=["build", "engine", "qk"], default="build",
                   help="as the V1 build runs the model (default), or force the engine (machine code) or qk (Python)")
    p.add_argument("--windows", type=positive_int, default=5, help="windows to average over (synthetic, one per class; default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def variant_files(qm: QModel, kernels: str, target: str = "v1") -> dict[str, bytes]:
    """`device_files(qm)` with the model run by `kernels`: "engine" (machine code,
    export/engine.py) or "qk" (the Python kernels)."""
    return device_files(qm, target, asm=kernels == "engine")


def bench_windows(window: int, n: int) -> np.ndarray:
    """`n` deterministic int16 windows [n, window, 3]: one synthetic recording per class, cycled."""
    from microbit_nn.train.synthetic import make_recordings

    recs = make_recordings(1, seed=1)
    rows = [np.resize(recs[i % len(recs)].samples, (window, 3)) for i in range(max(1, n))]
    return np.stack(rows).astype(np.int16)


def _instr(calls: str | int, us: str | int) -> float:
    return int(us) * 1000.0 / int(calls)


def parse_bench(text: str, names: list[str]) -> dict:
    """bn.go()'s `B` lines -> instruction counts (mean over windows) and the logits of each window."""
    mods: dict[int, list[str]] = {}
    st, parts, logits, free = [], {"r": [], "a": [], "e": [], "c": []}, [], None
    garbage: dict[str, int] = {}  # heap left as garbage by one call (a GC inside it hides some)
    for line in text.splitlines():
        f = line.split()
        if len(f) < 2 or f[0] != "B":
            continue
        if f[1] == "m" and f[4] == names[int(f[2])]:
            mods.setdefault(int(f[2]), []).append(f[3])
        elif f[1] == "s":
            if int(f[2]) == 0:
                st.append([])
            st[-1].append(_instr(f[3], f[4]))
            garbage["s%s" % f[2]] = max(garbage.get("s%s" % f[2], 0), int(f[5]))
        elif f[1] == "y":
            logits.append([int(v) for v in f[2:]])
        elif f[1] in parts:
            parts[f[1]].append(_instr(f[2], f[3]))
            garbage[f[1]] = max(garbage.get(f[1], 0), int(f[4]))
        elif f[1] == "f":
            free = int(f[2])
    if not st or len(st[-1]) != len(names) or not parts["c"]:
        raise MbnnError("the bench printed no complete measurement: check firmware/bn.py and firmware/app.py")
    step, mean = np.mean(st, axis=0), {k: float(np.mean(v)) for k, v in parts.items()}
    return {"steps": [{"kernel": n, "module": "/".join(sorted(set(mods.get(i, ["?"])))), "instr": round(float(v)),
                       "bytes": garbage["s%d" % i]} for i, (n, v) in enumerate(zip(names, step))],
            "bytes_ring": 2 * garbage["r"], "bytes_output": garbage["a"] + garbage["e"],
            "bytes_per_prediction": max(garbage["c"], 2 * garbage["r"] + garbage["a"] + garbage["e"]
                                        + sum(v for k, v in garbage.items() if k[0] == "s")),
            # the app rotates its ring with three reversals; with the write position at 0
            # (bn.cl) two of them are whole-ring reversals and one is empty
            "instr_ring": round(2 * mean["r"]), "instr_output": round(mean["a"] + mean["e"]),
            "instr_per_prediction": round(mean["c"]), "logits": logits, "free_bench": free}


def time_steps(files: dict[str, bytes], qm: QModel, wins: np.ndarray) -> dict:
    """Boots `files` with the bench's main.py and returns parse_bench() of what bn.go() printed."""
    from microbit_nn.host.emulator import run_files

    names = plan_kernels(qm)
    files = dict(files, **{"bn.py": minify(_read("bn.py")).encode("ascii"), "bw.bin": wins.astype("<i2").tobytes(),
                           "main.py": BENCH_MAIN.encode("ascii")})
    text = run_files(files, re.compile(rb"B end\r?\n|\w*Error[^\n]*\n"), timeout=300, icount=True)
    if "B end" not in text:
        raise MbnnError("the model and the bench do not fit on the V1 together (%s)" % text.strip().splitlines()[-1])
    r = parse_bench(text, names)
    if "p.bin" in files:  # the engine build: every step is lo.ex on a call record
        for st in r["steps"]:
            st["module"] = "engine"
    return r


def app_heap(files: dict[str, bytes], window: np.ndarray) -> dict:
    """The app as built: free heap after loading (banner), logits of one replayed window, free heap after it."""
    from microbit_nn.host.device import Device
    from microbit_nn.host.emulator import Emulator

    with Emulator.from_files(files, icount=True) as emu:
        dev = Device(emu.serial, timeout=30)
        free_load = dev.wait_banner()["free"]
        logits = list(dev.replay_window(window.tolist()).logits)
        return {"free_after_load": free_load, "replay_logits": logits, "free_heap": dev.free_heap()}


def kernel_macs(say=lambda s: None) -> dict[str, float]:
    """Instructions per extra MAC of qa.dense and qk.dense (one output, n=640 minus n=128)."""
    from microbit_nn.host.emulator import Emulator

    files = {"qa.py": minify(prune(_read("qa.py"), ["_a", "_c", "dense"])).encode("ascii"),
             "qk.py": minify(prune(_read("qk.py"), ["dense"])).encode("ascii")}
    out = {}
    with Emulator.from_files(files, icount=True) as emu:
        for mod in ("qa", "qk"):
            say("  %s.dense at n=%d and n=%d ..." % ((mod,) + MAC_N))
            text = emu.exec(MACS % (mod, MAC_N[0], MAC_N[1], MAC_CALLS[mod]), 300)
            (c0, u0), (c1, u1) = ast.literal_eval(text.strip().splitlines()[-1])
            out[mod] = (_instr(c1, u1) - _instr(c0, u0)) / (MAC_N[1] - MAC_N[0])
    return out


def _sum(r: dict, kinds=None) -> int:
    """Instructions of the steps of kind `kinds` (default: every layer, i.e. not the input stage)."""
    return sum(s["instr"] for s in r["steps"] if (s["kernel"] in kinds if kinds else s["kernel"] not in INPUT_STEPS))


def _r1(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def bench(qm: QModel, name: str, target: str = "v1", n_windows: int = 5, say=lambda s: None,
          kernels: str = "build") -> dict:
    """Measures `qm` on the emulated V1 (four boots); returns the figures `--json` prints.

    `kernels`: "build" measures the files `device_files` makes; "engine" or "qk"
    forces one way to run the model (variant_files), to see what a change would give.

    Raises MbnnError when QEMU is missing, the target is not v1, or the model
    (with the bench's few hundred bytes) does not load on the V1."""
    wins = bench_windows(qm.window, n_windows)
    ref = reference.run(qm, wins).astype(int).tolist()
    files = device_files(qm, target) if kernels == "build" else variant_files(qm, kernels, target)
    notes: list[str] = []
    # Nothing emulates a V2: its figures are those of its very files, run on the emulated
    # V1. The V2 gets the V1's files without f.bin (those items in p.bin): the same
    # engine and app, and a V1 runs them as they are
    asm = None if kernels == "build" else kernels == "engine"
    v2_files = device_files(qm, "v2", asm=asm)
    v2_runs_here = v2_files == device_files(qm, "v1", asm=asm, flash=False)
    same_files = files == v2_files  # what is measured is exactly what the V2 runs
    if target == "v2" and not v2_runs_here:
        raise MbnnError("the V2 build of this model differs from every V1 build and nothing emulates a V2: "
                        "run 'mbnn bench' with --target v1")
    if target == "v2":
        notes.append("the V2's files are a V1 build's (without f.bin), byte for byte: measured on the emulated V1")
    elif not same_files:
        notes.append("the V2 gets these files without f.bin (its items in p.bin): 'mbnn bench --target v2' "
                     "measures them on the emulated V1")
    say("booting the emulated V1: the app as built (free heap, one replayed window) ...")
    try:
        heap = app_heap(files, wins[0])
    except MbnnError as e:
        heap = {}
        notes.append("the app itself failed: %s" % e)
    say("booting it again to time every step on %d windows ..." % len(wins))
    main = time_steps(files, qm, wins)
    mine = "engine" if "p.bin" in files else "qk"
    other = "qk" if mine == "engine" else "engine"
    say("booting it with the %s kernels for the layers ..." % other)
    try:
        alt = time_steps(variant_files(qm, other, target), qm, wins)
    except MbnnError as e:
        alt = {}
        notes.append("with the %s kernels: %s" % (other, e))
    say("booting the kernels alone (what one more MAC costs) ...")
    per_mac = kernel_macs(say)
    total, macs = main["instr_per_prediction"], qm.macs()
    feats, layers = _sum(main, INPUT_STEPS), _sum(main)
    layer_mac = {k: _sum(r, MAC_STEPS) / macs if r and macs else None for k, r in ((mine, main), (other, alt))}
    ok = all(r.get("logits", ref) == ref for r in (main, alt)) and heap.get("replay_logits", ref[0]) == ref[0]
    return {
        "model": name, "kind": qm.kind, "target": target, "windows": len(wins), "kernels": mine,
        "macs": macs, "instr_features": feats, "instr_per_inference": layers,
        "instr_per_inference_other": _sum(alt) if alt else None,
        "instr_ring": main["instr_ring"], "instr_output": main["instr_output"],
        "instr_other": total - feats - layers - main["instr_ring"] - main["instr_output"],
        "instr_per_prediction": total, "steps": main["steps"], "bytes_per_prediction": main["bytes_per_prediction"],
        "bytes_ring": main["bytes_ring"],
        "instr_per_mac_fast": round(per_mac["qa"], 2), "instr_per_mac_python": round(per_mac["qk"], 1),
        "speedup": round(per_mac["qk"] / per_mac["qa"], 1),
        "layer_instr_per_mac_fast": _r1(layer_mac["engine"]), "layer_instr_per_mac_python": _r1(layer_mac["qk"]),
        "latency_ms_v1": round(total / HZ_V1 * 1e3, 2),
        # the V2 build runs the same files (same_files_v1_v2): its instruction count is the V1's
        # (the app's Python parts run on MicroPython 1.18 there, which nothing here measures)
        "same_files_v1_v2": same_files, "instr_per_prediction_v2": total if same_files else None,
        "latency_ms_v2_estimate": round(total / HZ_V2 * 1e3, 2) if same_files else None,
        "free_heap": heap.get("free_heap"), "free_heap_after_load": heap.get("free_after_load"),
        "goal_instr_per_prediction": GOALS.get(qm.kind), "meets_goal": total < GOALS.get(qm.kind, 0),
        "matches_reference": ok, "notes": notes,
    }


def _table(r: dict) -> None:
    from rich.table import Table

    t = Table(title="%s (%s, %d MACs), emulated micro:bit V1: one prediction" % (r["model"], r["kind"], r["macs"]))
    for col in ("step", "runs in", "instructions", "ms at 16 MHz", "garbage bytes"):
        t.add_column(col, justify="left" if col in ("step", "runs in") else "right")
    rows = [("ring rotation", "app", r["instr_ring"], r["bytes_ring"])]
    rows += [(s["kernel"], s["module"], s["instr"], s["bytes"]) for s in r["steps"]]
    rows += [("amax + conf", "qk", r["instr_output"], ""), ("print, display, loop", "app", r["instr_other"], "")]
    for step, mod, n, b in rows + [("[bold]per prediction", "", r["instr_per_prediction"], r["bytes_per_prediction"])]:
        t.add_row(step, mod, f"{n:,}", "%.1f" % (n / HZ_V1 * 1e3), f"{b:,}" if b != "" else "")
    console.print(t)
    alt, goal, free = r["instr_per_inference_other"], r["goal_instr_per_prediction"], r["free_heap"]
    console.print(
        f"features + input quantization {r['instr_features']:,}; layers {r['instr_per_inference']:,} with "
        f"{r['kernels']}, " + (f"{alt:,}" if alt else "- (did not fit)") + " with the other kernels\n"
        f"one more MAC (dense, n=640 minus n=128): qa {r['instr_per_mac_fast']}, qk {r['instr_per_mac_python']:,} "
        f"instructions: {r['speedup']}x; whole layers per MAC: engine {r['layer_instr_per_mac_fast'] or '-'}, "
        f"qk {r['layer_instr_per_mac_python'] or '-'}\n"
        f"estimated latency {r['latency_ms_v1']} ms at 16 MHz (V1)" +
        (f", {r['latency_ms_v2_estimate']} ms at 64 MHz (V2: the same files, so the same instruction count)"
         if r["same_files_v1_v2"] else ", no V2 estimate here (see the note)") +
        " from instruction counts (a real core takes more than one cycle for some instructions)\n"
        "free heap after loading and one inference: " + (f"{free:,} bytes" if free is not None else "-") +
        (f"\ngoal: fewer than {goal:,} instructions per prediction: " + ("met" if r["meets_goal"] else "[red]missed")
         if goal else "") +
        "\ndevice logits equal the numpy reference: " + ("yes" if r["matches_reference"] else "[red]NO"))
    for n in r["notes"]:
        console.print("[yellow]note:[/] " + n)


def run(args: argparse.Namespace) -> int:
    def say(text: str) -> None:  # progress on stderr: stdout stays one JSON object
        console.print("[dim]" + text)

    if args.windows < 1:
        raise MbnnError("--windows must be at least 1")
    if args.model:
        qm, name = load_model(args.model), args.model
    else:
        from microbit_nn.host.cmd_train import train_to_dir

        say("training the default %s on synthetic data ..." % args.kind)
        with tempfile.TemporaryDirectory(prefix="mbnn-bench-") as tmp:
            train_to_dir("synthetic", args.kind, Path(tmp), show_progress=False)
            qm, name = load_model(tmp), "default %s" % args.kind
    r = bench(qm, name, args.target, args.windows, say, args.kernels)
    if args.json:
        print(json.dumps(r, sort_keys=True))
    else:
        _table(r)
    return 0
