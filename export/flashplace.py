"""Read-only engine items used in place from the V1's flash (f.bin), not copied to the heap.

The V1 keeps files in 128-byte flash chunks: a marker byte (0xFE for a file's
first chunk, else the previous chunk's index), 126 data bytes, then the next
chunk's index (0xFF: the last). A file's first chunk begins its data with a
header (end offset, name length, name). The chunks' flash addresses are
`fs_start + 128 * (index - 1)`; they never move once written.

The V1's Cortex-M0 reads flash like RAM, and Thumb code runs from it, so a
table or a routine that lies inside one chunk's data can be used where it is.
The exporter places each item (word-aligned, for `ldr` and code) inside one
chunk, so no item straddles the two metadata bytes between chunks, and the
device only needs each chunk's address: model.py's `X` lists them, and
firmware/le.py appends them to its piece addresses before relocating.

Where the chunks are: a .hex build puts f.bin first, so it takes the file
system's first chunks (`hex_chunks`; `chunk_addresses` reads them back from
a hex). A copy over serial (`mbnn deploy`) lets the device choose: the host
then runs `WALK` in the raw REPL to read the chain, and writes model.py with
those addresses. Items bigger than `ITEM_MAX` stay in p.bin (heap).
docs/program.md has the measured heap.
"""

from __future__ import annotations

from dataclasses import dataclass

NAME = "f.bin"  # the file a .hex holds; mbnn deploy alternates it with ALTERNATE
ALTERNATE = "g.bin"  # same length as NAME: the same header, so the same layout
CHUNK = 128  # bytes per file-system chunk on the V1
DATA = 126  # data bytes per chunk: offsets 1..126 of the chunk
HEADER = 2 + len(NAME)  # the first chunk's data starts with end offset, name length, name
FIRST = 4  # first word-aligned offset in a chunk (offset 0 is the marker)
LIMIT = 1 + DATA  # an item ends at or before this offset (127 is the next chunk's index)
ITEM_MAX = (LIMIT - FIRST) // 4 * 4  # 120: the biggest item that fits in one chunk


@dataclass
class Layout:
    """f.bin: its content (what the file holds, header excluded), how many chunks it
    takes, and where each item is: (kind, key) -> (chunk number in the file's chain,
    byte offset from the chunk's start, a multiple of 4)."""

    content: bytes
    chunks: int
    place: dict


def fits(raw: bytes) -> bool:
    """Whether an item can live in one chunk (word-sized items only: see place)."""
    return 0 < len(raw) <= ITEM_MAX and len(raw) % 4 == 0


def _start(chunk: int) -> int:
    """The first word-aligned offset of a chunk free for items (chunk 0 holds the header)."""
    at = 1 + HEADER if chunk == 0 else FIRST
    return at + -at % 4


def place(items: list[tuple[str, object, bytes]]) -> Layout:
    """Packs items (kind, key, raw; each `fits`) into chunks, first fit, biggest first.
    Raises ValueError for an item that does not fit one chunk."""
    free: list[int] = []  # per chunk, the next free offset
    place: dict = {}
    for kind, key, raw in sorted(items, key=lambda it: -len(it[2])):
        if not fits(raw):
            raise ValueError("item %s %s of %d bytes does not fit one chunk" % (kind, key, len(raw)))
        j = next((j for j, at in enumerate(free) if at + len(raw) <= LIMIT), None)
        while j is None:  # a new chunk (the first one has less room: its header)
            free.append(_start(len(free)))
            j = len(free) - 1 if free[-1] + len(raw) <= LIMIT else None
        place[kind, key] = (j, free[j])
        free[j] += len(raw)
    stream = bytearray(DATA * len(free))  # the data areas, in chain order (header included)
    for (kind, key, raw) in items:
        j, at = place[kind, key]
        pos = DATA * j + at - 1
        stream[pos:pos + len(raw)] = raw
    end = max([DATA * j + at - 1 for j, at in enumerate(free)] or [HEADER])
    return Layout(content=bytes(stream[HEADER:end]), chunks=len(free), place=place)


def chunk_addresses(hex_text: str, name: str = NAME) -> list[int]:
    """The flash addresses of a file's chunks in a V1 hex, in chain order (what the
    device's walk finds): for tests and for checking a build."""
    import micropython_microbit_fs as mfs
    from micropython_microbit_fs import filesystem as fs
    from micropython_microbit_fs.hex_utils import load_hex

    ih = load_hex(hex_text)
    info = mfs.get_device_info(hex_text)
    start, end = fs.get_fs_start_address(info), fs.get_last_page_address(info)
    want = name.encode()
    for a in range(start, end, CHUNK):
        if ih[a] == 0xFE and ih[a + 2] == len(want) and bytes(ih[a + 3 + i] for i in range(len(want))) == want:
            out = [a]
            while ih[out[-1] + CHUNK - 1] != 0xFF:
                out.append(start + CHUNK * (ih[out[-1] + CHUNK - 1] - 1))
            return out
    return []


def fs_region(target: str = "v1") -> tuple[int, int]:
    """(flash address of chunk 1, number of chunks) of the bundled firmware's file system:
    model.py gives them to the device, which scans them for f.bin."""
    import micropython_microbit_fs as mfs
    from micropython_microbit_fs import filesystem as fs

    from microbit_nn.export.hexbuild import firmware_hex

    info = mfs.get_device_info(firmware_hex(target))
    start = fs.get_fs_start_address(info)
    return start, (fs.get_last_page_address(info) - start) // CHUNK


def hex_chunks(n: int, target: str = "v1") -> list[int]:
    """The flash addresses of f.bin's n chunks in a hex built with f.bin as its first
    file (export/writer.py's device_files order): the file system's first n chunks."""
    start, count = fs_region(target)
    if n > count:
        raise ValueError("f.bin needs %d chunks, the file system has %d" % (n, count))
    return [start + CHUNK * j for j in range(n)]


# Run in the raw REPL of a V1 (after the app is interrupted: the heap is whole), it
# prints the flash address of each chunk of the file {tag} names (its name's length
# byte and name, as in the file's header), in chain order: what model.py's X must say
# after a copy over serial. {start} and {count}: fs_region().
WALK = """import micropython
@micropython.asm_thumb
def pk(r0):
    ldrb(r0, [r0, 0])
def walk(a, n):
    for i in range(n):
        c = a + 128 * i
        if pk(c) == 254 and bytes(pk(c + 2 + j) for j in range({n})) == {tag}:
            while c:
                print(c)
                j = pk(c + 127)
                c = a + 128 * (j - 1) if j < 255 else 0
walk({start}, {count})
"""


def walk_snippet(target: str = "v1", name: str = NAME) -> str:
    """WALK for the file `name` (f.bin, or its alternate g.bin: mbnn deploy) in the
    bundled firmware's file system."""
    start, count = fs_region(target)
    tag = bytes([len(name)]) + name.encode()
    return WALK.format(start=start, count=count, n=len(tag), tag=repr(tag))
