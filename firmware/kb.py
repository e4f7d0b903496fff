# The V1's qa: dense and conv with qa.py's signatures and results, from the
# machine code in k.bin (qa.py's _c routine, written by the exporter; see
# export/writer.py kernel_code). The exporter ships this file as qa.py on
# the V1: compiling qa.py there costs ~1.3 KB of heap, which the V1 lacks;
# the code as a file costs its ~290 bytes. Off MicroPython: ImportError.
import micropython
import os
from array import array

# read first, while the heap is one block
X = bytearray(os.size('k.bin'))
open('k.bin', 'rb').readinto(X)


# pa(P, b, m, s) puts the addresses of b m s in P[8:11] (qa.py's layout)
@micropython.asm_thumb
def pa(r0, r1, r2, r3):
    #: str r1, [r0, #32]; str r2, [r0, #36]; str r3, [r0, #40]; movs r0, #0
    data(2, 0x6201, 0x6242, 0x6283, 0x2000)


# qc(x, w, y, P) calls the code at the address P[23] (odd: Thumb state)
@micropython.asm_thumb
def qc(r0, r1, r2, r3):
    #: ldr r4, [r3, #92]; blx r4; movs r0, #0
    data(2, 0x6DDC, 0x47A0, 0x2000)


# qa.py's parameter block, and the code's address in P[23]
_P = array('i', range(24))
pa(_P, X, X, X)
_P[23] = _P[8] + 1


def dense(x, w, b, m, s, y, lo):
    conv(x, 1, len(x), w, 1, 1, 0, b, m, s, y, lo)


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
    pa(P, b, m, s)
    qc(x, w, y, P)
