"""Firmware that runs ON the micro:bit (and unchanged under CPython).

Modules here import each other by bare name, exactly as on the device, where
they sit flat in the filesystem. Host code loads them with `load` below, which
puts this folder on sys.path, so the bytes tested are the bytes flashed.
"""

import os
import sys

FIRMWARE_DIR = os.path.dirname(os.path.abspath(__file__))


def load(name: str):
    """Import the firmware module `name` (e.g. "qk") by bare name, as the device does."""
    if FIRMWARE_DIR not in sys.path:
        sys.path.insert(0, FIRMWARE_DIR)
    __import__(name)
    return sys.modules[name]
