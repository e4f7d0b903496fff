"""Line-oriented reading and writing over a pyserial-like port.

The micro:bit speaks one text line per message (docs/protocol.md). What
arrives on the wire is messier: half lines, `\\r\\n` endings, a stray NUL
when the UART starts, bytes that are not UTF-8, or a runaway line when the
device misbehaves. `LineSplitter` turns that stream into clean lines and is
pure (bytes in, lines out); `LineReader` adds the I/O and the timeouts. Any
object with `read(n)`, optionally `in_waiting` and `timeout`, works as a port
(a real pyserial `Serial`, the emulator's pty, or a fake in the tests).

Files travel with microfs (host/cmd_deploy.py: ls, put, rm). The REPL code
here covers what microfs cannot do (DEVELOPERS.md, "Talking to MicroPython"):
`soft_reset` restarts main.py (microfs has no call for it), and `RawRepl`
runs many snippets in one interpreter session with a deadline each.
"""

from __future__ import annotations

import errno
import sys
import time
from collections import deque
from typing import Any, Callable

from microbit_nn.errors import MbnnError

MAX_LINE = 4096  # bytes: the banner holds every class name (up to 40 characters each, %XX-encoded)
POLL = 0.05  # seconds a single read may block, so timeouts stay responsive


class LineSplitter:
    """Splits a byte stream into text lines; keeps the partial tail for later.

    `\\r` and NUL bytes are dropped, bytes that are not UTF-8 decode to U+FFFD,
    and a line longer than `max_len` bytes is discarded up to its newline,
    with a message appended to `notes` (and `dropped` counted).
    """

    def __init__(self, max_len: int = MAX_LINE) -> None:
        self.max_len = max_len
        self.pending = bytearray()
        self.skipping = False  # inside an over-long line: discard to its newline
        self.dropped = 0
        self.notes: deque[str] = deque(maxlen=20)

    def feed(self, data: bytes) -> list[str]:
        """Adds received bytes; returns the lines they completed (without newline)."""
        out = []
        data = bytes(data).replace(b"\r", b"").replace(b"\x00", b"")
        parts = data.split(b"\n")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if self.skipping:
                if not last:
                    self.skipping = False  # newline reached: the next line is clean
                continue
            self.pending += part
            if len(self.pending) > self.max_len:
                self._drop()
                self.skipping = last  # still no newline: swallow the rest
                continue
            if not last:
                out.append(self.pending.decode("utf-8", errors="replace"))
                self.pending.clear()
        return out

    def flush(self) -> str | None:
        """Returns and forgets the partial line, if any (e.g. at a disconnect)."""
        if not self.pending:
            return None
        text = self.pending.decode("utf-8", errors="replace")
        self.pending.clear()
        return text

    def _drop(self) -> None:
        self.dropped += 1
        self.notes.append("dropped a line longer than %d bytes (starts %r)"
                          % (self.max_len, bytes(self.pending[:24])))
        self.pending.clear()


class LineReader:
    """Reads whole lines from a port, each wait bounded by a timeout.

    The port's own `timeout` is lowered to `poll` seconds (if it was longer or
    None) so a read never blocks past the caller's deadline by more than that.
    `clock` is injectable so tests run without real waiting.
    """

    def __init__(self, ser: Any, max_len: int = MAX_LINE, poll: float = POLL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ser = ser
        self.split = LineSplitter(max_len)
        self.lines: deque[str] = deque()
        self.clock = clock
        if getattr(ser, "timeout", 0) is None or getattr(ser, "timeout", 0) > poll:
            ser.timeout = poll

    @property
    def notes(self) -> deque[str]:
        """Messages about discarded input (over-long lines)."""
        return self.split.notes

    def readline(self, timeout: float) -> str | None:
        """Returns the next complete line, or None if none arrives within `timeout` s.

        Raises MbnnError if the port fails (e.g. the micro:bit was unplugged).
        """
        deadline = self.clock() + timeout
        while not self.lines:
            if self.clock() >= deadline:
                return None
            self.lines.extend(self.split.feed(self._read()))
        return self.lines.popleft()

    def read_lines(self, timeout: float, until: Callable[[str], bool] | None = None) -> list[str]:
        """Collects lines for up to `timeout` s, or up to and including the first
        line for which `until(line)` is true."""
        deadline = self.clock() + timeout
        got = []
        while True:
            line = self.readline(max(0.0, deadline - self.clock()))
            if line is None:
                return got
            got.append(line)
            if until is not None and until(line):
                return got

    def _read(self) -> bytes:
        try:
            n = max(1, getattr(self.ser, "in_waiting", 0) or 0)
            return self.ser.read(n) or b""
        except (OSError, ValueError) as e:  # SerialException is an OSError
            raise MbnnError("the serial port stopped working (%s): check the micro:bit "
                            "is plugged in and no other program uses the port" % e) from e


# Opening a port another program holds: EBUSY (a terminal set TIOCEXCL), EAGAIN
# (another mbnn's exclusive lock); on Windows every open port is exclusive and
# a second open is "Access is denied" (WinError 5, PermissionError 13).
_BUSY = {errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK}


def port_busy(exc: BaseException) -> bool:
    """Whether a failed open of a serial port means another program holds it."""
    code = getattr(exc, "errno", None)
    if code in _BUSY:
        return True
    if code == errno.EACCES and sys.platform.startswith("win"):
        return True
    return "Access is denied" in str(exc)  # pyserial on Windows puts the WinError in the text only


def send_line(ser: Any, text: str) -> None:
    """Writes `text` and a newline to the port (UTF-8) and flushes it."""
    if "\n" in text:
        raise ValueError("send_line sends one line; split the text first")
    _write(ser, text.encode("utf-8") + b"\n")


def _write(ser: Any, data: bytes) -> None:
    try:
        ser.write(data)
        if hasattr(ser, "flush"):
            ser.flush()
    except (OSError, ValueError) as e:
        raise MbnnError("could not write to the serial port (%s): check the micro:bit "
                        "is plugged in and no other program uses the port" % e) from e


RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
SOFT_RESET = b"\x02\x04"  # Ctrl-B leaves the raw REPL if still in it; Ctrl-D at the prompt reboots


def soft_reset(ser: Any) -> None:
    """Soft-reset the board from its REPL, so main.py runs again (its banner follows)."""
    _write(ser, SOFT_RESET)


class RawRepl:
    """MicroPython's raw REPL (Ctrl-A; code; Ctrl-D -> `OK out \\x04 err \\x04>`).

    For what microfs's `execute` cannot do: microfs soft-resets the board at
    every call and waits per read only. Here one session runs many snippets
    (names, imported modules and the heap stay as the last snippet left them:
    the bench times code after loading it), each snippet has a deadline, the
    interrupt is retried while the board still boots, and reads go through the
    caller's `read_until` (the emulator's keeps bytes read past a match).
    Works over any port given as two callables: `write(bytes)` and
    `read_until(bytes, timeout) -> bytes` (raising MbnnError on timeout), so the
    emulator and a real board share it. The upload is paced (`chunk` bytes
    every `delay` s): the V1 keeps at most 63 received bytes and silently drops
    the rest while it is busy (e.g. collecting garbage), and QEMU delivers bytes
    as fast as the board takes them, not at 115200 baud.
    """

    def __init__(self, write: Callable[[bytes], Any],
                 read_until: Callable[[bytes, float], bytes],
                 chunk: int = 32, delay: float = 0.01) -> None:
        self.write = write
        self.read_until = read_until
        self.chunk = chunk
        self.delay = delay

    def enter(self, timeout: float) -> None:
        """Interrupts the running program (Ctrl-C) and switches to the raw REPL.

        Retries every second: a Ctrl-C sent while the board is still booting
        may arrive before main.py can be interrupted.
        """
        deadline = time.monotonic() + timeout
        while True:
            # The interrupt flushes pending input, so Ctrl-A goes after the prompt.
            self.write(b"\r\x03\x03")
            try:
                self.read_until(b">>> ", 0.5)
            except MbnnError:
                pass  # maybe already at a prompt that printed earlier: try anyway
            self.write(b"\r\x01")
            try:
                self.read_until(RAW_PROMPT, min(1.0, max(0.0, deadline - time.monotonic())))
                return
            except MbnnError:
                if time.monotonic() >= deadline:
                    raise MbnnError("the board did not enter the raw REPL within %g s: "
                                    "is MicroPython running and main.py interruptible?"
                                    % timeout) from None

    def run(self, code: str, timeout: float) -> tuple[str, str]:
        """Runs `code`; returns (stdout, error output such as a traceback)."""
        data = code.encode("utf-8")
        for i in range(0, len(data), self.chunk):
            self.write(data[i:i + self.chunk])
            if self.delay:
                time.sleep(self.delay)
        self.write(b"\x04")
        reply = self.read_until(b"\x04>", timeout)
        while reply.startswith(RAW_PROMPT):  # enter() retried and the board answered both Ctrl-As
            reply = reply[len(RAW_PROMPT):]
        if not reply.startswith(b"OK"):
            raise MbnnError("the raw REPL did not accept the code (it replied %r): "
                            "the snippet may be too big for the board's RAM" % reply[:80])
        out, _, err = reply[2:-2].partition(b"\x04")
        return (out.replace(b"\r", b"").decode("utf-8", "replace"),
                err.replace(b"\r", b"").decode("utf-8", "replace"))
