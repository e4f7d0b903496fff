"""Shared fixtures: firmware modules, a seeded rng, random QModels, the
bit-exact case counter reported at the end of the session, and the CI rule:
with CI=true the emulator tests and LLVM cross-checks may not skip (a missing
QEMU or llvm-mc fails the run)."""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import pytest

from microbit_nn import firmware
from microbit_nn.errors import MbnnError

_BITEXACT = {"cases": 0}


class BitExact:
    """Counts comparisons firmware == reference; the session summary prints the total."""

    def add(self, n: int = 1) -> None:
        _BITEXACT["cases"] += int(n)


@pytest.fixture(scope="session")
def bitexact() -> BitExact:
    return BitExact()


def in_ci(env: Mapping[str, str] = os.environ) -> bool:
    """True on a CI runner (GitHub Actions, GitLab CI and most others set CI=true)."""
    return env.get("CI", "").strip().lower() in ("1", "true", "yes")


def qemu_missing() -> str | None:
    """Why the emulated micro:bit cannot run here (host/emulator.py's own search), or None."""
    from microbit_nn.host.emulator import find_qemu

    try:
        find_qemu()
    except MbnnError as exc:
        return str(exc)
    return None


def emulator_marks() -> list:
    """The marks of an emulator test: `emulator`, and a skip where host/emulator.py finds
    no QEMU (with CI=true that skip fails the run: see refused_skip). For a module:
    `pytestmark = emulator_marks()`."""
    missing = qemu_missing()
    return [pytest.mark.emulator, pytest.mark.skipif(missing is not None, reason=missing or "")]


def needs_qemu(test):
    """An emulator test (emulator_marks), as a decorator."""
    for mark in emulator_marks():
        test = mark(test)
    return test


def refused_skip(reason: str, env: Mapping[str, str] = os.environ) -> str | None:
    """The failure that replaces a skip CI does not allow (one for want of QEMU, or of LLVM,
    the assembler's oracle), else None."""
    if in_ci(env) and "qemu" in reason.lower():
        return f"CI=true and an emulator test skipped ({reason}): install QEMU on the runner (./run setup)"
    if in_ci(env) and "llvm" in reason.lower():
        return f"CI=true and an LLVM cross-check skipped ({reason}): install llvm on the runner (./run setup)"
    return None


def pytest_configure(config):
    if in_ci():
        missing = qemu_missing()
        if missing:  # fail at once, not after minutes of other tests
            raise pytest.UsageError(f"CI=true but the emulated micro:bit cannot run: {missing}; "
                                    "emulator tests may not skip in CI")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CI=true, a test skipped for want of QEMU fails (however the test looked for QEMU)."""
    report = (yield).get_result()
    if report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr, tuple):
        message = refused_skip(str(report.longrepr[2]).removeprefix("Skipped: "))
        if message:
            report.outcome, report.longrepr = "failed", message


def pytest_terminal_summary(terminalreporter):
    if _BITEXACT["cases"]:
        terminalreporter.write_line(f"bit-exact cases: {_BITEXACT['cases']}")


@pytest.fixture(scope="session")
def qk():
    """firmware/qk.py loaded by bare name, as on the device."""
    return firmware.load("qk")


@pytest.fixture(scope="session")
def ft():
    """firmware/ft.py loaded by bare name, as on the device."""
    return firmware.load("ft")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_qmodel(kind: str, rng: np.random.Generator, n_classes: int = 4, window: int = 50):
    """A random but valid QModel of the given kind (weights obey the small-int rule)."""
    from microbit_nn.export import quant
    from microbit_nn.export.qmodel import (Conv1d, Dense, FeatureInput, GlobalAvgPool, MaxPool1d,
                                           QModel, RawInput)

    from microbit_nn.export.goldens import random_affine

    def affine(w_shape, s_out_ratio):
        return random_affine(rng, w_shape, s_out_ratio)

    if kind == "mlp":
        off, m, s = quant.feature_input_params(rng.integers(-300, 300, 24), 1 / 20.0)
        inp = FeatureInput(offset=off, mult=m, shift=s)
        layers = [Dense(relu=True, **affine((12, 24), 2.0)), Dense(relu=False, **affine((n_classes, 12), 0.5))]
    else:
        inp = RawInput(shift=4)
        c1 = Conv1d(stride=2, pad=2, relu=True, **affine((6, 5, 3), 3.0))
        c2 = Conv1d(stride=1, pad=1, relu=True, **affine((8, 3, 6), 0.7))
        L = ((window + 4 - 5) // 2 + 1 - 2) // 2 + 1  # after conv1 and a maxpool(2, 2)
        L = L + 2 - 3 + 1
        gm, gs = quant.choose_requant(1.0 / L, 128 * L)
        layers = [c1, MaxPool1d(k=2, stride=2), c2, GlobalAvgPool(mult=gm, shift=gs),
                  Dense(relu=False, **affine((n_classes, 8), 0.2))]
    classes = [f"c{i}" for i in range(n_classes)]
    return QModel(kind=kind, classes=classes, window=window, period_ms=20, input=inp, layers=layers,
                  out_scale=0.1, exp_table=quant.make_exp_table(0.1), threshold=60,
                  icons=["HAPPY"] * n_classes, meta={"seed": 1})


@pytest.fixture
def qmodel_factory():
    """make_qmodel(kind, rng, n_classes=4, window=50) as a fixture."""
    return make_qmodel
