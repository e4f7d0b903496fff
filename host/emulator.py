"""An emulated micro:bit V1 (QEMU `-M microbit`) that host code talks to like a real one.

QEMU starts paused (`-S`) with the UART on a pseudo-terminal; we open the
pty with pyserial and only then let the CPU run, because QEMU drops what the
board prints while nobody has the pty open. The monitor sits on QEMU's stdin/
stdout (the only way to say "cont"), and the pty path is read from it.

Every QEMU process is killed when its `Emulator` closes: on context exit, at
interpreter exit, on SIGINT/SIGTERM, and (Linux) when this process dies.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Mapping, Pattern

import serial

from microbit_nn.errors import MbnnError
from microbit_nn.export.hexbuild import build_hex, check_hex, read_hex, write_hex
from microbit_nn.host.serialio import RawRepl

INSTALL = ("install it with `sudo apt-get install -y --no-install-recommends "
           "qemu-system-arm` (or ./run setup)")
START_TIMEOUT = 10.0
# QEMU looks for a reader on its pty once a second; until that first check
# (about 1.0 s after start) the board's output flows but its input is held back.
PTY_POLL = 1.1
_LIVE: set["Emulator"] = set()


def find_qemu(name: str = "qemu-system-arm") -> str:
    """Path of the QEMU ARM system emulator (env MBNN_QEMU overrides the name).

    Raises MbnnError saying how to install it when it is missing.
    """
    name = os.environ.get("MBNN_QEMU", name)
    path = shutil.which(name)
    if path is None:
        raise MbnnError("%s not found: %s" % (name, INSTALL))
    return path


def _die_with_parent() -> None:
    # Runs in the child before exec: ask Linux to SIGTERM QEMU when we die.
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except Exception:
        pass


class Emulator:
    """A running emulated micro:bit V1 booted from a .hex.

    `serial` is a pyserial port (115200 baud, timeout 1 s as microfs opens a
    real one) usable exactly like a real device's; `port` is its path. Use as a
    context manager, or call `close()`. With `wait_input` (default) the CPU is
    held until QEMU reads the pty (~1.1 s after start), so what the host sends
    at boot arrives at once; without it boot output comes ~1 s sooner but
    input is delayed until then (fine for output-only runs).
    With `icount` (default) QEMU counts instructions (`-icount shift=0`): 1 ns
    of device time per instruction, so `utime.ticks_us()` deltas are
    kilo-instructions and a boot is repeatable, free heap included. In real
    time (`icount=False`, for live pace) a QEMU starved of CPU catches up its
    timer ticks in bursts, and the heap left after loading a model varies
    (measured: docs/emulator.md, item 8).
    """

    def __init__(self, hex_file: str | os.PathLike, icount: bool = True,
                 wait_input: bool = True, qemu: str | None = None,
                 start_timeout: float = START_TIMEOUT) -> None:
        self.hex_file = Path(hex_file)
        # QEMU's loader happily runs a file that is not Intel hex (as raw bytes):
        # refuse it here instead of waiting for a board that never talks.
        check_hex(read_hex(self.hex_file), str(self.hex_file))
        self.icount = icount
        self.proc: subprocess.Popen | None = None
        self.serial: serial.Serial | None = None
        self.port = ""
        self.pending = b""  # bytes read past a regex match, served first next time
        self._tmpdir: str | None = None
        self._tails = {"out": deque(maxlen=60), "err": deque(maxlen=60)}
        self._threads: list[threading.Thread] = []
        self._repl: RawRepl | None = None
        self._start(qemu or find_qemu(), start_timeout, wait_input)

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], icount: bool = True,
                   **kw) -> "Emulator":
        """Boots a V1 MicroPython hex holding `files` (main.py runs at boot; without
        one the board waits at the REPL, ready for `exec`)."""
        tmp = tempfile.mkdtemp(prefix="mbnn-emu-")
        try:
            path = write_hex(build_hex(files, "v1"), Path(tmp) / "emu.hex")
            emu = cls(path, icount=icount, **kw)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        emu._tmpdir = tmp
        return emu

    # --- life cycle -------------------------------------------------------

    def _start(self, qemu: str, timeout: float, wait_input: bool) -> None:
        args = [qemu, "-M", "microbit", "-display", "none", "-nodefaults",
                "-device", "loader,file=%s" % self.hex_file,
                "-serial", "pty", "-monitor", "stdio", "-S"]
        if self.icount:
            args += ["-icount", "shift=0"]
        _install_handlers()
        started = time.monotonic()
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        _LIVE.add(self)
        try:
            self.port = self._await_pty(timeout)
            self._drain("err", self.proc.stderr)
            self._drain("out", self.proc.stdout)
            self.serial = serial.Serial(self.port, 115200, timeout=1)
            if wait_input:
                time.sleep(max(0.0, started + PTY_POLL - time.monotonic()))
            self.monitor("cont")  # the pty is open: nothing the board prints is lost
        except BaseException:
            self.close()
            raise

    def _await_pty(self, timeout: float) -> str:
        # QEMU reports the pty on the monitor (its stdout) before the CPU starts.
        deadline = time.monotonic() + timeout
        out = self.proc.stdout
        seen = b""
        os.set_blocking(out.fileno(), False)
        while time.monotonic() < deadline:
            try:
                chunk = os.read(out.fileno(), 4096)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                self.proc.wait(timeout=2)
                raise MbnnError("QEMU stopped at start-up (exit %s): %s"
                                % (self.proc.returncode, self._stderr_tail()))
            if chunk:
                seen += chunk
                self._tails["out"].append(chunk)
                m = re.search(rb"(/dev/[\w/]+)", seen)
                if m and seen.find(b"\n", m.end()) >= 0:
                    os.set_blocking(out.fileno(), True)
                    return m.group(1).decode()
            else:
                time.sleep(0.01)
        raise MbnnError("QEMU did not open its serial pty within %.0f s: %s"
                        % (timeout, self._stderr_tail()))

    def _drain(self, key: str, stream) -> None:
        # Keep reading QEMU's pipes so it never blocks on a full one; keep a tail.
        def run():
            for chunk in iter(lambda: stream.read1(4096), b""):
                self._tails[key].append(chunk)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self._threads.append(t)

    def _stderr_tail(self) -> str:
        if self.proc is not None and self.proc.poll() is not None:
            try:  # after exit the pipe is at EOF, so this cannot hang
                if self.proc.stderr and not self._threads:
                    self._tails["err"].append(self.proc.stderr.read())
            except (OSError, ValueError):
                pass
        text = b"".join(self._tails["err"]).decode("utf-8", "replace").strip()
        return text[-600:].replace("\n", " | ") or "(QEMU printed nothing on stderr)"

    def monitor(self, command: str) -> None:
        """Sends one command to the QEMU monitor (e.g. "cont", "stop", "system_reset")."""
        try:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError) as e:
            raise MbnnError("QEMU is not running any more (%s): %s"
                            % (e, self._stderr_tail())) from e

    @property
    def alive(self) -> bool:
        """True while the QEMU process runs."""
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        """Stops QEMU (terminate, then kill) and frees the pty and temp files. Idempotent."""
        _LIVE.discard(self)
        if self.serial is not None:
            try:
                self.serial.close()
            except Exception:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    f.close()
                except Exception:
                    pass
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            self.close()

    # --- talking to the board ---------------------------------------------

    def write(self, data: bytes) -> None:
        """Sends raw bytes to the board's UART."""
        self.serial.write(data)
        self.serial.flush()

    def read_until(self, pattern: bytes | str | Pattern, timeout: float = 20.0) -> bytes:
        """Reads the board's output up to and including `pattern`.

        A bytes/str pattern stops exactly at its end, so the port is left at the
        next byte. A compiled regex (bytes or text) is checked after each chunk
        read; what was read past the match is kept in `pending` for the next
        call of this method. The board ends lines with `\r\n`. Raises MbnnError
        after `timeout` s (or if QEMU dies) with what was received, which stays
        in `pending`.
        """
        if isinstance(pattern, str):
            pattern = pattern.encode()
        elif not isinstance(pattern, bytes) and isinstance(pattern.pattern, str):
            # a text regex: match it on the raw bytes
            pattern = re.compile(pattern.pattern.encode(), pattern.flags & ~re.UNICODE)
        buf = bytearray(self.pending)
        self.pending = b""
        deadline = time.monotonic() + timeout
        while True:
            end = _match_end(pattern, buf)
            if end is not None:
                self.pending = bytes(buf[end:])
                return bytes(buf[:end])
            if time.monotonic() >= deadline or not self.alive:
                break
            buf += self._read_some(_safe_count(pattern, buf))
        self.pending = bytes(buf)  # nothing is lost: the next call sees it again
        what = pattern if isinstance(pattern, bytes) else pattern.pattern
        tail = bytes(buf[-200:]).decode("utf-8", "replace")
        if not self.alive:
            raise MbnnError("the emulated micro:bit stopped (QEMU exit %s) while waiting "
                            "for %r; it printed %r; %s" % (self.proc.returncode, what,
                                                           tail, self._stderr_tail()))
        raise MbnnError("the emulated micro:bit did not print %r within %g s (it printed "
                        "%d bytes, ending %r): check main.py or allow more time"
                        % (what, timeout, len(buf), tail))

    def _read_some(self, n: int) -> bytes:
        # Up to n bytes that have arrived, waiting at most 50 ms for the first;
        # select() keeps us independent of the port's own timeout.
        try:
            if not self.serial.in_waiting:
                select.select([self.serial.fileno()], [], [], 0.05)
            return self.serial.read(min(n, self.serial.in_waiting))
        except (OSError, ValueError) as e:
            raise MbnnError("lost the emulated micro:bit's serial port (%s): %s"
                            % (e, self._stderr_tail())) from e

    def wait_banner(self, prefix: bytes = b"I ", timeout: float = 20.0) -> str:
        """Waits for the first line starting with `prefix`; returns it without line end."""
        deadline = time.monotonic() + timeout
        seen: deque[str] = deque(maxlen=8)
        while True:
            try:
                line = self.read_until(b"\n", max(deadline - time.monotonic(), 0.0))
            except MbnnError:
                part = self.pending.decode("utf-8", "replace")
                raise MbnnError("no line starting %r from the emulated micro:bit within %g s;"
                                " it printed: %s%s" % (prefix, timeout, " | ".join(seen) or
                                                       "(no complete line)", part)) from None
            text = line.replace(b"\x00", b"").rstrip(b"\r\n").decode("utf-8", "replace")
            if text.startswith(prefix.decode("utf-8", "replace")):
                return text
            seen.append(text)

    def exec_raw(self, code: str, timeout: float = 20.0) -> tuple[str, str]:
        """Runs `code` in the board's raw REPL; returns (stdout, error text).

        The first call interrupts main.py (Ctrl-C). Names defined persist
        between calls, so one boot can run many snippets.
        """
        if self._repl is None:
            self._repl = RawRepl(self.write, self.read_until)
            self._repl.enter(timeout)
        return self._repl.run(code, timeout)

    def exec(self, code: str, timeout: float = 20.0) -> str:
        """Like `exec_raw` but raises MbnnError with the traceback's last line on error."""
        out, err = self.exec_raw(code, timeout)
        if err:
            last = err.strip().splitlines()[-1] if err.strip() else err
            raise MbnnError("code on the emulated micro:bit failed: %s (output so far: %r)"
                            % (last, out[-200:]))
        return out


def _match_end(pattern: bytes | Pattern, buf: bytearray) -> int | None:
    if isinstance(pattern, bytes):
        i = buf.find(pattern)
        return None if i < 0 else i + len(pattern)
    m = pattern.search(buf)
    return None if m is None else m.end()


def _safe_count(pattern: bytes | Pattern, buf: bytearray) -> int:
    """How many bytes may be read without running past a bytes pattern's end."""
    if not isinstance(pattern, bytes):
        return 4096  # regex: overshoot is kept in `pending`
    # Longest tail of buf that is a prefix of the pattern: only the rest may follow.
    for k in range(min(len(pattern) - 1, len(buf)), 0, -1):
        if buf.endswith(pattern[:k]):
            return len(pattern) - k
    return len(pattern)


def run_files(files: Mapping[str, bytes], until: bytes | str | Pattern,
              timeout: float = 30.0, icount: bool = True) -> str:
    """Boots a V1 hex holding `files` (main.py runs at boot) and returns everything
    the board printed up to and including `until` (NUL bytes and `\\r` removed)."""
    with Emulator.from_files(files, icount=icount, wait_input=False) as emu:
        raw = emu.read_until(until, timeout)
    return raw.replace(b"\x00", b"").replace(b"\r", b"").decode("utf-8", "replace")


def close_all() -> None:
    """Stops every emulator still running (also registered with atexit)."""
    for emu in list(_LIVE):
        emu.close()


atexit.register(close_all)
_HANDLED: dict[int, object] = {}


def _on_signal(signum, frame) -> None:
    close_all()
    prev = _HANDLED.get(signum)
    if callable(prev):
        prev(signum, frame)  # e.g. Python's SIGINT handler raises KeyboardInterrupt
    elif prev != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    """Chains SIGINT/SIGTERM handlers that stop QEMU first (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(sig)
        if current is not _on_signal:
            _HANDLED[sig] = current
            signal.signal(sig, _on_signal)
