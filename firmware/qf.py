# Window features (feats) in Thumb-1 machine code for MicroPython's inline
# assembler: same signature, results and in-place clipping as ft.py, bit for
# bit (docs/quantization.md, section 5). docs/kernels.md has the method and
# the measured costs. Off MicroPython this raises ImportError: fall back to ft.
#
# As in qa.py the code is data() words, cheap to compile on the V1. They
# come in six data() calls (one statement each: fewer statements need less
# heap to compile; but a call of 183 words broke the V1's heap, so each
# stays under 64). Each "#:" comment is the source of the words below it;
# tests/test_firmware_qf.py re-assembles the comments and checks the words.
import sys
if sys.implementation.name != 'micropython':
    raise ImportError('qf needs MicroPython')
import micropython

# _f(buf, n, out) does the whole window; it returns 1 without touching
# memory unless 1 <= n <= 255. Stack frame: 0 out (of this axis),
# 4 buf + 2c + 6n (c the axis), 8 -6n (index of sample 0), 12 axes left,
# 16 n. Samples are read as [base, i] with i stepping by 6 up to 0.
try:
    @micropython.asm_thumb
    def _f(r0, r1, r2):
        # subroutines, changing only r0, r2, r3 (and lr): DV r0 //= r1 for
        # 0 <= r0 < 2**30, D2 the same for r0 < 2**20, SQ r0 = isqrt(r0)
        data(2,
            #: b S
            0xE023,
            # shift r0's bits into the remainder r2, quotient bits into r0
            #: DV: lsls r0, r0, #2; movs r3, #30; b D0; D2: lsls r0, r0, #12; movs r3, #20; D0: movs r2, #0
            0x0080, 0x231E, 0xE001, 0x0300, 0x2314, 0x2200,
            #: DL: adds r0, r0, r0; adcs r2, r2; cmp r2, r1; blo D1; subs r2, r2, r1; adds r0, #1
            0x1800, 0x4152, 0x428A, 0xD301, 0x1A52, 0x3001,
            #: D1: adds r0, r0, r0; adcs r2, r2; cmp r2, r1; blo DS; subs r2, r2, r1; adds r0, #1
            0x1800, 0x4152, 0x428A, 0xD301, 0x1A52, 0x3001,
            #: DS: subs r3, #2; bne DL; bx lr
            0x3B02, 0xD1F1, 0x4770,
            # bit by bit as ft.isq (r2 root, r3 bit), from bit 1 << 28
            #: SQ: movs r2, #0; movs r3, #1; lsls r3, r3, #28
            0x2200, 0x2301, 0x071B,
            #: QL: adds r2, r2, r3; cmp r0, r2; blo QN; subs r0, r0, r2; adds r2, r2, r3; adds r2, r2, r3
            0x18D2, 0x4290, 0xD302, 0x1A80, 0x18D2, 0x18D2,
            #: QN: subs r2, r2, r3; lsrs r2, r2, #1; lsrs r3, r3, #2; bne QL; mov r0, r2; bx lr
            0x1AD2, 0x0852, 0x089B, 0xD1F5, 0x4610, 0x4770)
        # check n, set up the frame
        data(2,
            #: S: subs r3, r1, #1; cmp r3, #254; bls G; movs r0, #1; b Y
            0x1E4B, 0x2BFE, 0xD901, 0x2001, 0xE08C,
            #: G: sub sp, #24; str r2, [sp, #0]; str r1, [sp, #16]; movs r3, #6; muls r3, r1, r3
            0xB086, 0x9200, 0x9104, 0x2306, 0x434B,
            #: adds r0, r0, r3; str r0, [sp, #4]; rsbs r3, r3, #0; str r3, [sp, #8]
            0x18C0, 0x9001, 0x425B, 0x9302,
            #: movs r3, #3; str r3, [sp, #12]
            0x2303, 0x9303)
        # each axis, pass 1 (r0 base, r1 index, r2 x, r7 2048): clip, max r4,
        # min r5, sum r6, sum of squares r12, sum of the negative x lr
        data(2,
            #: AX: ldr r0, [sp, #4]; ldr r1, [sp, #8]; movs r7, #1; lsls r7, r7, #11; rsbs r4, r7, #0
            0x9801, 0x9902, 0x2701, 0x02FF, 0x427C,
            #: mov r5, r7; movs r6, #0; movs r3, #0; mov r12, r3; mov lr, r3; b P
            0x463D, 0x2600, 0x2300, 0x469C, 0x469E, 0xE00B,
            # a new max or min: clip x there (as ft: any x > 2048 is a new max)
            #: H: cmp r2, r7; ble H1; mov r2, r7; strh r2, [r0, r1]; H1: mov r4, r2; b R
            0x42BA, 0xDD01, 0x463A, 0x5242, 0x4614, 0xE008,
            #: M: cmn r2, r7; bge M1; rsbs r2, r7, #0; strh r2, [r0, r1]; M1: mov r5, r2; b A
            0x42FA, 0xDA01, 0x427A, 0x5242, 0x4615, 0xE004,
            #: P: ldrsh r2, [r0, r1]; cmp r2, r4; bgt H; R: cmp r2, r5; blt M
            0x5E42, 0x42A2, 0xDCF0, 0x42AA, 0xDBF4,
            #: A: adds r6, r6, r2; mov r3, r2; muls r3, r2, r3; add r12, r3
            0x18B6, 0x4613, 0x4353, 0x449C,
            #: asrs r3, r2, #31; ands r3, r2; add lr, r3; adds r1, #6; bne P
            0x17D3, 0x4013, 0x449E, 0x3106, 0xD1F1)
        # out: max, min; mabs = (sum - 2 neg + h) // n with h = n >> 1 (r7);
        # rms = isqrt(squares // n), squares kept in r4; mean m (r5) =
        # (sum + h + 2048 n) // n - 2048, a numerator >= 0; std =
        # isqrt((squares - m * (2 sum - n m)) // n), the identity of ft.py
        data(2,
            #: ldr r3, [sp, #0]; str r4, [r3, #0]; str r5, [r3, #4]; mov r4, r12; mov r5, lr
            0x9B00, 0x601C, 0x605D, 0x4664, 0x4675,
            #: ldr r1, [sp, #16]; lsrs r7, r1, #1; subs r0, r6, r5; subs r0, r0, r5; adds r0, r0, r7
            0x9904, 0x084F, 0x1B70, 0x1B40, 0x19C0,
            #: bl D2; ldr r3, [sp, #0]; str r0, [r3, #28]
            0xF7FF, 0xFF9E, 0x9B00, 0x61D8,
            #: mov r0, r4; bl DV; bl SQ; ldr r3, [sp, #0]; str r0, [r3, #24]
            0x4620, 0xF7FF, 0xFF96, 0xF7FF, 0xFFA9, 0x9B00, 0x6198,
            #: movs r5, #1; lsls r5, r5, #11; mov r0, r5; muls r0, r1, r0; adds r0, r0, r6
            0x2501, 0x02ED, 0x4628, 0x4348, 0x1980,
            #: adds r0, r0, r7; bl D2; subs r5, r0, r5; ldr r3, [sp, #0]; str r5, [r3, #8]
            0x19C0, 0xF7FF, 0xFF8D, 0x1B45, 0x9B00, 0x609D,
            #: mov r0, r5; muls r0, r1, r0; subs r0, r6, r0; adds r0, r0, r6; muls r0, r5, r0
            0x4628, 0x4348, 0x1A30, 0x1980, 0x4368,
            #: subs r0, r4, r0; bl DV; bl SQ; ldr r3, [sp, #0]; str r0, [r3, #12]
            0x1A20, 0xF7FF, 0xFF7F, 0xF7FF, 0xFF92, 0x9B00, 0x60D8)
        # pass 2 on d = x - m (r2 now, r3 before, r4 before that), std r6:
        # zcross r12 += sign bit of (d ^ d before), peaks lr
        data(2,
            #: mov r6, r0; ldr r0, [sp, #4]; ldr r1, [sp, #8]; ldrsh r3, [r0, r1]; subs r3, r3, r5
            0x4606, 0x9801, 0x9902, 0x5E43, 0x1B5B,
            #: mov r4, r3; movs r2, #0; mov r12, r2; mov lr, r2; adds r1, #6; beq E; b Q
            0x461C, 0x2200, 0x4694, 0x4696, 0x3106, 0xD014, 0xE007,
            # a peak: d before > std, a strict rise into it, no rise after
            #: K: cmp r3, r4; ble Z; cmp r3, r2; blt Z; mov r7, lr; adds r7, #1; mov lr, r7; b Z
            0x42A3, 0xDD0D, 0x4293, 0xDB0B, 0x4677, 0x3701, 0x46BE, 0xE007,
            #: Q: ldrsh r2, [r0, r1]; subs r2, r2, r5; mov r7, r2; eors r7, r3; lsrs r7, r7, #31
            0x5E42, 0x1B52, 0x4617, 0x405F, 0x0FFF,
            #: add r12, r7; cmp r3, r6; bgt K; Z: mov r4, r3; mov r3, r2; adds r1, #6; bne Q
            0x44BC, 0x42B3, 0xDCEF, 0x461C, 0x4613, 0x3106, 0xD1F3)
        # out: peaks, zcross; next axis; return 0
        data(2,
            #: E: ldr r3, [sp, #0]; mov r0, lr; str r0, [r3, #16]; mov r0, r12; str r0, [r3, #20]
            0x9B00, 0x4670, 0x6118, 0x4660, 0x6158,
            #: adds r3, #32; str r3, [sp, #0]; ldr r0, [sp, #4]; adds r0, #2; str r0, [sp, #4]
            0x3320, 0x9300, 0x9801, 0x3002, 0x9001,
            #: ldr r3, [sp, #12]; subs r3, #1; str r3, [sp, #12]; beq X; b AX
            0x9B03, 0x3B01, 0x9303, 0xD000, 0xE77F,
            #: X: add sp, #24; movs r0, #0; Y:
            0xB006, 0x2000)
except AttributeError:
    raise ImportError('qf needs asm_thumb')


_l = len  # a module global: found faster than the builtin


def feats(buf, n, out):
    # the machine code would write past a short buffer, and checks n itself
    if _l(buf) < 3 * n or _l(out) < 24 or _f(buf, n, out):
        raise ValueError('feats needs 0 < n < 256, len(buf) >= 3n, len(out) >= 24')
