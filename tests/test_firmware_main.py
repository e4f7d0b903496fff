"""firmware/main.py and the app (app.py, lo.py, st.py) under CPython: the simulated
micro:bit (host/sim) runs the exported files as the device would, behind a pty.

The oracle is export/reference.py: replayed windows must give its logits
exactly. Bad input must give `E` lines and leave the app answering; the
selftest (golden vectors) must pass; the modes of docs/protocol.md work.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from microbit_nn.export import reference
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.writer import device_files
from microbit_nn.host import discover
from microbit_nn.host.device import Device, parse_line
from microbit_nn.host.sim import SimDevice

MODELS = {"mlp": random_qmodel("mlp", seed=11, n_classes=3), "cnn": random_qmodel("cnn", seed=12, hidden=10)}


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def sim(request):
    """(qm, Device) on the simulated micro:bit running the app with the model's files: the
    all-Python build (the same for the V1 and the V2; the engine build is machine code
    and runs on the emulator)."""
    qm = MODELS[request.param]
    # an odd free-heap figure, so a parser that reads the wrong field cannot match it
    with SimDevice(device_files(qm, "v1", asm=False), mem_free=6907) as s:
        ser = discover.open_port(s.port)
        dev = Device(ser, timeout=15.0)
        dev.wait_banner()
        yield qm, dev, s
        ser.close()


def lines_after(dev: Device, text: bytes, wait: float = 0.8) -> list[str]:
    """Raw lines the device prints within `wait` s after we send `text`."""
    dev.ser.write(text)
    dev.ser.flush()
    out, end = [], time.monotonic() + wait
    while time.monotonic() < end:
        line = dev.reader.readline(0.1)
        if line is not None:
            out.append(line)
    return out


def test_banner_and_live_predictions(sim):
    qm, dev, _ = sim
    meta = dev.info()
    assert (meta["kind"], meta["window"], meta["classes"]) == (qm.kind, qm.window, qm.classes)
    assert meta["kernels"] == "python"  # the banner names what runs the model
    p = next(dev.predictions(timeout=10))
    assert len(p.logits) == len(qm.classes) and -1 <= p.k < len(qm.classes) and 0 <= p.conf <= 100


def test_replay_is_bit_exact(sim, bitexact):
    qm, dev, _ = sim
    rng = np.random.default_rng(3)
    windows = np.concatenate([rng.integers(-2200, 2200, (3, qm.window, 3)), np.full((1, qm.window, 3), 32767)])
    got = [list(dev.replay_window(w).logits) for w in windows]
    assert got == reference.run(qm, windows).tolist()
    bitexact.add(len(windows))
    dev.replay(False)


def test_bad_input_gets_errors_and_the_app_keeps_running(sim):
    _, dev, _ = sim
    dev.replay(True)
    cases = [b"\xff\xfe garbage\n", b"1 2 x\n", b"1 2\n", b"1.5 2 3\n", b"99999 0 0\n", b"!zz\n", b"!c\n",
             b"9" * 120 + b"\n"]
    for case in cases:
        got = [parse_line(l) for l in lines_after(dev, case, 0.4)]
        assert any(ev and ev[0] == "E" for ev in got), (case, got)
    dev.replay(False)
    got = [parse_line(l) for l in lines_after(dev, b"1 2 3\n", 0.4)]
    assert ("E", "replay off") in got
    assert dev.info()["kind"] in ("mlp", "cnn")


def test_modes_and_button(sim):
    _, dev, s = sim
    samples = dev.samples(timeout=5)
    first = [next(samples) for _ in range(5)]
    assert all(len(v) == 3 for v in first)
    dev.raw(False)
    s.press("a")
    deadline = time.monotonic() + 5
    while "a" not in dev.presses and time.monotonic() < deadline:
        dev.poll(0.2)
    assert "a" in dev.presses
    assert dev.free_heap() == s.mem_free  # the app reports gc.mem_free(), which the sim was given


def test_selftest_passes():
    """st.py under CPython: every golden vector of both kinds (the board restarts after)."""
    for kind in ("mlp", "cnn"):
        with SimDevice(device_files(MODELS[kind], "v2", asm=False)) as s:
            ser = discover.open_port(s.port)
            dev = Device(ser, timeout=15.0)
            dev.wait_banner()
            results = dev.selftest(timeout=30)
            assert results and all(ok for _, ok, _ in results), results
            names = {n for n, _, _ in results}
            assert {"model0", "conf0", "amax0"} <= names and ("feats" in names) == (kind == "mlp")
            assert dev.wait_banner(timeout=15)["kind"] == kind  # back to the app
            ser.close()
