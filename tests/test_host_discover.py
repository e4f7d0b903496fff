"""Finding the micro:bit's serial port and MICROBIT drive (host/discover.py)."""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from types import SimpleNamespace

import pytest
import serial

from microbit_nn.errors import MbnnError
from microbit_nn.host import discover


def _ports(*specs):
    return lambda: [SimpleNamespace(device=d, vid=v, pid=p) for d, v, p in specs]


MB = (0x0D28, 0x0204)


def test_serial_ports_filters_by_usb_id(monkeypatch):
    monkeypatch.setattr(discover.list_ports, "comports", _ports(("/dev/ttyACM1", *MB), ("/dev/ttyUSB0", 0x0403, 0x6001),
                                                               ("/dev/ttyACM0", *MB), ("/dev/ttyS0", None, None)))
    assert discover.serial_ports() == ["/dev/ttyACM0", "/dev/ttyACM1"]


def test_find_port_none_one_many(monkeypatch):
    monkeypatch.setattr(discover.list_ports, "comports", _ports())
    with pytest.raises(MbnnError, match=r"no micro:bit serial port.*carries data.*powered.*--port"):
        discover.find_port()
    assert discover.find_port("loop://") == "loop://"  # --port wins, no scan
    monkeypatch.setattr(discover.list_ports, "comports", _ports(("COM3", *MB)))
    assert discover.find_port() == "COM3"
    monkeypatch.setattr(discover.list_ports, "comports", _ports(("COM3", *MB), ("COM7", *MB)))
    with pytest.raises(MbnnError, match=r"2 micro:bits.*COM3, COM7.*--port"):
        discover.find_port()


def test_open_port_takes_pyserial_urls():
    ser = discover.open_port("loop://")
    ser.write(b"!i\n")
    assert ser.read(3) == b"!i\n"
    assert ser.baudrate == 115200
    ser.close()


def test_open_port_failure_is_clear(tmp_path):
    with pytest.raises(MbnnError, match=r"the serial port .*ttyACM9 does not exist: check --port"):
        discover.open_port(str(tmp_path / "ttyACM9"))
    with pytest.raises(MbnnError, match="cannot open"):
        discover.open_port("nosuchscheme://x")


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals and flock are POSIX")
def test_port_held_by_another_program_is_port_busy():
    """A real pty opened twice: the second open meets the first one's exclusive lock."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        first = discover.open_port(path)
        try:
            with pytest.raises(MbnnError, match="port busy: another program holds the serial port %s.*close it"
                               % re.escape(path)):
                discover.open_port(path)
        finally:
            first.close()
        discover.open_port(path).close()  # free again once the holder closed it
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("exc, says", [
    (serial.SerialException(errno.EBUSY, "could not open port /dev/ttyACM0: [Errno 16] Device or resource busy"),
     "port busy: another program holds the serial port /dev/ttyACM0"),
    (serial.SerialException("could not open port 'COM3': PermissionError(13, 'Access is denied.', None, 5)"),
     "port busy: another program holds the serial port /dev/ttyACM0"),
    (serial.SerialException(errno.EACCES, "could not open port /dev/ttyACM0: [Errno 13] Permission denied"),
     "no permission to open the serial port /dev/ttyACM0: .*dialout"),
])
def test_open_failures_say_what_to_do(monkeypatch, exc, says):
    def fail(*a, **kw):
        raise exc
    monkeypatch.setattr(discover.serial, "serial_for_url", fail)
    monkeypatch.setattr(discover.sys, "platform", "linux")
    with pytest.raises(MbnnError, match=says):
        discover.open_port("/dev/ttyACM0")


def test_wait_port_polls_until_it_appears(tmp_path):
    path = tmp_path / "ttyACM0"
    threading.Timer(0.3, path.touch).start()
    assert discover.wait_port(str(path), timeout=5.0, poll=0.05) == str(path)
    assert discover.wait_port(str(tmp_path / "never"), timeout=0.2, poll=0.05) is None
    assert discover.wait_port("socket://localhost:1", timeout=0) == "socket://localhost:1"


def test_wait_port_without_a_name_needs_exactly_one(monkeypatch):
    monkeypatch.setattr(discover.list_ports, "comports", _ports(("COM3", *MB), ("COM7", *MB)))
    t0 = time.monotonic()
    assert discover.wait_port(None, timeout=0.2, poll=0.05) is None
    assert time.monotonic() - t0 < 3
    monkeypatch.setattr(discover.list_ports, "comports", _ports(("COM3", *MB)))
    assert discover.wait_port(None, timeout=0.2) == "COM3"


def test_parse_mounts():
    text = "\n".join([
        "/dev/sda1 / ext4 rw,relatime 0 0",
        "/dev/sdb /media/ann/MICROBIT vfat rw,nosuid 0 0",
        "/dev/sdc /media/ann/MICROBIT1 vfat rw,nosuid 0 0",
        "/dev/sdd /media/ann/My\\040MICROBIT vfat rw 0 0",
        "/dev/sde /mnt/MICROBITS vfat rw 0 0",
        "/dev/sdf /run/media/bob/MICROBIT/ vfat rw 0 0",
        "garbage",
    ])
    assert discover.parse_mounts(text) == ["/media/ann/MICROBIT", "/media/ann/MICROBIT1", "/run/media/bob/MICROBIT/"]


def test_find_drive(monkeypatch, tmp_path):
    monkeypatch.setattr(discover, "drives", lambda: [])
    with pytest.raises(MbnnError, match=r"no MICROBIT drive.*--drive"):
        discover.find_drive()
    assert discover.find_drive(str(tmp_path)) == str(tmp_path)
    with pytest.raises(MbnnError, match="not a folder"):
        discover.find_drive(str(tmp_path / "nope"))
    monkeypatch.setattr(discover, "drives", lambda: ["/media/a/MICROBIT", "/media/a/MICROBIT1"])
    with pytest.raises(MbnnError, match=r"2 MICROBIT drives.*MICROBIT1.*--drive"):
        discover.find_drive()
    monkeypatch.setattr(discover, "drives", lambda: ["/media/a/MICROBIT"])
    assert discover.find_drive() == "/media/a/MICROBIT"


def test_drives_runs_on_this_system():
    assert isinstance(discover.drives(), list)  # no micro:bit in CI: an empty list, never an exception
