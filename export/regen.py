"""Writes the machine code that firmware files embed, from export/asm/*.s.

The device compiles MicroPython asm_thumb functions from data() words (a
word costs 4 bytes of parse tree on the V1, a mnemonic ~50), so firmware
files cannot hold the assembly source itself. Each embedding sits between

    #<asm FILE ENTRY
    #>

and this module writes the data() calls in between: one call per paragraph
of the source (blank-line separated, < 64 words: one call of 183 words broke
the V1's heap). A `.body` entry is the function's body; a `.global` routine
(complete, returning to lr) is embedded as `bl routine; b end; routine...`,
so the Python-callable function and the engine run the same words.

    python -m microbit_nn.export.regen          # rewrite the firmware files
    python -m microbit_nn.export.regen --check  # exit 1 if one is stale

tests/test_export_regen.py runs the check.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from microbit_nn.export import thumb
from microbit_nn.firmware import FIRMWARE_DIR

ASM_DIR = Path(__file__).with_name("asm")
FILES = ("lo.py", "le.py", "qa.py", "qf.py")  # firmware files with embeddings
MAX_CALL_WORDS = 63
_BEGIN = re.compile(r"^(\s*)#<asm (\S+) (\w+)\s*$")


def embedded_words(src: thumb.Source, entry: str) -> list[list[int]]:
    """The halfwords of `entry` as a firmware file embeds them, one list per data() call."""
    e = src.entries[entry]
    cuts = [p for p in src.paragraphs if e.start < p < e.end]
    bounds = [e.start] + cuts + [e.end]
    parts = [list(src.words[a:b]) for a, b in zip(bounds, bounds[1:])]
    if e.kind == "routine":
        n = e.end - e.start
        head = thumb.encode("bl", ["routine"], 0, {"routine": 6}) + thumb.encode("b", ["end"], 4, {"end": 6 + 2 * n})
        parts[0] = head + parts[0]
    for p in parts:
        if len(p) > MAX_CALL_WORDS:
            raise thumb.AsmError("%s: a paragraph of %s has %d words (at most %d: split it with a blank line)"
                                 % (src.path.name, entry, len(p), MAX_CALL_WORDS))
    return parts


def _calls(indent: str, parts: list[list[int]]) -> list[str]:
    out = []
    for words in parts:
        hexes = ["0x%04X" % w for w in words]
        rows = [", ".join(hexes[i:i + 10]) for i in range(0, len(hexes), 10)]
        out.append(indent + "data(2, " + (",\n" + indent + "     ").join(rows) + ")")
    return out


def regenerate(text: str) -> str:
    """`text` (a firmware file) with every embedding rewritten from its source."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        m = _BEGIN.match(lines[i])
        out.append(lines[i])
        i += 1
        if not m:
            continue
        while i < len(lines) and lines[i].strip() != "#>":
            i += 1
        if i == len(lines):
            raise thumb.AsmError("an embedding of %s %s has no closing '#>'" % (m.group(2), m.group(3)))
        out += _calls(m.group(1), embedded_words(thumb.read(ASM_DIR / m.group(2)), m.group(3)))
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def stale() -> list[str]:
    """The firmware files whose embedded words differ from their sources."""
    return [n for n in FILES if regenerate((Path(FIRMWARE_DIR) / n).read_text()) != (Path(FIRMWARE_DIR) / n).read_text()]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        bad = stale()
        for n in bad:
            print("firmware/%s is stale: run python -m microbit_nn.export.regen" % n, file=sys.stderr)
        return 1 if bad else 0
    for n in FILES:
        p = Path(FIRMWARE_DIR) / n
        p.write_text(regenerate(p.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
