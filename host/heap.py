"""The free heap of a build, measured on the emulated micro:bit V1 (the other half of
export/budget.py's estimate: export/ never imports host/)."""

from __future__ import annotations

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export import reference
from microbit_nn.export.budget import Budget, estimate
from microbit_nn.export.qmodel import QModel
from microbit_nn.export.writer import device_files
from microbit_nn.host.device import Device
from microbit_nn.host.emulator import Emulator


def measure(qm: QModel, budget: Budget | None = None, timeout: float = 60.0, program: str | None = None) -> Budget:
    """Boots the V1 app with `qm` in the emulator: free heap at the banner and after one
    replayed window (its logits checked against the reference). Raises MbnnError when
    the app does not start (e.g. MemoryError while loading)."""
    b = budget or estimate(qm, "v1", program=program)
    window = np.random.default_rng(0).integers(-1500, 1500, (qm.window, 3))
    with Emulator.from_files(device_files(qm, "v1", program=program)) as emu:
        dev = Device(emu.serial, timeout=timeout)
        b.measured_free_load = int(dev.wait_banner()["free"])
        if program is not None and any(e.startswith("program") for e in dev.errors):
            raise MbnnError("the program did not load beside the model (%s)" % next(
                e for e in dev.errors if e.startswith("program")))
        p = dev.replay_window(window)
        if list(p.logits) != reference.run(qm, window[None])[0].tolist():
            raise MbnnError("the emulated micro:bit computed other logits than the reference: run 'mbnn selftest --emulator'")
        b.measured_free_inference = int(dev.free_heap())
    return b
