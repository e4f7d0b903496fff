"""The V1's engine: the whole model as machine code, its calls and tables as data.

On the V1 the heap, not the flash, is the limit, and every Python function,
array object and bound argument tuple costs heap. The engine runs a
prediction's every step (features or input quantization, every layer and
pooling, argmax, confidence) as Thumb-1 code that the V1 never compiles:
qa.py's dense/conv routine, qf.py's window features and the routines of
engine.s, all position independent. A call record is the routine's address
(+1: Thumb state), x, w, y and the routine's parameter words (for dense/conv
qa.py's block). Call i reads call i-1's output (call 0 the ring) and writes
ping-pong buffer i % 2 (the last call the logits).

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

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export import thumb
from microbit_nn.export.qmodel import QModel

# each kernel's routine; amax and conf run after every model, on the logits
ROUTINE = {"dense": "C", "conv": "C", "feats": "F", "featq": "FQ", "rawq": "RQ", "gmp": "GM", "gap": "GA",
           "mpool": "MP", "apool": "AP", "amax": "AM", "conf": "CF"}
SUPPORTED = tuple(k for k in ROUTINE if k not in ("amax", "conf"))  # the model calls it can run
_PUSH_LR, _POP_PC, _BX_LR, _NOP = 0xB500, 0xBD00, 0x4770, 0x46C0
_STATE_WORDS = 12  # qa's routine keeps its state in words 11-22 of its parameter block


def _firmware_words(name: str, func: str) -> list[int]:
    from microbit_nn.export.writer import _firmware, code_words

    return code_words(_firmware(name), func)


def _even(words) -> list[int]:
    """Pads to a whole number of 32-bit words (the next part stays word-aligned)."""
    return list(words) + [_NOP] * (len(words) % 2)


@functools.cache
def _routines() -> dict[str, tuple[int, ...]]:
    """Each routine's halfwords, by its name in ROUTINE; each is position independent.
    Assembled once per process: every build, budget and plan needs them."""
    out = {"C": _firmware_words("qa.py", "_c") + [_BX_LR],
           # qf's code uses lr as a register and calls its own subroutines: save lr
           "F": [_PUSH_LR] + _firmware_words("qf.py", "_f") + [_POP_PC]}
    src = (Path(__file__).with_name("engine.s")).read_text(encoding="ascii").splitlines()
    words = [w for line in thumb.assemble(src) for w in line]
    starts = sorted((v // 2, k) for k, v in thumb.labels_of(src).items() if k in ROUTINE.values())
    for (at, name), (end, _) in zip(starts, starts[1:] + [(len(words), "")]):
        out[name] = words[at:end]
    return {name: tuple(body) for name, body in out.items()}


def code(kernels=tuple(ROUTINE)) -> dict[str, bytes]:
    """The machine code of each routine `kernels` need, by routine name (ROUTINE)."""
    names = {ROUTINE[k] for k in kernels}
    return {name: np.asarray(_even(body), dtype="<u2").tobytes()
            for name, body in _routines().items() if name in names}


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


def _word_aligned(raw: bytes) -> bytes:
    return raw + bytes(-len(raw) % 4)


PIECE_MAX = 640  # bytes: measured, holes this big remain once everything has compiled


def _pack(items: list[tuple[str, object, bytes]]) -> tuple[list[bytearray], dict]:
    """Packs tables, routines and call records into few pieces of at most PIECE_MAX
    bytes (bigger items alone), first-fit, biggest first: each piece is a bytearray,
    ~20 bytes of heap of its own. Returns the pieces, biggest first (the loader
    allocates them in this order), and (kind, key) -> piece << 16 | byte offset."""
    bins: list[list] = []  # [size, [(kind, key, raw), ...]]
    for kind, key, raw in sorted(items, key=lambda it: -len(it[2])):
        b = next((b for b in bins if b[0] + len(raw) <= PIECE_MAX), None)
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


def build(qm: QModel) -> Blob:
    """The engine blob of `qm`; MbnnError when a call has no routine (see `supports`)."""
    from microbit_nn.export.writer import _SIZE, Tables, calls

    tbl = Tables()
    cs = calls(qm, tbl, asm=("dense", "conv"))
    bad = sorted({c[0] for c in cs} - set(SUPPORTED))
    if bad:
        raise MbnnError("the V1 engine has no %s layer: build without --asm" % ", ".join(bad))
    routines = code([c[0] for c in cs] + ["amax", "conf"])
    # tables, as the routines read them (b, m, s, offsets int32; weights int8): per
    # call its weights in one piece and its int32 tables in another (fewer
    # objects, each ~20 bytes of heap, but no piece bigger than the holes)
    tables: list[bytearray] = []
    group: dict[str, int] = {}

    def t(arg: str, code_: str = "i") -> tuple[str, tuple[int, int]]:
        c, raw = tbl.tables[int(arg.strip("#"))]
        v = np.frombuffer(raw, dtype="<i%d" % _SIZE[c])
        limits = np.iinfo("<i%d" % _SIZE[code_])
        if v.size and (v.min() < limits.min or v.max() > limits.max):
            raise MbnnError("a table of this model does not fit the V1 engine's %d-bit entries: "
                            "build without --asm" % (8 * _SIZE[code_]))
        if code_ not in group:
            group[code_] = len(tables)
            tables.append(bytearray())
        k = group[code_]
        at = len(tables[k])
        tables[k] += _word_aligned(v.astype("<i%d" % _SIZE[code_]).tobytes())
        return ("t", (k, at))

    n_in = [3 * qm.window] + [c[2] for c in cs[:-1]]
    out_bytes = [c[2] * _SIZE[c[1]] for c in cs]
    pool = [max([n for i, n in enumerate(out_bytes[:-1]) if i % 2 == p] or [0]) for p in (0, 1)]
    pool = [n + -n % 4 for n in pool]  # both buffers word-aligned (feats writes int32)

    recs: list[list] = []  # per call: its words, each an int or (tag, value) to relocate
    for i, c in enumerate(cs):
        kind, a = c[0], c[4]
        group.clear()
        x = ("p", PIECE_R << 16) if i == 0 else ("b", (i - 1) % 2)
        y = ("p", PIECE_Y << 16) if i == len(cs) - 1 else ("b", i % 2)
        head = [("c", ROUTINE[kind]), x]
        if kind == "feats":
            rec = head + [a[1], y]
        elif kind == "featq":
            rec = head + [t(a[1], "h"), y, c[2], t(a[2]), t(a[3], "b")]  # shifts 1..30 as bytes
        elif kind in ("rawq", "gmp"):
            rec = head + [0, y, a[1], a[2]]
        elif kind == "gap":
            rec = head + [0, y, a[1], a[2], a[3], a[4]]
        elif kind in ("mpool", "apool"):
            L, ch, k, st = a[1], a[2], a[3], a[4]
            nt = len(range(0, (L - k) // st * st + 1, st))
            rec = head + [0, y, nt, ch, k * ch, st * ch] + ([a[5], a[6]] if kind == "apool" else [])
        elif kind == "dense":
            rec = head + [t(a[1], "b"), y, 1, n_in[i], 1, 1, 0, c[2], 1, a[6], t(a[2]), t(a[3]), t(a[4])]
            rec += [0] * _STATE_WORDS
        else:  # conv: qa's parameter block
            L, ci, k, st, pd = a[1], a[2], a[4], a[5], a[6]
            lo_ = (L + 2 * pd - k) // st + 1
            rec = head + [t(a[3], "b"), y, L, ci, k, st, pd, c[2] // lo_, lo_, a[11], t(a[7]), t(a[8]), t(a[9])]
            rec += [0] * _STATE_WORDS
        recs.append(rec)
    # the class (amax) and the confidence (conf) of the logits: ex() returns them
    group.clear()
    tables.append(bytearray(_word_aligned(np.asarray(qm.exp_table, dtype="<i2").tobytes())))
    logits = ("p", PIECE_Y << 16)
    recs.append([("c", "AM"), logits, 0, 0, cs[-1][2]])
    recs.append([("c", "CF"), logits, ("t", (len(tables) - 1, 0)), 0, cs[-1][2], len(qm.exp_table)])

    n_relocs = sum(isinstance(w, tuple) for r in recs for w in r)
    buf_area = max(pool[0] + pool[1], 4 + 8 * n_relocs)
    rec_raw = [bytes(4 * len(r)) for r in recs]  # their words go in once the places are known
    bins, place = _pack([("t", i, bytes(b)) for i, b in enumerate(tables)] +
                        [("c", name, code_) for name, code_ in routines.items()] +
                        [("r", i, raw) for i, raw in enumerate(rec_raw)])
    where = {"c": lambda v: place["c", v] + 1,  # +1: Thumb state
             "p": lambda v: v, "t": lambda v: place["t", v[0]] + v[1],
             "b": lambda v: PIECE_FIRST << 16 | (0, pool[0])[v]}
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
    return Blob(pieces=pieces, calls=at[:-2], outputs=at[-2:], relocs=relocs, n_out=cs[-1][2])
