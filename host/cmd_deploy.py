"""`mbnn deploy MODEL`: copy a model (and the app files that changed) onto a
micro:bit that already runs MicroPython, without re-flashing.

Files travel with microfs only (the raw REPL, over the serial port): the
device lists its files with their size and a Fletcher-16 checksum (a snippet
run by microfs.execute), only missing or different files are copied (main.py
last) with microfs.put, stale build files go with microfs.rm; then a soft
reset (host/serialio.py: microfs has none that runs main.py) restarts the app
and its banner is checked.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Mapping

import microfs

from microbit_nn.errors import MbnnError
from microbit_nn.host import discover, modelargs
from microbit_nn.host.argtypes import port_name, positive_float
from microbit_nn.host.cmd_budget import check
from microbit_nn.host.device import Device
from microbit_nn.host.serialio import soft_reset

# Runs at the device's raw REPL (MicroPython 1.9: no f-strings): "name size checksum" per file.
_LIST = """import os
for n in os.listdir():
 f=open(n,'rb');a=b=s=0
 while 1:
  d=f.read(64)
  if not d:break
  s+=len(d)
  for c in d:a=(a+c)%255;b=(b+a)%255
 f.close();print(n,s,b*256+a)
"""
_NO_REPL = ("the micro:bit did not answer at the MicroPython prompt ({}): is it running MicroPython? flash a "
            "microbit-nn hex first with 'mbnn build' + 'mbnn flash'")


def fletcher16(data: bytes) -> int:
    """The checksum the device computes in `_LIST` (Fletcher-16, modulo 255)."""
    a = b = 0
    for c in data:
        a = (a + c) % 255
        b = (b + a) % 255
    return b * 256 + a


def local_files(model: str, target: str = "v1", program: str | None = None, icons=()) -> dict[str, bytes]:
    """The files to deploy: an 'mbnn export' folder as it is, or device_files() of a trained model
    (with the user's `program` source and --icon `icons`)."""
    p = Path(model)
    if p.is_dir() and (p / "main.py").is_file():
        return {f.name: f.read_bytes() for f in sorted(p.iterdir()) if f.is_file() and not f.name.startswith(".")}
    from microbit_nn.export.qmodel import load_model

    qm = load_model(model)
    modelargs.apply_icons(qm, icons)
    try:
        from microbit_nn.export.writer import device_files
    except ImportError:
        raise MbnnError("this install cannot export models yet (export/writer.py is missing): "
                        "update microbit-nn") from None
    check(qm, target, program=program)  # refuse what would not load, before touching the board
    return device_files(qm, target, program=program)


@contextlib.contextmanager
def patient(ser, seconds: float = 10.0) -> Iterator[None]:
    """microfs waits with the port's own read timeout: make it `seconds` (never None: it would hang)."""
    old = ser.timeout
    ser.timeout = seconds
    try:
        yield
    finally:
        ser.timeout = old


def _execute(ser, code: str, wait: float) -> str:
    for attempt in (1, 2):  # a board still booting can miss the first Ctrl-C: try once more
        try:
            with patient(ser, wait):
                out, err = microfs.execute([code], ser)
            break
        except (OSError, ValueError) as exc:  # microfs: IOError, or a reply it cannot split (timeout)
            if attempt == 2:
                raise MbnnError(_NO_REPL.format(exc or "no answer")) from None
    if err:
        raise MbnnError(f"the micro:bit failed to list its files ({microfs.clean_error(err)}): "
                        "re-flash it with 'mbnn build' + 'mbnn flash'")
    return out.decode("utf-8", "replace")


def remote_files(ser, wait: float = 10.0) -> dict[str, tuple[int, int]]:
    """name -> (size, checksum) of every file on the device (`wait`: s per REPL answer)."""
    found = {}
    for line in _execute(ser, _LIST, wait).splitlines():
        parts = line.strip().rsplit(" ", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            found[parts[0]] = (int(parts[1]), int(parts[2]))
    return found


def changed(local: Mapping[str, bytes], remote: Mapping[str, tuple[int, int]]) -> list[str]:
    """Names whose content differs on the device (or is missing there), main.py last."""
    names = [n for n, d in local.items() if remote.get(n) != (len(d), fletcher16(d))]
    return sorted(names, key=lambda n: (n == "main.py", n))


def put_file(ser, name: str, data: bytes, wait: float = 10.0) -> None:
    """Copy one file onto the device with microfs (`wait`: s per REPL answer)."""
    with tempfile.TemporaryDirectory(prefix="mbnn-deploy-") as tmp:
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        try:
            with patient(ser, wait):
                microfs.put(path, target=name, serial=ser)
        except (OSError, ValueError) as exc:
            text = str(exc)
            if "28" in text or "ENOSPC" in text:
                raise MbnnError(f"the micro:bit's filesystem is full while writing {name}: re-flash it with "
                                "'mbnn build' + 'mbnn flash' (a fresh filesystem)") from None
            raise MbnnError(f"copying {name} failed ({text}): the file may be half-written on the device: "
                            "run 'mbnn deploy' again") from None


def restart(ser, timeout: float) -> dict:
    """Soft-reset at the REPL (Ctrl-B: leave the raw REPL if still there; Ctrl-D): main.py runs.

    Returns the app's banner dict."""
    soft_reset(ser)
    return Device(ser, timeout=timeout).wait_banner()


# Files a microbit-nn build may hold besides the app's own: a build of another kind
# (the V1 engine, the all-Python build, an older release) leaves these behind, and
# the loaders would import or read some of them (qa.py, qf.py), so deploy removes
# those the new build does not have.
# files a build may have: one the new build lacks is removed from the board
# (deploying without --program removes a program deployed before)
# (P.no: the app's note that the last program did not fit beside the model)
BUILD_FILES = ("qa.py", "qk.py", "qf.py", "ft.py", "model.bin", "model1.bin", "p.bin", "p1.bin", "f.bin", "g.bin",
               "e.bin", "k.bin", "st.bin", "st.py", "ev.py", "pl.py", "program.py", "P.no")


def stale(local: Mapping[str, bytes], remote: Mapping[str, tuple[int, int]]) -> list[str]:
    """Build files on the device that the new build does not have."""
    return sorted(n for n in remote if n in BUILD_FILES and n not in local)


def remove_file(ser, name: str, wait: float = 10.0) -> None:
    """Delete one file on the device with microfs (`wait`: s per REPL answer)."""
    try:
        with patient(ser, wait):
            microfs.rm(name, serial=ser)
    except (OSError, ValueError) as exc:
        raise MbnnError(f"removing the old {name} failed ({exc}): run 'mbnn deploy' again, "
                        "or re-flash with 'mbnn build' + 'mbnn flash'") from None


def flash_chunks(ser, name: str, wait: float = 10.0) -> list[int]:
    """The flash addresses of the chunks of file `name` on a V1, in chain order: the device
    walks its file system (export/flashplace.py's snippet, at the raw REPL)."""
    from microbit_nn.export import flashplace

    return [int(v) for v in _execute(ser, flashplace.walk_snippet("v1", name), wait).split() if v.isdigit()]


def _alternate(files: Mapping[str, bytes], remote, names: Mapping[str, str], force: bool):
    """The build's file of `names` (a data file) and the name it goes under: the one the
    board does not use when the board's copy differs (or with `force`)."""
    have = next((n for n in files if n in names), None)
    if have and have in remote and (force or remote[have] != (len(files[have]), fletcher16(files[have]))):
        return have, names[have]
    return have, have


def deploy(ser, files: Mapping[str, bytes], force: bool = False, timeout: float = 20.0,
           log: Callable[[str], None] = print, repl_timeout: float = 10.0) -> dict:
    """Copy `files` that differ (all with `force`), remove build files the new build does
    not have (`stale`), restart the app, return its banner dict.

    Interrupted at any point, the board keeps a model that loads, or says it has none
    and stays reachable: a changed data file (p.bin / model.bin, and the V1's f.bin)
    goes under the name the board does not use (writer.DATA_FILES, FLASH_FILES),
    model.py, which names them, is copied after them and main.py last, and the old data
    files are removed only then. With f.bin, the device then says where its chunks are
    (`flash_chunks`), and model.py's X is written with those addresses.
    `repl_timeout`: seconds microfs waits for each answer at the REPL."""
    from microbit_nn.export.writer import DATA_FILES, FLASH_FILES, with_data_name, with_flash

    remote = remote_files(ser, repl_timeout)
    data, name = _alternate(files, remote, DATA_FILES, force)
    if name != data:
        files = with_data_name(files, name)  # leave the board's data file alone
    flash, flash_name = _alternate(files, remote, FLASH_FILES, force)
    if flash_name != flash:
        files = {(flash_name if n == flash else n): d for n, d in files.items()}
    last = ("model.py", "main.py") if flash else ()
    todo = [n for n in (list(files) if force else changed(files, remote)) if n not in last]
    todo.sort(key=lambda n: (n == "main.py", n == "model.py", n))
    for name in files:
        if name not in todo and name not in last:
            log(f"  {name}: unchanged")
    for name in todo:
        log(f"  {name}: copying {len(files[name]):,} bytes")
        put_file(ser, name, files[name], repl_timeout)
    if flash:  # model.py with the chunks the board chose for f.bin, then main.py
        files = with_flash(files, flash_name, flash_chunks(ser, flash_name, repl_timeout))
        now = changed(files, remote)
        for name in [n for n in last if n in files]:
            if force or name in now:
                log(f"  {name}: copying {len(files[name]):,} bytes")
                put_file(ser, name, files[name], repl_timeout)
            else:
                log(f"  {name}: unchanged")
    for name in stale(files, remote):
        log(f"  {name}: removing (not part of this build)")
        remove_file(ser, name, repl_timeout)
    return restart(ser, timeout)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a trained model (the 'mbnn train --out' folder or its model_int8.json), "
                                 "or an 'mbnn export' folder")
    p.add_argument("--port", type=port_name, help="serial port or pyserial URL (found automatically)")
    p.add_argument("--target", choices=("v1", "v2"), default="v1", help="micro:bit version (default v1)")
    p.add_argument("--force", action="store_true", help="copy every file, changed or not")
    modelargs.add_options(p)
    p.add_argument("--timeout", type=positive_float, default=20.0, help="seconds to wait for the app to restart")


def run(args: argparse.Namespace) -> int:
    program = modelargs.read_program(getattr(args, "program", None))
    files = local_files(args.model, args.target, program, getattr(args, "icon", ()))
    ser = discover.open_port(args.port)
    try:
        print(f"deploying {len(files)} files to {ser.name or args.port}")
        meta = deploy(ser, files, force=args.force, timeout=args.timeout)
    except KeyboardInterrupt:
        raise MbnnError("interrupted: the board keeps a model that loads (the old one until model.py was "
                        "copied); run 'mbnn deploy' again to finish") from None
    finally:
        ser.close()
    print(f"running microbit-nn {meta['version']}: {meta['kind']} model, classes {', '.join(meta['classes'])}, "
          f"{meta['free']:,} bytes free")
    return 0
