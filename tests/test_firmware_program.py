"""The user's program on the device (app.py's "#P" lines, firmware/pl.py). On the emulated V1 (engine build)
and the simulated micro:bit (all-Python build under CPython), replayed windows give
the reference's logits and exactly the gesture events export/events.py computes from
the reference's predictions; a handler that raises is an E line and the app goes on."""

from __future__ import annotations

import numpy as np
import pytest
from test_firmware_qa import needs_qemu

from microbit_nn.export import reference
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.writer import device_files
from microbit_nn.host import discover
from microbit_nn.host.cmd_replay import compare, program_report
from microbit_nn.host.device import Device

PROGRAM = """from microbit import display, Image
count = 0


def on_start(name, certainty):
    global count
    count += 1
    print('start', name, certainty, count)
    display.show(Image.HAPPY)


def on_stop(name):
    print('stop', name)
    display.clear()
"""
FAILING = PROGRAM + """

def on_prediction(name, certainty):
    if name is None:
        raise ValueError('unknown gesture')
"""


def model_and_windows():
    """A model of the default mlp's size (hidden 24, as `mbnn train synthetic --model mlp`)
    with three long free-form names, and windows whose predictions start and stop
    gestures: the threshold cuts through their confidences."""
    qm = random_qmodel("mlp", seed=4, hidden=24, n_classes=3)
    rng = np.random.default_rng(2)
    windows = np.concatenate([rng.integers(-s, s, (1, qm.window, 3)) + rng.integers(-900, 900, 3)
                              for s in (200, 2500, 600, 1500, 3000, 300, 2000, 900, 2600, 100, 1800, 700)])
    _, conf = reference.predict(qm, windows)
    qm.threshold = int(np.median(conf))
    qm.classes = ["Not a spell", "Jumping up&down", "Being still"]
    return qm, windows


def check_run(dev, qm, windows, bitexact, failing=False) -> dict:
    r = compare(dev, qm, windows)
    r.update(program_report(dev, qm, windows))
    assert r["device_bit_exact"] == 1.0, r["mismatches"]
    assert len(r["events_reference"]) >= 3, "the windows should start and stop gestures"
    assert r["events_match"], (r["events"], r["events_reference"])
    starts = [e for e in r["events"] if e["event"] == "start"]
    assert [p for p in r["prints"] if p.startswith("start")][-1].split()[1:] == [
        "Being_still" if starts[-1]["k"] == 2 else ["Not_a_spell", "Jumping_up%26down"][starts[-1]["k"]],
        str(starts[-1]["conf"]), str(len(starts))]
    if failing:
        assert r["program_errors"] and all(e.startswith("on_prediction ValueError") for e in r["program_errors"])
    else:
        assert r["program_errors"] == []
    bitexact.add(len(windows))
    return r


@needs_qemu
@pytest.mark.parametrize("program", [PROGRAM, FAILING], ids=["handlers", "raising"])
def test_program_on_the_emulated_v1(program, bitexact):
    from microbit_nn.host.emulator import Emulator

    qm, windows = model_and_windows()
    with Emulator.from_files(device_files(qm, "v1", program=program)) as emu:
        dev = Device(emu.serial, timeout=30.0)
        assert dev.wait_banner()["classes"] == qm.classes
        check_run(dev, qm, windows, bitexact, failing=program is FAILING)


@pytest.mark.parametrize("program", [PROGRAM, FAILING], ids=["handlers", "raising"])
def test_program_on_the_simulated_device(program, bitexact):
    from microbit_nn.host.sim import SimDevice

    qm, windows = model_and_windows()
    with SimDevice(device_files(qm, "v1", asm=False, program=program)) as sim:
        ser = discover.open_port(sim.port)
        dev = Device(ser, timeout=15.0)
        dev.wait_banner()
        check_run(dev, qm, windows, bitexact, failing=program is FAILING)
        ser.close()


def test_no_program_no_events(bitexact):
    from microbit_nn.host.sim import SimDevice

    qm, windows = model_and_windows()
    files = device_files(qm, "v1", asm=False)
    assert "pl.py" not in files and "program.py" not in files
    with SimDevice(files) as sim:
        ser = discover.open_port(sim.port)
        dev = Device(ser, timeout=15.0)
        dev.wait_banner()
        assert compare(dev, qm, windows[:4])["device_bit_exact"] == 1.0 and dev.events == []
        ser.close()


@needs_qemu
def test_a_program_that_leaves_no_room_never_costs_the_model(bitexact):
    """A program that loads but takes the heap the model needs (model.py's compile, the
    tables' pieces): the board notes why (P.no), resets, skips the program and runs the
    model bit-exact, saying so in an `E program` line at every boot."""
    from microbit_nn.host.emulator import Emulator

    qm, windows = model_and_windows()
    hog = PROGRAM + "\nkeep = [bytearray(96) for i in range(20)]\n"
    with Emulator.from_files(device_files(qm, "v1", program=hog)) as emu:
        dev = Device(emu.serial, timeout=30.0)
        dev.wait_banner()
        r = compare(dev, qm, windows[:3])
        assert r["device_bit_exact"] == 1.0
        assert [e for e in dev.errors if e.startswith("program MemoryError")], list(dev.errors)
        assert any("beside the model" in e for e in dev.errors)
    bitexact.add(3)
