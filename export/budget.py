"""Will a model fit the micro:bit? Estimated and (V1, emulated) measured free heap.

The estimate adds up what the app holds once it has loaded a model (see
docs/firmware.md for how each figure was measured on the emulated V1 with
the bundled MicroPython 1.9.2): the app's own code, each kernel function the
device's qk.py keeps, ft.py and qa.py when shipped, every table and buffer as
an array (a 16-byte object plus its items in 16-byte blocks), and per kernel
call its bound argument tuple. `V1_BASE` is calibrated so the estimate matches
the measured banner of the default mlp and cnn (`mbnn train synthetic`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export import names
from microbit_nn.export.plan import calls
from microbit_nn.export.program import heap_cost
from microbit_nn.export.qmodel import Conv1d, Dense, FeatureInput, QModel
from microbit_nn.export.writer import kernel_plan

# Bytes free after loading and one inference: the design target, and the
# least export and build accept. Measured: an mlp with --hidden 32 (1,856
# free) runs, a cnn with --hidden 20 (estimated 1,820) fails to load. (Booted in
# real time, the same files varied by up to ~100 bytes; a real board's margin.)
TARGET_FREE = 2048
MIN_FREE = 1920
# With a user's program (compiled first, before the model: app.py, firmware/pl.py) the
# least the estimate must leave. Calibrated on the emulated V1 (docs/program.md): 8
# builds (default mlp and cnn, random mlp hidden 16/24, cnn 12/16, 3-5 long names, 3-
# and 15-line programs) estimated at 1,512-1,800 ran their program with 1,872-2,288
# measured free; an mlp hidden 32 estimated at 760 did not (the app then runs the model
# without the program: a program never costs the board its model).
PROGRAM_MIN_FREE = 1500
INFERENCE_COST = 64  # measured: free heap drops by this much after the first prediction
# Heap of one function of qk.py on the V1 (measured alone, opt_level 3; module: 64).
QK_COST = {"rq": 96, "dense": 160, "conv": 576, "mpool": 176, "apool": 176, "gap": 144,
           "gmp": 112, "amax": 96, "rawq": 128, "featq": 144, "conf": 128}
QK_MODULE = 64
# The engine (export/engine.py): le.py's ex and rv, the pieces' list, and one chunk of
# the qstr pool. MicroPython interns a string literal of at most 10 characters that its
# firmware does not hold already: model.py's first such string (a short class-name list
# C, or an icon such as DIAMOND, DIAMOND_SMALL, DUCK or UMBRELLA, measured one by one)
# costs 128 bytes of heap, the next ones nothing more. Measured on the emulated V1 with
# benchmarks/budget_margin.py (13 random sizes, mlp hidden 12-96, cnn up to 16x40,
# icon DIAMOND) the estimate is 120-200 bytes below the free heap after an inference;
# trained mlp-64, cnn 8x24 and 8x32 (synthetic, 5 classes): 136-152 below.
ENGINE_COST = 146 + 128
FEAT_COST = 980  # qf (or ft) for an mlp, in place: calibrated
STEP_COST = 48  # per kernel call: its (function, arguments) pair
# The all-Python build of a conv model on the V1: qk's conv compiles into blocks the
# loaded heap barely has. Measured (random cnn, 3 classes): hidden 6 loads (2,480 bytes
# free after an inference, estimated 2,538 without this reserve), hidden 8 fails with a
# MemoryError (estimated 2,458): so much is held back that the second is refused.
PY_CONV_RESERVE = 600
V1_BASE = 5994  # the all-Python build: calibrated on the default cnn (2,048 measured), conservative for the mlp
V2_HEAP = 64 * 1024  # MicroPython 2.1.2 on the V2 has ~64 KB of heap; the V1 is the limit


@dataclass
class Budget:
    """The estimate (bytes) and, when measured, the emulator's figures."""

    target: str
    estimate_free: int
    code: int
    tables: int
    buffers: int
    fs_bytes: int
    fs_size: int
    kernels: str = "engine"  # what runs the model: "engine" (machine code) or "python"
    program: int = 0  # of `code`: the user's program and its event code (app.py's #P lines, pl.py)
    measured_free_load: int | None = None
    measured_free_inference: int | None = None

    @property
    def free(self) -> int:
        """The best figure for free heap after an inference: measured if there is one."""
        if self.measured_free_inference is not None:
            return self.measured_free_inference
        return self.estimate_free

    @property
    def min_free(self) -> int:
        """The least free heap this build may leave (less with a program: see PROGRAM_MIN_FREE)."""
        return PROGRAM_MIN_FREE if self.program else MIN_FREE

    @property
    def verdict(self) -> str:
        """'fits', 'tight' (runs, with less headroom than the target) or 'does not fit'."""
        if self.fs_bytes > self.fs_size or self.free < self.min_free:
            return "does not fit"
        return "fits" if self.free >= TARGET_FREE else "tight"

    def as_dict(self) -> dict:
        """The figures and the verdict, for --json."""
        return dict(asdict(self), free=self.free, verdict=self.verdict, target_free=TARGET_FREE, min_free=self.min_free)


def _arr(nbytes: int) -> int:
    """Heap of one array: its object (16 bytes) and its items in 16-byte blocks."""
    return 16 + -(-int(nbytes) // 16) * 16


def _tables(qm: QModel) -> list[int]:
    """Byte sizes of the model's tables in the all-Python build (int8 weights and shifts,
    int32 bias and multipliers, feature offsets int16 when they fit: writer's choice)."""
    out = [2 * len(qm.exp_table)]
    if isinstance(qm.input, FeatureInput):
        f = qm.input
        out += [(2 if np.abs(f.offset).max() < 32768 else 4) * len(f.offset), 4 * len(f.mult), len(f.shift)]
    for l in qm.layers:
        if isinstance(l, (Dense, Conv1d)):
            out += [l.w.size, 4 * l.b.size, 4 * l.mult.size, l.shift.size]
    return out


def estimate(qm: QModel, target: str = "v1", asm: bool | None = None, program: str | None = None) -> Budget:
    """The estimated budget of `qm` on `target` ("v1" or "v2"); no emulator needed.
    `asm`: run the model in the engine (writer.device_files's `asm`); `program`: the
    user's program (export/program.py), counted in `code` and in the files."""
    from microbit_nn.export.hexbuild import TARGETS, firmware_hex, fs_bytes, hex_info
    from microbit_nn.export.writer import buffer_bytes, device_files

    if target not in TARGETS:
        raise MbnnError("unknown target %r: use v1 or v2" % target)
    plan = kernel_plan(qm, target, asm)
    code = QK_MODULE + sum(QK_COST.get(k, 160) for k in plan["qk"])
    if plan["engine"]:
        from microbit_nn.export import engine

        blob = engine.build(qm, flash=target == "v1")  # writer.device_files's default
        code = ENGINE_COST  # no kernel module: amax and conf are in the engine too
        # f.bin's items stay in flash: only model.py's X (their chunks' addresses) costs heap
        tables = sum(_arr(len(p)) for p in blob.pieces) + (_arr(4 * blob.flash_chunks) if blob.flash else 0)
        buffers = _arr(6 * qm.window) + _arr(blob.n_out) + STEP_COST * (len(blob.calls) + len(blob.outputs))
    else:
        code += FEAT_COST if isinstance(qm.input, FeatureInput) else 0
        code += PY_CONV_RESERVE if target == "v1" and any(isinstance(l, Conv1d) for l in qm.layers) else 0
        tables = sum(_arr(n) for n in _tables(qm))
        buffers = sum(_arr(n) for n in [6 * qm.window] + buffer_bytes(qm)) + STEP_COST * len(calls(qm))
    # the class names (one string, export/names.py's forms) and the icon list G; the
    # calibration models' names are counted too, so this errs on the safe side
    forms = names.check(qm.classes)
    tables += _arr(len(",".join(forms))) + _arr(4 * (len(forms) + 1))
    base = V1_BASE if target == "v1" else V2_HEAP
    program_bytes = heap_cost(program) if program is not None else 0
    code += program_bytes
    free = base - code - tables - buffers - INFERENCE_COST
    files = device_files(qm, target, asm=asm, program=program)
    return Budget(target, int(free), code, tables, buffers, fs_bytes(files), hex_info(firmware_hex(target)).fs_size,
                  kernels="engine" if plan["engine"] else "python", program=program_bytes)
