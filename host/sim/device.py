"""A simulated micro:bit: the firmware app under CPython, behind a real pty.

`SimDevice(files)` writes `files` (the device's flat filesystem: main.py,
model.py, ...) to a temp folder and starts a child Python that runs main.py
with the fake `microbit` module (host/sim/microbit.py) wired to a pty pair.
`.port` is a path pyserial opens like a real port. As on the device: main.py
runs at boot; Ctrl-C stops it and leaves a REPL (with the raw REPL that
microfs uses, so `mbnn deploy` works against it); Ctrl-D at the REPL soft-
resets and runs main.py again. `unplug()`/`replug()` kill and restart it (the
port vanishes and comes back, at the same `link` path when one was given).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import tty
from pathlib import Path
from typing import Callable, Mapping, Sequence

from microbit_nn.errors import MbnnError

MEM_FREE = 8000  # what gc.mem_free() says in the simulation unless SimDevice is given another figure
_CHILD = "import sys; from microbit_nn.host.sim.device import _child; _child(sys.argv[1:])"


class SimDevice:
    """Context manager running a simulated micro:bit; `.port` is its serial port path."""

    def __init__(self, files: Mapping[str, bytes | str] | str | Path, accel: Sequence | str | None = None,
                 speed: float = 1.0, link: str | Path | None = None, mem_free: int = MEM_FREE):
        """`files`: name -> content, or a folder to copy. `accel`: rows [N,3] of milli-g played at
        50 Hz (looped), or "module:function" taking t_ms; None: lying flat. `speed` scales time.
        `link`: a symlink kept pointing at the current pty, like /dev/serial/by-id/.
        `mem_free`: what the device's gc.mem_free() returns (bytes)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="mbnn-sim-")
        root = Path(self._tmp.name)
        self.fs, self.logdir = root / "fs", root / "log"
        self.fs.mkdir()
        self.logdir.mkdir()
        if isinstance(files, (str, Path)):
            files = {p.name: p.read_bytes() for p in Path(files).iterdir() if p.is_file()}
        for name, data in files.items():
            (self.fs / name).write_bytes(data.encode() if isinstance(data, str) else bytes(data))
        self._accel = "const"
        if isinstance(accel, str):
            self._accel = accel
        elif accel is not None:
            path = self.logdir / "accel.csv"
            with open(path, "w", newline="") as f:
                csv.writer(f).writerows([(int(r[0]), int(r[1]), int(r[2])) for r in accel])
            self._accel = str(path)
        self.speed, self.mem_free = speed, mem_free
        self.link = Path(link) if link else None
        self.proc: subprocess.Popen | None = None
        self._slave: int | None = None
        self._plug_lock = threading.Lock()  # tests unplug from a thread while the owner closes
        self.port = ""

    def start(self) -> "SimDevice":
        """Plug in: a fresh pty and a child process booting main.py."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no newline translation: a plain byte pipe
        self._slave = slave
        pty_path = os.ttyname(slave)
        cmd = [sys.executable, "-c", _CHILD, "--fd", str(master), "--fs", str(self.fs),
               "--log", str(self.logdir), "--speed", str(self.speed), "--accel", self._accel,
               "--free", str(self.mem_free)]
        with open(self.logdir / "stderr.txt", "ab") as err:
            self.proc = subprocess.Popen(cmd, pass_fds=(master,), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        os.close(master)  # the child holds it: when the child dies the port hangs up
        if self.link:
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(pty_path)
            os.replace(tmp, self.link)
            self.port = str(self.link)
        else:
            self.port = pty_path
        return self

    def unplug(self) -> None:
        """Pull the cable: the child dies, reads on the host fail, the link vanishes.

        Safe to call twice or from two threads at once: closing the pty twice could close an
        unrelated file that reused its descriptor number."""
        with self._plug_lock:
            proc, self.proc = self.proc, None
            slave, self._slave = self._slave, None
            if proc is not None:
                proc.kill()
                proc.wait(timeout=10)
            if slave is not None:
                os.close(slave)
            if self.link:
                self.link.unlink(missing_ok=True)

    def replug(self) -> None:
        """Plug back in (the files persist, like the device's flash)."""
        self.unplug()
        self.start()

    def press(self, button: str = "a") -> None:
        """Press button A or B on the running device."""
        if self.proc is None:
            raise MbnnError("the simulated micro:bit is unplugged: replug() it first")
        self.proc.send_signal(signal.SIGUSR1 if button == "a" else signal.SIGUSR2)

    def display(self) -> list[dict]:
        """Everything the app showed: [{"t": ms, "op": "show"|"scroll"|"clear", "arg": text}]."""
        path = self.logdir / "display.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stderr(self) -> str:
        """The child's own errors (a crash of the simulator, not of the app)."""
        path = self.logdir / "stderr.txt"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        self.unplug()
        self._tmp.cleanup()

    def __enter__(self) -> "SimDevice":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# ---- the child process: the "device" --------------------------------------------------------

class _UartText:
    """sys.stdout on the device: text to the UART, newlines cooked to CRLF like MicroPython."""

    def __init__(self, mb):
        self._mb = mb

    def write(self, s: str) -> int:
        self._mb.write_raw(s.replace("\n", "\r\n").encode("utf-8", "replace"))
        return len(s)

    def flush(self) -> None:
        pass


def _accel_source(spec: str) -> Callable[[int], tuple] | None:
    if spec == "const":
        return None
    if spec.endswith(".csv"):
        with open(spec) as f:
            rows = [tuple(int(v) for v in r) for r in csv.reader(f) if r]
        return lambda t: rows[(t // 20) % len(rows)]
    mod, _, fn = spec.partition(":")
    return getattr(__import__(mod, fromlist=[fn]), fn)


def _purge(fs: str) -> None:
    """Forget modules imported from the device filesystem (a reset reloads them)."""
    for name, mod in list(sys.modules.items()):
        if os.path.dirname(os.path.abspath(getattr(mod, "__file__", None) or "/")) == fs:
            del sys.modules[name]


def _err_text(exc: BaseException) -> str:
    return "Traceback (most recent call last):\n" + "".join(traceback.format_exception_only(type(exc), exc))


def _boot(mb, fs: str) -> bool:
    """Run main.py; True when it asked for a reset (run it again)."""
    _purge(fs)
    gc.collect()
    if not os.path.exists("main.py"):
        return False
    try:
        runpy.run_path("main.py", run_name="__main__")
    except mb.Reset:
        return True
    except KeyboardInterrupt as exc:
        sys.stdout.write(_err_text(exc))
    except SystemExit:
        pass
    except Exception:  # the app crashed: its traceback goes to the serial port, as on the device
        sys.stdout.write("Traceback (most recent call last):\n" + "".join(traceback.format_exc().splitlines(True)[1:]))
    return False


_RAW_MSG = b"raw REPL; CTRL-B to exit\r\n>"
_BANNER = b"MicroPython (simulated micro:bit, CPython)\r\nType \"help()\" for more information.\r\n>>> "


def _repl(mb, fs: str) -> None:
    """A minimal REPL (friendly and raw, as microfs drives it); returns on a soft reset."""
    mb.write_raw(b"\r\n" + _BANNER)
    raw, buf, env = False, bytearray(), {"__name__": "__main__"}
    while True:
        for c in mb.take(0.2):
            b = bytes([c])
            if b == b"\x01":
                raw, buf = True, bytearray()
                mb.write_raw(b"\r\n" + _RAW_MSG)
            elif b == b"\x02":
                raw, buf = False, bytearray()
                mb.write_raw(b"\r\n" + _BANNER)
            elif b == b"\x03":
                buf = bytearray()
                if not raw:
                    mb.write_raw(b"\r\n>>> ")
            elif b == b"\x04" and not raw:
                mb.write_raw(b"\r\nsoft reboot\r\n")
                return
            elif b == b"\x04" and not buf:  # soft reset in the raw REPL: stays raw, main.py does not run
                _purge(fs)
                env = {"__name__": "__main__"}
                mb.write_raw(b"soft reboot\r\n" + _RAW_MSG)
            elif b == b"\x04":
                mb.write_raw(b"OK")
                err = _run(bytes(buf), env, "exec")
                mb.write_raw(b"\x04" + err.replace("\n", "\r\n").encode() + b"\x04>")
                buf = bytearray()
            elif raw:
                buf += b
            elif b == b"\r":
                mb.write_raw(b"\r\n")
                src = bytes(buf)
                buf = bytearray()
                err = _run(src, env, "single") if src.strip() else ""
                mb.write_raw(err.replace("\n", "\r\n").encode() + b">>> ")
            elif b != b"\n":
                buf += b
                mb.write_raw(b)


def _run(src: bytes, env: dict, mode: str) -> str:
    try:
        exec(compile(src.decode("utf-8", "replace"), "<stdin>", mode), env)
    except BaseException as exc:  # everything, KeyboardInterrupt included, is reported, never fatal
        return _err_text(exc)
    return ""


def _child(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    for opt in ("--fd", "--free"):
        ap.add_argument(opt, type=int)
    for opt in ("--fs", "--log", "--accel"):
        ap.add_argument(opt)
    ap.add_argument("--speed", type=float)
    a = ap.parse_args(argv)
    from microbit_nn.host.sim import microbit as mb

    mb.configure(fd=a.fd, accel=_accel_source(a.accel), speed=a.speed, log=os.path.join(a.log, "display.jsonl"))
    signal.signal(signal.SIGUSR1, lambda *_: mb.press("a"))
    signal.signal(signal.SIGUSR2, lambda *_: mb.press("b"))
    sys.modules["microbit"], sys.modules["utime"] = mb, mb.utime
    gc.mem_free = lambda: a.free  # MicroPython's gc has these; CPython's does not
    gc.mem_alloc = lambda: 0
    os.size = os.path.getsize  # the micro:bit's os.size(name)
    fs = os.path.abspath(a.fs)
    os.chdir(fs)
    sys.path.insert(0, fs)
    sys.stdout = _UartText(mb)
    while True:
        while _boot(mb, fs):
            pass
        _repl(mb, fs)


if __name__ == "__main__":
    _child(sys.argv[1:])
