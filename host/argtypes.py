"""argparse value types that check ranges, so a bad option is one usage line
("argument --hidden: ... allowed: ...") before any work starts."""

from __future__ import annotations

import argparse


def int_in(lo: int, hi: int | None = None):
    """An argparse `type` accepting integers in [lo, hi] (no upper bound when hi is None)."""
    allowed = f"an integer from {lo} to {hi}" if hi is not None else f"an integer >= {lo}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer; allowed: {allowed}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range; allowed: {allowed}")
        return value

    parse.__name__ = "int"  # argparse names the type in some messages
    return parse


SEED = int_in(0, 2**31 - 1)
