"""`mbnn record LABEL`: guided recording of gestures from a micro:bit.

The app streams raw samples (`!r1` -> `S x y z`). For each recording: press
Enter (or button A on the micro:bit), a countdown, then one window of
samples is captured and saved as `OUT/LABEL/LABEL_NNN.csv` (header x,y,z),
the layout `mbnn train` reads. Each file is fsync'ed and then linked into
place under a name that never overwrites an existing one, so a crash or an
unplug loses at most the recording in progress.

A recording is at least one window of the model the micro:bit runs (its
banner gives the window and the sample period), so `mbnn train` can use it.
In a terminal, a live strip chart of x, y and z shows what is being captured.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Sequence

from microbit_nn.errors import MbnnError
from microbit_nn.host import discover
from microbit_nn.host.argtypes import nonneg_int, port_name, positive_float, positive_int
from microbit_nn.host.device import Device

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def _fsync_dir(folder: Path) -> None:
    if os.name == "posix":  # make the new directory entry durable too
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def next_index(folder: Path, label: str) -> int:
    """1 + the highest NNN of the existing LABEL_NNN.csv files (1 when none)."""
    pat = re.compile(rf"^{re.escape(label)}_(\d+)\.csv$")
    nums = [int(m.group(1)) for p in folder.iterdir() if (m := pat.match(p.name))] if folder.is_dir() else []
    return max(nums, default=0) + 1


def save_recording(out: str | Path, label: str, rows: Sequence[Sequence[int]]) -> Path:
    """Write one recording durably as OUT/LABEL/LABEL_NNN.csv; never overwrites a file."""
    folder = Path(out) / label
    folder.mkdir(parents=True, exist_ok=True)
    text = "x,y,z\n" + "".join(f"{int(x)},{int(y)},{int(z)}\n" for x, y, z in rows)
    tmp = folder / f".{label}.{os.getpid()}.part"  # dot-files are ignored by the dataset reader
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    try:
        while True:
            dest = folder / f"{label}_{next_index(folder, label):03d}.csv"
            try:
                os.link(tmp, dest)  # atomic, and fails instead of overwriting
                break
            except FileExistsError:
                continue
            except OSError:  # no hard links here (FAT, some network drives): exclusive create
                try:
                    with open(dest, "x", encoding="ascii", newline="\n") as f:
                        f.write(text)
                        f.flush()
                        os.fsync(f.fileno())
                    break
                except FileExistsError:
                    continue
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)
    return dest


BLOCKS = " ▁▂▃▄▅▆▇█"  # eighths of a character cell, empty to full


def strip_chart(values: Sequence[int], height: int, lo: int | None = None, hi: int | None = None) -> list[str]:
    """An area chart of `values` (one column each, clamped to [lo, hi]) in `height`
    rows of block characters, top row first; lo is an empty column, hi a full one.
    The default scale is the accelerometer's +/-2 g, fixed so sizes compare between recordings."""
    if lo is None or hi is None:
        from microbit_nn.train.datasets import MAX_MG  # numpy: not while the CLI parses

        lo, hi = -MAX_MG, MAX_MG
    steps = height * (len(BLOCKS) - 1)
    levels = [round((min(hi, max(lo, v)) - lo) * steps / (hi - lo)) for v in values]
    full = len(BLOCKS) - 1
    return ["".join(BLOCKS[min(full, max(0, lv - r * full))] for lv in levels) for r in range(height - 1, -1, -1)]


class LivePlot:
    """The last samples of x, y and z as three strip charts with a status line;
    a rich renderable, redrawn by rich.live.Live while samples come in."""

    AXES = (("x", "red"), ("y", "green"), ("z", "blue"))

    def __init__(self, width: int, height: int = 3):
        self.samples: deque[tuple[int, int, int]] = deque(maxlen=max(10, width))
        self.height = height
        self.status = "waiting"

    def add(self, xyz: tuple[int, int, int]) -> None:
        self.samples.append(xyz)

    def __rich__(self):
        from rich.console import Group
        from rich.text import Text

        rows = list(self.samples)  # one C-level copy: Live redraws from its own thread while samples arrive
        lines = [Text(self.status, style="bold red" if self.status.startswith("●") else "dim")]
        for i, (axis, colour) in enumerate(self.AXES):
            vals = [r[i] for r in rows]
            for j, row in enumerate(strip_chart(vals, self.height)):
                label = f"{axis} {vals[-1]:+6d} " if vals and j == 0 else " " * 9
                lines.append(Text(label) + Text(row, style=colour))
        return Group(*lines)


def _console():
    """The terminal the live plot draws on (stdout, like the messages)."""
    from rich.console import Console

    return Console()


def check_out(out: str, label: str) -> None:
    """Before connecting: MbnnError when OUT or OUT/LABEL is a file, or the folder cannot be written."""
    for p in (Path(out), Path(out) / label):
        if p.exists() and not p.is_dir():
            raise MbnnError(f"{p} is a file: give --out a dataset folder (it is made when missing)")
    p = Path(out).absolute()
    while not p.exists():
        p = p.parent
    if not os.access(p, os.W_OK | os.X_OK):
        raise MbnnError(f"cannot write into {p}: give --out a folder you can write to")


def min_seconds(meta: dict) -> float:
    """The shortest recording: one window of the model the device runs (its banner's window and period)."""
    return meta["window"] * meta["period_ms"] / 1000


def _seconds(text: str) -> float:
    """--seconds: more than 0 here; the board's banner gives the real least (one window of its model)."""
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        import inspect

        from microbit_nn.train.datasets import PERIOD_MS, load_dataset  # numpy: only for this message

        window = inspect.signature(load_dataset).parameters["window"].default  # what mbnn train cuts
        raise argparse.ArgumentTypeError(
            "%r is not allowed: give at least one window of the model on the micro:bit: %g s for the %d samples "
            "at %d ms of a model 'mbnn train' made" % (text, window * PERIOD_MS / 1000, window, PERIOD_MS)) from None


class Keys:
    """Enter presses from stdin, read by a background thread so the serial port keeps being drained."""

    def __init__(self) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            self.q.put(line)
        self.q.put(None)  # EOF: only button A can start a recording now

    def pressed(self) -> bool:
        try:
            return self.q.get_nowait() is not None
        except queue.Empty:
            return False


class Recorder:
    """Drives one recording session on an open Device in raw mode."""

    def __init__(self, dev: Device, say: Callable[[str], None], keys: Keys | None, wait: float,
                 on_sample: Callable[[tuple[int, int, int]], None] | None = None):
        self.dev, self.say, self.keys, self.wait = dev, say, keys, wait
        self.on_sample = on_sample  # sees every sample (the live plot), kept or not

    def poll(self, timeout: float):
        ev = self.dev.poll(timeout)
        if ev and ev[0] == "S" and self.on_sample:
            self.on_sample(ev[1])
        return ev

    def drain(self, seconds: float) -> None:
        """Keep reading (and dropping) samples for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll(min(0.1, max(0.0, end - time.monotonic())))

    def wait_start(self) -> None:
        """Until Enter or button A; MbnnError after `wait` s."""
        self.dev.presses.clear()
        end = time.monotonic() + self.wait
        while not ((self.keys and self.keys.pressed()) or "a" in self.dev.presses):
            if time.monotonic() >= end:
                raise MbnnError(f"nobody pressed Enter or button A for {self.wait:g} s: stopped "
                                "(the recordings made so far are saved)")
            self.poll(0.1)

    def capture(self, n: int, timeout: float = 5.0) -> list[tuple[int, int, int]]:
        """The next `n` samples."""
        rows: list[tuple[int, int, int]] = []
        last = time.monotonic()
        while len(rows) < n:
            ev = self.poll(0.2)
            if ev and ev[0] == "S":
                rows.append(ev[1])
                last = time.monotonic()
            elif time.monotonic() - last > timeout:
                raise MbnnError(f"the micro:bit stopped sending samples for {timeout:g} s: check the cable; "
                                "the recordings made so far are saved")
        return rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("label", help="the gesture's name, e.g. shake (a folder name: letters, digits, - and _)")
    p.add_argument("--port", type=port_name, help="serial port or pyserial URL (found automatically)")
    p.add_argument("--out", default="recordings", help="dataset folder (default ./recordings)")
    p.add_argument("--count", type=positive_int, default=10, help="how many recordings (default 10)")
    p.add_argument("--seconds", type=_seconds,
                   help="length of each recording, at least the model's window (default: the window)")
    p.add_argument("--countdown", type=nonneg_int, default=3, help="seconds of countdown before each recording")
    p.add_argument("--auto", action="store_true", help="do not wait for Enter/button A between recordings")
    p.add_argument("--wait", type=positive_float, default=300.0,
                   help="give up after this many seconds without a press")
    p.add_argument("--plot", action=argparse.BooleanOptionalAction, default=None,
                   help="live chart of x, y, z while recording (default: when the output is a terminal)")


def run(args: argparse.Namespace) -> int:
    if not _SAFE.match(args.label):
        raise MbnnError(f"label {args.label!r} cannot be a folder name: use letters, digits, '-' and '_'")
    if args.count < 1:
        raise MbnnError("--count must be at least 1")
    if args.seconds is not None and args.seconds <= 0:
        raise MbnnError("--seconds must be more than 0")
    check_out(args.out, args.label)
    show = getattr(args, "plot", None)
    plot = LivePlot(_console().width - 10) if (sys.stdout.isatty() if show is None else show) else None

    def say(msg: str) -> None:
        print(msg, flush=True)

    ser = discover.open_port(args.port)
    saved: list[Path] = []
    try:
        dev = Device(ser)
        meta = dev.info()
        least = min_seconds(meta)
        n = meta["window"] if not args.seconds else round(args.seconds * 1000 / meta["period_ms"])
        if n < meta["window"]:
            raise MbnnError(f"--seconds {args.seconds:g} is shorter than one window of the model on the micro:bit: "
                            f"give at least {least:g} s ({meta['window']} samples at {meta['period_ms']} ms) "
                            "or leave --seconds out")
        dev.raw(True)
        rec = Recorder(dev, say, None if args.auto else Keys(), args.wait, plot.add if plot else None)
        say(f"recording {args.count} x '{args.label}' ({n} samples = {n * meta['period_ms'] / 1000:g} s each) "
            f"into {Path(args.out) / args.label}")
        with _live(plot):
            for i in range(1, args.count + 1):
                if plot:
                    plot.status = f"[{i}/{args.count}] waiting"
                if not args.auto:
                    say(f"[{i}/{args.count}] press Enter (or button A on the micro:bit) when ready")
                    rec.wait_start()
                for c in range(args.countdown, 0, -1):
                    if plot:
                        plot.status = f"[{i}/{args.count}] {c}..."
                    say(f"  {c}...")
                    rec.drain(1.0)
                if plot:
                    plot.status = f"● [{i}/{args.count}] recording '{args.label}'"
                say(f"[{i}/{args.count}] recording: do '{args.label}' now")
                rows = rec.capture(n)
                saved.append(_save(args.out, args.label, rows))
                say(f"  saved {saved[-1]}")
        dev.close()
    except KeyboardInterrupt:
        say("stopped")
    finally:
        ser.close()
        if saved:
            say(f"{len(saved)} recording(s) saved in {Path(args.out) / args.label}")
    return 0


def _live(plot: LivePlot | None):
    """rich's Live redrawing `plot` (messages printed meanwhile go above it); nothing without a plot."""
    import contextlib

    if plot is None:
        return contextlib.nullcontext()
    from rich.live import Live

    return Live(plot, console=_console(), refresh_per_second=12, transient=True)


def _save(out: str, label: str, rows) -> Path:
    try:
        return save_recording(out, label, rows)
    except OSError as e:
        raise MbnnError(f"cannot save the recording in {Path(out) / label} ({e.strerror}): free some space or "
                        "choose another --out; the recordings made so far are saved") from None
