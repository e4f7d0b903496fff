"""Writes what the micro:bit needs: `model.py` (the model's calls and tables) and
the firmware files, ready for a .hex or a copy over serial.

model.py is MicroPython data compiled ON the device, shaped for the V1's
9 KB heap: one-letter names (each name is a RAM qstr) and no code. Its
tables are bytes literals (`model_source(qm)`; no literal over `CHUNK`
bytes: a 3,000-byte literal fails to compile on the V1), or item counts
with the bytes in model.bin (what `device_files` ships, for both boards:
no compile cost, and the V2's filesystem holds only 20 KB).
`array('b', b'..')` takes the raw bytes in MicroPython and CPython alike;
int16/int32 tables are little-endian. `L` lists the kernel calls from the
window to the logits; firmware/lo.py builds the arrays and binds the calls
to the app's buffers. Layouts and the memory budget: docs/firmware.md.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np

from microbit_nn import __version__
from microbit_nn.errors import MbnnError
from microbit_nn.export.pysource import closure, minify, prune
from microbit_nn.export.qmodel import (N_FEATURES, AvgPool1d, Conv1d, Dense, FeatureInput,
                                       GlobalAvgPool, GlobalMaxPool, MaxPool1d, QModel)
from microbit_nn.firmware import FIRMWARE_DIR

CHUNK = 960  # bytes per literal: well below the ~2,000 bytes the V1 still compiles
HOP_MS = 250
TARGETS = ("v1", "v2")
ASM_KERNELS = ("dense", "conv")  # what firmware/qa.py provides
APP_FILES = ("main.py", "app.py", "lo.py", "st.py")  # firmware/ files of the app
_SIZE = {"b": 1, "h": 2, "i": 4}
TABLE = -1000  # a model.py argument TABLE - i is table i (no other argument is below -128)


class Tables:
    """Collects the model's int tables for model.py's `Q`: a table argument is written
    as the number TABLE - i, meaning entry i of Q (no other argument is that small).
    An entry is (typecode, the bytes literal) or, with `binary`, (typecode, item
    count) with the bytes in model.bin (`data`). Q lists the biggest tables first:
    reading them in that order leaves each temporary buffer as a hole the next,
    smaller table fills, so the V1 heap does not fragment."""

    def __init__(self, binary: bool = False):
        self.binary = binary
        self.tables: list[tuple[str, bytes]] = []

    def __call__(self, code: str, values) -> str:
        raw = np.asarray(values, dtype=np.int64).reshape(-1).astype("<i%d" % _SIZE[code]).tobytes()
        self.tables.append((code, raw))
        return "#%d#" % (len(self.tables) - 1)

    def order(self) -> list[int]:
        """Table numbers in Q's order: biggest first."""
        return sorted(range(len(self.tables)), key=lambda k: -len(self.tables[k][1]))

    @property
    def data(self) -> bytes:
        """The bytes of model.bin (empty unless `binary`)."""
        return b"".join(self.tables[k][1] for k in self.order()) if self.binary else b""

    def source(self) -> str:
        """The text of Q, flat: typecode, then bytes literal or item count, per table."""
        out = []
        for k in self.order():
            code, raw = self.tables[k]
            if self.binary:
                out.append("%r,%d" % (code, len(raw) // _SIZE[code]))
            else:
                step = CHUNK - CHUNK % _SIZE[code]
                parts = [raw[i:i + step] for i in range(0, len(raw), step)] or [b""]
                out.append("%r,%s" % (code, "+".join(repr(p) for p in parts)))
        return "Q=(\n" + "".join(e + ",\n" for e in out) + ")"

    def resolve(self, src: str) -> str:
        """`src` with the table placeholders numbered in Q's order."""
        where = {k: i for i, k in enumerate(self.order())}
        return re.sub(r"#(\d+)#", lambda m: "%d" % (TABLE - where[int(m.group(1))]), src)


# Kernels told their output size explicitly, so their output may be a bigger
# buffer shared with other calls (dense takes len(x) and len(y); featq len(y)).
POOLED = ("rawq", "conv", "mpool", "apool", "gap", "gmp")


def _call(kernel: str, code: str, n_out: int, y_at: int, *args) -> list:
    """[kernel, output typecode, output size, y position, the call's arguments with
    0 standing for the input x and for the output y]."""
    call = [0] + list(args)
    call.insert(y_at, 0)
    return [kernel, code, n_out, y_at, call]


def _share(calls: list) -> None:
    """Lets the outputs of POOLED calls share two buffers (a call's input and output
    never share one): the first call of a pair allocates the bigger size, a later one
    gets -(k + 1) as its size, meaning "call k's output buffer"."""
    pool = [None] * len(calls)
    for i, c in enumerate(calls):
        if c[0] in POOLED and i + 1 < len(calls) and calls[i + 1][0] not in ("dense", "featq"):
            pool[i] = 1 if i and pool[i - 1] == 0 else 0
    for p in (0, 1):
        users = [i for i in range(len(calls)) if pool[i] == p]
        if users:
            calls[users[0]][2] = max(calls[i][2] for i in users)
            for i in users[1:]:
                calls[i][2] = -(users[0] + 1)


def _source(c: list) -> str:
    """One call in model.py's flat L: kernel, typecode, size, y position, n, n arguments."""
    args = [a if isinstance(a, str) else "%d" % int(a) for a in c[4]]
    return ",".join([repr(c[0]), repr(c[1]), "%d" % c[2], "%d" % c[3], "%d" % len(args)] + args)


def steps(qm: QModel, tbl=None, asm=ASM_KERNELS) -> list[tuple[str, str]]:
    """The kernel calls of `qm`, input stage first, as (kernel name, model.py source);
    `tbl` writes the tables (default: bytes literals). Shifts (1..30) are int8 tables
    for the kernels qk runs (it only indexes them), int32 for those in `asm` (qa loads
    words), and feature offsets int16 when they fit: the V1 needs every byte."""
    out = calls(qm, tbl or Tables(), asm)
    _share(out)
    return [(c[0], _source(c)) for c in out]


def calls(qm: QModel, tbl: Tables, asm=ASM_KERNELS) -> list[list]:
    """The kernel calls of `qm` as [kernel, output typecode, output size, y position,
    arguments] (see `_call`), each output its own buffer; table arguments are `tbl`'s
    placeholders "#k#" (see steps)."""
    shapes, sizes = qm.activation_shapes(), qm.activation_sizes()
    if isinstance(qm.input, FeatureInput):
        f = qm.input
        out = [_call("feats", "i", N_FEATURES, 2, qm.window),
               _call("featq", "b", N_FEATURES, 4, tbl("h" if np.abs(f.offset).max() < 32768 else "i", f.offset),
                          tbl("i", f.mult), tbl("b", f.shift))]
    else:
        out = [_call("rawq", "b", 3 * qm.window, 3, 3 * qm.window, qm.input.shift)]
    for i, l in enumerate(qm.layers):
        n = sizes[i + 1]
        L, c = shapes[i] if len(shapes[i]) == 2 else (0, 0)
        if isinstance(l, (Dense, Conv1d)):
            kernel = "dense" if isinstance(l, Dense) else "conv"
            w, b, m = tbl("b", l.w), tbl("i", l.b), tbl("i", l.mult)
            s = tbl("i" if kernel in asm else "b", l.shift)
            lo = 0 if l.relu else -128
            if isinstance(l, Dense):
                out.append(_call("dense", "b", n, 5, w, b, m, s, lo))
            else:
                out.append(_call("conv", "b", n, 10, L, c, w, l.w.shape[1], l.stride, l.pad, b, m, s, lo))
        elif isinstance(l, MaxPool1d):
            out.append(_call("mpool", "b", n, 5, L, c, l.k, l.stride))
        elif isinstance(l, AvgPool1d):
            out.append(_call("apool", "b", n, 7, L, c, l.k, l.stride, l.mult, l.shift))
        elif isinstance(l, GlobalAvgPool):
            out.append(_call("gap", "b", n, 5, L, c, l.mult, l.shift))
        elif isinstance(l, GlobalMaxPool):
            out.append(_call("gmp", "b", n, 3, L, c))
        else:
            raise MbnnError("cannot export layer %s: re-train with an mlp or cnn model" % type(l).__name__)
    return out


def _names(items) -> str:
    """The names joined by commas, as a Python literal; MbnnError for one the device cannot take."""
    for s in items:
        if not s or any(ch in s for ch in " ,'\"\\") or not s.isascii() or not s.isprintable():
            raise MbnnError("class or icon name %r cannot go on the micro:bit: use ASCII names "
                            "without spaces, quotes or commas" % s)
    return repr(",".join(items))


def model_source(qm: QModel, hop_ms: int = HOP_MS, tables: Tables | None = None, asm=ASM_KERNELS,
                 blob=None) -> str:
    """The text of model.py for `qm` (MicroPython 1.9 and CPython): plain data that
    firmware/lo.py turns into arrays and kernel calls.

    Tables are bytes literals in Q unless `tables` is a binary `Tables`: then
    Q gives their sizes and the bytes go to model.bin (`tables.data`), which
    the device reads with readinto into arrays of the exact size (docs/firmware.md).
    `asm`: the kernels qa runs on the device (see steps). With `blob` (an
    export/engine.py Blob: p.bin) the calls and tables are in the blob, and
    model.py gives the logits' size Y, the sizes of p.bin's pieces S, and where
    the call records are (Z) and those of amax and conf (O).
    """
    qm.validate()
    tbl = tables or Tables()
    if blob is None:
        body = ["E=%s" % tbl("h", qm.exp_table), "L=("] + [src + "," for _, src in steps(qm, tbl, asm)] + [")"]
    else:
        body = ["Y=%d" % blob.n_out, "S=(%s,)" % ",".join("%d" % len(p) for p in blob.pieces),
                "Z=(%s,)" % ",".join("%d" % v for v in blob.calls), "O=(%d,%d)" % tuple(blob.outputs)]
    lines = [
        "# model.py: written by mbnn export %s; re-export instead of editing." % __version__,
        "V=%r" % __version__,
        "K=%r" % qm.kind,
        "C=%s" % _names(qm.classes),
        "G=%r" % (_names(qm.icons) and tuple(qm.icons),),
        "W=%d" % qm.window,
        "T=%d" % qm.period_ms,
        "P=%d" % int(hop_ms),
        "H=%d" % qm.threshold,
    ] + [tbl.resolve(line) for line in body] + ([tbl.source()] if blob is None else [])
    return "\n".join(lines) + "\n"


def _firmware(name: str) -> str:
    try:
        return (Path(FIRMWARE_DIR) / name).read_text(encoding="ascii")
    except (OSError, UnicodeError):
        raise MbnnError("firmware file %s is missing or damaged: reinstall microbit-nn" % name) from None


def code_words(src: str, name: str = "_c") -> list[int]:
    """The Thumb halfwords of the data() calls in asm function `name` of `src`, in order."""
    fn = next((d for d in ast.walk(ast.parse(src)) if isinstance(d, ast.FunctionDef) and d.name == name), None)
    if fn is None:
        raise MbnnError("a firmware file has no %s: reinstall microbit-nn" % name)
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "data"]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [int(ast.literal_eval(a)) for c in calls for a in c.args[1:]]


def kernel_plan(qm: QModel, target: str = "v1", asm: bool | None = None) -> dict[str, list[str]]:
    """Which kernels each part of the device provides: {"engine": [...], "qa": [...], "qk": [...]}.

    qk keeps only the functions the model calls (each costs heap, and the
    filesystems are small: 28 KB on the V1, 20 KB on the V2). The V2 gets qa
    (compiled there; plenty of heap), and its qk keeps dense/conv too (the
    simulated device runs V2 files under CPython, where qa is unavailable).
    The V1 runs the whole model in the engine (export/engine.py: machine code,
    call records and tables in p.bin) unless `asm` is false or the engine
    cannot run the model; then every kernel is Python (qk, with qf or ft).
    """
    from microbit_nn.export import engine

    used = {k for k, _ in steps(qm)} | {"amax", "conf"}
    src = _firmware("qk.py")
    has_qa = (Path(FIRMWARE_DIR) / "qa.py").is_file()
    if target == "v2":
        return {"engine": [], "qa": list(ASM_KERNELS) if has_qa else [], "qk": closure(src, used)}
    if asm is None:
        asm = engine.supports(qm)
    elif asm:
        engine.build(qm)  # MbnnError saying why the engine cannot run it
    if asm:
        return {"engine": [k for k, _ in steps(qm)] + ["amax", "conf"], "qa": [], "qk": []}
    return {"engine": [], "qa": [], "qk": closure(src, used)}


def device_files(qm: QModel, target: str = "v1", hop_ms: int = HOP_MS, asm: bool | None = None) -> dict[str, bytes]:
    """Every file the device needs, name -> bytes: main.py, kernels, model.py, selftest.

    `asm` (V1 only): run the model in the engine (default: when it can, see
    kernel_plan) or, false, in Python. Raises MbnnError for an unknown target
    or a model that cannot be written.
    """
    if target not in TARGETS:
        raise MbnnError("unknown target %r: use v1 or v2" % target)
    from microbit_nn.export import engine, goldens  # goldens imports the numpy reference

    plan = kernel_plan(qm, target, asm)
    files = {n: minify(_firmware(n)) for n in APP_FILES}
    if plan["qa"]:
        files["qa.py"] = minify(prune(_firmware("qa.py"), ["_a", "_c"] + plan["qa"]))
    if plan["qk"]:
        files["qk.py"] = minify(prune(_firmware("qk.py"), plan["qk"]))
    blob = engine.build(qm) if plan["engine"] else None
    if blob:
        # the engine's loaders (firmware/le.py) replace lo.py's li, lt and lb
        files["lo.py"] = minify(prune(_firmware("lo.py"), ["z"]) + _firmware("le.py"))
    if isinstance(qm.input, FeatureInput) and blob is None:
        files["ft.py"] = minify(_firmware("ft.py"))
        if (Path(FIRMWARE_DIR) / "qf.py").is_file():
            files["qf.py"] = minify(_firmware("qf.py"))
    tables = Tables(binary=blob is None)  # the V2's filesystem (20 KB) is smaller than the V1's
    files["model.py"] = model_source(qm, hop_ms, tables, plan["qa"], blob)
    out = {k: v.encode("ascii") for k, v in files.items()}
    if blob:
        out["p.bin"] = b"".join(blob.pieces)  # firmware/le.py reads it
    else:
        out["model.bin"] = bytes(tables.data)
    out["st.bin"] = goldens.golden_file(qm, plan)
    return out


def write_export(qm: QModel, out_dir, target: str = "v1", hop_ms: int = HOP_MS) -> dict[str, Path]:
    """Writes device_files() into `out_dir` (created); returns name -> path."""
    out = Path(out_dir)
    paths = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in device_files(qm, target, hop_ms).items():
            (out / name).write_bytes(data)
            paths[name] = out / name
    except OSError as e:
        raise MbnnError("cannot write to %s (%s): choose another --out folder" % (out, e.strerror)) from None
    return paths
