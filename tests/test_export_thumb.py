"""export/thumb.py, the Thumb-1 assembler, against encodings from the ARMv6-M
manual as llvm-mc -triple=thumbv6m gives them (one per instruction form the
firmware uses), and against LLVM itself where it is installed (`llvm_bytes`,
also used for whole listings by test_firmware_qf.py and test_export_engine.py)."""

import re
import shutil
import subprocess

import pytest

from microbit_nn.export.thumb import AsmError, assemble, assemble_bytes, labels_of

needs_llvm = pytest.mark.skipif(shutil.which("llvm-mc") is None or shutil.which("llvm-objcopy") is None,
                                reason="llvm-mc / llvm-objcopy (llvm) are not installed")


def llvm_bytes(lines: list[str], tmp_path) -> bytes:
    """The machine code LLVM makes of our syntax (';'-separated, 'X:' labels, '@' comments)
    for ARMv6-M: the oracle for export/thumb.py."""
    parts = [p.strip() for line in lines for p in line.split("@")[0].split(";")]
    text = "\n".join(re.sub(r"^([A-Za-z_]\w*):\s*", r"\1:\n", p) for p in parts if p)  # labels alone
    (tmp_path / "a.s").write_text(".syntax unified\n.thumb\n" + text + "\n")
    for cmd in (["llvm-mc", "-triple=thumbv6m", "-filetype=obj", "-o", "a.o", "a.s"],
                ["llvm-objcopy", "-O", "binary", "--only-section=.text", "a.o", "a.bin"]):
        r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    return (tmp_path / "a.bin").read_bytes()

KNOWN = {
    "push {r3}": 0xB408, "pop {r1}": 0xBC02, "push {lr}": 0xB500, "pop {pc}": 0xBD00,
    "str r0, [r3, #44]": 0x62D8, "ldr r7, [sp, #0]": 0x9F00, "ldr r2, [r2, r1]": 0x5852,
    "ldrsb r0, [r2, r4]": 0x5710, "strb r3, [r5, #0]": 0x702B, "ldrsh r2, [r0, r1]": 0x5E42,
    "strh r2, [r0, r1]": 0x5242, "ldrh r3, [r1, #0]": 0x880B, "strh r0, [r1, #0]": 0x8008,
    "ldrb r7, [r6, #0]": 0x7837, "str r2, [sp, #0]": 0x9200, "str r3, [sp, #12]": 0x9303,
    "ldr r1, [sp, #16]": 0x9904, "sub sp, #24": 0xB086, "add sp, #24": 0xB006,
    "mov r12, r2": 0x4694, "mov r3, r12": 0x4663, "mov lr, r3": 0x469E, "mov r5, lr": 0x4675,
    "add r12, r0": 0x4484, "add lr, r3": 0x449E, "movs r5, #3": 0x2503, "cmp r3, #127": 0x2B7F,
    "cmp r1, r12": 0x4561, "adds r2, #4": 0x3204, "adds r5, r4, #1": 0x1C65, "subs r2, r2, r0": 0x1A12,
    "rsbs r4, r4, #0": 0x4264, "muls r5, r4, r5": 0x4365, "lsls r1, r0, #2": 0x0081,
    "lsrs r3, r7, #16": 0x0C3B, "lsls r5, r4": 0x40A5, "asrs r3, r2": 0x4113, "ands r5, r4": 0x4025,
    "cmp r2, r3": 0x429A, "adcs r2, r2": 0x4152, "cmn r2, r7": 0x42FA, "eors r7, r3": 0x405F,
    "mvns r7, r7": 0x43FF, "uxth r7, r7": 0xB2BF, "bx lr": 0x4770, "blx r4": 0x47A0,
}


@pytest.mark.parametrize("text", list(KNOWN))
def test_known_encodings(text):
    assert assemble([text]) == [[KNOWN[text]]]


@needs_llvm
def test_known_encodings_agree_with_llvm(tmp_path):
    want = llvm_bytes(list(KNOWN), tmp_path)
    assert [want[i] | want[i + 1] << 8 for i in range(0, len(want), 2)] == list(KNOWN.values())


def test_branches_and_labels():
    assert assemble(["X: b X"]) == [[0xE7FE]]
    assert assemble(["bne Y; movs r0, #0; Y: movs r0, #1"])[0][0] == 0xD100
    assert assemble(["X: bl X"]) == [[0xF7FF, 0xFFFE]]  # bl to itself: the well-known f7ff fffe
    assert assemble(["bl Y; movs r0, #0; Y: bx lr"]) == [[0xF000, 0xF801, 0x2000, 0x4770]]
    assert labels_of(["A: movs r0, #0", "B: bl A; C:"]) == {"A": 0, "B": 2, "C": 6}
    assert assemble_bytes(["movs r0, #1; bx lr", "@ a comment"]) == bytes([1, 0x20, 0x70, 0x47])


@pytest.mark.parametrize("bad", ["movs r8, #1", "adds r0, #300", "frob r0", "b Nowhere", "muls r0, r1, r2",
                                 "ldrsb r0, [r1, #4]", "X: movs r0, #0; X: movs r0, #1"])
def test_what_it_cannot_encode_is_an_error(bad):
    with pytest.raises(AsmError):
        assemble([bad])
