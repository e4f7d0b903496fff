"""A small Thumb-1 (ARMv6-M) assembler for the firmware's machine code.

All the firmware's machine code is export/asm/*.s, assembled here: by
export/engine.py when a model is exported, by export/regen.py for the data()
words the firmware files embed (`read` returns a file's words, labels, .equ
symbols and .global/.body entries). Only the instructions the firmware uses
are known; encodings follow the ARMv6-M manual and were checked against
llvm-mc -triple=thumbv6m (tests/test_export_thumb.py).

Syntax: unified, one or more ';'-separated instructions a line, labels `X:`,
`@` comments. Registers r0-r15, sp, lr, pc.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

CONDS = dict(eq=0, ne=1, hs=2, lo=3, mi=4, pl=5, vs=6, vc=7, hi=8, ls=9, ge=10, lt=11, gt=12, le=13)
ALU = dict(ands=0, eors=1, lsls=2, lsrs=3, asrs=4, adcs=5, sbcs=6, rors=7, tst=8, cmp=10, cmn=11,
           orrs=12, bics=14, mvns=15)
REG_OFFSET = dict(str=0x5000, strh=0x5200, strb=0x5400, ldrsb=0x5600, ldr=0x5800, ldrh=0x5A00,
                  ldrb=0x5C00, ldrsh=0x5E00)
IMM_OFFSET = dict(str=(0x6000, 4), ldr=(0x6800, 4), strb=(0x7000, 1), ldrb=(0x7800, 1),
                  strh=(0x8000, 2), ldrh=(0x8800, 2))
_ALIASES = dict(sp=13, lr=14, pc=15)


class AsmError(ValueError):
    """An instruction this assembler cannot encode (unknown, bad operand, out of range)."""


def _reg(t: str, low: bool = True) -> int:
    t = t.strip()
    if t in _ALIASES:
        n = _ALIASES[t]
    else:
        m = re.fullmatch(r"r(\d+)", t)
        if not m or int(m.group(1)) > 15:
            raise AsmError("not a register: %r" % t)
        n = int(m.group(1))
    if low and n > 7:
        raise AsmError("%s must be r0-r7 here" % t)
    return n


def _imm(t: str, limit: int, step: int = 1) -> int:
    t = t.strip()
    if not t.startswith("#"):
        raise AsmError("not an immediate: %r" % t)
    v = int(t[1:], 0)
    if not (0 <= v < limit and v % step == 0):
        raise AsmError("immediate %s out of range (0..%d, multiple of %d)" % (t, limit - 1, step))
    return v // step


def _branch(target: str, pc: int, labels: dict[str, int]) -> int:
    if target not in labels:
        raise AsmError("unknown label %r" % target)
    return labels[target] - (pc + 4)


def encode(op: str, a: list[str], pc: int, labels: dict[str, int]) -> list[int]:
    """One instruction (mnemonic, operands) at byte address `pc` -> its halfwords."""
    if op in ("push", "pop"):
        bits = 0
        for r in a[0].strip("{}").replace(" ", "").split(","):
            extra = "lr" if op == "push" else "pc"
            bits |= 0x100 if r == extra else 1 << _reg(r)
        return [(0xB400 if op == "push" else 0xBC00) | bits]
    if op in REG_OFFSET or op in IMM_OFFSET:
        t = _reg(a[0])
        n, m = (v.strip() for v in a[1].strip("[]").split(","))
        if m.startswith("#"):
            if n == "sp" and op in ("ldr", "str"):
                return [(0x9800 if op == "ldr" else 0x9000) | t << 8 | _imm(m, 1024, 4)]
            if op not in IMM_OFFSET:
                raise AsmError("%s has no immediate offset form" % op)
            base, size = IMM_OFFSET[op]
            return [base | _imm(m, 32 * size, size) << 6 | _reg(n) << 3 | t]
        return [REG_OFFSET[op] | _reg(m) << 6 | _reg(n) << 3 | t]
    if op in ("add", "sub") and a[0] == "sp":
        return [(0xB000 if op == "add" else 0xB080) | _imm(a[-1], 512, 4)]
    if op == "add" and len(a) == 3 and a[1] == "sp":
        return [0xA800 | _reg(a[0]) << 8 | _imm(a[2], 1024, 4)]
    if op in ("mov", "add") and len(a) == 2 and not a[1].startswith("#"):  # any registers
        d, m = _reg(a[0], False), _reg(a[1], False)
        return [(0x4600 if op == "mov" else 0x4400) | (d >> 3) << 7 | m << 3 | d & 7]
    if op == "movs" and a[1].startswith("#"):
        return [0x2000 | _reg(a[0]) << 8 | _imm(a[1], 256)]
    if op == "movs":
        return [0x0000 | _reg(a[1]) << 3 | _reg(a[0])]
    if op == "cmp" and a[1].startswith("#"):
        return [0x2800 | _reg(a[0]) << 8 | _imm(a[1], 256)]
    if op == "cmp" and max(_reg(a[0], False), _reg(a[1], False)) > 7:
        n, m = _reg(a[0], False), _reg(a[1], False)
        return [0x4500 | (n >> 3) << 7 | m << 3 | n & 7]
    if op in ("adds", "subs"):
        sub = op == "subs"
        if len(a) == 2:
            return [(0x3800 if sub else 0x3000) | _reg(a[0]) << 8 | _imm(a[1], 256)]
        d, n = _reg(a[0]), _reg(a[1])
        if a[2].startswith("#"):
            return [(0x1E00 if sub else 0x1C00) | _imm(a[2], 8) << 6 | n << 3 | d]
        return [(0x1A00 if sub else 0x1800) | _reg(a[2]) << 6 | n << 3 | d]
    if op == "rsbs":
        if a[2] != "#0":
            raise AsmError("rsbs takes #0 only")
        return [0x4240 | _reg(a[1]) << 3 | _reg(a[0])]
    if op == "muls":
        if a[0] != a[2]:
            raise AsmError("muls must be written muls Rd, Rn, Rd")
        return [0x4340 | _reg(a[1]) << 3 | _reg(a[0])]
    if op in ("lsls", "lsrs", "asrs") and len(a) == 3:
        base = dict(lsls=0x0000, lsrs=0x0800, asrs=0x1000)[op]
        return [base | _imm(a[2], 32) << 6 | _reg(a[1]) << 3 | _reg(a[0])]
    if op in ("sxtb", "sxth", "uxtb", "uxth"):
        base = dict(sxth=0xB200, sxtb=0xB240, uxth=0xB280, uxtb=0xB2C0)[op]
        return [base | _reg(a[1]) << 3 | _reg(a[0])]
    if op in ALU:
        return [0x4000 | ALU[op] << 6 | _reg(a[1]) << 3 | _reg(a[0])]
    if op in ("bx", "blx"):
        return [(0x4700 if op == "bx" else 0x4780) | _reg(a[0], False) << 3]
    if op == "bl":
        off = _branch(a[0], pc, labels)
        if not (-(1 << 24) <= off < 1 << 24):
            raise AsmError("bl %s is out of range" % a[0])
        s, i1, i2 = off >> 24 & 1, off >> 23 & 1, off >> 22 & 1
        j1, j2 = (1 - i1) ^ s, (1 - i2) ^ s
        return [0xF000 | s << 10 | off >> 12 & 0x3FF, 0xD000 | j1 << 13 | j2 << 11 | off >> 1 & 0x7FF]
    if op == "b" or (op.startswith("b") and op[1:] in CONDS):
        off = _branch(a[0], pc, labels)
        if op == "b":
            if not -2048 <= off < 2048:
                raise AsmError("b %s is out of range" % a[0])
            return [0xE000 | (off >> 1) & 0x7FF]
        if not -256 <= off < 256:
            raise AsmError("%s %s is out of range" % (op, a[0]))
        return [0xD000 | CONDS[op[1:]] << 8 | (off >> 1) & 0xFF]
    raise AsmError("unknown instruction %s %s" % (op, ", ".join(a)))


def _parse(lines: list[str]) -> tuple[list[list[tuple[int, str, list[str]]]], dict[str, int], dict[str, int]]:
    """Per line its (byte address, mnemonic, operands); the labels; the .equ symbols."""
    parsed, labels, symbols, pc = [], {}, {}, 0
    for line in lines:
        items = []
        code = line.split("@")[0]
        equ = re.match(r"\s*\.equ\s+([A-Za-z_]\w*)\s*,\s*(\S+)\s*$", code)
        if equ:
            symbols[equ.group(1)] = int(equ.group(2), 0)
            code = ""
        elif re.match(r"\s*\.(global|body)\s", code):
            code = ""  # entry points: see Source
        for part in code.split(";"):
            m = re.match(r"\s*(?:([A-Za-z_]\w*):)?\s*(.*?)\s*$", part)
            if m.group(1):
                if m.group(1) in labels:
                    raise AsmError("label %s defined twice" % m.group(1))
                labels[m.group(1)] = pc
            if m.group(2):
                op, _, rest = m.group(2).partition(" ")
                args = [v.strip() for v in re.findall(r"\[[^\]]*\]|\{[^}]*\}|[^,\s][^,]*", rest)]
                items.append((pc, op.lower(), args))
                pc += 4 if op == "bl" else 2
        parsed.append(items)
    return parsed, labels, symbols


def _substitute(args: list[str], symbols: dict[str, int]) -> list[str]:
    """Operands with each '#NAME' (an .equ symbol) replaced by its value."""
    def one(m):
        if m.group(1) not in symbols:
            raise AsmError("unknown symbol %s (define it with .equ)" % m.group(1))
        return "#%d" % symbols[m.group(1)]
    return [re.sub(r"#([A-Za-z_]\w*)", one, a) for a in args]


def assemble(lines: list[str]) -> list[list[int]]:
    """Lines of ';'-separated instructions (labels 'X:') -> the halfwords of each line."""
    parsed, labels, symbols = _parse(lines)
    out = []
    for items in parsed:
        words = []
        for at, op, args in items:
            try:
                words += encode(op, _substitute(args, symbols), at, labels)
            except (AsmError, ValueError, IndexError, AttributeError) as e:
                raise AsmError("cannot assemble '%s %s': %s" % (op, ", ".join(args), e)) from None
        out.append(words)
    return out


def labels_of(lines: list[str]) -> dict[str, int]:
    """Label -> byte offset from the start of `lines`."""
    return _parse(lines)[1]


def assemble_bytes(lines: list[str]) -> bytes:
    """The machine code of `lines`, little-endian halfwords."""
    return b"".join(w.to_bytes(2, "little") for line in assemble(lines) for w in line)


@dataclass(frozen=True)
class Entry:
    """A named piece of a source: `kind` "routine" (.global: a complete routine entered
    with r0-r3 set and returning to lr) or "body" (.body: the body of a MicroPython
    asm_thumb function, which falls off its end); halfword indices [start, end)."""

    name: str
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Source:
    """An assembly file: its halfwords, symbols (.equ), entries, and paragraph starts
    (halfword index of each blank-line-separated block: one data() call each when a
    firmware file embeds the code)."""

    path: Path
    words: tuple[int, ...]
    symbols: dict
    entries: dict
    paragraphs: tuple[int, ...]

    def code(self, name: str) -> tuple[int, ...]:
        e = self.entries[name]
        return self.words[e.start:e.end]


@functools.cache
def read(path) -> Source:
    """Assembles the file at `path` (cached: sources do not change while we run).
    An entry runs from its label to the next entry's label (or the end of the file)."""
    path = Path(path)
    lines = path.read_text(encoding="ascii").splitlines()
    per_line = assemble(lines)
    _, labels, symbols = _parse(lines)
    words = [w for line in per_line for w in line]
    marks = []
    for line in lines:
        m = re.match(r"\s*\.(global|body)\s+([A-Za-z_]\w*)\s*$", line.split("@")[0])
        if m:
            if m.group(2) not in labels:
                raise AsmError("%s: entry %s has no label" % (path.name, m.group(2)))
            marks.append((labels[m.group(2)] // 2, m.group(2), "routine" if m.group(1) == "global" else "body"))
    marks.sort()
    entries = {name: Entry(name, kind, at, end) for (at, name, kind), (end, _, _) in
               zip(marks, marks[1:] + [(len(words), "", "")])}
    paragraphs, at, blank = [], 0, True
    for line, ws in zip(lines, per_line):
        if not line.strip():
            blank = True
        elif ws:
            if blank:
                paragraphs.append(at)
            blank = False
        at += len(ws)
    return Source(path, tuple(words), dict(symbols), entries, tuple(paragraphs))
