"""Build a flashable .hex: official MicroPython firmware + files in its filesystem.

The firmware comes from `micropython-microbit-fs` (micro:bit Foundation), which
bundles MicroPython 1.1.1 for the V1 and 2.1.2 for the V2 and knows where each
keeps its file system. `main.py` among the files runs at boot.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import micropython_microbit_fs as mfs
from micropython_microbit_fs import filesystem as mfs_fs
from micropython_microbit_fs.hex_utils import load_hex

from microbit_nn.errors import MbnnError

TARGETS = {"v1": 1, "v2": 2}


@dataclass(frozen=True)
class HexInfo:
    """What a MicroPython hex holds: board, firmware version and file-system room."""

    target: str  # "v1" or "v2"
    micropython: str  # the firmware's version banner
    fs_size: int  # bytes of the file-system region (the scratch page excluded)
    fs_free: int  # bytes of it still free for files (whole 128-byte chunks)


def _device(target: str) -> int:
    if target not in TARGETS:
        raise MbnnError("unknown micro:bit target %r: use one of %s"
                        % (target, ", ".join(sorted(TARGETS))))
    return TARGETS[target]


@lru_cache(maxsize=2)
def firmware_hex(target: str = "v1") -> str:
    """The bundled MicroPython hex for `target` ("v1" or "v2"), without files."""
    try:
        return mfs.get_bundled_hex(_device(target)).content
    except mfs.HexNotFoundError as e:
        raise MbnnError("micropython-microbit-fs has no bundled %s firmware (%s): "
                        "reinstall it with ./run setup" % (target, e)) from e


def fs_bytes(files: Mapping[str, bytes]) -> int:
    """Bytes of file system the files take (whole 128-byte chunks, headers included)."""
    return sum(mfs.File(name, bytes(data)).size_fs for name, data in files.items())


def build_hex(files: Mapping[str, bytes], target: str = "v1") -> str:
    """Returns the Intel hex text of MicroPython for `target` with `files` in its
    file system (name -> content; `main.py` runs at boot).

    Raises MbnnError if a file is empty or badly named, or the files do not fit.
    """
    base = firmware_hex(target)
    for name in files:
        if "/" in name or "\\" in name:  # the micro:bit file system is flat
            raise MbnnError("file name %r has a folder in it: the micro:bit file "
                            "system is flat, use a plain name" % name)
    try:
        entries = [mfs.File(name, bytes(data)) for name, data in files.items()]
        return mfs.add_files(base, entries)
    except mfs.StorageFullError as e:
        need, room = fs_bytes(files), hex_info(base).fs_free
        raise MbnnError("the files need %d bytes but the %s file system holds %d: "
                        "drop files or shrink the model" % (need, target, room)) from e
    except mfs.InvalidFileError as e:
        raise MbnnError("cannot put the file on the micro:bit (%s): use a non-empty "
                        "file with a short name without '/'" % e) from e


def _parse(fn, hex_text: str):
    try:
        return fn(hex_text)
    except mfs.FilesystemError as e:
        raise MbnnError("not a readable MicroPython hex (%s): rebuild it with "
                        "mbnn build" % e) from e


def hex_files(hex_text: str) -> dict[str, bytes]:
    """The files stored in a MicroPython hex, name -> content."""
    return {f.name: f.content for f in _parse(mfs.get_files, hex_text)}


def hex_info(hex_text: str) -> HexInfo:
    """Board, MicroPython version and file-system size of a MicroPython hex."""
    info = _parse(mfs.get_device_info, hex_text)
    target = "v1" if info.device_version == mfs.DeviceVersion.V1 else "v2"
    # The library's fs_size counts pages it then reserves (on the V1 the last
    # page holds the persistent marker), so count the free chunks themselves.
    free = len(mfs_fs.get_free_chunks(load_hex(hex_text), info)) * mfs_fs.CHUNK_SIZE
    return HexInfo(target, info.micropython_version, info.fs_size, free)


# Intel hex record types, incl. the universal hex blocks (0x0A-0x0E) a V1+V2 hex has
_KINDS = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E}


def check_hex(text: str, name: str = "the file") -> int:
    """Validate Intel hex text (record syntax, lengths, checksums, end record); returns its data bytes.

    The one check every .hex passes before it reaches a MICROBIT drive (`mbnn flash`)
    or QEMU (host/emulator.py, whose loader would run any file as raw bytes).
    Raises MbnnError naming the first bad line.
    """
    data = 0
    ended = False
    lines = text.splitlines()
    for n, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        bad = f"{name} is not a valid Intel .hex file (line {n}"
        if ended:
            raise MbnnError(f"{bad}: data after the end record): rebuild it with 'mbnn build'")
        if not line.startswith(":"):
            raise MbnnError(f"{bad}: not a ':' record): build one with 'mbnn build'")
        if len(line) < 11 or len(line) % 2 == 0:
            raise MbnnError(f"{bad}: a record cut short): the file is truncated or damaged; rebuild it "
                            "with 'mbnn build'")
        try:
            raw = bytes.fromhex(line[1:])
        except ValueError:
            raise MbnnError(f"{bad}: not hexadecimal): build one with 'mbnn build'") from None
        if len(raw) != raw[0] + 5:
            raise MbnnError(f"{bad}: length field says {raw[0]}, the record has {len(raw) - 5}): the file is "
                            "truncated or damaged; rebuild it with 'mbnn build'")
        if sum(raw) & 0xFF:
            raise MbnnError(f"{bad}: bad checksum): the file is damaged; rebuild it with 'mbnn build'")
        if raw[3] not in _KINDS:
            raise MbnnError(f"{bad}: unknown record type {raw[3]:#04x}): build one with 'mbnn build'")
        if raw[3] in (0x00, 0x0D):
            data += raw[0]
        ended = ended or raw[3] == 0x01
    if not ended:
        raise MbnnError(f"{name} is not a complete Intel .hex file (no end record): it was cut short; "
                        "rebuild it with 'mbnn build'")
    if not data:
        raise MbnnError(f"{name} holds no data: build a real one with 'mbnn build'")
    return data


def read_hex(path: str | os.PathLike) -> str:
    """The text of the .hex file at `path` (not yet checked: `check_hex`).

    Raises MbnnError when it is missing, unreadable or binary."""
    path = Path(path)
    try:
        return path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise MbnnError(f"{path} is not a valid Intel .hex file (it is binary): build one with 'mbnn build'") from None
    except FileNotFoundError:
        raise MbnnError(f"hex file {path} not found: build it with 'mbnn build' or check the path") from None
    except OSError as exc:
        raise MbnnError(f"cannot read {path} ({exc.strerror or exc}): check the path") from None


def write_hex(text: str, path: str | os.PathLike) -> Path:
    """Writes the hex atomically (temp file in the same folder, then rename), so a
    half-written file never reaches the MICROBIT drive or a reader."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; a hex is an ordinary file
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
