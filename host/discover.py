"""Finding a plugged-in micro:bit: its serial port and its MICROBIT drive.

The serial port is found by the USB id of the micro:bit's interface chip
(DAPLink, VID:PID 0D28:0204); the drive is the mass-storage volume named
MICROBIT (the OS may add a number: MICROBIT1 for a second board).
`--port` takes any pyserial URL instead: a device path, the emulator's pty,
`loop://`, `socket://host:port`...
"""

from __future__ import annotations

import errno
import os
import re
import sys
import time
from pathlib import Path

import serial
from serial.tools import list_ports

from microbit_nn.errors import MbnnError
from microbit_nn.host.serialio import port_busy

VID, PID = 0x0D28, 0x0204
BAUD = 115200
_DRIVE_NAME = re.compile(r"^MICROBIT\d*$")
_CHECKS = ("check that the USB cable carries data (some are charge-only), that the micro:bit is "
           "powered (the yellow LED by the USB socket is on)")


def serial_ports() -> list[str]:
    """Device names of every connected micro:bit serial port, sorted."""
    found = []
    for p in list_ports.comports():
        if p.vid == VID and p.pid == PID:
            found.append(p.device)
    return sorted(found)


def find_port(port: str | None = None) -> str:
    """`port` itself when given, else the one micro:bit's serial port.

    Raises MbnnError when no micro:bit or more than one is connected.
    """
    if port:
        return port
    ports = serial_ports()
    if not ports:
        raise MbnnError(f"no micro:bit serial port found: {_CHECKS}, or name the port with --port")
    if len(ports) > 1:
        raise MbnnError(f"{len(ports)} micro:bits are connected ({', '.join(ports)}): choose one with --port")
    return ports[0]


def open_port(port: str | None = None, timeout: float = 0.05) -> serial.SerialBase:
    """Open `port` (a pyserial URL or path; found automatically when None) at 115200 baud.

    `timeout` is pyserial's read timeout; the protocol client adds its own
    per-answer timeouts on top. A device path is opened with an exclusive lock
    (POSIX), so two programs never split the micro:bit's lines between them.
    Raises MbnnError when it cannot be opened, saying "port busy" when another
    program holds it.
    """
    name = find_port(port)
    lock = {"exclusive": True} if "://" not in name and os.name == "posix" else {}
    try:
        return serial.serial_for_url(name, baudrate=BAUD, timeout=timeout, **lock)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise MbnnError(open_failure(name, exc)) from None


def open_failure(name: str, exc: BaseException) -> str:
    """The one line that says why `name` did not open and what to do."""
    if port_busy(exc):
        return (f"port busy: another program holds the serial port {name} (a serial terminal such as screen, "
                "minicom or PuTTY, Mu, a browser tab using WebUSB, or another mbnn): close it and try again")
    if getattr(exc, "errno", None) == errno.EACCES:
        return (f"no permission to open the serial port {name}: add yourself to its group (Linux: 'sudo usermod "
                "-aG dialout $USER', then log out and in) or run from an account that may use it")
    if getattr(exc, "errno", None) == errno.ENOENT:
        return (f"the serial port {name} does not exist: check --port, or leave it out to find the micro:bit; "
                f"{_CHECKS}")
    return (f"cannot open the serial port {name} ({exc}): check it exists and that no other "
            "program (screen, Mu, a second mbnn) has it open")


def port_present(port: str) -> bool:
    """Whether `port` looks available now: a path exists, or a URL (always assumed present)."""
    if "://" in port:
        return True
    if sys.platform.startswith("win"):
        return port.upper() in (p.device.upper() for p in list_ports.comports())
    return os.path.exists(port)


def wait_port(port: str | None, timeout: float, poll: float = 0.25) -> str | None:
    """Poll until `port` (or, when None, exactly one micro:bit port) is present; None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if port:
            if port_present(port):
                return port
        else:
            ports = serial_ports()
            if len(ports) == 1:
                return ports[0]
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def parse_mounts(text: str) -> list[str]:
    """Mount points named MICROBIT* in /proc/mounts-style text (octal escapes decoded)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        # /proc/mounts escapes spaces and tabs as \040, \011.
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        if _DRIVE_NAME.match(os.path.basename(point.rstrip("/"))):
            found.append(point)
    return found


def drives() -> list[str]:
    """Every mounted MICROBIT drive (Linux /proc/mounts, macOS /Volumes, Windows via uflash)."""
    if sys.platform.startswith("linux"):
        try:
            text = Path("/proc/mounts").read_text()
        except OSError:
            text = ""
        return sorted(set(parse_mounts(text)))
    if sys.platform == "darwin":
        vols = Path("/Volumes")
        return sorted(str(p) for p in vols.iterdir() if _DRIVE_NAME.match(p.name)) if vols.is_dir() else []
    try:
        import uflash

        d = uflash.find_microbit()
    except Exception:  # uflash raises NotImplementedError on unknown systems
        d = None
    return [d] if d else []


def find_drive(drive: str | None = None) -> str:
    """`drive` itself when given (must be a folder), else the one MICROBIT drive.

    Raises MbnnError when none or more than one is mounted.
    """
    if drive:
        if not os.path.isdir(drive):
            raise MbnnError(f"{drive} is not a folder: give --drive the folder where the MICROBIT drive is mounted")
        return drive
    found = drives()
    if not found:
        raise MbnnError(f"no MICROBIT drive found: {_CHECKS}, that the drive is mounted (it shows in the file "
                        "manager), or give its folder with --drive")
    if len(found) > 1:
        raise MbnnError(f"{len(found)} MICROBIT drives are mounted ({', '.join(found)}): choose one with --drive")
    return found[0]
