"""`mbnn deploy` (host/cmd_deploy.py) against the simulated micro:bit's REPL and the emulator.

Oracles: the published Fletcher-16 check values, the simulated device's
filesystem (a folder the test reads), and the banner of the restarted app.
"""

from __future__ import annotations

import argparse

import pytest

from conftest import needs_qemu

from microbit_nn.errors import MbnnError
from microbit_nn.host import cmd_deploy, discover
from microbit_nn.host.sim import STUB_MAIN, SimDevice



@pytest.mark.parametrize("text, want", [(b"abcde", 0xC8F0), (b"abcdef", 0x2057), (b"abcdefgh", 0x0627), (b"", 0)])
def test_fletcher16_check_values(text, want):
    assert cmd_deploy.fletcher16(text) == want


def test_changed_orders_main_last():
    local = {"main.py": b"a", "model.py": b"bb", "qk.py": b"c", "ft.py": b"d"}
    remote = {"qk.py": (1, cmd_deploy.fletcher16(b"c")), "ft.py": (1, 0), "main.py": (1, 99)}
    assert cmd_deploy.changed(local, remote) == ["ft.py", "model.py", "main.py"]
    assert cmd_deploy.changed({"a.py": b"x"}, {"a.py": (1, cmd_deploy.fletcher16(b"x"))}) == []


def test_deploy_copies_only_what_changed():
    model_v1 = b"N = 1\n" + b"W = b'" + b"\\x7f" * 300 + b"'\n"
    with SimDevice({"main.py": STUB_MAIN, "model.py": model_v1}) as sim:
        ser = discover.open_port(sim.port)
        listing = cmd_deploy.remote_files(ser)
        assert listing == {n: (len(d), cmd_deploy.fletcher16(d)) for n, d in
                           (("main.py", STUB_MAIN.encode()), ("model.py", model_v1))}
        log: list[str] = []
        model_v2 = model_v1.replace(b"N = 1", b"N = 2")  # same size, different content
        meta = cmd_deploy.deploy(ser, {"main.py": STUB_MAIN.encode(), "model.py": model_v2}, log=log.append)
        assert meta["kind"] == "stub"
        assert (sim.fs / "model.py").read_bytes() == model_v2
        assert log == ["  main.py: unchanged", f"  model.py: copying {len(model_v2):,} bytes"]
        log.clear()
        cmd_deploy.deploy(ser, {"main.py": STUB_MAIN.encode(), "model.py": model_v2}, log=log.append)
        assert all("unchanged" in l for l in log)
        log.clear()
        cmd_deploy.deploy(ser, {"main.py": STUB_MAIN.encode(), "model.py": model_v2, "qk.py": b"X=1\n"},
                          force=True, log=log.append)
        assert [l.split(":")[0].strip() for l in log] == ["qk.py", "model.py", "main.py"]  # model.py, main.py last
        assert (sim.fs / "qk.py").read_bytes() == b"X=1\n"
        ser.close()


def test_deploy_removes_files_of_another_build():
    old = {"main.py": STUB_MAIN, "model.py": "N = 1\n", "qk.py": "X = 1\n", "model.bin": b"\x01\x02",
           "notes.txt": "the user's own file"}
    with SimDevice(old) as sim:
        ser = discover.open_port(sim.port)
        log: list[str] = []
        new = {"main.py": STUB_MAIN.encode(), "model.py": b"N = 2\n", "p.bin": b"\x00" * 8}
        assert cmd_deploy.deploy(ser, new, log=log.append)["kind"] == "stub"
        assert sorted(p.name for p in sim.fs.iterdir()) == ["main.py", "model.py", "notes.txt", "p.bin"]
        assert {"  model.bin: removing (not part of this build)", "  qk.py: removing (not part of this build)"} <= set(log)
        ser.close()
    assert cmd_deploy.stale({"qk.py": b""}, {"qk.py": (1, 1), "qa.py": (1, 1), "x.py": (1, 1)}) == ["qa.py"]


@needs_qemu
def test_an_interrupted_deploy_keeps_a_working_board(monkeypatch):
    """Ctrl-C after each file of a deploy, then a reset: the board runs the old model or the
    new one (never a mixture), and the next deploy completes (issue 13)."""
    from microbit_nn.export import writer
    from microbit_nn.export.goldens import random_qmodel
    from microbit_nn.host.emulator import Emulator

    old_qm, new_qm = random_qmodel("mlp", seed=1, n_classes=3), random_qmodel("mlp", seed=2, n_classes=4)
    old, new = writer.device_files(old_qm, "v1"), writer.device_files(new_qm, "v1")
    real_put = cmd_deploy.put_file
    n_files = len(cmd_deploy.changed(new, {n: (len(d), cmd_deploy.fletcher16(d)) for n, d in old.items()}))
    for stop_after in range(n_files):
        copied: list[str] = []

        def put(ser, name, data, wait=10.0):
            if len(copied) == stop_after:
                raise KeyboardInterrupt
            real_put(ser, name, data, wait)
            copied.append(name)

        with Emulator.from_files(old) as emu:
            monkeypatch.setattr(cmd_deploy, "put_file", put)
            with pytest.raises(KeyboardInterrupt):
                cmd_deploy.deploy(emu.serial, new, timeout=30.0, log=lambda s: None)
            meta = cmd_deploy.restart(emu.serial, 30.0)
            # the old model until model.py (which names the new data file) is in, then the new
            assert len(meta["classes"]) == (4 if "model.py" in copied else 3), (stop_after, copied, meta)
            if stop_after == n_files - 1:  # and the next deploy completes
                monkeypatch.setattr(cmd_deploy, "put_file", real_put)
                assert len(cmd_deploy.deploy(emu.serial, new, timeout=30.0, log=lambda s: None)["classes"]) == 4
                names = cmd_deploy.remote_files(emu.serial)
                assert ("p.bin" in names) != ("p1.bin" in names)  # the old data file went after model.py


def test_cli_deploys_an_export_folder(tmp_path, capsys):
    export = tmp_path / "export"
    export.mkdir()
    (export / "main.py").write_text(STUB_MAIN)
    (export / "model.py").write_bytes(b"N = 3\n")
    (export / ".hidden").write_bytes(b"not deployed")
    with SimDevice({"main.py": "print('old app')\n"}) as sim:
        ns = argparse.Namespace(model=str(export), port=sim.port, target="v1", force=False, timeout=10.0)
        assert cmd_deploy.run(ns) == 0
        assert sorted(p.name for p in sim.fs.iterdir()) == ["main.py", "model.py"]
        assert (sim.fs / "main.py").read_text() == STUB_MAIN
    out = capsys.readouterr().out
    assert "main.py: copying" in out and "running microbit-nn 0.0: stub model, classes x, y, z" in out


def test_crashing_app_after_deploy_is_reported():
    with SimDevice({"main.py": STUB_MAIN}) as sim:
        ser = discover.open_port(sim.port)
        with pytest.raises(MbnnError, match=r"app stopped with (ModuleNotFound|Import)Error"):
            cmd_deploy.deploy(ser, {"main.py": b"import nosuchmodule\n"}, timeout=2.0)
        ser.close()


def test_device_without_micropython_prompt(tmp_path):
    with SimDevice({"main.py": STUB_MAIN}) as sim:
        ser = discover.open_port(sim.port)
        sim.unplug()  # nothing answers any more
        with pytest.raises(MbnnError, match="MicroPython prompt|went away|stopped working"):
            cmd_deploy.deploy(ser, {"model.py": b"N=1\n"}, repl_timeout=0.5)
        ser.close()


class _SilentPort:
    """Accepts writes, never answers (a board running something else, or hung)."""

    timeout = 0.05

    def write(self, data):
        return len(data)

    def read(self, n=1):
        return b""

    def read_until(self, expected=b"\n", size=None):
        return b""

    def inWaiting(self):
        return 0

    in_waiting = 0


def test_silent_board_times_out():
    with pytest.raises(MbnnError, match=r"did not answer at the MicroPython prompt.*'mbnn flash'"):
        cmd_deploy.deploy(_SilentPort(), {"model.py": b"N=1\n"}, repl_timeout=0.2)


def test_full_filesystem_is_explained(monkeypatch):
    def full(*a, **kw):
        raise IOError("OSError: 28")
    monkeypatch.setattr(cmd_deploy.microfs, "put", full)
    with pytest.raises(MbnnError, match="filesystem is full"):
        cmd_deploy.put_file(_SilentPort(), "model.py", b"x")


def test_local_files_from_a_trained_model(tmp_path):
    from microbit_nn.export import writer
    from microbit_nn.export.goldens import random_qmodel

    qm = random_qmodel("mlp", hidden=4, n_classes=3)
    qm.save(tmp_path / "model_int8.json")
    assert cmd_deploy.local_files(str(tmp_path), "v2") == writer.device_files(qm, "v2")
    prog = "from microbit import display\ndef on_start(name, certainty):\n    display.show(name[0])\n"
    files = cmd_deploy.local_files(str(tmp_path), "v1", prog, [("c1", "HEART")])
    assert files["program.py"].startswith(b"from microbit import display") and b"import program" in files["pl.py"]
    assert b"'HEART'" in files["model.py"]
    big = prog + "".join("x%d = %d\n" % (i, i) for i in range(200))  # ~6 KB of heap: not on a V1
    with pytest.raises(MbnnError, match="your program and its event code take about"):
        cmd_deploy.local_files(str(tmp_path), "v1", big)


@needs_qemu
def test_deploy_onto_the_emulated_v1():
    """The device-side listing/checksum code and the soft reset on the real MicroPython 1.9."""
    from microbit_nn.host.emulator import Emulator

    app = ("from microbit import *\nimport model\nprint('I mbnn 0.0 tiny 10 20 250 %d a,b' % model.N)\n"
           "while True:\n    sleep(100)\n").encode()
    with Emulator.from_files({"main.py": app, "model.py": b"N = 1\n"}) as emu:
        emu.wait_banner()
        listing = cmd_deploy.remote_files(emu.serial)
        assert listing["main.py"] == (len(app), cmd_deploy.fletcher16(app))
        model = b"N = 2\n" + b"# padding\n" * 150
        log: list[str] = []
        meta = cmd_deploy.deploy(emu.serial, {"main.py": app, "model.py": model}, log=log.append)
        assert meta["free"] == 2 and log[0] == "  main.py: unchanged"
        assert cmd_deploy.remote_files(emu.serial)["model.py"] == (len(model), cmd_deploy.fletcher16(model))


@pytest.mark.emulator
def test_deploy_a_model_onto_the_real_app_in_the_emulator(rng, qmodel_factory):
    from microbit_nn.export import writer
    from microbit_nn.host.emulator import Emulator

    qm1, qm2 = qmodel_factory("mlp", rng, n_classes=3), qmodel_factory("mlp", rng, n_classes=4)
    with Emulator.from_files(writer.device_files(qm1, "v1")) as emu:
        emu.wait_banner(timeout=30.0)
        meta = cmd_deploy.deploy(emu.serial, writer.device_files(qm2, "v1"), timeout=30.0)
        assert meta["classes"] == list(qm2.classes)
        # f.bin's new content went to g.bin, in chunks the board chose: model.py's X says
        # where (the device's walk), so the engine reads its flash items there: bit-exact
        names = cmd_deploy.remote_files(emu.serial)
        assert "g.bin" in names and "f.bin" not in names
        from microbit_nn.export import reference
        from microbit_nn.host.device import Device

        cmd_deploy.restart(emu.serial, 30.0)
        window = rng.integers(-2000, 2000, (qm2.window, 3))
        got = Device(emu.serial, timeout=30.0).replay_window(window.tolist())
        assert list(got.logits) == reference.run(qm2, window[None])[0].tolist()
