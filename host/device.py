"""The protocol client: talks docs/protocol.md to a micro:bit running microbit-nn.

`Device(ser)` wraps any pyserial-like object (a real port, the emulator's
pty, a simulated device). Every wait has a timeout and a message that says
what to check. Garbage and partial lines are skipped, `E` lines raise when
they answer a command, and live `P` lines that arrive while waiting for an
answer are kept for `predictions()`.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Sequence

from microbit_nn.errors import MbnnError
from microbit_nn.export.names import real_name
from microbit_nn.host.serialio import LineReader, send_line, soft_reset

MAX_LINE = 80  # protocol limit, both directions
_EXC = re.compile(r"^[A-Za-z_.]*(Error|Exception|Interrupt|Exit)\b")


class Restarted(MbnnError):
    """The app had stopped (a Ctrl-C, 0x03, on the serial line) and was restarted with a
    soft reset: its modes are off and a command in flight is lost; say so and go on."""


class NoModel(MbnnError):
    """The app reported that its model did not load (`E no model ...`): asking again cannot help."""


# `E` lines about the user's program (firmware/app.py's #P lines, pl.py): reported, never an answer to a command
PROGRAM_ERRORS = ("on_start", "on_stop", "on_prediction", "program")
NOT_RUNNING = "is it running microbit-nn? flash it with 'mbnn build' + 'mbnn flash'"


@dataclass(frozen=True)
class Prediction:
    """One `P` line: sequence number, class index (-1: unknown), confidence %, int8 logits."""

    seq: int
    k: int
    conf: int
    logits: tuple[int, ...]


class Disconnected(MbnnError):
    """The serial port went away (unplugged, reset, emulator stopped)."""


def _cause(exc: BaseException) -> str:
    """The underlying OS/pyserial error text (serialio wraps it in an MbnnError)."""
    return str(exc.__cause__ or exc)


def _ints(fields: Sequence[str]) -> list[int] | None:
    try:
        return [int(f) for f in fields]
    except ValueError:
        return None


def parse_line(line: str) -> tuple[str, object] | None:
    """One device line -> (kind, value), or None for garbage.

    Kinds: "I" banner dict, "U" a user's program runs, "F" free heap, "M" (raw, replay), "P" Prediction,
    "S" (x, y, z), "K" buffered count, "T" (name, ok, detail), "D" (passed,
    failed), "E" reason, "B" button name.
    """
    f = line.strip().split()
    if not f or len(f[0]) != 1:
        return None
    tag, rest = f[0], f[1:]
    if tag == "E":
        return "E", " ".join(rest)
    if tag == "I" and len(rest) >= 8 and rest[0] == "mbnn":
        v = _ints(rest[3:7])
        if v is None:
            return None
        return "I", {"version": rest[1], "kind": rest[2], "window": v[0], "period_ms": v[1], "hop_ms": v[2],
                     "free": v[3], "classes": [real_name(c) for c in rest[7].split(",")],
                     "kernels": rest[8] if len(rest) > 8 else "unknown"}
    if tag == "I" and rest == ["program"]:
        return "U", True
    if tag == "I" and len(rest) == 2 and rest[0] == "free":
        v = _ints(rest[1:])
        return ("F", v[0]) if v else None
    if tag == "I" and len(rest) == 3 and rest[0] == "mode":
        v = _ints(rest[1:])
        return ("M", tuple(v)) if v else None
    if tag == "P" and len(rest) >= 4:
        v = _ints(rest)
        return ("P", Prediction(v[0], v[1], v[2], tuple(v[3:]))) if v else None
    if tag == "S" and len(rest) == 3:
        v = _ints(rest)
        return ("S", tuple(v)) if v else None
    if tag == "K" and len(rest) == 1:
        v = _ints(rest)
        return ("K", v[0]) if v else None
    if tag == "G" and len(rest) in (2, 3) and rest[0] in "+-":
        v = _ints(rest[1:])
        if v is None:
            return None
        return "G", {"event": "start" if rest[0] == "+" else "stop", "k": v[0], **({"conf": v[1]} if len(v) > 1 else {})}
    if tag == "T" and len(rest) == 3 and rest[0] == "done":
        v = _ints(rest[1:])
        return ("D", tuple(v)) if v else None
    if tag == "T" and len(rest) >= 2 and rest[1] in ("ok", "FAIL"):
        return "T", (rest[0], rest[1] == "ok", " ".join(rest[2:]))
    if tag == "B" and len(rest) == 1:
        return "B", rest[0]
    return None


# The V1 drops what overflows its ~64-byte UART receive buffer before the app
# reads it (measured in QEMU, which delivers a line at once), so a replay line
# holds at most 3 samples: 3 * len("-32768 -32768 -32768") + 2 = 62 bytes.
SAMPLES_PER_LINE = 3


def sample_lines(samples: Sequence[Sequence[int]], per_line: int = SAMPLES_PER_LINE) -> list[str]:
    """Replay lines of up to `per_line` samples 'x y z x y z ...', each within the 80-character limit."""
    out: list[str] = []
    cur: list[str] = []
    for s in samples:
        x, y, z = (int(v) for v in s)
        text = f"{x} {y} {z}"
        if cur and (len(cur) == per_line or len(" ".join(cur + [text])) > MAX_LINE - 2):
            out.append(" ".join(cur))
            cur = []
        cur.append(text)
    if cur:
        out.append(" ".join(cur))
    return out


class Device:
    """A micro:bit running the microbit-nn app, over a pyserial-like object."""

    def __init__(self, ser, timeout: float = 5.0):
        """`timeout`: seconds to wait for each answer."""
        self.ser = ser
        self.reader = LineReader(ser)
        self.timeout = timeout
        self.meta: dict = {}
        self.pending: deque[Prediction] = deque(maxlen=64)
        self.presses: deque[str] = deque(maxlen=16)
        self.errors: deque[str] = deque(maxlen=16)
        self.events: list[dict] = []  # gesture events the device raised ("G" lines), in order
        self.prints: deque[str] = deque(maxlen=256)  # lines the user's program printed (not protocol)
        self.program = False  # the board said `I program`: a user's program runs beside the app
        self.restarts = 0  # soft resets after a stray Ctrl-C (_restart)
        self.notes: list[str] = []  # what the client did on its own, for the user
        self.noise: deque[str] = deque(maxlen=4)
        self._raw = self._replay = False
        self._trace = self.crash = ""  # in a traceback; its exception line once complete
        self.at_repl = False  # a line began with the REPL prompt '>>> '

    # -- transport ---------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        """Send one line (without its newline). Raises MbnnError on a line the protocol forbids."""
        if "\n" in text or len(text) > MAX_LINE:
            raise MbnnError(f"refusing to send {text[:20]!r}...: lines are at most {MAX_LINE} characters")
        try:
            send_line(self.ser, text)
        except (MbnnError, OSError) as exc:  # serialio turns port failures into MbnnError
            raise Disconnected(f"the micro:bit's serial port went away ({_cause(exc)}): is it still plugged in?") from None

    def poll(self, timeout: float) -> tuple[str, object] | None:
        """The next protocol line within `timeout` s as (kind, value); None when none came."""
        try:
            line = self.reader.readline(timeout)
        except (MbnnError, OSError) as exc:
            raise Disconnected(f"the micro:bit's serial port went away ({_cause(exc)}): is it still plugged in?") from None
        if line is None:
            return None
        if line.startswith(">>> "):  # the REPL's prompt has no newline: it prefixes the next line
            line = line[4:]
            self.at_repl = bool(line.strip())  # something typed at the prompt was echoed
        ev = parse_line(line)
        if ev is None:
            self._watch(line.strip())
            return None
        self._trace = self.crash = ""  # the app talks: whatever crashed before, it runs now
        self.at_repl = False
        if ev[0] == "I":
            self.meta = ev[1]
        elif ev[0] == "B":
            self.presses.append(ev[1])
        elif ev[0] == "E":
            self.errors.append(ev[1])
        elif ev[0] == "G":
            self.events.append(ev[1])
            self.program = True  # events come from a program build: a host that connected late knows now
        elif ev[0] == "U":
            self.program = True
        return ev

    def _watch(self, text: str) -> None:
        """Follow non-protocol output: a traceback ending in its exception line means main.py stopped
        (the V1 then scrolls the error on its display before its REPL prompt shows)."""
        if not text:
            return
        self.noise.append(text[:60])
        if text == "soft reboot":
            self.at_repl = False
        if text.startswith("Traceback (most recent call last)"):
            self._trace = "?"
        elif self._trace and _EXC.match(text):
            self.crash, self._trace = text[:100], ""
        elif self.program and not self._trace and text != "soft reboot" and not self.at_repl:
            self.prints.append(text)  # a line of the user's program

    def _stopped(self) -> MbnnError:
        if self.at_repl:  # the traceback is the REPL's answer to what we typed
            return MbnnError("the micro:bit is at the MicroPython prompt, not running microbit-nn: press reset, "
                             "or flash a microbit-nn hex with 'mbnn build' + 'mbnn flash'")
        hint = ("the model is too big for this board: train a smaller one (--hidden, mlp rather than cnn) "
                "and check 'mbnn budget'" if "MemoryError" in self.crash else
                "a file of the model is missing: copy it again with 'mbnn deploy MODEL'"
                if "ENOENT" in self.crash or "not found" in self.crash
                else "press reset; if it happens again, rebuild and flash with 'mbnn build' + 'mbnn flash'")
        return MbnnError(f"the micro:bit's app stopped with {self.crash} (main.py ended): {hint}")

    def _restart(self) -> Restarted:
        """A Ctrl-C (0x03) on the serial line stops MicroPython's main.py like any program
        (docs/protocol.md): soft-reset the board so the app starts again, read its
        banner, and return the note to raise."""
        self.restarts += 1
        self._trace = self.crash = ""
        self.at_repl = False
        self._raw = self._replay = False
        self.pending.clear()
        for attempt in range(4):
            # the REPL prints its banner and prompt after the traceback, and what we
            # sent since then was typed at it: Ctrl-C clears that line (Ctrl-D only
            # reboots from an empty one); both are harmless at the prompt
            time.sleep(0.3)
            self.ser.write(b"\x03")
            soft_reset(self.ser)
            end = time.monotonic() + 5.0
            while time.monotonic() < end:  # our Ctrl-C may print its own traceback: not a crash
                ev = self.poll(0.2)
                if ev is not None and ev[0] == "I":
                    break
            else:
                if attempt == 3:
                    raise MbnnError("the micro:bit's app stopped after a Ctrl-C and did not start again: "
                                    "press reset, or flash it with 'mbnn build' + 'mbnn flash'")
                continue
            self._trace = self.crash = ""
            break
        note = ("the app on the micro:bit had stopped (a Ctrl-C, byte 0x03, reached it on the serial line): "
                "restarted it with a soft reset")
        self.notes.append(note)
        return Restarted(note)

    def _silent(self, what: str, timeout: float) -> MbnnError:
        seen = " | ".join(self.noise)
        if ">>>" in seen or "Traceback" in seen or "Error" in seen:
            return MbnnError(f"the micro:bit did not {what} within {timeout:g} s: the app is not running "
                             f"(it printed: {seen}); press reset, or rebuild and flash with 'mbnn build' + 'mbnn flash'")
        return MbnnError(f"the micro:bit did not {what} within {timeout:g} s: {NOT_RUNNING}")

    def ask(self, line: str | None, kinds: str, timeout: float | None = None, what: str = "") -> tuple[str, object]:
        """Send `line` (if any; None: just wait) and wait up to `timeout` s for a line whose kind
        (see parse_line) is in `kinds`; returns (kind, value). An `E` line raises MbnnError, live `P`
        lines are kept in `pending`, anything else is skipped. `what` completes "did not ...". """
        what = what or f"answer {line!r}"
        timeout = self.timeout if timeout is None else timeout
        if line is not None:
            self.send(line)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._silent(what, timeout)
            ev = self.poll(min(left, 0.5))
            if self.crash and "KeyboardInterrupt" in self.crash and self.restarts < 3:
                raise self._restart()
            if self.crash:
                raise self._stopped()
            if ev is None:
                continue
            if ev[0] in kinds:
                return ev
            if ev[0] == "E" and ev[1].split(" ", 1)[0] in PROGRAM_ERRORS:
                continue  # the user's program failed (in self.errors); the app goes on
            if ev[0] == "E" and ev[1].startswith("no model"):
                raise NoModel(f"the model on the micro:bit did not load ({ev[1][9:].replace(' redeploy', '')}): "
                                "copy it again with 'mbnn deploy MODEL', or flash a new .hex with 'mbnn build' + 'mbnn flash'")
            if ev[0] == "E":
                raise MbnnError(f"the micro:bit answered {line!r} with an error: {ev[1]}" if line else
                               f"the micro:bit reported an error: {ev[1]}")
            if ev[0] == "P":
                self.pending.append(ev[1])

    # -- commands ----------------------------------------------------------------------------------
    def info(self, timeout: float | None = None) -> dict:
        """The banner (`!i`): version, kind, window, period_ms, hop_ms, free, classes."""
        return self.ask("!i", "I", timeout)[1]

    def wait_banner(self, timeout: float | None = None) -> dict:
        """Wait for the boot banner after a reset; asks with `!i` once if it was missed."""
        timeout = self.timeout if timeout is None else timeout
        try:
            return self.ask(None, "I", timeout, what="print its banner after the reset")[1]
        except (Disconnected, NoModel):
            raise
        except MbnnError:
            return self.info(timeout=min(3.0, timeout))

    def free_heap(self) -> int:
        """`gc.mem_free()` on the device now, in bytes (`!g`)."""
        return self.ask("!g", "F")[1]

    def _mode(self, line: str, on: bool) -> None:
        try:
            self.ask(line, "M")
        except Restarted:  # the app restarted with every mode off: ask again if we want one on
            if on:
                self.ask(line, "M")

    def raw(self, on: bool) -> None:
        """Raw mode on/off: the device streams every accelerometer sample as `S x y z`."""
        self._mode("!r1" if on else "!r0", on)
        self._raw = bool(on)

    def replay(self, on: bool) -> None:
        """Replay mode on/off: samples come from the host; live predictions stop."""
        self._mode("!p1" if on else "!p0", on)
        self._replay = bool(on)
        self.pending.clear()

    def label(self, k: int) -> str:
        """Class name of index `k` from the banner ("unknown" for -1)."""
        names = self.meta.get("classes", [])
        return names[k] if 0 <= k < len(names) else ("unknown" if k < 0 else str(k))

    def replay_window(self, samples: Sequence[Sequence[int]]) -> Prediction:
        """Classify one window sent by the host: int milli-g rows (x, y, z), at least `window` of them."""
        rows = [tuple(int(v) for v in s) for s in samples]
        if any(len(r) != 3 for r in rows):
            raise MbnnError("replay samples must be rows of 3 values (x, y, z)")
        if not self.meta:
            self.info()
        if len(rows) < self.meta["window"]:
            raise MbnnError(f"replay needs at least {self.meta['window']} samples per window, got {len(rows)}")
        for attempt in (1, 2):
            try:
                if not self._replay:
                    self.replay(True)
                for line in sample_lines(rows):
                    self.ask(line, "K", what="acknowledge a replayed sample line")
                pred = self.ask("!c", "P")[1]
                break
            except Restarted:
                if attempt == 2:
                    raise
        self._check(pred)
        return pred

    def _check(self, p: Prediction) -> None:
        n = len(self.meta.get("classes", []))
        if n and len(p.logits) != n:
            raise MbnnError(f"the micro:bit sent {len(p.logits)} logits for {n} classes: was the model changed? "
                            "restart it and try again")

    def predictions(self, timeout: float | None = None) -> Iterator[Prediction]:
        """Live predictions, forever; MbnnError after `timeout` s without one."""
        if self._replay:
            self.replay(False)
        timeout = self.timeout if timeout is None else timeout
        while True:
            while self.pending:
                yield self.pending.popleft()
            try:
                kind, p = self.ask(None, "P", timeout, what="send a prediction")
            except Restarted:
                continue  # the note is in self.notes; predictions resume after the banner
            n = len(self.meta.get("classes", []))
            if not n or len(p.logits) == n:  # a garbled P line is dropped, not shown
                yield p

    def samples(self, timeout: float | None = None) -> Iterator[tuple[int, int, int]]:
        """Raw accelerometer samples (turns raw mode on), forever; MbnnError after `timeout` s without one."""
        if self._replay:
            self.replay(False)
        if not self._raw:
            self.raw(True)
        while True:
            try:
                yield self.ask(None, "S", timeout, what="send a sample")[1]
            except Restarted:
                self.raw(True)  # the restart turned raw mode off

    def selftest(self, timeout: float = 60.0) -> list[tuple[str, bool, str]]:
        """Run the on-device selftest: [(name, ok, detail)], up to `T done`; `timeout` s between lines."""
        results: list[tuple[str, bool, str]] = []
        kind, v = self.ask("!t", "TD", timeout)
        while kind == "T":
            results.append(v)
            kind, v = self.ask(None, "TD", timeout, what="finish its selftest ('!t')")
        passed, failed = v
        if (passed, failed) != (sum(r[1] for r in results), sum(not r[1] for r in results)):
            raise MbnnError(f"the selftest counted {passed} passed, {failed} failed but {len(results)} results "
                            "arrived: lines were lost on the serial link; run it again")
        return results

    def close(self) -> None:
        """Leave raw/replay modes (best effort: the port may be gone)."""
        try:
            if self._replay:
                self.replay(False)
            if self._raw:
                self.raw(False)
        except MbnnError:
            pass

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
