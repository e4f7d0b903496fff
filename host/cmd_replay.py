"""`mbnn replay MODEL DATA (--port PORT | --emulator)`: the device's integer outputs on
recorded windows, compared with the numpy reference (export/reference.py).

Each window of DATA goes to the device in replay mode (docs/protocol.md) and
its `P` line's logits are compared with reference.run. With --emulator the V1
hex for MODEL is built and booted in QEMU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import Iterator

from microbit_nn.errors import MbnnError
from microbit_nn.host.argtypes import port_name, positive_float, positive_int
from microbit_nn.host import modelargs
from microbit_nn.host.device import Device

def refuse_hex(model: str, emulator: bool) -> None:
    """MbnnError when MODEL is a .hex (a V2 one under --emulator gets its own message)."""
    if not str(model).lower().endswith(".hex"):
        return
    if emulator:
        from microbit_nn.host.cmd_stream import check_emulator_hex

        check_emulator_hex(model)
        raise MbnnError("--emulator builds the V1 app from MODEL: give the 'mbnn train --out' folder, not "
                        "%s (to run a .hex: 'mbnn stream --emulator %s')" % (model, model))
    raise MbnnError("MODEL is the 'mbnn train --out' folder, not a .hex (%s)" % model)


@contextlib.contextmanager
def open_device(model: str | None, port: str | None, emulator: bool, timeout: float = 30.0,
                program: str | None = None, qm=None) -> Iterator[Device]:
    """A Device on `port`, or on the emulated V1 booted with MODEL's app (`emulator`;
    with the user's `program` source; `qm`: the model, when already loaded)."""
    if emulator:
        from microbit_nn.export.qmodel import load_model
        from microbit_nn.export.writer import device_files
        from microbit_nn.host.emulator import Emulator

        if not model:
            raise MbnnError("--emulator needs a MODEL to build the app from: pass the 'mbnn train --out' folder")
        refuse_hex(model, emulator)
        with Emulator.from_files(device_files(qm or load_model(model), "v1", program=program)) as emu:
            dev = Device(emu.serial, timeout=timeout)
            dev.wait_banner()
            yield dev
        return
    from microbit_nn.host import discover

    ser = discover.open_port(port)
    try:
        dev = Device(ser, timeout=timeout)
        dev.info()
        yield dev
    finally:
        dev.close()
        ser.close()


def compare(dev: Device, qm, windows: np.ndarray, labels: np.ndarray | None = None,
            progress=None, show=None) -> dict:
    """Replays `windows` [N, L, 3]; returns n, device_bit_exact, accuracy_device,
    accuracy_int8, free_heap_min and the first mismatches. `labels` index qm.classes (-1: none).
    `show(i, prediction, reference_logits)` is called after each window (live views)."""
    import numpy as np

    from microbit_nn.export import reference

    want = reference.run(qm, windows)
    exact, agree_dev, agree_ref, mism = 0, 0, 0, []
    free = [dev.free_heap()]
    for i, w in enumerate(windows):
        pred = dev.replay_window(w)
        got = list(pred.logits)
        if show:
            show(i, pred, want[i])
        if got == want[i].tolist():
            exact += 1
        elif len(mism) < 5:
            mism.append({"window": i, "device": got, "reference": want[i].tolist()})
        if labels is not None and labels[i] >= 0:
            agree_dev += int(np.argmax(got) == labels[i])
            agree_ref += int(np.argmax(want[i]) == labels[i])
        if i % 20 == 19:
            free.append(dev.free_heap())
        if progress:
            progress("replay", i + 1, len(windows), {"bit-exact": exact / (i + 1)})
    free.append(dev.free_heap())  # its answer comes after the last window's events
    n = len(windows)
    known = int((labels >= 0).sum()) if labels is not None else 0
    return {"n": n, "device_bit_exact": exact / n if n else 1.0,
            "accuracy_device": agree_dev / known if known else None,
            "accuracy_int8": agree_ref / known if known else None,
            "free_heap_min": min(free), "mismatches": mism}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a trained model (the 'mbnn train --out' folder or its model_int8.json)")
    p.add_argument("data", help="recordings: a CSV folder, a CreateAI .json, or 'synthetic'")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--port", type=port_name, help="serial port of a micro:bit running the model's app")
    src.add_argument("--emulator", action="store_true", help="build the V1 app for MODEL and boot it in QEMU")
    p.add_argument("--limit", type=positive_int, help="replay at most N windows (spread over DATA)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--timeout", type=positive_float, default=30.0, help="seconds to wait for each answer")
    modelargs.add_options(p)


def _windows(args, qm) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    from microbit_nn.train.datasets import load_dataset

    ds = load_dataset(args.data, window=qm.window)
    lookup = {c.lower(): i for i, c in enumerate(qm.classes)}  # case-insensitive, as in eval
    known = [lookup.get(c.lower(), -1) for c in ds.classes]
    if all(k < 0 for k in known):
        raise MbnnError("the data has classes %s and none of them is the model's (%s): replay data recorded "
                        "for this model" % (list(ds.classes), list(qm.classes)))
    labels = np.array([known[l] for l in ds.labels], np.int64)
    idx = np.arange(len(labels))
    if args.limit and args.limit < len(idx):
        idx = np.linspace(0, len(idx) - 1, args.limit).round().astype(int)
    return np.asarray(ds.windows)[idx].astype(np.int64), labels[idx]


def run(args: argparse.Namespace) -> int:
    from microbit_nn.host.progress import console, phase_progress

    refuse_hex(args.model, args.emulator)
    qm, program = modelargs.load(args)
    windows, labels = _windows(args, qm)
    if not len(windows):
        raise MbnnError("DATA has no window of %d samples: record longer gestures" % qm.window)
    with open_device(args.model, args.port, args.emulator, args.timeout, program, qm) as dev:
        if dev.meta.get("classes") != list(qm.classes) or dev.meta.get("window") != qm.window:
            raise MbnnError("the micro:bit runs another model (%s): deploy this one with 'mbnn deploy'"
                            % ",".join(dev.meta.get("classes", [])))
        with phase_progress(not args.json and len(windows) > 5) as bar:
            r = compare(dev, qm, windows, labels, bar)
        if program is not None:
            r.update(program_report(dev, qm, windows))
    if args.json:
        print(json.dumps(r))
    else:
        acc = lambda v: "n/a" if v is None else "%.3f" % v  # noqa: E731
        console.print("%d windows: %.1f%% bit-exact with the reference; accuracy device %s, int8 reference %s; "
                      "free heap at least %d bytes" % (r["n"], 100 * r["device_bit_exact"], acc(r["accuracy_device"]),
                                                       acc(r["accuracy_int8"]), r["free_heap_min"]))
        for m in r["mismatches"]:
            console.print("  window %d: device %s, reference %s" % (m["window"], m["device"], m["reference"]))
        if program is not None:
            console.print("program: %d gesture events, %s the reference's; %d errors in its handlers%s"
                          % (len(r["events"]), "equal to" if r["events_match"] else "[red]NOT equal to[/]",
                             len(r["program_errors"]), "".join("\n  E " + e for e in r["program_errors"])))
    return 0 if r["device_bit_exact"] == 1.0 and r.get("events_match", True) else 1


def program_report(dev: Device, qm, windows) -> dict:
    """The gesture events the device raised while `windows` were replayed in order, those the
    reference's predictions imply (export/events.py), whether they match, the handlers'
    errors and what the program printed."""
    from microbit_nn.export import events
    from microbit_nn.host.device import PROGRAM_ERRORS

    want = [{k: v for k, v in e.items() if k != "at"} for e in events.events(*events.predicted(qm, windows))]
    return {"events": list(dev.events), "events_reference": want, "events_match": list(dev.events) == want,
            "program_errors": [e for e in dev.errors if e.split(" ", 1)[0] in PROGRAM_ERRORS],
            "prints": list(dev.prints)}
