"""`mbnn check [MODEL] (--port P | --emulator [--hex FILE])`: is this micro:bit working?

For a user with a real board (V1 or V2) and for bug reports. Against the app
already on the board it reads the banner (version, model kind, kernels, free
heap), runs the on-device selftest (the golden vectors of st.bin), replays a
few built-in windows (each prediction must be well formed, and the same
window twice must give the same logits), reads the free heap after them, and
finally stops the app to read the MicroPython banner (which names the board)
and restarts it. The model on the board is unknown to the host unless MODEL
is given: then the replayed logits must also equal the numpy reference's bit
for bit. One line per check, then a one-line summary `mbnn check: ...` with
the facts a bug report needs; exit code 0 when every check passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Iterator

from microbit_nn.errors import MbnnError
from microbit_nn.host.argtypes import port_name, positive_float

N_WINDOWS = 4  # built-in windows replayed (the first one twice)
# Heap figures that call for a FAIL: less than this free after the replays
# (the app then risks a MemoryError), or a drop from the banner's figure larger
# than this (something keeps memory per prediction). Measured drop: 64-80 bytes
# on the emulated V1 (the first inference's cost); the V1's free heap varies by
# ~100 bytes from boot to boot.
HEAP_FLOOR = 1024
HEAP_DROP = 512
CHIPS = {"nRF51822": "v1", "nRF52833": "v2"}  # the chip the MicroPython banner names -> board


@dataclass
class Check:
    """One line of the report: a check's name, whether it passed, and its figure or reason."""

    name: str
    ok: bool
    detail: str


def board_of(micropython: str | None) -> str | None:
    """"v1"/"v2" from the MicroPython banner's chip name; None when it names neither."""
    for chip, board in CHIPS.items():
        if micropython and chip in micropython:
            return board
    return None


def prediction_problems(p, n: int) -> list[str]:
    """What is wrong with a Prediction from a board whose banner has `n` classes (empty: valid)."""
    bad = []
    if len(p.logits) != n:
        bad.append("%d logits for %d classes" % (len(p.logits), n))
    if not -1 <= p.k < n:
        bad.append("class index %d outside -1..%d" % (p.k, n - 1))
    if not 0 <= p.conf <= 100:
        bad.append("confidence %d%% outside 0..100" % p.conf)
    if any(not -128 <= v <= 127 for v in p.logits):
        bad.append("a logit outside int8")
    if 0 <= p.k < len(p.logits) and p.logits[p.k] != max(p.logits):
        bad.append("class %d is not the largest logit" % p.k)
    return bad


def check_banner(meta: dict, host_version: str) -> Check:
    """The banner names the app's version, the model and the kernels that run it."""
    detail = "microbit-nn %s%s, %s model, %d classes, window %d, kernels %s, %d bytes free" % (
        meta["version"], "" if meta["version"] == host_version else " (this mbnn: %s)" % host_version,
        meta["kind"], len(meta["classes"]), meta["window"], meta["kernels"], meta["free"])
    if meta["kernels"] not in ("engine", "python"):
        return Check("banner", False, detail + ": an older microbit-nn that does not say which kernels run; "
                     "rebuild and flash it with 'mbnn build' + 'mbnn flash'")
    return Check("banner", True, detail)


def check_selftest(dev, timeout: float) -> tuple[Check, dict]:
    """The golden vectors on the board; the board restarts into the app afterwards."""
    results = dev.selftest(timeout=timeout)
    dev.wait_banner(timeout=timeout)
    failed = [(n, d) for n, ok, d in results if not ok]
    counts = {"passed": len(results) - len(failed), "failed": len(failed)}
    detail = "%(passed)d passed, %(failed)d failed" % counts
    if failed:
        detail += ": " + "; ".join("%s %s" % f for f in failed[:3])
    elif not results:
        detail += ": the board ran no test (st.bin missing?)"
    return Check("selftest", bool(results) and not failed, detail), counts


def check_replay(dev, windows, qm=None) -> tuple[list[Check], dict]:
    """Replays `windows` [N, L, 3] and the first one again; with `qm` (MODEL) also compares every
    window's logits with the numpy reference."""
    n = len(dev.meta["classes"])
    preds = [dev.replay_window(w) for w in windows]
    again = dev.replay_window(windows[0])
    bad = ["window %d: %s" % (i, ", ".join(prediction_problems(p, n)))
           for i, p in enumerate(preds + [again]) if prediction_problems(p, n)]
    valid = len(preds) + 1 - len(bad)
    facts = {"windows": len(preds), "valid": valid, "repeatable": again.logits == preds[0].logits,
             "bit_exact": None}
    checks = [Check("replay", not bad, "%d of %d predictions well formed (%s)" % (
                  valid, len(preds) + 1, "; ".join(bad[:2]) if bad else "classes " + " ".join(
                      dev.label(p.k) for p in preds))),
              Check("repeat", facts["repeatable"], "window 0 twice: logits %s then %s" % (
                  list(preds[0].logits), list(again.logits)))]
    if qm is not None:
        checks.append(check_reference(dev.meta, qm, windows, preds, facts))
    return checks, facts


def check_reference(meta: dict, qm, windows, preds, facts: dict) -> Check:
    """The replayed logits against MODEL's numpy reference, bit for bit (fills facts["bit_exact"])."""
    from microbit_nn.export import reference

    if meta["classes"] != list(qm.classes) or meta["window"] != qm.window:
        facts["bit_exact"] = 0
        return Check("reference", False, "the board runs another model (classes %s, window %d) than MODEL "
                     "(classes %s, window %d): deploy MODEL with 'mbnn deploy', or check without MODEL"
                     % (",".join(meta["classes"]), meta["window"], ",".join(qm.classes), qm.window))
    want = reference.run(qm, windows)
    same = [list(p.logits) == want[i].tolist() for i, p in enumerate(preds)]
    facts["bit_exact"] = sum(same)
    detail = "%d of %d windows bit-exact with MODEL's reference" % (sum(same), len(same))
    if not all(same):
        i = same.index(False)
        detail += "; window %d: board %s, reference %s" % (i, list(preds[i].logits), want[i].tolist())
    return Check("reference", all(same), detail)


def check_heap(dev, before: int) -> tuple[Check, int]:
    """Free heap after the replays (`!g`, after a collection), against `before` (the banner's)."""
    after = dev.free_heap()
    detail = "%d bytes free after the replays (%d at the banner)" % (after, before)
    if after < HEAP_FLOOR:
        return Check("heap", False, detail + ": under %d bytes, the app may run out of memory; "
                     "train a smaller model" % HEAP_FLOOR), after
    if before - after > HEAP_DROP:
        return Check("heap", False, detail + ": the replays kept more than %d bytes" % HEAP_DROP), after
    return Check("heap", True, detail), after


_MP = re.compile(r"MicroPython [^\r\n>]*")


def micropython_banner(dev, timeout: float) -> tuple[Check, str | None]:
    """Stops the app (Ctrl-C) to read the MicroPython banner its REPL prints (Ctrl-B at the REPL
    prints it again), then soft-resets (Ctrl-D) and waits for the app's banner."""
    dev.close()  # replay mode off: no answer is pending when the app stops
    found, deadline = None, time.monotonic() + min(timeout, 10.0)  # a board stops within a second
    keys = b"\r\x03\x03"
    while found is None and time.monotonic() < deadline:
        dev.ser.write(keys)
        dev.ser.flush()
        keys = b"\r\x03\x02"  # already interrupted (the banner was missed): reprint it
        end = min(deadline, time.monotonic() + 2.0)
        while time.monotonic() < end:
            line = dev.reader.readline(0.1)
            m = _MP.search(line or "")
            if m:
                found = m.group(0).strip()
                break
    dev.ser.write(b"\x02\x04")  # leave a raw REPL if any, soft reset: main.py runs the app again
    dev.ser.flush()
    try:
        dev.wait_banner(timeout=timeout)
    except MbnnError:
        return Check("restart", False, "the app did not come back after Ctrl-C and a soft reset: press the "
                     "reset button"), found
    if found is None:
        return Check("restart", True, "the app restarted; no MicroPython banner seen"), None
    return Check("restart", True, "the app restarted; MicroPython said: %s" % found), found


def summary(report: dict) -> str:
    """The one line a bug report needs."""
    d = report.get("device") or {}
    failed = [c["name"] for c in report["checks"] if not c["ok"]]
    st, rp = report.get("selftest"), report.get("replay")
    parts = ["mbnn check: " + ("FAIL " + ",".join(failed) if failed else "all %d ok" % len(report["checks"])),
             "mbnn %s" % report["host_version"],
             "board %s" % (report.get("board") or "unknown"),
             report.get("micropython") or "MicroPython banner not read",
             "app %s %s kernels %s" % (d.get("version", "?"), d.get("kind", "?"), d.get("kernels", "?")),
             "free %s -> %s bytes" % (report.get("free_before") or d.get("free", "?"),
                                      report.get("free_after") or "?"),
             "selftest %s" % ("%(passed)d passed %(failed)d failed" % st if st else "not run"),
             "replay %s" % ("%d/%d valid, %s, bit-exact %s" % (
                 rp["valid"], rp["windows"] + 1, "repeatable" if rp["repeatable"] else "NOT repeatable",
                 "n/a (no MODEL)" if rp["bit_exact"] is None else "%d/%d" % (rp["bit_exact"], rp["windows"]))
                 if rp else "not run")]
    if report.get("error"):
        parts.append("stopped: " + report["error"])
    return " | ".join(parts)


def run_checks(dev, qm=None, timeout: float = 60.0, repl: bool = True, say=lambda c: None) -> dict:
    """Every check on an open Device (banner already read); `say(Check)` after each one.
    An error from the board (it stops answering) ends the run with a FAIL line."""
    from microbit_nn import __version__
    from microbit_nn.host.cmd_bench import bench_windows

    report: dict = {"host_version": __version__, "checks": [], "device": dict(dev.meta), "board": None,
                    "micropython": None, "selftest": None, "replay": None, "free_before": None, "free_after": None,
                    "error": None}

    def add(c: Check) -> None:
        report["checks"].append(asdict(c))
        say(c)

    step = "banner"
    try:
        add(check_banner(dev.meta, __version__))
        step = "selftest"
        c, report["selftest"] = check_selftest(dev, timeout)
        add(c)
        step = "replay"
        report["free_before"] = dev.meta["free"]  # the banner after the selftest's restart: the app as it boots
        checks, report["replay"] = check_replay(dev, bench_windows(dev.meta["window"], N_WINDOWS), qm)
        for c in checks:
            add(c)
        step = "heap"
        c, report["free_after"] = check_heap(dev, report["free_before"])
        add(c)
        if repl:
            step = "restart"
            c, report["micropython"] = micropython_banner(dev, timeout)
            report["board"] = board_of(report["micropython"])
            add(c)
    except MbnnError as e:
        report["error"] = str(e)
        add(Check(step, False, str(e)))
    report["ok"] = all(c["ok"] for c in report["checks"])
    report["summary"] = summary(report)
    return report


@contextlib.contextmanager
def open_board(args: argparse.Namespace, qm) -> Iterator:
    """A Device on --port (found automatically when none is given), or on the emulated V1 booted
    with --hex, MODEL's V1 build, or the built-in test model's; its banner is read."""
    from microbit_nn.host.device import Device

    if args.emulator:
        from microbit_nn.host.emulator import Emulator

        if args.hex:
            from microbit_nn.host.cmd_stream import check_emulator_hex

            check_emulator_hex(args.hex)  # a V2 hex: say so, rather than wait for a board that never talks
            emu = Emulator(args.hex)
        else:
            from microbit_nn.export.goldens import random_qmodel
            from microbit_nn.export.writer import device_files

            emu = Emulator.from_files(device_files(qm if qm is not None else random_qmodel("mlp"), "v1"))
        with emu:
            dev = Device(emu.serial, timeout=args.timeout)
            dev.wait_banner(timeout=30.0)
            yield dev, "the emulated micro:bit V1"
        return
    from microbit_nn.host import discover

    ser = discover.open_port(args.port)
    try:
        dev = Device(ser, timeout=min(args.timeout, 10.0))
        dev.info()
        dev.timeout = args.timeout
        yield dev, ser.name or args.port
    finally:
        with contextlib.suppress(MbnnError):
            dev.close()
        ser.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="the model the board should run (the 'mbnn train --out' folder): "
                                            "the replayed logits must then equal its reference bit for bit")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--port", type=port_name, help="serial port or pyserial URL (found automatically)")
    src.add_argument("--emulator", action="store_true",
                     help="check the emulated micro:bit V1 (booted with --hex, MODEL's V1 build, or a test model)")
    p.add_argument("--hex", help="with --emulator: the .hex to boot")
    p.add_argument("--no-repl", action="store_true",
                   help="do not stop the app to read the MicroPython banner (the board is then not named)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--timeout", type=positive_float, default=60.0, help="seconds to wait for each answer (default 60)")


def run(args: argparse.Namespace) -> int:
    if args.hex and not args.emulator:
        raise MbnnError("--hex boots a file in the emulator: add --emulator (a real board runs what was flashed)")
    qm = None
    if args.model:
        from microbit_nn.export.qmodel import load_model

        qm = load_model(args.model)

    def say(c: Check) -> None:
        if not args.json:
            print("%-9s %-4s %s" % (c.name, "ok" if c.ok else "FAIL", c.detail), flush=True)

    with open_board(args, qm) as (dev, where):
        if not args.json:
            print("checking the micro:bit on %s" % where, flush=True)
        report = run_checks(dev, qm, args.timeout, not args.no_repl, say)
    if args.json:
        print(json.dumps(report))
    else:
        print(report["summary"])
    return 0 if report["ok"] else 1
