"""`mbnn flash` (host/cmd_flash.py): refusing bad files, writing to the drive, waiting for the board.

The drive is a temp folder; a thread plays DAPLink (it takes the file, i.e.
deletes it, or writes FAIL.TXT). The hex check itself (export/hexbuild.py's
check_hex) is tested in test_export_hexbuild.py.
"""

from __future__ import annotations

import argparse
import errno
import io
import threading
import time
from pathlib import Path

import pytest
from test_export_hexbuild import small_hex

from microbit_nn.errors import MbnnError
from microbit_nn.host import cmd_flash, discover
from microbit_nn.host.sim import STUB_MAIN, SimDevice


def args(hexfile, drive, **kw) -> argparse.Namespace:
    ns = argparse.Namespace(hex=str(hexfile), drive=str(drive) if drive else None, port=None, timeout=5.0, no_wait=False)
    ns.__dict__.update(kw)
    return ns


def daplink(drive: Path, name: str, fail: str | None = None, delay: float = 0.3) -> threading.Thread:
    """Waits for the file, then 'flashes' it: removes it (remount) or writes FAIL.TXT."""
    def run():
        end = time.monotonic() + 5
        while not (drive / name).exists() and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(delay)
        if fail:
            (drive / "FAIL.TXT").write_text(fail)
        else:
            (drive / name).unlink()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_corrupt_hex_never_touches_the_drive(tmp_path):
    drive = tmp_path / "MICROBIT"
    drive.mkdir()
    bad = tmp_path / "bad.hex"
    bad.write_text("".join(small_hex().splitlines(True)[:-1]))  # cut short at a line end
    with pytest.raises(MbnnError, match="not a complete Intel .hex"):
        cmd_flash.run(args(bad, drive))
    bad.write_text(small_hex()[:-20])  # cut mid-line
    with pytest.raises(MbnnError, match="truncated or damaged"):
        cmd_flash.run(args(bad, drive))
    binary = tmp_path / "bin.hex"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(MbnnError, match="binary"):
        cmd_flash.run(args(binary, drive))
    with pytest.raises(MbnnError, match="not a .hex file"):
        cmd_flash.run(args(tmp_path / "model.py", drive))
    assert list(drive.iterdir()) == []


def test_flash_writes_waits_and_reports(tmp_path, capsys, monkeypatch):
    drive = tmp_path / "MICROBIT"
    drive.mkdir()
    hexfile = tmp_path / "app.hex"
    hexfile.write_text(small_hex())
    seen = {}
    real_write = cmd_flash.write_hex

    def spy(text, d, name):
        dest = real_write(text, d, name)
        seen["content"] = dest.read_text()
        return dest
    monkeypatch.setattr(cmd_flash, "write_hex", spy)
    monkeypatch.setattr(discover.list_ports, "comports", lambda: [])
    daplink(drive, "app.hex")
    with SimDevice({"main.py": STUB_MAIN}) as sim:
        assert cmd_flash.run(args(hexfile, drive, port=sim.port)) == 0
    out = capsys.readouterr().out
    assert seen["content"] == hexfile.read_text()  # the exact bytes reached the drive
    assert "back on" in out and "running microbit-nn 0.0: stub model" in out


def test_flash_port_not_back_is_not_an_error(tmp_path, capsys, monkeypatch):
    drive = tmp_path / "MICROBIT"
    drive.mkdir()
    hexfile = tmp_path / "app.hex"
    hexfile.write_text(small_hex())
    monkeypatch.setattr(discover.list_ports, "comports", lambda: [])
    daplink(drive, "app.hex", delay=0.05)
    assert cmd_flash.run(args(hexfile, drive, timeout=0.5)) == 0
    assert "did not come back" in capsys.readouterr().out


def test_fail_txt_is_reported(tmp_path):
    drive = tmp_path / "MICROBIT"
    drive.mkdir()
    hexfile = tmp_path / "app.hex"
    hexfile.write_text(small_hex())
    daplink(drive, "app.hex", fail="error: The hex file cannot be decoded.\ntype: user\n")
    with pytest.raises(MbnnError, match="FAIL.TXT: error: The hex file cannot be decoded"):
        cmd_flash.run(args(hexfile, drive))


def test_drive_that_never_takes_the_file_times_out(tmp_path):
    drive = tmp_path / "MICROBIT"
    drive.mkdir()
    hexfile = tmp_path / "app.hex"
    hexfile.write_text(small_hex())
    t0 = time.monotonic()
    with pytest.raises(MbnnError, match="did not take app.hex within 0.5 s"):
        cmd_flash.run(args(hexfile, drive, timeout=0.5))
    assert time.monotonic() - t0 < 5


def test_no_wait(tmp_path, capsys):
    drive = tmp_path / "MICROBIT"
    drive.mkdir()
    hexfile = tmp_path / "app.hex"
    hexfile.write_text(small_hex())
    assert cmd_flash.run(args(hexfile, drive, no_wait=True)) == 0
    assert (drive / "app.hex").read_text() == hexfile.read_text()


@pytest.mark.parametrize("exc, msg", [
    (PermissionError(errno.EACCES, "Permission denied"), "is read-only"),
    (OSError(errno.EROFS, "Read-only file system"), "mounted read-only"),
    (OSError(errno.EIO, "Input/output error"), "may be half-written.*flash again"),
    (OSError(errno.ENOSPC, "No space left on device"), "may be half-written"),
])
def test_unwritable_drive(tmp_path, monkeypatch, exc, msg):
    # Tests may run as root, where chmod 0o555 does not stop writes: make open() fail instead.
    drive = tmp_path / "MICROBIT"
    drive.mkdir()
    hexfile = tmp_path / "app.hex"
    hexfile.write_text(small_hex())

    def failing_open(*a, **kw):
        raise exc
    monkeypatch.setattr(cmd_flash, "open", failing_open, raising=False)
    with pytest.raises(MbnnError, match=msg):
        cmd_flash.run(args(hexfile, drive))


def test_drive_found_automatically(tmp_path, monkeypatch):
    drive = tmp_path / "MICROBIT"
    drive.mkdir()
    hexfile = tmp_path / "app.hex"
    hexfile.write_text(small_hex())
    monkeypatch.setattr(discover, "drives", lambda: [str(drive)])
    assert cmd_flash.run(args(hexfile, "", no_wait=True)) == 0
    assert (drive / "app.hex").exists()
