"""`mbnn stream`: live predictions from a micro:bit (or the emulator).

Shown in a terminal view (class, confidence bar, rate), or written as one
JSON object per line, or as CSV rows (flushed per row). Ctrl-C stops
cleanly. When the port vanishes (unplugged), it says so, waits for the
micro:bit to come back, reconnects and carries on.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import time
from collections import deque
from typing import Callable, Iterator

from microbit_nn.errors import MbnnError
from microbit_nn.host import discover
from microbit_nn.host.argtypes import nonneg_float, port_name, positive_float, positive_int
from microbit_nn.host.device import Device, Disconnected, Prediction

# rich is imported where the terminal view needs it: --json, --csv and --help start faster.


def record(p: Prediction, dev: Device) -> dict:
    """A prediction as a plain dict (what --json prints)."""
    return {"t": round(time.time(), 3), "type": "prediction", "seq": p.seq, "k": p.k, "label": dev.label(p.k),
            "conf": p.conf, "logits": list(p.logits), "kernels": dev.meta.get("kernels", "unknown")}


def extra_rows(dev: Device) -> list[dict]:
    """What the user's program said since the last call (docs/program.md): its gesture
    events ({"type": "event", ...}) and its printed lines ({"type": "print", "text": ...})."""
    t = round(time.time(), 3)
    rows = [dict(t=t, type="event", label=dev.label(e["k"]), **e) for e in dev.events]
    rows += [{"t": t, "type": "print", "text": text} for text in dev.prints]
    dev.events.clear()
    dev.prints.clear()
    return rows


class CsvSink:
    """CSV rows `t,seq,k,label,conf,logit_<class>...`, flushed per row ('-' = stdout)."""

    def __init__(self, path: str):
        try:
            self.f = sys.stdout if path == "-" else open(path, "a", newline="", encoding="utf-8")
        except OSError as e:  # opened before any board is: a bad path costs nothing
            raise MbnnError("cannot append to --csv %s (%s): give a file in an existing folder you can write to"
                            % (path, e.strerror)) from None
        self.w = csv.writer(self.f)
        self.header = self.f is sys.stdout or self.f.tell() == 0

    def __call__(self, row: dict, dev: Device) -> None:
        if row["type"] != "prediction":
            return  # the CSV holds predictions only
        if self.header:
            self.w.writerow(["t", "seq", "k", "label", "conf"] + [f"logit_{c}" for c in dev.meta.get("classes", [])])
            self.header = False
        self.w.writerow([row["t"], row["seq"], row["k"], row["label"], row["conf"]] + row["logits"])
        self.f.flush()

    def close(self) -> None:
        if self.f is not sys.stdout:
            self.f.close()


class View:
    """The terminal view: one row per class, the latest prediction highlighted."""

    def __init__(self, source: str):
        self.source = source
        self.times: deque[float] = deque(maxlen=20)
        self.recent: deque[int] = deque(maxlen=20)
        self.last: dict | None = None
        self.said: deque[str] = deque(maxlen=5)  # the program's latest lines and events
        from rich.live import Live

        from microbit_nn.host.progress import console

        self.live = Live(self.render(None), console=console, refresh_per_second=8, transient=False)

    def __call__(self, row: dict, dev: Device) -> None:
        if row["type"] != "prediction":
            self.said.append(row["text"] if row["type"] == "print" else "%s %s" % (row["event"], row["label"]))
            self.live.update(self.render(dev))
            return
        self.times.append(time.monotonic())
        self.recent.append(row["k"])
        self.last = row
        self.live.update(self.render(dev))

    def rate(self) -> float:
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(1e-6, self.times[-1] - self.times[0])

    def render(self, dev: Device | None) -> Group:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        row = self.last
        head = Text(f"microbit-nn on {self.source}", style="bold")
        if row is None or dev is None:
            return Group(head, Text("waiting for predictions..."))
        head.append(f"   {self.rate():.1f} predictions/s   #{row['seq']}", style="dim")
        head.append(f"   kernels: {row.get('kernels', 'unknown')}", style="dim")  # engine or python (banner)
        t = Table(box=None, pad_edge=False)
        for col in ("", "class", "confidence", f"last {len(self.recent)}", "logit"):
            t.add_column(col)
        names = dev.meta.get("classes", [])
        for k, name in enumerate(names + ["unknown"]):
            k = -1 if k == len(names) else k
            hit = row["k"] == k
            bar = "█" * (row["conf"] // 5) + f" {row['conf']}%" if hit else ""
            logit = str(row["logits"][k]) if 0 <= k < len(row["logits"]) else ""
            t.add_row("▶" if hit else "", Text(name, style="bold green" if hit else ""), bar,
                      str(self.recent.count(k)), logit)
        if self.said:
            return Group(head, t, Text("your program: " + " | ".join(self.said), style="cyan"))
        return Group(head, t)


def open_device(name: str, timeout: float) -> Device:
    """Open `name` and read the banner (MbnnError when it does not answer)."""
    ser = discover.open_port(name)
    try:
        dev = Device(ser, timeout=timeout)
        dev.info()
        return dev
    except BaseException:
        ser.close()
        raise


def reconnect(port: str | None, wait: float, timeout: float) -> Device:
    """Poll for the port to come back (up to `wait` s), then open it; retries while the board starts."""
    deadline = time.monotonic() + wait
    while True:
        name = discover.wait_port(port, max(0.0, deadline - time.monotonic()))
        if name is None:
            raise MbnnError(f"the micro:bit did not come back within {wait:g} s: plug it in and run "
                            "'mbnn stream' again")
        try:
            return open_device(name, timeout)
        except MbnnError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)  # the port exists but the board is still starting


def stream(dev: Device, sinks: list[Callable], count: int | None, again: Callable[[], Device] | None,
           say: Callable[[str], None]) -> Device:
    """Feed predictions to every sink until `count` (None: forever).

    On a disconnect, `again()` returns a new Device (None: the disconnect is an
    error). Returns the device in use at the end."""
    n = 0
    while count is None or n < count:
        try:
            for p in dev.predictions():
                while dev.notes:  # e.g. the app restarted after a stray Ctrl-C
                    say(dev.notes.pop(0))
                for row in [record(p, dev)] + extra_rows(dev):
                    for sink in sinks:
                        sink(row, dev)
                n += 1
                if count is not None and n >= count:
                    break
        except Disconnected as exc:
            if again is None:
                raise
            with contextlib.suppress(Exception):
                dev.ser.close()
            say(f"micro:bit disconnected ({exc}); waiting for it to come back...")
            dev = again()
            say(f"reconnected to {dev.ser.name or 'the micro:bit'}")
    return dev


def check_emulator_hex(path: str) -> None:
    """MbnnError when `path` is a MicroPython hex for the V2: the emulated board is a V1.
    Anything else that is wrong with the file is left to the emulator's own check."""
    from pathlib import Path

    from microbit_nn.export.hexbuild import hex_info

    try:
        text = Path(path).read_text(encoding="ascii")
        target = hex_info(text).target
    except (OSError, UnicodeDecodeError, MbnnError):
        return
    if target != "v1":
        raise MbnnError(f"{path} is a hex for the {target.upper()}; the emulator runs V1 builds: make one with "
                        "'mbnn build MODEL --target v1'")


@contextlib.contextmanager
def _source(args: argparse.Namespace) -> Iterator[tuple[Device, str, Callable[[], Device] | None]]:
    if args.emulator:
        from microbit_nn.host.emulator import Emulator

        check_emulator_hex(args.emulator)
        # real time: live samples at the board's pace
        with Emulator(args.emulator, icount=False) as emu:
            dev = Device(emu.serial, timeout=args.timeout)
            dev.wait_banner(timeout=30.0)
            yield dev, f"the emulator ({args.emulator})", None
        return
    name = discover.find_port(args.port)
    dev = open_device(name, args.timeout)
    try:
        yield dev, name, lambda: reconnect(args.port, args.reconnect, args.timeout)
    finally:
        with contextlib.suppress(Exception):
            dev.ser.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--port", type=port_name, help="serial port or pyserial URL (found automatically)")
    src.add_argument("--emulator", metavar="HEX", help="boot HEX on the emulated micro:bit V1 and stream from it")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", help="append CSV rows to FILE ('-': stdout)")
    out.add_argument("--json", action="store_true", help="print one JSON object per prediction")
    p.add_argument("--count", type=positive_int, help="stop after N predictions")
    p.add_argument("--timeout", type=positive_float, default=5.0, help="seconds without a prediction before giving up")
    p.add_argument("--reconnect", type=nonneg_float, default=30.0,
                   help="seconds to wait for an unplugged micro:bit to come back (default 30)")


def run(args: argparse.Namespace) -> int:
    from microbit_nn.host.progress import console

    def say(msg: str) -> None:
        console.print(f"[yellow]{msg}[/yellow]")

    shown = [0]
    csv_sink = CsvSink(args.csv) if args.csv else None
    try:
        with _source(args) as (dev, name, again):
            sinks: list[Callable] = [lambda row, d: row["type"] == "prediction" and shown.__setitem__(0, shown[0] + 1)]
            if args.json:
                sinks.append(lambda row, d: print(json.dumps(row), flush=True))
            if csv_sink:
                sinks.append(csv_sink)
            if not args.json and args.csv != "-":
                view = View(name)
                sinks.append(view)
                with view.live:
                    last = stream(dev, sinks, args.count, again, say)
            else:
                last = stream(dev, sinks, args.count, again, say)
            if last is not dev:  # a reconnected port (the first one is closed by _source)
                with contextlib.suppress(Exception):
                    last.ser.close()
    except KeyboardInterrupt:
        console.print(f"stopped after {shown[0]} predictions")
    finally:
        if csv_sink:
            csv_sink.close()
    return 0
