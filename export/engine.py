"""The V1's engine: the whole model as one block of bytes that runs as machine code.

On the V1 the heap, not the flash, is the limit, and every Python function,
array object and bound argument tuple costs heap. The engine puts everything
a prediction needs in one bytearray `B` (model.bin, read with `readinto`):

    [machine code][call records][tables][two ping-pong buffers (zeros)]

The code is qa.py's dense/conv routine, qf.py's window features and the
routines of engine.s (featq, rawq, gmp, gap), all Thumb-1, position
independent. A call record is the routine's address (+1: Thumb state),
x, w, y and the routine's parameter words (for dense/conv qa.py's block).
Every address in `B` is written as an offset by the exporter and relocated
once on the device (firmware/lo.py: `relocs`, -1 standing for the ring R and
-2 for the logits y); then firmware/lo.py's `ex(a)` runs the record at
address `a`. Call i reads call i-1's output (call 0 the ring) and writes
buffer i % 2 (the last call the logits). docs/firmware.md has the measured
heap; tests/test_export_engine.py runs every routine on the emulated V1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export import thumb
from microbit_nn.export.qmodel import QModel

SUPPORTED = ("feats", "featq", "rawq", "dense", "conv", "gmp", "gap")
ROUTINE = {"dense": "C", "conv": "C", "feats": "F", "featq": "FQ", "rawq": "RQ", "gmp": "GM", "gap": "GA"}
R_ADDR, Y_ADDR = -1, -2  # relocation values standing for the ring and the logits
_PUSH_LR, _POP_PC, _BX_LR, _NOP = 0xB500, 0xBD00, 0x4770, 0x46C0
_STATE_WORDS = 12  # qa's routine keeps its state in words 11-22 of its parameter block


def _firmware_words(name: str, func: str) -> list[int]:
    from microbit_nn.export.writer import _firmware, code_words

    return code_words(_firmware(name), func)


def _even(words: list[int]) -> list[int]:
    """Pads to a whole number of 32-bit words (the next part stays word-aligned)."""
    return words + [_NOP] * (len(words) % 2)


def code() -> tuple[bytes, dict[str, int]]:
    """The engine's machine code and each routine's byte offset in it."""
    conv = _even(_firmware_words("qa.py", "_c") + [_BX_LR])
    # qf's code uses lr as a register and calls its own subroutines: save lr
    feats = _even([_PUSH_LR] + _firmware_words("qf.py", "_f") + [_POP_PC])
    src = (Path(__file__).with_name("engine.s")).read_text(encoding="ascii").splitlines()
    own = thumb.assemble([line for line in src])
    own_words = _even([w for line in own for w in line])
    base = 2 * (len(conv) + len(feats))
    entries = {"C": 0, "F": 2 * len(conv)}
    entries.update({k: base + v for k, v in thumb.labels_of(src).items() if k in ROUTINE.values()})
    words = conv + feats + own_words
    return np.asarray(words, dtype="<u2").tobytes(), entries


def supports(qm: QModel) -> bool:
    """Whether every call of `qm` has a routine in the engine (not mpool/apool)."""
    from microbit_nn.export.writer import Tables, calls

    return all(c[0] in SUPPORTED for c in calls(qm, Tables()))


@dataclass
class Blob:
    """What the device needs: model.bin's bytes, the full size of B (with the
    buffers), the record offsets (one per call), the relocations (offset of a
    word, value: an offset in B, R_ADDR or Y_ADDR), where their list is in B,
    and the logits' size."""

    data: bytes
    size: int
    records: list[int]
    relocs: list[tuple[int, int]]
    reloc_at: int
    n_out: int
    parts: dict[str, int] = field(default_factory=dict)


class _Builder:
    def __init__(self, start: int):
        self.chunks: list[bytes] = []
        self.at = start
        self.relocs: list[tuple[int, int]] = []

    def put(self, raw: bytes) -> int:
        """Appends raw (padded to 4 bytes); returns its offset in B."""
        where = self.at
        raw = raw + bytes(-len(raw) % 4)
        self.chunks.append(raw)
        self.at += len(raw)
        return where


def build(qm: QModel) -> Blob:
    """The engine blob of `qm`; MbnnError when a call has no routine (see `supports`)."""
    from microbit_nn.export.writer import Tables, calls

    tbl = Tables()
    cs = calls(qm, tbl, asm=("dense", "conv"))
    bad = sorted({c[0] for c in cs} - set(SUPPORTED))
    if bad:
        raise MbnnError("the V1 engine has no %s: export with asm off (mbnn build --no-asm)" % ", ".join(bad))
    machine, entries = code()

    # tables: each once, as the routines read them (b, m, s, offsets int32; weights int8)
    def table(arg: str, code_: str) -> np.ndarray:
        k = int(arg.strip("#"))
        c, raw = tbl.tables[k]
        return np.frombuffer(raw, dtype="<i%d" % {"b": 1, "h": 2, "i": 4}[c]).astype("<i%d" % {"b": 1, "i": 4}[code_])

    n_in = [3 * qm.window] + [c[2] for c in cs[:-1]]
    item = {"b": 1, "i": 4}
    out_bytes = [c[2] * item[c[1]] for c in cs]
    pool = [max([n for i, n in enumerate(out_bytes[:-1]) if i % 2 == p] or [0]) for p in (0, 1)]
    pool = [n + -n % 4 for n in pool]  # both buffers word-aligned (feats writes int32)

    # records first (their size is known before the tables' offsets are)
    recs: list[list] = []  # per call: words, each an int or ("r", value) to relocate
    tabs: list[tuple[str, np.ndarray]] = []

    def t(arg, code_="i"):
        tabs.append((code_, table(arg, code_)))
        return ("t", len(tabs) - 1)

    for i, c in enumerate(cs):
        kind, a = c[0], c[4]
        x = ("r", R_ADDR) if i == 0 else ("b", (i - 1) % 2)
        y = ("r", Y_ADDR) if i == len(cs) - 1 else ("b", i % 2)
        entry = ("c", entries[ROUTINE[kind]] + 1)
        if kind == "feats":
            rec = [entry, x, a[1], y]
        elif kind == "featq":
            rec = [entry, x, t(a[1]), y, c[2], t(a[2]), t(a[3])]
        elif kind == "rawq":
            rec = [entry, x, 0, y, a[1], a[2]]
        elif kind == "dense":
            co = c[2]
            rec = [entry, x, t(a[1], "b"), y, 1, n_in[i], 1, 1, 0, co, 1, a[6], t(a[2]), t(a[3]), t(a[4])]
            rec += [0] * _STATE_WORDS
        elif kind == "conv":
            L, ci, k, st, pd = a[1], a[2], a[4], a[5], a[6]
            co = c[2] // ((L + 2 * pd - k) // st + 1)
            rec = [entry, x, t(a[3], "b"), y, L, ci, k, st, pd, co, (L + 2 * pd - k) // st + 1, a[11],
                   t(a[7]), t(a[8]), t(a[9])] + [0] * _STATE_WORDS
        elif kind == "gmp":
            rec = [entry, x, 0, y, a[1], a[2]]
        else:  # gap
            rec = [entry, x, 0, y, a[1], a[2], a[3], a[4]]
        recs.append(rec)

    b = _Builder(len(machine))
    rec_at = [b.put(bytes(4 * len(r))) for r in recs]
    tab_at = [b.put(arr.tobytes()) for _, arr in tabs]
    data_end = b.at
    buf_at = [b.at, b.at + pool[0]]

    words_out = bytearray(b"".join(b.chunks))
    relocs = []
    for at, rec in zip(rec_at, recs):
        for j, w in enumerate(rec):
            where = at + 4 * j
            if isinstance(w, tuple):
                tag, v = w
                value = {"c": lambda: v, "r": lambda: v, "t": lambda: tab_at[v], "b": lambda: buf_at[v]}[tag]()
                relocs.append((where, value))
                w = 0
            o = where - len(machine)
            words_out[o:o + 4] = int(w).to_bytes(4, "little", signed=True)
    # the relocation list goes where the buffers are: firmware/lo.py's rl reads it
    # once, before the first prediction overwrites it
    listing = np.asarray([len(relocs)] + [v for r in relocs for v in r], dtype="<i4").tobytes()
    size = max(data_end + pool[0] + pool[1], data_end + len(listing))
    rec_bytes = sum(4 * len(r) for r in recs)
    return Blob(data=machine + bytes(words_out) + listing, size=size, records=rec_at, relocs=relocs,
                reloc_at=data_end, n_out=cs[-1][2],
                parts=dict(code=len(machine), records=rec_bytes, tables=data_end - rec_at[0] - rec_bytes,
                           buffers=pool[0] + pool[1], relocs=len(listing)))
