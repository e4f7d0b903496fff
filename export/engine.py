"""The engine: the whole model as machine code, its calls and tables as data (V1 and V2).

On the V1 the heap, not the flash, is the limit, and every Python function,
array object and bound argument tuple costs heap. The engine runs a
prediction's every step (features or input quantization, every layer and
pooling, argmax, confidence) as Thumb-1 code that the device never compiles:
the routines of export/asm/*.s, assembled by export/thumb.py, all position
independent. Thumb-1 code that runs on the V1's Cortex-M0 runs unchanged on
the V2's Cortex-M4, so both boards get the same files. A call record is the
routine's address (+1: Thumb state), x, w, y and the routine's parameter
words, filled by name from the routine's .equ lines. Call i reads call i-1's
output (call 0 the ring) and writes ping-pong buffer i % 2 (the last call
the logits).

Everything goes to the device as p.bin: pieces of at most PIECE_MAX bytes
(the heap of a loaded V1 has many small holes and no big one), the first
being the buffers, which hold the relocation list until the first
prediction. Addresses are written as piece << 16 | offset (piece 0 the ring,
1 the logits, then p.bin's) and relocated once on the device
(firmware/le.py `rl`); then `ex(address)` runs one record. docs/firmware.md
has the measured heap; tests/test_export_engine.py runs every routine on
the emulated V1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export import flashplace, plan, thumb
from microbit_nn.export.qmodel import QModel

ASM_DIR = Path(__file__).with_name("asm")
# each kernel's routine: (source file, entry, prefix of its parameters' .equ
# names); argmax and confidence run after every model, on the logits
ROUTINE = {"dense": ("dense_conv.s", "dense_conv", "DC"), "conv": ("dense_conv.s", "dense_conv", "DC"),
           "feats": ("features.s", "features", ""), "featq": ("quant.s", "feature_quant", "FQ"),
           "rawq": ("quant.s", "raw_quant", "RQ"), "gmp": ("pool.s", "global_max_pool", "GMP"),
           "gap": ("pool.s", "global_avg_pool", "GAP"), "mpool": ("pool.s", "max_pool", "MP"),
           "apool": ("pool.s", "avg_pool", "AP"), "amax": ("output.s", "argmax", "AM"),
           "conf": ("output.s", "confidence", "CF")}
SUPPORTED = tuple(k for k in ROUTINE if k not in ("amax", "conf"))  # the model calls it can run
_NOP = 0x46C0


def _source(kernel: str) -> thumb.Source:
    return thumb.read(ASM_DIR / ROUTINE[kernel][0])


def params(kernel: str, **fields) -> list:
    """The parameter words of `kernel`'s routine: each field at the offset of its
    .equ `<PREFIX>_<FIELD>` in the routine's source, the rest (its state) 0.
    MbnnError when a field has no .equ or one the routine reads is missing."""
    src, prefix = _source(kernel), ROUTINE[kernel][2] + "_"
    named = {k[len(prefix):]: v for k, v in src.symbols.items()
             if prefix != "_" and k.startswith(prefix) and k != prefix + "WORDS"}
    size = src.symbols.get(prefix + "WORDS", max(named.values(), default=-4) // 4 + 1)
    words: list = [0] * size
    unknown = set(fields) - set(named)
    if unknown:
        raise MbnnError("the %s routine has no parameter %s: reinstall microbit-nn" % (kernel, ", ".join(unknown)))
    for name, value in fields.items():
        words[named[name] // 4] = value
    return words


def _even(words) -> list[int]:
    """Pads to a whole number of 32-bit words (the next part stays word-aligned)."""
    return list(words) + [_NOP] * (len(words) % 2)


def code(kernels=tuple(ROUTINE)) -> dict[str, bytes]:
    """The machine code of each routine `kernels` need, by routine name (padded to
    whole 32-bit words, so what follows it stays word-aligned)."""
    out = {}
    for k in kernels:
        name = ROUTINE[k][1]
        out[name] = np.asarray(_even(_source(k).code(name)), dtype="<u2").tobytes()
    return out


def supports(qm: QModel) -> bool:
    """Whether the engine can run `qm`: a routine for every call, feature offsets
    within int16 (what `build` checks)."""
    try:
        build(qm)
    except MbnnError:
        return False
    return True


# A relocation value is piece << 16 | byte offset, the pieces being the ring R, the
# logits y, then Blob.pieces in order (the buffers first).
PIECE_R, PIECE_Y, PIECE_FIRST = 0, 1, 2


@dataclass
class Blob:
    """What the device needs: the pieces (p.bin, each its own bytearray on the
    device: first the ping-pong buffers, which hold the relocation list until the
    first prediction, then the tables, the routines' machine code and the call
    records, packed), where the call records are (`calls`, one per call, and
    `outputs`: amax's and conf's, whose ex() returns the class and the
    confidence), each as piece << 16 | offset, the relocations (where a word is,
    its value; both piece << 16 | offset) and the logits' size. Many small
    pieces, because the V1 heap has many small holes and no big one
    (docs/firmware.md)."""

    pieces: list[bytes]
    calls: list[int]
    outputs: list[int]
    relocs: list[tuple[int, int]]
    n_out: int
    flash: bytes = b""  # with build(flash=True): f.bin (export/flashplace.py), else nothing
    flash_chunks: int = 0  # the chunks f.bin takes: the pieces after p.bin's (relocations count on it)


def _word_aligned(raw: bytes) -> bytes:
    return raw + bytes(-len(raw) % 4)


PIECE_MAX = 640  # bytes: measured, holes this big remain once everything has compiled
# with f.bin the pieces hold less, and a user program compiled before them leaves smaller
# holes: measured with the default mlp (hidden 24) and a 15-line program, 384 and 256
# failed to load a piece (the app then restarts without the program), 192 and 128 loaded
# (docs/program.md)
PIECE_MAX_FLASH = 192


def _pack(items: list[tuple[str, object, bytes]], limit: int = 0) -> tuple[list[bytearray], dict]:
    """Packs tables, routines and call records into few pieces of at most PIECE_MAX
    bytes (bigger items alone), first-fit, biggest first: each piece is a bytearray,
    ~20 bytes of heap of its own. Returns the pieces, biggest first (the loader
    allocates them in this order), and (kind, key) -> piece << 16 | byte offset."""
    bins: list[list] = []  # [size, [(kind, key, raw), ...]]
    for kind, key, raw in sorted(items, key=lambda it: -len(it[2])):
        b = next((b for b in bins if b[0] + len(raw) <= (limit or PIECE_MAX)), None)
        if b is None:
            b = [0, []]
            bins.append(b)
        b[0] += len(raw)
        b[1].append((kind, key, raw))
    bins.sort(key=lambda b: -b[0])
    out, place = [], {}
    for k, (_, content) in enumerate(bins):
        piece = bytearray()
        for kind, key, raw in content:
            place[kind, key] = (PIECE_FIRST + 1 + k) << 16 | len(piece)
            piece += raw
        out.append(piece)
    return out, place


def _record(call: plan.Call, table, filters=None) -> tuple[list, list]:
    """(w, the parameter words) of `call`'s record; `table(values, code)` places a table,
    `filters(weights, row)` a dense or conv layer's weights, `row` bytes per filter: (w,
    filters per group; 0: one table)."""
    k = call.kernel
    if isinstance(call, plan.Features):
        return call.window, []  # the routine takes n in r1
    if isinstance(call, plan.FeatureQuant):
        return table(call.offset, "h"), params(k, N=call.n_out, MULT=table(call.mult, "i"),
                                               SHIFT=table(call.shift, "b"))  # shifts 1..30 as bytes
    if isinstance(call, plan.RawQuant):
        return 0, params(k, N=call.n_in, SHIFT=call.shift)
    if isinstance(call, plan.GlobalAvgPoolCall):
        return 0, params(k, LENGTH=call.length, CHANNELS=call.channels, MULT=call.mult, SHIFT=call.shift)
    if isinstance(call, plan.GlobalMaxPoolCall):
        return 0, params(k, LENGTH=call.length, CHANNELS=call.channels)
    if isinstance(call, plan.MaxPool):
        shape = dict(WINDOWS=call.windows, CHANNELS=call.channels, SPAN=call.size * call.channels,
                     STEP=call.stride * call.channels)
        if isinstance(call, plan.AvgPool):
            shape.update(MULT=call.mult, SHIFT=call.shift)
        return 0, params(k, **shape)
    if isinstance(call, (plan.DenseCall, plan.ConvCall)):
        row = call.n_in if isinstance(call, plan.DenseCall) else call.size * call.channels_in  # a filter's bytes
        w, per_group = filters(call.weights, row) if filters else (table(call.weights, "b"), 0)
        tables = dict(LO=call.lo, ROWS_PER_GROUP=per_group, BIAS=table(call.bias, "i"), MULT=table(call.mult, "i"), SHIFT=table(call.shift, "i"))
        if isinstance(call, plan.DenseCall):  # a conv of one step: length = size = stride = 1
            return w, params(k, LENGTH=1, CHANNELS_IN=call.n_in, SIZE=1, STRIDE=1, PAD=0,
                             CHANNELS_OUT=call.n_out, LENGTH_OUT=1, **tables)
        return w, params(k, LENGTH=call.length, CHANNELS_IN=call.channels_in, SIZE=call.size, STRIDE=call.stride,
                         PAD=call.pad, CHANNELS_OUT=call.channels_out, LENGTH_OUT=call.length_out, **tables)
    raise MbnnError("the engine has no %s layer: build without --asm" % k)


def build(qm: QModel, flash: bool = False) -> Blob:
    """The engine blob of `qm`; MbnnError when a call has no routine (see `supports`).
    With `flash`, each table is an item of its own, and the tables and routines that
    fit a flash chunk go to f.bin (export/flashplace.py), used in place."""
    cs = plan.calls(qm)
    bad = sorted({c.kernel for c in cs} - set(SUPPORTED))
    if bad:
        raise MbnnError("the engine has no %s layer: build without --asm" % ", ".join(bad))
    routines = code([c.kernel for c in cs] + ["amax", "conf"])
    # tables, as the routines read them: per call its weights in one piece and its
    # int32 tables in another (fewer objects, each ~20 bytes of heap, but no piece
    # bigger than the holes)
    tables: list[bytearray] = []
    group: dict[str, int] = {}

    def table(values, code_: str) -> tuple[str, tuple[int, int]]:
        v = np.asarray(values, dtype=np.int64).reshape(-1)
        limits = np.iinfo("<i%d" % plan.ITEM_BYTES[code_])
        if v.size and (v.min() < limits.min or v.max() > limits.max):
            raise MbnnError("a table of this model does not fit the engine's %d-bit entries: "
                            "build without --asm" % (8 * plan.ITEM_BYTES[code_]))
        if flash:
            group.clear()  # one item per table: more of them fit a flash chunk
        if code_ not in group:
            group[code_] = len(tables)
            tables.append(bytearray())
        k = group[code_]
        at = len(tables[k])
        tables[k] += _word_aligned(v.astype("<i%d" % plan.ITEM_BYTES[code_]).tobytes())
        return ("t", (k, at))

    out_bytes = [c.n_out * plan.ITEM_BYTES[c.out_code] for c in cs]
    pool = [max([n for i, n in enumerate(out_bytes[:-1]) if i % 2 == p] or [0]) for p in (0, 1)]
    pool = [n + -n % 4 for n in pool]  # both buffers word-aligned (features writes int32)

    def filters(weights: np.ndarray, row: int):
        # with f.bin, weights too big for one flash chunk go there in groups of whole
        # filters, each group a table of its own: the record lists their addresses
        per_group = flashplace.ITEM_MAX // max(1, row)
        if not flash or len(weights) <= flashplace.ITEM_MAX or per_group == 0:
            return table(weights, "b"), 0
        step = per_group * row
        return ("g", [table(weights[j:j + step], "b") for j in range(0, len(weights), step)]), per_group

    recs: list[list] = []  # per call: its words, each an int or (tag, value) to relocate
    for i, c in enumerate(cs):
        group.clear()
        x = ("p", PIECE_R << 16) if i == 0 else ("b", (i - 1) % 2)
        y = ("p", PIECE_Y << 16) if i == len(cs) - 1 else ("b", i % 2)
        w, words = _record(c, table, filters)
        tail = []
        if isinstance(w, tuple) and w[0] == "g":  # w: the list of groups after the words
            w, tail = ("r", (i, 4 + len(words))), list(w[1])
        recs.append([("c", ROUTINE[c.kernel][1]), x, w, y] + words + tail)
    # the class (argmax) and the confidence of the logits: ex() returns them
    group.clear()
    logits, n_out = ("p", PIECE_Y << 16), cs[-1].n_out
    recs.append([("c", "argmax"), logits, 0, 0] + params("amax", N=n_out))
    recs.append([("c", "confidence"), logits, table(qm.exp_table, "h"), 0]
                + params("conf", N=n_out, TABLE_SIZE=len(qm.exp_table)))

    n_relocs = sum(isinstance(w, tuple) for r in recs for w in r)
    buf_area = max(pool[0] + pool[1], 4 + 8 * n_relocs)
    rec_raw = [bytes(4 * len(r)) for r in recs]  # their words go in once the places are known
    items = ([("t", i, bytes(b)) for i, b in enumerate(tables)] +
             [("c", name, code_) for name, code_ in routines.items()] +
             [("r", i, raw) for i, raw in enumerate(rec_raw)])
    in_flash = [it for it in items if flash and it[0] != "r" and flashplace.fits(it[2])]
    bins, place = _pack([it for it in items if it not in in_flash], PIECE_MAX_FLASH if flash else 0)
    layout = flashplace.place(in_flash)
    first_chunk = PIECE_FIRST + 1 + len(bins)  # f.bin's chunks are the pieces after p.bin's
    place.update({k: (first_chunk + j) << 16 | at for k, (j, at) in layout.place.items()})
    where = {"c": lambda v: place["c", v] + 1,  # +1: Thumb state
             "p": lambda v: v, "t": lambda v: place["t", v[0]] + v[1],
             "b": lambda v: PIECE_FIRST << 16 | (0, pool[0])[v],
             "r": lambda v: place["r", v[0]] + 4 * v[1]}  # a word of record v[0]
    relocs = []
    for i, r in enumerate(recs):
        at = place["r", i]
        words = []
        for j, w in enumerate(r):
            if isinstance(w, tuple):
                relocs.append((at + 4 * j, where[w[0]](w[1])))
                w = 0
            words.append(int(w))
        k, off = (at >> 16) - PIECE_FIRST - 1, at & 0xFFFF
        bins[k][off:off + 4 * len(words)] = np.asarray(words, dtype="<i4").tobytes()
    listing = np.asarray([len(relocs)] + [v for r in relocs for v in r], dtype="<i4").tobytes()
    pieces = [listing + bytes(buf_area - len(listing))] + [bytes(b) for b in bins]
    at = [place["r", i] for i in range(len(recs))]
    return Blob(pieces=pieces, calls=at[:-2], outputs=at[-2:], relocs=relocs, n_out=n_out,
                flash=layout.content if in_flash else b"", flash_chunks=layout.chunks if in_flash else 0)
