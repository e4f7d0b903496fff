"""`mbnn record` (host/cmd_record.py): durable, never-overwriting recordings from raw mode.

Oracles: the dataset reader `mbnn train` uses (train/csvdata.read_csv) and
the accelerometer table the simulated device plays back. The crash test
kills a real `mbnn record` process mid-recording.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from microbit_nn.errors import MbnnError
from microbit_nn.host import cmd_record
from microbit_nn.host.sim import STUB_MAIN, SimDevice
from microbit_nn.train.csvdata import read_csv

TABLE = [(i * 10, -i * 10, 1000 + i) for i in range(50)]  # every sample identifies its row


def bytes_read(pid: int) -> int:
    """Bytes process `pid` has read so far (Linux /proc/PID/io `rchar`: the serial port, here)."""
    with open(f"/proc/{pid}/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def ns(**kw) -> argparse.Namespace:
    a = argparse.Namespace(label="shake", port=None, out="rec", count=2, seconds=None, countdown=0, auto=True,
                           wait=10.0, plot=False)
    a.__dict__.update(kw)
    return a


def test_save_recording_is_readable_and_never_overwrites(tmp_path):
    rows = [(1, 2, 3)] * 12
    (tmp_path / "shake").mkdir()
    (tmp_path / "shake" / "shake_001.csv").write_text("x,y,z\n9,9,9\n")
    (tmp_path / "shake" / "shake_007.csv").write_text("x,y,z\n8,8,8\n")
    p = cmd_record.save_recording(tmp_path, "shake", rows)
    assert p.name == "shake_008.csv"
    rec = read_csv(p, "shake")
    assert rec.label == "shake" and rec.samples.tolist() == [list(r) for r in rows]
    assert (tmp_path / "shake" / "shake_001.csv").read_text() == "x,y,z\n9,9,9\n"
    assert not list((tmp_path / "shake").glob(".*"))  # no temp file left


def test_save_without_hard_links(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_link)
    a = cmd_record.save_recording(tmp_path, "still", [(0, 0, -1000)] * 10)
    b = cmd_record.save_recording(tmp_path, "still", [(5, 5, -1000)] * 10)
    assert (a.name, b.name) == ("still_001.csv", "still_002.csv")
    assert read_csv(a, "still").samples[0].tolist() == [0, 0, -1000]


def test_save_race_takes_the_next_name(tmp_path, monkeypatch):
    real = cmd_record.next_index
    calls = {"n": 0}

    def stale(folder, label):  # another recorder took 001 between the scan and the link
        calls["n"] += 1
        if calls["n"] == 1:
            (folder / f"{label}_001.csv").write_text("x,y,z\n1,1,1\n")
            return 1
        return real(folder, label)
    monkeypatch.setattr(cmd_record, "next_index", stale)
    p = cmd_record.save_recording(tmp_path, "tap", [(1, 2, 3)] * 10)
    assert p.name == "tap_002.csv" and (tmp_path / "tap" / "tap_001.csv").read_text() == "x,y,z\n1,1,1\n"


def test_record_auto(tmp_path, capsys):
    out = tmp_path / "data"
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=2.0) as sim:
        assert cmd_record.run(ns(port=sim.port, out=str(out), count=3)) == 0
    files = sorted((out / "shake").glob("*.csv"))
    assert [f.name for f in files] == ["shake_001.csv", "shake_002.csv", "shake_003.csv"]
    for f in files:
        data = read_csv(f, "shake").samples
        assert len(data) == 10  # the model's window (from the banner)
        assert all(tuple(r) in TABLE for r in data.tolist())
    assert "3 recording(s) saved" in capsys.readouterr().out


def test_record_with_enter_and_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n\n"))
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=2.0) as sim:
        assert cmd_record.run(ns(port=sim.port, out=str(tmp_path), auto=False, seconds=0.5, countdown=1)) == 0
    files = sorted((tmp_path / "shake").glob("*.csv"))
    assert len(files) == 2 and all(len(read_csv(f, "x").samples) == 25 for f in files)  # 0.5 s at 20 ms


def test_record_with_button_a(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no keyboard: only button A can start
    asked = threading.Event()
    real_wait = cmd_record.Recorder.wait_start

    def wait_start(self):
        asked.set()
        return real_wait(self)
    monkeypatch.setattr(cmd_record.Recorder, "wait_start", wait_start)
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=2.0) as sim:
        done = threading.Event()

        def presses():  # keep pressing: a press before the prompt is (rightly) ignored
            asked.wait(30)  # not before the app runs: a SIGUSR1 before its handler would kill it
            while not done.wait(0.4):
                sim.press("a")
        t = threading.Thread(target=presses)
        t.start()
        try:
            assert cmd_record.run(ns(port=sim.port, out=str(tmp_path), auto=False)) == 0
        finally:
            done.set()
            t.join()
    assert len(list((tmp_path / "shake").glob("*.csv"))) == 2


def test_nobody_presses(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=2.0) as sim:
        with pytest.raises(MbnnError, match="nobody pressed Enter or button A for 0.5 s"):
            cmd_record.run(ns(port=sim.port, out=str(tmp_path), auto=False, wait=0.5))


def test_bad_label_and_count(tmp_path):
    for label in ("../x", ".hidden", "a b", ""):
        with pytest.raises(MbnnError, match="cannot be a folder name"):
            cmd_record.run(ns(label=label, out=str(tmp_path)))
    with pytest.raises(MbnnError, match="at least 1"):
        cmd_record.run(ns(count=0, out=str(tmp_path)))


def test_shorter_than_one_window_is_refused(tmp_path):
    """The stub's banner says window 10 at 20 ms: 0.1 s (5 samples) is refused, 0.2 s is the least."""
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=2.0) as sim:
        with pytest.raises(MbnnError, match=r"--seconds 0.1 is shorter than one window .* at least 0.2 s "
                                            r"\(10 samples at 20 ms\)"):
            cmd_record.run(ns(port=sim.port, out=str(tmp_path / "d"), seconds=0.1))
        assert not (tmp_path / "d").exists()  # nothing written
        assert cmd_record.run(ns(port=sim.port, out=str(tmp_path / "d"), seconds=0.2, count=1)) == 0
    (f,) = (tmp_path / "d" / "shake").glob("*.csv")
    assert len(read_csv(f, "shake").samples) == 10


def test_out_that_is_a_file_is_refused_before_connecting(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d" / "shake").parent.mkdir()
    (tmp_path / "d" / "shake").write_text("x")
    for out in (tmp_path / "f", tmp_path / "d"):  # port=None would look for a micro:bit: it never gets there
        with pytest.raises(MbnnError, match="is a file: give --out a dataset folder"):
            cmd_record.run(ns(out=str(out)))


def test_strip_chart_levels():
    # 2 rows of 8 eighths over [-2048, 2048]: 16 steps of 256 mg
    assert cmd_record.strip_chart([-2048, 2048, 0, -2048 + 3 * 256, 9999, -9999], 2) == [
        " █  █ ",
        " ██▃█ ",
    ]
    assert cmd_record.strip_chart([], 3) == ["", "", ""]


def test_live_plot_shows_what_is_captured(tmp_path, monkeypatch):
    from rich.console import Console

    screen = io.StringIO()
    monkeypatch.setattr(cmd_record, "_console", lambda: Console(file=screen, force_terminal=True, width=70))
    plots = []

    class Spy(cmd_record.LivePlot):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            plots.append(self)
    monkeypatch.setattr(cmd_record, "LivePlot", Spy)
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=2.0) as sim:
        assert cmd_record.run(ns(port=sim.port, out=str(tmp_path), count=1, plot=True)) == 0
    (f,) = (tmp_path / "shake").glob("*.csv")
    saved = [tuple(r) for r in read_csv(f, "shake").samples.tolist()]
    (plot,) = plots
    assert list(plot.samples)[-len(saved):] == saved  # the chart ends with exactly what was saved
    assert "recording 'shake'" in plot.status and "●" in screen.getvalue()
    shown = Console(file=io.StringIO(), width=70, record=True)
    shown.print(plot)
    lines = shown.export_text().splitlines()
    for i, axis in enumerate("xyz"):
        vals = [r[i] for r in plot.samples]
        rows = cmd_record.strip_chart(vals, plot.height)
        at = 1 + i * plot.height
        assert lines[at].startswith(f"{axis} {vals[-1]:+6d} ")
        assert [l[9:].rstrip() for l in lines[at:at + plot.height]] == [r.rstrip() for r in rows]


def test_no_plot_when_stdout_is_not_a_terminal(tmp_path, monkeypatch, capsys):
    made = []
    monkeypatch.setattr(cmd_record, "LivePlot", lambda *a, **kw: made.append(1))
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=2.0) as sim:
        assert cmd_record.run(ns(port=sim.port, out=str(tmp_path), count=1, plot=None)) == 0
    assert not made and "▁" not in capsys.readouterr().out


def test_unplug_mid_recording_keeps_earlier_files(tmp_path):
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=1.0) as sim:
        def pull_when_two_saved():
            end = time.monotonic() + 20
            while len(list((tmp_path / "shake").glob("*.csv"))) < 2 and time.monotonic() < end:
                time.sleep(0.02)
            sim.unplug()
        puller = threading.Thread(target=pull_when_two_saved, daemon=True)
        puller.start()
        with pytest.raises(MbnnError, match="went away|stopped sending"):
            cmd_record.run(ns(port=sim.port, out=str(tmp_path), count=10, seconds=0.6))
        puller.join(timeout=30)
    files = sorted((tmp_path / "shake").glob("*.csv"))
    assert len(files) >= 2 and all(len(read_csv(f, "shake").samples) == 30 for f in files)


def test_killed_mid_recording_keeps_earlier_files(tmp_path):
    """SIGKILL the real command while it captures recording 3: recordings 1-2 are intact."""
    with SimDevice({"main.py": STUB_MAIN}, accel=TABLE, speed=1.0) as sim:
        cmd = [sys.executable, "-c", "import sys; from microbit_nn.host.cli import main; sys.exit(main())",
               "record", "wave", "--port", sim.port, "--out", str(tmp_path), "--count", "5", "--seconds", "1",
               "--countdown", "0", "--auto"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                lines.append(line)
                if line.startswith("[3/5] recording") or not line:
                    break
            assert any(l.startswith("[3/5] recording") for l in lines), "".join(lines) + proc.stderr.read()
            # Mid-capture: once it has read ~10 of the 50 samples ("S x y z" lines) recording 3 needs.
            start, deadline = bytes_read(proc.pid), time.monotonic() + 10
            while bytes_read(proc.pid) < start + 150:
                assert time.monotonic() < deadline, "the recorder stopped reading samples"
                time.sleep(0.005)  # polling interval
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    files = sorted((tmp_path / "wave").glob("*.csv"))
    assert [f.name for f in files] == ["wave_001.csv", "wave_002.csv"]
    for f in files:
        data = read_csv(f, "wave").samples
        assert data.shape == (50, 3) and all(tuple(r) in TABLE for r in data.tolist())
    assert np.all([f.read_text().startswith("x,y,z\n") for f in files])


@pytest.mark.emulator
def test_record_from_the_real_app_in_the_emulator(tmp_path, rng, qmodel_factory):
    import shutil

    if not shutil.which("qemu-system-arm"):
        pytest.skip("qemu-system-arm is not installed (./run setup installs it)")
    from microbit_nn.export import writer
    from microbit_nn.host.emulator import Emulator

    qm = qmodel_factory("mlp", rng, n_classes=3)
    with Emulator.from_files(writer.device_files(qm, "v1")) as emu:
        from microbit_nn.host.device import Device

        Device(emu.serial, timeout=30.0).wait_banner()
        assert cmd_record.run(ns(port=emu.port, out=str(tmp_path), count=1)) == 0
    (f,) = (tmp_path / "shake").glob("*.csv")
    data = read_csv(f, "shake").samples
    assert data.shape == (qm.window, 3) and (data == [-736, -736, 736]).all()  # QEMU's constant reading
