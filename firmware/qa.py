# int8 kernels in Thumb-1 machine code (V1 Cortex-M0 and V2 Cortex-M4) for
# MicroPython's inline assembler: same signatures and results, bit for bit,
# as qk.py. docs/kernels.md explains the method and the measured costs.
# Off MicroPython this raises ImportError, so the app can fall back to qk.
#
# The code is written as data() words, not mnemonics, because the V1 compiles
# this file on the device: one word is 4 bytes of parse tree, a mnemonic
# statement ~50. The mnemonic version failed to import with 6.4 KB free;
# this one imports with 5.1 KB free and keeps 1.5 KB. The
# "#:" comment above each data() line is its source; the tests re-assemble
# those comments and check they give exactly these words.
import sys
if sys.implementation.name != 'micropython':
    raise ImportError('qa needs MicroPython')
import micropython
from array import array

# Parameter block, int32 words (byte offset = 4 * index): 0 L, 1 ci, 2 k,
# 3 st, 4 pd, 5 co, 6 Lo, 7 lo, 8-10 addresses of b m s; the code keeps its
# state in 11-22: x, w, y, p0, steps left, o, -n4, xs-n4, wr, k*ci, n, n%4.
try:
    @micropython.asm_thumb
    def _a(r0, r1, r2, r3):
        #: str r1, [r0, #32]; str r2, [r0, #36]; str r3, [r0, #40]
        data(2, 0x6201, 0x6242, 0x6283)
except AttributeError:
    raise ImportError('qa needs asm_thumb')


# One routine serves conv and dense (a dense is a conv with L = k = st = 1).
# Per step t: the taps j0..j1 inside x are one contiguous run of n = (j1-j0)*ci
# terms in x and in every filter. The dot product keeps acc in r12 so all
# eight low registers address memory: r2/r3 walk x/w four bytes a turn and
# r4-r7 hold the row's end + 0..3, so [r2,rK] and [r3,rK] reach all eight
# bytes without other adds (4 instructions a MAC, 4.75 with the loop).
# r3 runs from -n4 (n rounded up to 4) to 0; n % 4 is handled by entering
# the unrolled body part way, the skipped stages lying before the start.
@micropython.asm_thumb
def _c(r0, r1, r2, r3):
    # keep P on the stack; save x, w, y; return unless co > 0 and Lo > 0; k*ci; p0 = -pd
    #: push {r3}; str r0, [r3, #44]; str r1, [r3, #48]; str r2, [r3, #52]
    data(2, 0xB408, 0x62D8, 0x6319, 0x635A)
    #: ldr r4, [r3, #20]; ldr r5, [r3, #24]; muls r5, r4, r5; cmp r5, #0; bgt Z; b E
    data(2, 0x695C, 0x699D, 0x4365, 0x2D00, 0xDC00, 0xE081)
    #: Z: ldr r4, [r3, #4]; ldr r5, [r3, #8]; muls r5, r4, r5; str r5, [r3, #80]
    data(2, 0x685C, 0x689D, 0x4365, 0x651D)
    #: ldr r4, [r3, #16]; rsbs r4, r4, #0; str r4, [r3, #56]; ldr r4, [r3, #24]
    data(2, 0x691C, 0x4264, 0x639C, 0x699C)
    #: str r4, [r3, #60]
    data(2, 0x63DC)
    # each step t: j0 = max(0, -p0), j1 = min(k, L - p0), n = max(0, j1 - j0) * ci
    #: T: ldr r7, [sp, #0]; ldr r4, [r7, #60]; subs r4, r4, #1; str r4, [r7, #60]
    data(2, 0x9F00, 0x6BFC, 0x1E64, 0x63FC)
    #: ldr r0, [r7, #56]; rsbs r1, r0, #0; cmp r1, #0; bge A; movs r1, #0
    data(2, 0x6BB8, 0x4241, 0x2900, 0xDA00, 0x2100)
    #: A: ldr r2, [r7, #0]; subs r2, r2, r0; ldr r3, [r7, #8]; cmp r2, r3; ble B
    data(2, 0x683A, 0x1A12, 0x68BB, 0x429A, 0xDD00)
    #: mov r2, r3; B: subs r2, r2, r1; bgt C; movs r2, #0; C: ldr r3, [r7, #4]
    data(2, 0x461A, 0x1A52, 0xDC00, 0x2200, 0x687B)
    #: muls r2, r3, r2; str r2, [r7, #84]
    data(2, 0x435A, 0x657A)
    # n % 4, -n4, xs - n4 with xs = x + (p0 + j0) * ci, wr = w + j0 * ci; p0 += st; o = 0
    #: rsbs r4, r2, #0; movs r5, #3; ands r5, r4; str r5, [r7, #88]; subs r4, r4, r5
    data(2, 0x4254, 0x2503, 0x4025, 0x65BD, 0x1B64)
    #: str r4, [r7, #68]; muls r1, r3, r1; muls r0, r3, r0; adds r0, r0, r1
    data(2, 0x647C, 0x4359, 0x4358, 0x1840)
    #: ldr r5, [r7, #44]; adds r0, r0, r5; adds r0, r0, r4; str r0, [r7, #72]
    data(2, 0x6AFD, 0x1940, 0x1900, 0x64B8)
    #: ldr r5, [r7, #48]; adds r1, r1, r5; str r1, [r7, #76]; ldr r0, [r7, #56]
    data(2, 0x6B3D, 0x1949, 0x64F9, 0x6BB8)
    #: ldr r5, [r7, #12]; adds r0, r0, r5; str r0, [r7, #56]; movs r0, #0
    data(2, 0x68FD, 0x1940, 0x63B8, 0x2000)
    #: str r0, [r7, #64]
    data(2, 0x6438)
    # each output o: acc = b[o]; next wr += k*ci; set up r2-r7 and enter the body at n % 4
    #: O: ldr r0, [r7, #64]; lsls r1, r0, #2; ldr r2, [r7, #32]; ldr r2, [r2, r1]
    data(2, 0x6C38, 0x0081, 0x6A3A, 0x5852)
    #: mov r12, r2; ldr r5, [r7, #76]; ldr r2, [r7, #80]; adds r2, r5, r2
    data(2, 0x4694, 0x6CFD, 0x6D3A, 0x18AA)
    #: str r2, [r7, #76]; ldr r3, [r7, #68]; cmp r3, #0; beq D; ldr r6, [r7, #84]
    data(2, 0x64FA, 0x6C7B, 0x2B00, 0xD01F, 0x6D7E)
    #: adds r4, r5, r6; ldr r2, [r7, #72]; subs r2, r2, r5; ldr r1, [r7, #88]
    data(2, 0x19AC, 0x6CBA, 0x1B52, 0x6DB9)
    #: adds r5, r4, #1; adds r6, r4, #2; adds r7, r4, #3; cmp r1, #2; beq S2; bhi S3
    data(2, 0x1C65, 0x1CA6, 0x1CE7, 0x2902, 0xD00A, 0xD80D)
    #: cmp r1, #1; beq S1
    data(2, 0x2901, 0xD003)
    # the dot product, unrolled 4x
    #: S0: ldrsb r0, [r2, r4]; ldrsb r1, [r3, r4]; muls r0, r1, r0; add r12, r0
    data(2, 0x5710, 0x5719, 0x4348, 0x4484)
    #: S1: ldrsb r0, [r2, r5]; ldrsb r1, [r3, r5]; muls r0, r1, r0; add r12, r0
    data(2, 0x5750, 0x5759, 0x4348, 0x4484)
    #: S2: ldrsb r0, [r2, r6]; ldrsb r1, [r3, r6]; muls r0, r1, r0; add r12, r0
    data(2, 0x5790, 0x5799, 0x4348, 0x4484)
    #: S3: ldrsb r0, [r2, r7]; ldrsb r1, [r3, r7]; muls r0, r1, r0; add r12, r0
    data(2, 0x57D0, 0x57D9, 0x4348, 0x4484)
    #: adds r2, #4; adds r3, #4; bne S0
    data(2, 0x3204, 0x3304, 0xD1EC)
    # y = clamp((acc * m[o] + (1 << (s[o] - 1))) >> s[o], lo, 127)
    #: D: ldr r7, [sp, #0]; ldr r0, [r7, #64]; lsls r1, r0, #2; ldr r2, [r7, #36]
    data(2, 0x9F00, 0x6C38, 0x0081, 0x6A7A)
    #: ldr r2, [r2, r1]; mov r3, r12; muls r3, r2, r3; ldr r2, [r7, #40]
    data(2, 0x5852, 0x4663, 0x4353, 0x6ABA)
    #: ldr r2, [r2, r1]; subs r4, r2, #1; movs r5, #1; lsls r5, r4; adds r3, r3, r5
    data(2, 0x5852, 0x1E54, 0x2501, 0x40A5, 0x195B)
    #: asrs r3, r2; cmp r3, #127; ble H; movs r3, #127; H: ldr r4, [r7, #28]; cmp r3, r4
    data(2, 0x4113, 0x2B7F, 0xDD00, 0x237F, 0x69FC, 0x42A3)
    #: bge G; mov r3, r4
    data(2, 0xDA00, 0x4623)
    # store, next o, next step, return
    #: G: ldr r5, [r7, #52]; strb r3, [r5, #0]; adds r5, #1; str r5, [r7, #52]
    data(2, 0x6B7D, 0x702B, 0x3501, 0x637D)
    #: adds r0, #1; str r0, [r7, #64]; ldr r1, [r7, #20]; cmp r0, r1; blt O
    data(2, 0x3001, 0x6438, 0x6979, 0x4288, 0xDBB5)
    #: ldr r4, [r7, #60]; cmp r4, #0; ble E; b T; E: pop {r1}
    data(2, 0x6BFC, 0x2C00, 0xDD00, 0xE786, 0xBC02)


_P = array('i', [0] * 23)
_D = array('i', [1, 0, 1, 1, 0, 0, 1] + [0] * 16)  # a dense: L = k = st = Lo = 1


# The wrappers cost about 9,000 (dense) and 12,000 (conv) instructions a
# call on the V1, mostly the Python call itself; see docs/kernels.md.
def dense(x, w, b, m, s, y, lo):
    P = _D
    P[1] = len(x)
    P[5] = len(y)
    P[7] = lo
    _a(P, b, m, s)
    _c(x, w, y, P)


def conv(x, L, ci, w, k, st, pd, b, m, s, y, lo):
    P = _P
    P[0] = L
    P[1] = ci
    P[2] = k
    P[3] = st
    P[4] = pd
    P[5] = len(b)
    P[6] = (L + 2 * pd - k) // st + 1
    P[7] = lo
    if len(y) < P[5] * P[6]:
        raise ValueError('y is too short')
    _a(P, b, m, s)
    _c(x, w, y, P)
