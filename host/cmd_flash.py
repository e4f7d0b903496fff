"""`mbnn flash FILE.hex`: copy a .hex onto the MICROBIT drive, as uflash does.

The micro:bit's interface chip (DAPLink) flashes whatever .hex file is
written to its drive, then remounts the drive (the file vanishes) and, on a
failure, shows FAIL.TXT. DAPLink drives handle renames badly, so the file is
written directly, flushed and fsync'ed. The hex is checked first, so a
corrupt file never reaches the drive.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from microbit_nn.errors import MbnnError
from microbit_nn.host import discover
from microbit_nn.host.argtypes import port_name, positive_float

def write_hex(text: str, drive: str, name: str) -> Path:
    """Write the hex onto the drive (flush + fsync). Raises MbnnError on a read-only or failing drive."""
    dest = Path(drive) / name
    try:
        with open(dest, "wb") as f:
            f.write(text.encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
    except PermissionError as exc:
        raise MbnnError(f"the MICROBIT drive at {drive} is read-only ({exc.strerror}): unplug and replug the "
                        "micro:bit; if it shows as MAINTENANCE, press reset to leave that mode") from None
    except OSError as exc:
        if exc.errno == 30:  # EROFS
            raise MbnnError(f"the MICROBIT drive at {drive} is mounted read-only: unplug and replug the micro:bit "
                            "and let the system mount it writable") from None
        raise MbnnError(f"writing {dest} failed ({exc.strerror or exc}): the file may be half-written: unplug and "
                        "replug the micro:bit, then flash again") from None
    return dest


def wait_flashed(dest: Path, port: str | None, timeout: float) -> str | None:
    """Wait until DAPLink took the file (it vanishes on remount) and the serial port is back.

    Returns the port, None when no port showed up; raises MbnnError on FAIL.TXT or timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        fail = dest.parent / "FAIL.TXT"
        if fail.exists():
            try:
                reason = fail.read_text(errors="replace").strip().splitlines()[0]
            except (OSError, IndexError):
                reason = "no reason given"
            raise MbnnError(f"the micro:bit rejected the hex (FAIL.TXT: {reason}): build it for this board's "
                            "version with 'mbnn build --target v1|v2' and flash again")
        if not dest.exists():
            break
        if time.monotonic() >= deadline:
            raise MbnnError(f"the micro:bit did not take {dest.name} within {timeout:g} s: it may not be a "
                            "micro:bit drive; unplug and replug the micro:bit, then flash again")
        time.sleep(0.2)
    return discover.wait_port(port, max(0.0, deadline - time.monotonic()) + 2.0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("hex", help="the .hex file to flash ('mbnn build' makes one)")
    p.add_argument("--drive", help="folder where the MICROBIT drive is mounted (found automatically)")
    p.add_argument("--port", type=port_name, help="serial port to wait for afterwards (found automatically)")
    p.add_argument("--timeout", type=positive_float, default=60.0, help="seconds to wait for flashing (default 60)")
    p.add_argument("--no-wait", action="store_true", help="return once the file is written")


def run(args: argparse.Namespace) -> int:
    path = Path(args.hex)
    if path.suffix.lower() != ".hex":
        raise MbnnError(f"{path} is not a .hex file: build one with 'mbnn build MODEL -o FILE.hex'")
    from microbit_nn.export.hexbuild import check_hex, read_hex

    text = read_hex(path)
    size = check_hex(text, str(path))
    drive = discover.find_drive(args.drive)
    print(f"flashing {path.name} ({size:,} bytes of code and files) to {drive} ...", flush=True)
    dest = write_hex(text, drive, path.name)
    if args.no_wait:
        print("written; the micro:bit flashes it now (its yellow LED blinks)")
        return 0
    port = wait_flashed(dest, args.port, args.timeout)
    if port is None:
        print("flashed; the serial port did not come back: unplug and replug the micro:bit to use 'mbnn stream'")
        return 0
    print(f"flashed; the micro:bit is back on {port}")
    _greet(port)
    return 0


def _greet(port: str) -> None:
    """Say what the freshly flashed board runs (it may not be a microbit-nn build: not an error)."""
    from microbit_nn.host.device import Device

    try:
        ser = discover.open_port(port)
    except MbnnError:
        return
    try:
        m = Device(ser, timeout=8.0).info()
        print(f"running microbit-nn {m['version']}: {m['kind']} model, classes {', '.join(m['classes'])}, "
              f"{m['free']:,} bytes free")
    except MbnnError:
        print("(it does not answer as microbit-nn: fine if this hex is something else)")
    finally:
        ser.close()
