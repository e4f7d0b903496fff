# int8 kernels in Thumb-1 inline assembly (V1 Cortex-M0 and V2 Cortex-M4).
# Same signatures and results, bit for bit, as qk.py; see docs/kernels.md.
# Raises ImportError off MicroPython so the app can fall back to qk.
import sys
if sys.implementation.name != 'micropython':
    raise ImportError('qa needs MicroPython')
import micropython
from array import array

# Parameter block (int32 words, byte offset = 4 * index):
# 0 L, 1 ci, 2 k, 3 st, 4 pd, 5 co, 6 Lo, 7 lo, 8-10 addresses of b m s,
# 11-20 scratch: x, w, y, p0, t left, o, n, xs, wr, k*ci.
try:
    @micropython.asm_thumb
    def _a(r0, r1, r2, r3):
        str(r1, [r0, 32])
        str(r2, [r0, 36])
        str(r3, [r0, 40])
except AttributeError:
    raise ImportError('qa needs asm_thumb')


# One routine serves conv and dense (a dense is a conv with L=k=st=1).
# The dot product keeps acc in r12 so that eight low registers are free:
# r2/r3 walk x/w four bytes a step, r4-r7 hold the end of the w row plus
# 0..3, so [r2+rK] and [r3+rK] address all eight bytes with no other adds.
# r3 runs from -(n rounded up to 4) to 0; n % 4 is handled by jumping into
# the unrolled body (the skipped stages fall before the start).
@micropython.asm_thumb
def _c(r0, r1, r2, r3):
    push({r3})
    str(r0, [r3, 44])
    str(r1, [r3, 48])
    str(r2, [r3, 52])
    ldr(r4, [r3, 4])
    ldr(r5, [r3, 8])
    mul(r5, r4)
    str(r5, [r3, 80])
    ldr(r4, [r3, 16])
    neg(r4, r4)
    str(r4, [r3, 56])
    ldr(r4, [r3, 24])
    str(r4, [r3, 60])
    label(T)
    data(2, 0x9F00)  # ldr r7, [sp, 0]: the block
    ldr(r4, [r7, 60])
    sub(r4, r4, 1)
    str(r4, [r7, 60])
    # taps j0..j1 of this step that fall inside x
    ldr(r0, [r7, 56])
    neg(r1, r0)
    cmp(r1, 0)
    bge(A)
    mov(r1, 0)
    label(A)
    ldr(r2, [r7, 0])
    sub(r2, r2, r0)
    ldr(r3, [r7, 8])
    cmp(r2, r3)
    ble(B)
    mov(r2, r3)
    label(B)
    sub(r2, r2, r1)
    cmp(r2, 0)
    bge(C)
    mov(r2, 0)
    label(C)
    ldr(r3, [r7, 4])
    mul(r2, r3)
    str(r2, [r7, 68])
    mul(r1, r3)
    mul(r0, r3)
    add(r0, r0, r1)
    ldr(r4, [r7, 44])
    add(r0, r0, r4)
    str(r0, [r7, 72])
    ldr(r4, [r7, 48])
    add(r1, r1, r4)
    str(r1, [r7, 76])
    ldr(r0, [r7, 56])
    ldr(r4, [r7, 12])
    add(r0, r0, r4)
    str(r0, [r7, 56])
    mov(r0, 0)
    str(r0, [r7, 64])
    label(O)
    ldr(r0, [r7, 64])
    lsl(r1, r0, 2)
    ldr(r2, [r7, 32])
    data(2, 0x5852)  # ldr r2, [r2, r1]: b[o]
    mov(r12, r2)
    ldr(r6, [r7, 68])
    cmp(r6, 0)
    beq(D)
    ldr(r5, [r7, 76])
    add(r4, r5, r6)
    ldr(r2, [r7, 80])
    add(r2, r5, r2)
    str(r2, [r7, 76])
    ldr(r2, [r7, 72])
    sub(r2, r2, r5)
    neg(r3, r6)
    mov(r1, 3)
    and_(r1, r3)
    sub(r3, r3, r1)
    add(r2, r2, r3)
    add(r5, r4, 1)
    add(r6, r4, 2)
    add(r7, r4, 3)
    cmp(r1, 2)
    beq(S2)
    bhi(S3)
    cmp(r1, 1)
    beq(S1)
    label(S0)
    data(2, 0x5710, 0x5719)  # ldrsb r0, [r2, r4]; ldrsb r1, [r3, r4]
    mul(r0, r1)
    data(2, 0x4484)  # add r12, r0
    label(S1)
    data(2, 0x5750, 0x5759)
    mul(r0, r1)
    data(2, 0x4484)
    label(S2)
    data(2, 0x5790, 0x5799)
    mul(r0, r1)
    data(2, 0x4484)
    label(S3)
    data(2, 0x57D0, 0x57D9)
    mul(r0, r1)
    data(2, 0x4484)
    add(r2, 4)
    add(r3, 4)
    bne(S0)
    label(D)
    data(2, 0x9F00)
    # y = clamp((acc * m[o] + (1 << (s[o] - 1))) >> s[o], lo, 127)
    ldr(r0, [r7, 64])
    lsl(r1, r0, 2)
    ldr(r2, [r7, 36])
    data(2, 0x5852)
    mov(r3, r12)
    mul(r3, r2)
    ldr(r2, [r7, 40])
    data(2, 0x5852)
    sub(r4, r2, 1)
    mov(r5, 1)
    lsl(r5, r4)
    add(r3, r3, r5)
    asr(r3, r2)
    cmp(r3, 127)
    ble(H)
    mov(r3, 127)
    label(H)
    ldr(r4, [r7, 28])
    cmp(r3, r4)
    bge(G)
    mov(r3, r4)
    label(G)
    ldr(r5, [r7, 52])
    strb(r3, [r5, 0])
    add(r5, 1)
    str(r5, [r7, 52])
    add(r0, 1)
    str(r0, [r7, 64])
    ldr(r1, [r7, 20])
    cmp(r0, r1)
    blt(O)
    ldr(r4, [r7, 60])
    cmp(r4, 0)
    ble(E)
    b(T)
    label(E)
    pop({r1})


_P = array('i', [0] * 21)
_D = array('i', [0] * 21)
for _i in (0, 2, 3, 6):
    _D[_i] = 1


def rq(a, m, s, lo):
    a = (a * m + (1 << (s - 1))) >> s
    if a < lo:
        return lo
    if a > 127:
        return 127
    return a


def dense(x, w, b, m, s, y, lo):
    P = _D
    P[1] = len(x)
    P[5] = len(y)
    P[7] = lo
    if P[5]:
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
    if P[6] > 0 and P[5]:
        if len(y) < P[6] * P[5]:
            raise ValueError('y too small')
        _a(P, b, m, s)
        _c(x, w, y, P)
