"""Option value types for argparse: each refuses a bad value with one line saying what is allowed.

Used as `type=` in the commands' `add_arguments`, so a bad value stops at
parsing (argparse prints usage and `error: argument --x: ...`, exit 2)
before any board is opened or file written.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _number(kind: type, text: str, allowed: str):
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number: allowed is %s" % (text, allowed)) from None
    if kind is float and not math.isfinite(v):
        raise argparse.ArgumentTypeError("%r is not a finite number: allowed is %s" % (text, allowed))
    return v


def _checked(kind: type, ok: Callable[[float], bool], allowed: str, name: str) -> Callable[[str], float]:
    def parse(text: str):
        v = _number(kind, text, allowed)
        if not ok(v):
            raise argparse.ArgumentTypeError("%s is not allowed: give %s" % (text, allowed))
        return v
    parse.__name__ = name  # argparse names the type in its messages
    return parse


positive_int = _checked(int, lambda v: v >= 1, "a whole number of at least 1", "positive_int")
nonneg_int = _checked(int, lambda v: v >= 0, "a whole number of at least 0", "nonneg_int")
positive_float = _checked(float, lambda v: v > 0, "a number greater than 0", "positive_float")
nonneg_float = _checked(float, lambda v: v >= 0, "a number of at least 0", "nonneg_float")


def port_name(text: str) -> str:
    """A serial port: a device path, COM name or pyserial URL; not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the port is empty: give a device such as /dev/ttyACM0 or COM3, "
                                         "or leave --port out to find the micro:bit")
    return text


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """A whole number in [lo, hi] (no upper bound when hi is None)."""
    allowed = "a whole number from %d to %d" % (lo, hi) if hi is not None else "a whole number of at least %d" % lo
    return _checked(int, lambda v: v >= lo and (hi is None or v <= hi), allowed, "int")


SEED = int_in(0, 2**31 - 1)
