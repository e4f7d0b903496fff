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

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microbit_nn import __version__
from microbit_nn.errors import MbnnError
from microbit_nn.export import names, plan
from microbit_nn.export.program import check as check_program
from microbit_nn.export.pysource import closure, minify, prune
from microbit_nn.export.qmodel import FeatureInput, QModel
from microbit_nn.firmware import FIRMWARE_DIR

CHUNK = 960  # bytes per literal: well below the ~2,000 bytes the V1 still compiles
HOP_MS = 250
TARGETS = ("v1", "v2")
APP_FILES = ("main.py", "app.py", "st.py")  # firmware/ files of the app (and a loader: lo.py or le.py)
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
        raw = np.asarray(values, dtype=np.int64).reshape(-1).astype("<i%d" % plan.ITEM_BYTES[code]).tobytes()
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
                out.append("%r,%d" % (code, len(raw) // plan.ITEM_BYTES[code]))
            else:
                step = CHUNK - CHUNK % plan.ITEM_BYTES[code]
                parts = [raw[i:i + step] for i in range(0, len(raw), step)] or [b""]
                out.append("%r,%s" % (code, "+".join(repr(p) for p in parts)))
        return "Q=(\n" + "".join(e + ",\n" for e in out) + ")"

    def resolve(self, src: str) -> str:
        """`src` with the table placeholders numbered in Q's order."""
        where = {k: i for i, k in enumerate(self.order())}
        return re.sub(r"#(\d+)#", lambda m: "%d" % (TABLE - where[int(m.group(1))]), src)


@dataclass
class _Line:
    """One call in model.py's flat L: kernel, output typecode, output size (-(k + 1):
    call k's output buffer), where the output goes among the arguments, the arguments
    (model.py source: 0 for the input and the output, "#k#" for table k)."""

    kernel: str
    out_code: str
    size: int
    y_at: int
    args: list

    def source(self) -> str:
        return ",".join([repr(self.kernel), repr(self.out_code), "%d" % self.size, "%d" % self.y_at,
                         "%d" % len(self.args)] + [a if isinstance(a, str) else "%d" % a for a in self.args])


def _table_code(field: str, values: np.ndarray) -> str:
    """How the Python kernels store a table field: int8 weights and shifts (1..30; qk only
    indexes them), int32 bias and multipliers, feature offsets int16 when they fit."""
    if field == "offset":
        return "h" if np.abs(values).max(initial=0) < 32768 else "i"
    return {"weights": "b", "shift": "b"}.get(field, "i")


def _lines(qm: QModel, tbl: Tables) -> list[_Line]:
    """The calls of `qm` as model.py lines for the Python kernels, outputs shared."""
    out = []
    for c in plan.calls(qm):
        args = []
        for name, v in zip(c.QK_ARGS, c.qk_args()):
            args.append(0 if name in ("x", "y") else tbl(_table_code(name, v), v) if isinstance(v, np.ndarray) else int(v))
        out.append(_Line(c.kernel, c.out_code, c.n_out, c.QK_ARGS.index("y"), args))
    _share(out)
    return out


def _share(lines: list[_Line]) -> None:
    """Lets the outputs of calls sized by an argument share two buffers (a call's input
    and output never share one): the first call of a pair allocates the bigger size, a
    later one gets -(k + 1) as its size, meaning "call k's output buffer"."""
    pool = [None] * len(lines)
    for i, c in enumerate(lines):
        if c.kernel in plan.SIZED_BY_ARGUMENT and i + 1 < len(lines) and lines[i + 1].kernel not in ("dense", "featq"):
            pool[i] = 1 if i and pool[i - 1] == 0 else 0
    for p in (0, 1):
        users = [i for i in range(len(lines)) if pool[i] == p]
        if users:
            lines[users[0]].size = max(lines[i].size for i in users)
            for i in users[1:]:
                lines[i].size = -(users[0] + 1)


def buffer_bytes(qm: QModel) -> list[int]:
    """Byte sizes of the output buffers the Python build allocates (shared ones once)."""
    return [ln.size * plan.ITEM_BYTES[ln.out_code] for ln in _lines(qm, Tables()) if ln.size > 0]


def _icons(items) -> str:
    """The icons (micro:bit Image names or one character) as a Python literal; MbnnError
    for one the device cannot show."""
    for s in items:
        if not s or any(ch in s for ch in " ,'\"\\") or not s.isascii() or not s.isprintable():
            raise MbnnError("icon %r cannot go on the micro:bit: use a micro:bit Image name (e.g. HAPPY) "
                            "or one ASCII character" % s)
    return repr(tuple(items))


# The model's data file and its alternate: `mbnn deploy` writes a new model's data
# under the name the board does not use, then model.py (which names it, `B`) last,
# so an interrupted deploy leaves the old model whole (docs/hardware.md)
DATA_FILES = {"p.bin": "p1.bin", "p1.bin": "p.bin", "model.bin": "model1.bin", "model1.bin": "model.bin"}
# f.bin (the V1 engine's items in flash) alternates the same way; model.py's X (its
# chunks' flash addresses, which the device chooses for a copy over serial) locates it
FLASH_FILES = {"f.bin": "g.bin", "g.bin": "f.bin"}


def model_source(qm: QModel, hop_ms: int = HOP_MS, tables: Tables | None = None, blob=None,
                 data_name: str | None = None) -> str:
    """The text of model.py for `qm` (MicroPython 1.9 and CPython): plain data that
    the loader (firmware/lo.py, or le.py for the engine) turns into arrays and calls.

    For the Python kernels: `L` lists the calls, `E` the exp table, and `Q` the
    tables as bytes literals, or with a binary `tables` their sizes, the bytes going
    to model.bin (`tables.data`), which the device reads with readinto into
    arrays of the exact size (docs/firmware.md). With `blob` (an export/engine.py
    Blob: p.bin) the calls and tables are in the blob, and model.py gives the
    logits' size Y, the sizes of p.bin's pieces S, and where the call records are
    (Z) and those of argmax and confidence (O). `B` names the data file (p.bin or
    model.bin by default; deploy alternates with p1.bin / model1.bin).
    """
    qm.validate()
    tbl = tables or Tables()
    if blob is None:
        body = ["E=%s" % tbl("h", qm.exp_table), "L=("] + [ln.source() + "," for ln in _lines(qm, tbl)] + [")"]
    else:
        body = ["Y=%d" % blob.n_out, "S=(%s,)" % ",".join("%d" % len(p) for p in blob.pieces),
                "Z=(%s,)" % ",".join("%d" % v for v in blob.calls), "O=(%d,%d)" % tuple(blob.outputs)]
        if blob.flash:
            from microbit_nn.export import flashplace

            body.append("X=(%s,)" % ",".join("%d" % a for a in flashplace.hex_chunks(blob.flash_chunks)))
    lines = [
        "# model.py: written by mbnn export %s; re-export instead of editing." % __version__,
        "V=%r" % __version__,
        "K=%r" % qm.kind,
        "C=%r" % ",".join(names.check(qm.classes)),  # ASCII forms (export/names.py)
        "G=%s" % _icons(qm.icons),
        "W=%d" % qm.window,
        "T=%d" % qm.period_ms,
        "P=%d" % int(hop_ms),
        "H=%d" % qm.threshold,
        "B=%r" % (data_name or ("p.bin" if blob is not None else "model.bin")),
    ] + [tbl.resolve(line) for line in body] + ([tbl.source()] if blob is None else [])
    return "\n".join(lines) + "\n"


def _firmware(name: str) -> str:
    try:
        return (Path(FIRMWARE_DIR) / name).read_text(encoding="ascii")
    except (OSError, UnicodeError):
        raise MbnnError("firmware file %s is missing or damaged: reinstall microbit-nn" % name) from None


def variant(src: str, tag: str, on: bool) -> str:
    """A firmware file for one kind of build: with `on`, its lines "#TAG code" become
    code and its lines that end "#-TAG" go; without, the file as it is (the "#TAG"
    lines are comments). On the V1 every compiled line costs heap, so code only some
    builds need is written so (app.py's user-program lines: #P; le.py's f.bin: #F)."""
    if not on:
        return src
    out = []
    for line in src.splitlines():
        if line.rstrip().endswith("#-" + tag):
            continue
        body = line.lstrip(" ")
        if body.startswith("#%s " % tag):
            line = line[:len(line) - len(body)] + body[len(tag) + 2:]
        out.append(line)
    return "\n".join(out) + "\n"


def kernel_plan(qm: QModel, target: str = "v1", asm: bool | None = None) -> dict[str, list[str]]:
    """Which kernels run where on the device: {"engine": [...], "qk": [...]}.

    Both boards run the whole model in the engine (export/engine.py: machine
    code, call records and tables in p.bin) unless `asm` is false or the
    engine cannot run the model: then every kernel is Python (qk.py, ft.py),
    and qk keeps only the functions the model calls (each costs heap, and the
    filesystems are small: 28 KB on the V1, 20 KB on the V2).
    """
    from microbit_nn.export import engine

    if target not in TARGETS:
        raise MbnnError("unknown target %r: use v1 or v2" % target)
    kernels = plan.kernels(qm)
    if asm is None:
        asm = engine.supports(qm)
    elif asm:
        engine.build(qm)  # MbnnError saying why the engine cannot run it
    if asm:
        return {"engine": kernels + ["amax", "conf"], "qk": []}
    return {"engine": [], "qk": closure(_firmware("qk.py"), set(kernels) | {"amax", "conf"})}


def kernels_name(files: dict) -> str:
    """What runs the model in a build: "engine" (machine code) or "python"."""
    return "engine" if "p.bin" in files else "python"


def device_files(qm: QModel, target: str = "v1", hop_ms: int = HOP_MS, asm: bool | None = None,
                 program: str | None = None, flash: bool | None = None) -> dict[str, bytes]:
    """Every file the device needs, name -> bytes: main.py, the app, its loader, the
    model, the selftest. The same for the V1 and the V2 (the engine's Thumb-1 code
    runs on both). `asm`: run the model in the engine (default: when it can, see
    kernel_plan) or, false, in Python. `program`: the source of the user's program
    (export/program.py), shipped as program.py with its loader pl.py; app.py calls its handlers. Raises MbnnError
    for an unknown target or a model or program that cannot be written. `flash` (engine
    builds; default: on the V1 only): the read-only tables and routines that fit a flash
    chunk go to f.bin, used in place (export/flashplace.py). The V2 (~64 KB of heap)
    needs no f.bin, and its filesystem sits elsewhere in flash (flashplace.fs_region),
    so it gets the V1's files minus f.bin, with those items in p.bin instead.
    """
    from microbit_nn.export import engine, goldens  # goldens imports the numpy reference

    kp = kernel_plan(qm, target, asm)
    files = {n: minify(variant(_firmware(n), "P", program is not None)) for n in APP_FILES}
    if flash is None:
        flash = target == "v1"
    blob = engine.build(qm, flash=flash) if kp["engine"] else None
    if blob:
        le = _firmware("le.py")
        files["lo.py"] = minify(variant(le, "F", bool(blob.flash)))  # the engine's loader, under the name app.py imports
    else:
        files["lo.py"] = minify(_firmware("lo.py"))
        files["qk.py"] = minify(prune(_firmware("qk.py"), kp["qk"]))
        if isinstance(qm.input, FeatureInput):
            files["ft.py"] = minify(_firmware("ft.py"))
    tables = Tables(binary=blob is None)  # the V2's filesystem (20 KB) is smaller than the V1's
    files["model.py"] = model_source(qm, hop_ms, tables, blob)
    # f.bin first: the hex builder puts it in the file system's first chunks, where
    # model.py's X says it is (export/flashplace.py)
    out = {"f.bin": blob.flash} if blob and blob.flash else {}
    out.update({k: v.encode("ascii") for k, v in files.items()})
    if blob:
        out["p.bin"] = b"".join(blob.pieces)  # firmware/le.py reads it
    else:
        out["model.bin"] = bytes(tables.data)
    out["st.bin"] = goldens.golden_file(qm, kp)
    if program is not None:
        out["pl.py"] = minify(_firmware("pl.py")).encode("ascii")  # its loader (app.py's li)
        out["program.py"] = minify(check_program(program)).encode("utf-8")
    return out


def with_data_name(files: dict[str, bytes], name: str) -> dict[str, bytes]:
    """`files` with the model's data file renamed `name` (its alternate, DATA_FILES) and
    model.py's `B` saying so. MbnnError for files that are not a build of this version."""
    old = next((n for n in files if n in DATA_FILES), None)
    line = ("\nB=%r\n" % (old or "")).encode()
    if old is None or line not in files.get("model.py", b""):
        raise MbnnError("these files are not an mbnn build of this version: re-export the model")
    if name == old:
        return dict(files)
    out = {(name if n == old else n): d for n, d in files.items()}
    out["model.py"] = files["model.py"].replace(line, ("\nB=%r\n" % name).encode(), 1)
    return out


def with_flash(files: dict[str, bytes], name: str, chunks: list[int]) -> dict[str, bytes]:
    """`files` with f.bin under `name` (FLASH_FILES) and model.py's X saying where its
    `chunks` are in flash (what flashplace.walk_snippet printed on the device). MbnnError
    when the chunks are not as many as the build's f.bin takes."""
    old = next(n for n in files if n in FLASH_FILES)
    m = re.search(rb"\nX=\(([0-9,]*)\)\n", files.get("model.py", b""))
    want = len(m.group(1).strip(b",").split(b",")) if m else -1
    if len(chunks) != want:
        raise MbnnError("the micro:bit holds %s in %d flash chunks, the build needs %d: run 'mbnn deploy' "
                        "again, or re-flash with 'mbnn build' + 'mbnn flash'" % (name, len(chunks), want))
    out = {(name if n == old else n): d for n, d in files.items()}
    x = ("\nX=(%s,)\n" % ",".join("%d" % a for a in chunks)).encode()
    out["model.py"] = files["model.py"][:m.start()] + x + files["model.py"][m.end():]
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
