"""`mbnn record LABEL`: guided recording of gestures from a micro:bit.

The app streams raw samples (`!r1` -> `S x y z`). For each recording: press
Enter (or button A on the micro:bit), a countdown, then one window of
samples is captured and saved as `OUT/LABEL/LABEL_NNN.csv` (header x,y,z),
the layout `mbnn train` reads. Each file is fsync'ed and then linked into
place under a name that never overwrites an existing one, so a crash or an
unplug loses at most the recording in progress.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from microbit_nn.errors import MbnnError
from microbit_nn.host import discover
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

    def __init__(self, dev: Device, say: Callable[[str], None], keys: Keys | None, wait: float):
        self.dev, self.say, self.keys, self.wait = dev, say, keys, wait

    def drain(self, seconds: float) -> None:
        """Keep reading (and dropping) samples for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.dev.poll(min(0.1, max(0.0, end - time.monotonic())))

    def wait_start(self) -> None:
        """Until Enter or button A; MbnnError after `wait` s."""
        self.dev.presses.clear()
        end = time.monotonic() + self.wait
        while not ((self.keys and self.keys.pressed()) or "a" in self.dev.presses):
            if time.monotonic() >= end:
                raise MbnnError(f"nobody pressed Enter or button A for {self.wait:g} s: stopped "
                                "(the recordings made so far are saved)")
            self.dev.poll(0.1)

    def capture(self, n: int, timeout: float = 5.0) -> list[tuple[int, int, int]]:
        """The next `n` samples."""
        rows: list[tuple[int, int, int]] = []
        last = time.monotonic()
        while len(rows) < n:
            ev = self.dev.poll(0.2)
            if ev and ev[0] == "S":
                rows.append(ev[1])
                last = time.monotonic()
            elif time.monotonic() - last > timeout:
                raise MbnnError(f"the micro:bit stopped sending samples for {timeout:g} s: check the cable; "
                                "the recordings made so far are saved")
        return rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("label", help="the gesture's name, e.g. shake (a folder name: letters, digits, - and _)")
    p.add_argument("--port", help="serial port or pyserial URL (found automatically)")
    p.add_argument("--out", default="recordings", help="dataset folder (default ./recordings)")
    p.add_argument("--count", type=int, default=10, help="how many recordings (default 10)")
    p.add_argument("--seconds", type=float, help="length of each recording (default: the model's window)")
    p.add_argument("--countdown", type=int, default=3, help="seconds of countdown before each recording")
    p.add_argument("--auto", action="store_true", help="do not wait for Enter/button A between recordings")
    p.add_argument("--wait", type=float, default=300.0, help="give up after this many seconds without a press")


def run(args: argparse.Namespace) -> int:
    if not _SAFE.match(args.label):
        raise MbnnError(f"label {args.label!r} cannot be a folder name: use letters, digits, '-' and '_'")
    if args.count < 1:
        raise MbnnError("--count must be at least 1")

    def say(msg: str) -> None:
        print(msg, flush=True)

    ser = discover.open_port(args.port)
    saved: list[Path] = []
    try:
        dev = Device(ser)
        meta = dev.info()
        n = meta["window"] if not args.seconds else max(1, round(args.seconds * 1000 / meta["period_ms"]))
        dev.raw(True)
        rec = Recorder(dev, say, None if args.auto else Keys(), args.wait)
        say(f"recording {args.count} x '{args.label}' ({n} samples = {n * meta['period_ms'] / 1000:g} s each) "
            f"into {Path(args.out) / args.label}")
        for i in range(1, args.count + 1):
            if not args.auto:
                say(f"[{i}/{args.count}] press Enter (or button A on the micro:bit) when ready")
                rec.wait_start()
            for c in range(args.countdown, 0, -1):
                say(f"  {c}...")
                rec.drain(1.0)
            say(f"[{i}/{args.count}] recording: do '{args.label}' now")
            rows = rec.capture(n)
            saved.append(save_recording(args.out, args.label, rows))
            say(f"  saved {saved[-1]}")
        dev.close()
    except KeyboardInterrupt:
        say("stopped")
    finally:
        ser.close()
        if saved:
            say(f"{len(saved)} recording(s) saved in {Path(args.out) / args.label}")
    return 0
