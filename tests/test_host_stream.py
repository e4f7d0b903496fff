"""`mbnn stream` (host/cmd_stream.py) against the simulated micro:bit.

The stub app's logits follow a rule on the accelerometer table the test
chooses (the oracle); faults: noise, unplug/replug, a board that never
comes back, a silent board, Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import json
import threading
import time

import pytest
from rich.console import Console

from conftest import needs_qemu

from microbit_nn.errors import MbnnError
from microbit_nn.host import cmd_stream, discover
from microbit_nn.host.device import Device, Prediction
from microbit_nn.host.sim import STUB_MAIN, SimDevice

STILL = [(160, -240, 1000)] * 10  # stub logits: mean // 8 -> (20, -30, 125), class z, conf 100
WANT = {"k": 2, "label": "z", "conf": 100, "logits": [20, -30, 125]}


def ns(**kw) -> argparse.Namespace:
    a = argparse.Namespace(port=None, emulator=None, csv=None, json=False, count=None, timeout=5.0, reconnect=30.0)
    a.__dict__.update(kw)
    return a


def test_json_lines(capsys):
    with SimDevice({"main.py": STUB_MAIN, "noise": b""}, accel=STILL, speed=4.0) as sim:
        assert cmd_stream.run(ns(port=sim.port, json=True, count=5)) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5
    assert all({k: r[k] for k in WANT} == WANT for r in rows)  # noise never leaks into the output
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)


def test_csv_rows_flushed_one_by_one(tmp_path):
    path = tmp_path / "p.csv"
    with SimDevice({"main.py": STUB_MAIN}, accel=STILL, speed=4.0) as sim:
        ser = discover.open_port(sim.port)
        dev = Device(ser)
        dev.info()
        sink = cmd_stream.CsvSink(str(path))
        preds = dev.predictions()
        sink(cmd_stream.record(next(preds), dev), dev)
        rows = list(csv.DictReader(path.open()))  # readable before the sink is closed
        assert len(rows) == 1 and rows[0]["label"] == "z" and rows[0]["logit_y"] == "-30"
        sink(cmd_stream.record(next(preds), dev), dev)
        sink.close()
        ser.close()
        assert cmd_stream.run(ns(port=sim.port, csv=str(path), count=2)) == 0  # appends, one header
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4 and {r["logit_z"] for r in rows} == {"125"}


def test_terminal_view_renders_classes():
    view = cmd_stream.View("/dev/ttyACM0")

    class D:
        meta = {"classes": ["shake", "still"]}

        @staticmethod
        def label(k):
            return ["shake", "still"][k] if k >= 0 else "unknown"
    for p in (Prediction(1, 1, 93, (-20, 60)), Prediction(2, 0, 55, (30, 10))):
        view.times.append(time.monotonic())
        view.recent.append(p.k)
        view.last = cmd_stream.record(p, D)
    con = Console(record=True, width=80)
    con.print(view.render(D))
    text = con.export_text()
    assert "shake" in text and "still" in text and "55%" in text and "unknown" in text


def test_view_mode_runs(capsys):
    with SimDevice({"main.py": STUB_MAIN}, accel=STILL, speed=4.0) as sim:
        assert cmd_stream.run(ns(port=sim.port, count=3)) == 0
    assert capsys.readouterr().out == ""  # the view draws on stderr, stdout stays clean


def test_survives_unplug_and_replug(tmp_path, capsys, monkeypatch):
    link = tmp_path / "ttyMB"
    real_record, real_reconnect = cmd_stream.record, cmd_stream.reconnect
    seen, plugging = [], []

    def record(p, dev):  # the cable is pulled right after the 10th prediction
        seen.append(p.seq)
        if len(seen) == 10:
            sim.unplug()
        return real_record(p, dev)

    def reconnect(port, wait, timeout):  # ... and plugged back while stream waits for it
        t = threading.Thread(target=sim.replug)
        t.start()
        plugging.append(t)
        return real_reconnect(port, wait, timeout)
    monkeypatch.setattr(cmd_stream, "record", record)
    monkeypatch.setattr(cmd_stream, "reconnect", reconnect)
    with SimDevice({"main.py": STUB_MAIN}, accel=STILL, speed=4.0, link=link) as sim:
        assert cmd_stream.run(ns(port=str(link), json=True, count=40, reconnect=20.0)) == 0
        for t in plugging:
            t.join()
    assert len(plugging) == 1
    cap = capsys.readouterr()
    rows = [json.loads(l) for l in cap.out.splitlines()]
    assert len(rows) == 40 and all(r["logits"] == WANT["logits"] for r in rows)
    assert "disconnected" in cap.err and "reconnected" in cap.err
    seqs = [r["seq"] for r in rows]
    assert any(b < a for a, b in zip(seqs, seqs[1:]))  # the board restarted: its sequence started over


def test_board_that_does_not_come_back(tmp_path, monkeypatch):
    link = tmp_path / "ttyMB"
    real_record, seen = cmd_stream.record, []

    def record(p, dev):  # the cable is pulled after the 2nd prediction, never to come back
        seen.append(p.seq)
        if len(seen) == 2:
            sim.unplug()
        return real_record(p, dev)
    monkeypatch.setattr(cmd_stream, "record", record)
    with SimDevice({"main.py": STUB_MAIN}, accel=STILL, speed=4.0, link=link) as sim:
        t0 = time.monotonic()
        with pytest.raises(MbnnError, match="did not come back within 1 s"):
            cmd_stream.run(ns(port=str(link), json=True, reconnect=1.0))
        assert time.monotonic() - t0 < 15


def test_silent_board_gives_a_clear_error():
    with SimDevice({"main.py": "from microbit import sleep\nwhile True:\n    sleep(50)\n"}) as sim:
        with pytest.raises(MbnnError, match=r"did not answer '!i' within 0.5 s.*mbnn flash"):
            cmd_stream.run(ns(port=sim.port, json=True, timeout=0.5))


def test_no_predictions_gives_a_clear_error():
    quiet = STUB_MAIN.replace("W, HOP, NAMES = 10, 250", "W, HOP, NAMES = 10, 10 ** 9")
    assert quiet != STUB_MAIN
    with SimDevice({"main.py": quiet}) as sim:
        with pytest.raises(MbnnError, match="did not send a prediction within 0.5 s"):
            cmd_stream.run(ns(port=sim.port, json=True, timeout=0.5))


def test_ctrl_c_stops_cleanly(monkeypatch, capsys, tmp_path):
    calls = {"n": 0}
    real = cmd_stream.record

    def interrupt_third(p, dev):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(p, dev)
    monkeypatch.setattr(cmd_stream, "record", interrupt_third)
    path = tmp_path / "p.csv"
    with SimDevice({"main.py": STUB_MAIN}, accel=STILL, speed=4.0) as sim:
        assert cmd_stream.run(ns(port=sim.port, csv=str(path))) == 0
    assert "stopped after 2 predictions" in capsys.readouterr().err
    assert len(list(csv.DictReader(path.open()))) == 2  # the file was closed properly


TINY_APP = """from microbit import *
print('I mbnn 0.0 tiny 10 20 250 9000 a,b')
n = 0
while True:
    if uart.any() and b'!i' in uart.read():
        print('I mbnn 0.0 tiny 10 20 250 9000 a,b')
    n += 1
    print('P', n, n % 2, 90, 7 * (1 - n % 2), 7 * (n % 2))
    sleep(100)
"""


@needs_qemu
def test_stream_from_the_emulator_with_a_tiny_app(tmp_path, capsys):
    from microbit_nn.export.hexbuild import build_hex, write_hex

    hexfile = write_hex(build_hex({"main.py": TINY_APP.encode()}, "v1"), tmp_path / "tiny.hex")
    assert cmd_stream.run(ns(emulator=str(hexfile), json=True, count=4, timeout=20.0)) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4
    for r in rows:  # the tiny app's rule: class seq % 2, logit 7 for it, 0 for the other
        k = r["seq"] % 2
        assert r["k"] == k and r["label"] == "ab"[k] and r["logits"][k] == 7 and r["logits"][1 - k] == 0


@needs_qemu
def test_stream_from_the_emulator(tmp_path, capsys, rng, qmodel_factory):
    from microbit_nn.export import writer
    from microbit_nn.export.hexbuild import build_hex, write_hex

    qm = qmodel_factory("mlp", rng, n_classes=3)
    hexfile = write_hex(build_hex(writer.device_files(qm, "v1"), "v1"), tmp_path / "app.hex")
    assert cmd_stream.run(ns(emulator=str(hexfile), json=True, count=3, timeout=30.0)) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(len(r["logits"]) == 3 and r["label"] in qm.classes + ["unknown"] for r in rows)


def test_a_port_another_program_holds_is_port_busy(tmp_path):
    """A second mbnn on the same board: one line naming the port, nothing written to --csv."""
    with SimDevice({"main.py": STUB_MAIN}, accel=STILL, speed=4.0) as sim:
        holder = discover.open_port(sim.port)
        try:
            with pytest.raises(MbnnError, match="port busy: another program holds the serial port %s" % sim.port):
                cmd_stream.run(ns(port=sim.port, json=True, count=1, csv=None))
        finally:
            holder.close()
        assert cmd_stream.run(ns(port=sim.port, json=True, count=1)) == 0  # free again


def test_missing_csv_folder_is_refused_before_connecting(monkeypatch):
    monkeypatch.setattr(discover, "open_port", lambda *a, **kw: pytest.fail("the port was opened"))
    with pytest.raises(MbnnError, match="cannot append to --csv /nonexistent/x.csv"):
        cmd_stream.run(ns(port="/dev/ttyACM0", csv="/nonexistent/x.csv"))


def test_json_rows_and_view_name_the_kernels(capsys):
    """The real app's all-Python build says `python` in its banner: every JSON row and the view's
    header carry it (the stub's older banner has no kernels field: `unknown`, as in WANT's rows)."""
    from microbit_nn.export.goldens import random_qmodel
    from microbit_nn.export.writer import device_files

    with SimDevice(device_files(random_qmodel("mlp", seed=3, n_classes=3), "v1", asm=False)) as sim:
        assert cmd_stream.run(ns(port=sim.port, json=True, count=2, timeout=15.0)) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and {r["kernels"] for r in rows} == {"python"}
    view = cmd_stream.View("/dev/ttyACM0")

    class D:
        meta = {"classes": ["c0", "c1", "c2"]}

        @staticmethod
        def label(k):
            return "c%d" % k
    view.last = rows[-1]
    con = Console(record=True, width=100)
    con.print(view.render(D))
    assert "kernels: python" in con.export_text()


def test_json_carries_the_programs_events_and_lines(capsys):
    """A user's program on the board: its gesture events and what it prints reach --json as
    {"type": "event"} and {"type": "print"} rows between the predictions (docs/program.md)."""
    from microbit_nn.export.goldens import random_qmodel
    from microbit_nn.export.writer import device_files

    qm = random_qmodel("mlp", seed=3, n_classes=3)
    qm.threshold = 0  # every prediction names a gesture: the first one starts it
    qm.classes = ["Not a spell", "wave", "still"]
    program = "def on_start(name, certainty):\n    print('hello', name)\n"
    with SimDevice(device_files(qm, "v1", asm=False, program=program)) as sim:
        assert cmd_stream.run(ns(port=sim.port, json=True, count=4, timeout=15.0)) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [r["type"] for r in rows]
    assert kinds.count("prediction") == 4 and "event" in kinds and "print" in kinds
    first = next(r for r in rows if r["type"] == "prediction")
    start = next(r for r in rows if r["type"] == "event")
    assert start["event"] == "start" and start["k"] == first["k"] and start["label"] == qm.classes[first["k"]]
    from microbit_nn.export.names import device_name

    assert next(r for r in rows if r["type"] == "print")["text"] == "hello " + device_name(qm.classes[first["k"]])


@needs_qemu
def test_a_stray_ctrl_c_restarts_the_app_and_says_so():
    """A 0x03 byte on the line stops main.py (MicroPython's Ctrl-C); the host soft-resets
    the board, says so, and the predictions and replays go on (docs/protocol.md)."""
    import numpy as np

    from microbit_nn.export import reference
    from microbit_nn.export.goldens import random_qmodel
    from microbit_nn.export.writer import device_files
    from microbit_nn.host.emulator import Emulator

    qm = random_qmodel("mlp", n_classes=3)
    w = np.random.default_rng(0).integers(-1500, 1500, (qm.window, 3))
    with Emulator.from_files(device_files(qm, "v1")) as emu:
        dev = Device(emu.serial, timeout=30.0)
        dev.wait_banner()
        assert list(dev.replay_window(w.tolist()).logits) == reference.run(qm, w[None])[0].tolist()
        emu.serial.write(b"\x03")
        assert list(dev.replay_window(w.tolist()).logits) == reference.run(qm, w[None])[0].tolist()
        assert dev.restarts == 1 and "restarted it with a soft reset" in dev.notes[0]
        emu.serial.write(b"\x03")
        dev.replay(False)
        p = next(dev.predictions(timeout=30.0))  # live predictions come back too
        assert len(p.logits) == 3 and dev.restarts == 2
