"""The simulated micro:bit: fake `microbit` module, pty wiring, REPL, unplug/replug.

Oracles: the bytes/rows the test feeds in (accelerometer tables, uart input),
microfs (the real client) for the REPL, and the stub app's documented rule.
The real firmware app is run at the end once firmware/main.py exists.
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import sys
import termios
import time
from pathlib import Path

import microfs
import numpy as np
import pytest
import serial

from microbit_nn.errors import MbnnError
from microbit_nn.host import discover
from microbit_nn.host.device import Device
from microbit_nn.host.sim import STUB_MAIN, SimDevice
from microbit_nn.host.sim import microbit as mb



class Wire:
    """The host's end of the fake UART's socket pair."""

    def __init__(self, host: socket.socket, device: socket.socket):
        self.host, self.device = host, device

    def send(self, data: bytes, within: float = 5.0) -> None:
        """Send `data` and return once all of it waits at the device's end (polled, with a deadline)."""
        self.host.sendall(data)
        deadline = time.monotonic() + within
        while self.waiting() < len(data):
            assert time.monotonic() < deadline, f"{self.waiting()} of {len(data)} bytes arrived in {within} s"
            select.select([self.device], [], [], 0.01)

    def waiting(self) -> int:
        """Bytes received at the device's end that nobody read yet."""
        buf = bytearray(4)
        fcntl.ioctl(self.device.fileno(), termios.FIONREAD, buf)
        return int.from_bytes(buf, sys.byteorder)

    def recv(self, n: int) -> bytes:
        return self.host.recv(n)


@pytest.fixture
def fake_uart():
    """The fake module wired to one end of a socket pair; the test holds the other."""
    a, b = socket.socketpair()
    mb.configure(fd=a.fileno(), speed=1.0)
    yield Wire(b, a)
    mb.configure(fd=None)
    a.close()
    b.close()


def test_uart_partial_lines_and_reads(fake_uart):
    assert not mb.uart.any() and mb.uart.read() is None and mb.uart.readline() is None
    fake_uart.send(b"!i\n12 3")
    assert mb.uart.any()
    assert mb.uart.readline() == b"!i\n"
    assert mb.uart.readline() == b"12 3"  # what arrived so far, like the device
    fake_uart.send(b"abcdef")
    assert mb.uart.read(2) == b"ab"
    buf = bytearray(10)
    assert mb.uart.readinto(buf) == 4 and bytes(buf[:4]) == b"cdef"
    assert mb.uart.write("P 1 2\r\n") == 7
    assert fake_uart.recv(100) == b"P 1 2\r\n"


def test_ctrl_c_interrupts_the_app(fake_uart):
    fake_uart.send(b"xy\x03z")
    with pytest.raises(KeyboardInterrupt):
        mb.uart.any()
    assert mb.uart.read() == b"z"
    fake_uart.send(b"\x03")
    with pytest.raises(KeyboardInterrupt):
        mb.sleep(1000)  # sleep wakes up for it


def test_clock_buttons_accelerometer():
    rows = [(i, -i, 1000 + i) for i in range(5)]
    mb.configure(fd=None, speed=50.0, accel=lambda t: rows[(t // 20) % len(rows)], buttons=[(0, "a")])
    t0 = mb.running_time()
    mb.sleep(1000)  # 20 ms of real time at speed 50
    assert mb.running_time() - t0 >= 1000
    assert mb.accelerometer.get_values() in rows
    assert mb.button_a.was_pressed() and not mb.button_a.was_pressed()
    assert mb.button_a.get_presses() == 1 and mb.button_b.get_presses() == 0
    mb.press("b")
    assert mb.button_b.is_pressed() and mb.button_b.was_pressed()
    mb.configure(fd=None)


def test_stub_banner_samples_display_and_buttons():
    rows = [(10 * i, -5 * i, 1000) for i in range(25)]
    with SimDevice({"main.py": STUB_MAIN}, accel=rows, speed=2.0) as sim:
        ser = discover.open_port(sim.port)
        dev = Device(ser)
        meta = dev.info()
        assert meta["classes"] == ["x", "y", "z"] and meta["window"] == 10
        got = [s for s, _ in zip(dev.samples(), range(30))]
        assert all(s in rows for s in got)  # the accelerometer plays the table back
        dev.raw(False)
        preds = [p for p, _ in zip(dev.predictions(), range(3))]
        sim.press("a")
        deadline = time.monotonic() + 5
        while "a" not in dev.presses and time.monotonic() < deadline:
            dev.poll(0.1)
        assert "a" in dev.presses
        ser.close()
        shown = [d["arg"] for d in sim.display() if d["op"] == "show"]
        assert set(dev.label(p.k) for p in preds) <= set(shown) | {"unknown"}
        assert shown and set(shown) <= {"x", "y", "z", "?"}


def test_accelerometer_from_a_function():
    with SimDevice({"main.py": STUB_MAIN}, accel="microbit_nn.host.sim.microbit:wobble", speed=2.0) as sim:
        ser = discover.open_port(sim.port)
        dev = Device(ser)
        got = [s for s, _ in zip(dev.samples(), range(20))]
        ser.close()
    table = {mb.wobble(20 * i) for i in range(80)}
    assert set(got) <= table and len(set(got)) > 1  # it moves, and only along the function


def test_repl_microfs_soft_reset():
    with SimDevice({"main.py": STUB_MAIN}) as sim:
        ser = serial.Serial(sim.port, 115200, timeout=3)
        assert microfs.ls(ser) == ["main.py"]  # Ctrl-C stopped the app, raw REPL answered
        src = sim.fs.parent / "model.py"
        src.write_bytes(b"W = b'\\x01\\xff' * 100\n")
        microfs.put(str(src), target="model.py", serial=ser)
        assert (sim.fs / "model.py").read_bytes() == src.read_bytes()
        out, err = microfs.execute(["import model", "print(len(model.W), model.W[1])"], ser)
        assert (out.strip(), err) == (b"200 255", b"")
        out, err = microfs.execute(["1/0"], ser)
        assert b"ZeroDivisionError" in err
        ser.write(b"\x02\x04")  # leave the raw REPL (an error left us there); soft reset: main.py runs
        dev = Device(ser)
        assert dev.wait_banner(5.0)["kind"] == "stub"
        ser.close()


def test_app_crash_prints_traceback_then_repl():
    with SimDevice({"main.py": "print('I up')\nraise ValueError('boom')\n"}) as sim:
        ser = serial.Serial(sim.port, 115200, timeout=0.2)
        text = b""
        deadline = time.monotonic() + 5
        while b">>> " not in text and time.monotonic() < deadline:
            ser.write(b"\r")  # nudge: output printed before we opened may be gone
            text += ser.read(500)
        assert b"ValueError: boom" in text or b">>> " in text
        dev = Device(ser, timeout=0.5)
        with pytest.raises(MbnnError, match="not running|did not answer"):
            dev.info()
        ser.close()


def test_unplug_replug_keeps_files_and_link(tmp_path):
    link = tmp_path / "ttyMB"
    with SimDevice({"main.py": STUB_MAIN}, link=link) as sim:
        ser = discover.open_port(str(link))
        dev = Device(ser)
        dev.info()
        sim.unplug()
        assert not link.exists()
        with pytest.raises(MbnnError, match="went away"):
            for _ in range(20):
                dev.info()
        ser.close()
        sim.replug()
        assert link.exists()
        ser = discover.open_port(str(link))
        assert Device(ser).info()["kind"] == "stub"
        ser.close()
        with pytest.raises(MbnnError):
            sim.unplug()
            sim.press("a")


def test_noise_never_breaks_the_client():
    with SimDevice({"main.py": STUB_MAIN, "noise": b""}) as sim:
        ser = discover.open_port(sim.port)
        dev = Device(ser)
        for _ in range(3):
            assert dev.info()["kind"] == "stub"
        p = dev.replay_window([(800, 0, 0)] * 10)
        assert p.logits == (100, 0, 0)
        assert dev.reader.notes  # the over-long lines were dropped, with a note
        ser.close()


def test_real_app_replays_like_the_reference(rng, qmodel_factory):
    from microbit_nn.export import writer
    from microbit_nn.export import reference

    qm = qmodel_factory("mlp", rng)
    files = writer.device_files(qm, "v2", asm=False)  # Python: the engine is machine code
    windows = rng.integers(-1500, 1500, size=(3, qm.window, 3))
    with SimDevice(files) as sim:
        ser = discover.open_port(sim.port)
        dev = Device(ser, timeout=15.0)
        assert dev.info()["classes"] == list(qm.classes)
        for w in windows:
            p = dev.replay_window(w)
            want = reference.run(qm, w[None])[0].tolist()
            assert list(p.logits) == want, sim.stderr()
        ser.close()
