"""export/hexbuild.py: files survive the trip into a MicroPython hex and back.

The oracle is micropython-microbit-fs's own reader plus the files we put in;
the V2 hex is checked structurally since nothing emulates a V2. The hex
check's oracle is the intelhex package.
"""

import io
import os

import pytest
from intelhex import IntelHex
from micropython_microbit_fs import get_bundled_hex

from microbit_nn.errors import MbnnError
from microbit_nn.export import hexbuild

FILES = {
    "main.py": b"import m\nprint('I hello')\n",
    "m.py": b"T = b'" + bytes(range(40, 120)) + b"'\n",
    "w.bin": bytes(range(256)) * 9,  # binary, spans many 128-byte chunks
}


@pytest.mark.parametrize("target,version", [("v1", "v1.9.2"), ("v2", "v1.18")])
def test_files_read_back_equal(target, version):
    text = hexbuild.build_hex(FILES, target)
    assert hexbuild.hex_files(text) == FILES
    info = hexbuild.hex_info(text)
    assert info.target == target
    assert "MicroPython " + version in info.micropython
    # what the files took is exactly what is no longer free
    empty = hexbuild.hex_info(hexbuild.firmware_hex(target))
    assert empty.fs_free - info.fs_free == hexbuild.fs_bytes(FILES)


def test_hex_is_intel_hex():
    # Every record is ':' + hex digits whose bytes sum to 0 mod 256; one EOF record.
    text = hexbuild.build_hex({"main.py": b"print(1)\n"}, "v1")
    lines = text.splitlines()
    assert lines[-1] == ":00000001FF"
    for line in lines[:200] + lines[-200:]:
        raw = bytes.fromhex(line[1:])
        assert line[0] == ":" and sum(raw) % 256 == 0 and raw[0] == len(raw) - 5


@pytest.mark.parametrize("target", ["v1", "v2"])
def test_capacity_boundary(target):
    room = hexbuild.hex_info(hexbuild.firmware_hex(target)).fs_free
    size = room * 126 // 128 - 200  # 126 data bytes per 128-byte chunk
    while hexbuild.fs_bytes({"d.bin": bytes(size + 1)}) <= room:
        size += 1  # the largest single file that fits
    assert hexbuild.hex_files(hexbuild.build_hex({"d.bin": bytes(size)}, target))["d.bin"] == bytes(size)
    with pytest.raises(MbnnError, match=r"need %d bytes .* holds %d" % (
            hexbuild.fs_bytes({"d.bin": bytes(size + 1)}), room)):
        hexbuild.build_hex({"d.bin": bytes(size + 1)}, target)


def test_many_files_too_big():
    files = {"f%d.bin" % i: bytes([i]) * 3000 for i in range(12)}
    with pytest.raises(MbnnError, match="v1 file system"):
        hexbuild.build_hex(files, "v1")


@pytest.mark.parametrize("files", [{"e.py": b""}, {"a/b.py": b"x"}, {"n" * 121: b"x"}])
def test_bad_files(files):
    with pytest.raises(MbnnError):
        hexbuild.build_hex(files, "v1")


def test_bad_target_and_bad_hex():
    with pytest.raises(MbnnError, match="v1, v2"):
        hexbuild.build_hex(FILES, "v3")
    with pytest.raises(MbnnError, match="not a readable MicroPython hex"):
        hexbuild.hex_files("this is not a hex file\n")
    with pytest.raises(MbnnError):
        hexbuild.hex_info(":00000001FF\n")  # valid Intel hex, but no MicroPython


def test_write_hex_atomic(tmp_path):
    text = hexbuild.build_hex({"main.py": b"print(2)\n"}, "v1")
    out = hexbuild.write_hex(text, tmp_path / "sub" / "app.hex")
    assert out.read_text() == text
    assert os.listdir(out.parent) == ["app.hex"]  # no temp file left behind
    hexbuild.write_hex("old", out)
    hexbuild.write_hex(text, out)  # replaces, never appends
    assert out.read_text() == text


def small_hex(n: int = 40) -> str:
    ih = IntelHex()
    for i in range(n):
        ih[0x1000 + i] = (i * 7) & 0xFF
    out = io.StringIO()
    ih.write_hex_file(out)
    return out.getvalue()


def test_check_hex_counts_data_bytes():
    text = small_hex(40)
    assert hexbuild.check_hex(text) == len(IntelHex(io.StringIO(text)))
    real = get_bundled_hex(1).content  # the MicroPython V1 firmware
    assert hexbuild.check_hex(real) == len(IntelHex(io.StringIO(real)))


@pytest.mark.parametrize("edit, msg", [
    (lambda t: t.replace(":00000001FF", ""), "no end record"),
    (lambda t: "hello world\n" + t, "line 1: not a ':' record"),
    (lambda t: t.replace(t.splitlines()[0], t.splitlines()[0][:-2] + "00"), "bad checksum"),
    (lambda t: t.replace(t.splitlines()[0], t.splitlines()[0][:20]), "length field|cut short"),
    (lambda t: t.replace(t.splitlines()[0], ":0Z" + t.splitlines()[0][3:]), "not hexadecimal"),
    (lambda t: t + ":0400000A9900C0DEBB\n", "after the end record"),
    (lambda t: ":00000001FF\n", "holds no data"),
    (lambda t: ":0100000F00F0\n:00000001FF\n", "unknown record type"),
])
def test_check_hex_rejects_corrupt_files(edit, msg):
    with pytest.raises(MbnnError, match=msg):
        hexbuild.check_hex(edit(small_hex()), "x.hex")


@pytest.mark.parametrize("target", ["v1", "v2"])
def test_check_hex_accepts_what_build_hex_makes(target):
    text = hexbuild.build_hex(FILES, target)
    assert hexbuild.check_hex(text) == len(IntelHex(io.StringIO(text)))


def test_read_hex_reports_what_is_wrong(tmp_path):
    good = tmp_path / "a.hex"
    good.write_text(small_hex())
    assert hexbuild.read_hex(good) == small_hex()
    with pytest.raises(MbnnError, match="not found"):
        hexbuild.read_hex(tmp_path / "missing.hex")
    binary = tmp_path / "b.hex"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(MbnnError, match="binary"):
        hexbuild.read_hex(binary)
    with pytest.raises(MbnnError, match="cannot read"):
        hexbuild.read_hex(tmp_path)  # a folder
