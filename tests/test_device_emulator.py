"""The app on the emulated micro:bit V1 (QEMU, the bundled MicroPython 1.9.2 hex).

Models with the default architectures (`mbnn train synthetic`, few epochs:
the bit-exactness does not need a good model) are built into V1 hexes; one
QEMU boot per model checks the banner, the free heap after loading and one
inference, held-out windows replayed bit-exact against export/reference.py,
malformed serial input, and the on-device selftest (which restarts the board).
Two more boots drive `mbnn replay` and `mbnn selftest` end to end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import emulator_marks

from microbit_nn.export import budget
from microbit_nn.export import reference
from microbit_nn.export.qmodel import load_model
from microbit_nn.export.writer import device_files
from microbit_nn.host.cmd_replay import compare
from microbit_nn.host.device import Device

pytestmark = emulator_marks()

FREE = {}  # kind -> (free after loading, after one inference): printed at the end


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict[str, Path]:
    """The default mlp and cnn, trained briefly on the synthetic gestures."""
    from microbit_nn.host.cmd_train import train_to_dir

    out = {}
    for kind in ("mlp", "cnn"):
        out[kind] = tmp_path_factory.mktemp("model-" + kind)
        train_to_dir("synthetic", kind, out[kind], epochs=4, show_progress=False)
    return out


@pytest.fixture(scope="session")
def held_out() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Windows of the test split (recordings the training never saw) and their labels."""
    from microbit_nn.train.datasets import load_dataset, split_by_group

    _, _, test = split_by_group(load_dataset("synthetic", seed=0), seed=0)
    idx = np.linspace(0, len(test.labels) - 1, 30).round().astype(int)
    return np.asarray(test.windows)[idx].astype(np.int64), np.asarray(test.labels)[idx], list(test.classes)


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def board(request, trained):
    """(qm, Device) on one emulated V1 booted with the model's app."""
    from microbit_nn.host.emulator import Emulator

    qm = load_model(trained[request.param])
    with Emulator.from_files(device_files(qm, "v1")) as emu:
        dev = Device(emu.serial, timeout=30.0)
        dev.banner = dev.wait_banner()
        yield qm, dev


def test_boots_with_its_banner(board):
    qm, dev = board
    assert (dev.banner["kind"], dev.banner["window"], dev.banner["classes"]) == (qm.kind, qm.window, qm.classes)


def test_held_out_windows_bit_exact(board, held_out, bitexact):
    qm, dev = board
    windows, labels, classes = held_out
    r = compare(dev, qm, windows, np.array([qm.classes.index(classes[l]) for l in labels]))
    assert r["device_bit_exact"] == 1.0, r["mismatches"]
    assert r["accuracy_device"] == r["accuracy_int8"]
    bitexact.add(r["n"])
    FREE[qm.kind] = (dev.banner["free"], r["free_heap_min"])


def test_free_heap_after_loading_and_inference(board):
    qm, dev = board
    free = dev.free_heap()
    print("\n%s on the emulated V1: %d bytes free after loading, %d after inferences (target %d)"
          % (qm.kind, dev.banner["free"], free, budget.TARGET_FREE))
    assert free >= budget.MIN_FREE
    assert free >= budget.estimate(qm).estimate_free - 320


def paced_write(ser, data: bytes) -> None:
    """Writes in 16-byte pieces 20 ms apart: the V1 drops what overflows its ~64-byte
    receive buffer, and QEMU delivers a write at once."""
    for i in range(0, len(data), 16):
        ser.write(data[i:i + 16])
        ser.flush()
        time.sleep(0.02)


def test_malformed_input(board):
    _, dev = board
    dev.replay(True)
    for bad in (b"\x00\xff\xfe}{garbage\n", b"7" * 100 + b"\n", b"12 abc 3\n", b"1 2 3 4\n", b"!q\n",
                b"40000 0 0\n"):
        paced_write(dev.ser, bad)
        kind, reason = dev.ask(None, "E", what="answer %r with an E line" % bad[:12])
        assert kind == "E" and reason
    dev.replay(False)
    assert dev.info()["kind"] == dev.banner["kind"]


def test_selftest(board):
    qm, dev = board
    results = dev.selftest(timeout=60)
    failed = [r for r in results if not r[1]]
    assert results and not failed, failed
    names = {n for n, _, _ in results}
    assert {"model0", "model5"} <= names  # the engine build: the whole model (no Python kernels)
    assert dev.wait_banner(timeout=30)["kind"] == qm.kind  # the board restarted into the app


def test_cli_replay_and_selftest(trained, capsys):
    from microbit_nn.host import cmd_replay, cmd_selftest

    args = argparse.Namespace(model=str(trained["cnn"]), data="synthetic", port=None, emulator=True, limit=6,
                              json=True, timeout=30.0)
    assert cmd_replay.run(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n"] == 6 and r["device_bit_exact"] == 1.0 and r["free_heap_min"] >= budget.MIN_FREE
    args = argparse.Namespace(port=None, emulator=str(trained["mlp"]), json=True, timeout=60.0)
    assert cmd_selftest.run(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["failed"] == 0 and r["passed"] >= 6  # the engine build: the whole model, 6 windows


def test_report_free_heap():
    """Prints the measured figures (reported in docs/firmware.md)."""
    for kind, (load, after) in sorted(FREE.items()):
        print("%s: %d bytes free after loading, %d at least after replayed inferences" % (kind, load, after))
    assert all(after <= load for load, after in FREE.values())


def test_ring_rotation_from_any_write_position(board):
    """More samples than a window: the ring's write position is not 0 when the
    window is classified, so the app's rotation (lo.rv, Thumb code) runs for real."""
    qm, dev = board
    rng = np.random.default_rng(7)
    for extra in (1, 7, qm.window - 1):
        rows = rng.integers(-2500, 2500, (qm.window + extra, 3))
        p = dev.replay_window(rows.tolist())
        assert list(p.logits) == reference.run(qm, rows[None, -qm.window:])[0].tolist(), extra


def test_python_build_selftest_and_replay():
    """The other path: device_files(asm=False) runs every kernel in Python (qk, ft): its
    selftest (every kernel's goldens and the model) passes and replayed windows equal the
    reference. On a V1 only small models fit it (the trained default mlp does not: the
    budget refuses it); the default build (the engine) is tested above."""
    from microbit_nn.export.budget import estimate
    from microbit_nn.export.goldens import random_qmodel
    from microbit_nn.host.emulator import Emulator

    qm = random_qmodel("mlp", seed=6, hidden=12, n_classes=4)
    assert estimate(qm, "v1", asm=False).verdict != "does not fit"
    files = device_files(qm, "v1", asm=False)
    assert "p.bin" not in files and b"def dense" in files["qk.py"]
    rng = np.random.default_rng(3)
    with Emulator.from_files(files) as emu:
        dev = Device(emu.serial, timeout=30.0)
        dev.wait_banner()
        for _ in range(2):
            w = rng.integers(-2000, 2000, (qm.window, 3))
            assert list(dev.replay_window(w.tolist()).logits) == reference.run(qm, w[None])[0].tolist()
        results = dev.selftest(timeout=90)
    names = {n for n, ok, _ in results}
    assert results and all(ok for _, ok, _ in results)
    assert {"model0", "dense", "featq", "conf0", "rq0"} <= names
