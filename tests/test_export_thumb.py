"""export/thumb.py, the Thumb-1 assembler, against encodings from the ARMv6-M
manual as llvm-mc -triple=thumbv6m gives them (one per instruction form the
firmware uses). Whole listings are checked against LLVM itself in
test_firmware_qf.py and test_export_engine.py where LLVM is installed."""

import pytest

from microbit_nn.export.thumb import AsmError, assemble, assemble_bytes, labels_of

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
