"""`mbnn demo`: the whole pipeline in one command, on the emulated micro:bit V1.

train -> quantize -> export -> build the V1 .hex -> boot it in QEMU -> replay
held-out gestures through it, showing each prediction, then the device's
accuracy and its bit-exactness against the integer reference.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="synthetic", help="training data (default: the built-in synthetic gestures)")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp", help="model family (default mlp)")
    p.add_argument("--out", default="out/demo", help="where the model and the .hex go (default out/demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--windows", type=int, default=40, help="held-out windows to replay on the device (default 40)")
    p.add_argument("--json", action="store_true", help="print the final figures as JSON")


def held_out(data: str, qm, seed: int, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Windows the model never saw, spread over the classes, with labels indexing qm.classes."""
    import numpy as np

    from microbit_nn.train.datasets import load_dataset, split_by_group
    from microbit_nn.train.evaluate import map_classes

    if data == "synthetic":
        # Other simulated people than the training data's: a fresh seed.
        ds, what = load_dataset("synthetic", window=qm.window, seed=seed + 1), "synthetic gestures of new people"
    else:
        ds, what = split_by_group(load_dataset(data, window=qm.window, seed=seed), seed=seed)[2], "the held-out test split"
    idx = np.random.default_rng(seed).permutation(len(ds.labels))[:n]
    return ds.windows[idx].astype(np.int64), map_classes(ds, qm.classes)[idx], what


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from microbit_nn.export.hexbuild import build_hex, write_hex
    from microbit_nn.export.qmodel import load_model
    from microbit_nn.export.writer import device_files
    from microbit_nn.host.cmd_budget import check, explain
    from microbit_nn.host.cmd_replay import compare
    from microbit_nn.host.cmd_train import train_to_dir
    from microbit_nn.host.device import Device
    from microbit_nn.host.emulator import Emulator, find_qemu
    from microbit_nn.host.progress import console

    start = time.perf_counter()
    find_qemu()  # fail before training when the emulator is missing
    out = Path(args.out)
    console.rule(f"1/4 train a {args.model} on {args.data}")
    report = train_to_dir(args.data, args.model, out, seed=args.seed, show_progress=not args.json)
    console.print(f"float accuracy {report['accuracy_float']:.3f}, int8 {report['accuracy_int8']:.3f}, "
                  f"agreement {report['agreement']:.3f} on {report['test']['n']} held-out windows "
                  f"({report['quantization'].upper()}; {report['train_seconds']:.1f} s) -> {out}/report.md")

    console.rule("2/4 export and build the micro:bit V1 .hex")
    qm = load_model(out)
    budget = check(qm, "v1")
    hex_path = write_hex(build_hex(device_files(qm, "v1"), "v1"), out / "microbit-nn-v1.hex")
    console.print(f"{hex_path}: {explain(budget, qm)}")

    console.rule("3/4 boot it on the emulated micro:bit V1 (QEMU)")
    windows, labels, what = held_out(args.data, qm, args.seed, args.windows)
    with Emulator(hex_path) as emu:
        dev = Device(emu.serial, timeout=30.0)
        info = dev.wait_banner()
        console.print(f"the micro:bit says: {info.get('kind', '?')} model, classes {', '.join(info.get('classes', []))}, "
                      f"{info.get('free', '?')} bytes of heap free")
        console.rule(f"4/4 replay {len(windows)} windows of {what}")

        def show(i: int, pred, want) -> None:
            truth = qm.classes[labels[i]]
            top = int(np.argmax(pred.logits))  # accuracy counts the top class;
            said = qm.classes[top] + ("?" if pred.k < 0 else "")  # "?": below the unknown threshold
            mark = "[green]right[/]" if top == labels[i] else "[red]wrong[/]"
            exact = "bit-exact" if list(pred.logits) == want.tolist() else "[red]DIFFERS from the reference[/]"
            console.print(f"{i + 1:3d}  true {truth:<8} device {said:<8} {pred.conf:3d}%  {mark}  {exact}")  # both marks 5 wide

        r = compare(dev, qm, windows, labels, show=None if args.json else show)
    r.update({"seconds": round(time.perf_counter() - start, 1), "accuracy_float": report["accuracy_float"],
              "report_accuracy_int8": report["accuracy_int8"], "model": args.model, "data": args.data})
    if args.json:
        print(json.dumps(r))
    else:
        console.rule("result")
        console.print(f"device accuracy {r['accuracy_device']:.3f} (int8 reference {r['accuracy_int8']:.3f}) on "
                      f"{r['n']} windows of {what}; {100 * r['device_bit_exact']:.1f}% of windows bit-exact; "
                      f"free heap at least {r['free_heap_min']} bytes; {r['seconds']:.0f} s in all")
        console.print(f"'?' marks a confidence below the model's unknown-gesture threshold ({qm.threshold}%)")
        console.print(f"next: flash {hex_path} onto a real micro:bit with 'mbnn flash {hex_path}' (docs/hardware.md)")
    return 0 if r["device_bit_exact"] == 1.0 else 1
