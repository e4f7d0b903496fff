# dense and conv as MicroPython asm_thumb functions around the engine's
# dense_conv routine (export/asm/dense_conv.s): the same words the engine
# runs, callable from Python with qk.py's signatures and results, bit for
# bit. No build ships this file (the V1 and V2 run the routine in the
# engine); the on-device tests (tests/test_firmware_qa.py) use it to check
# the routine on many cases. The words between '#<asm' and '#>' are
# written by python -m microbit_nn.export.regen. Off MicroPython this raises
# ImportError.
import sys
if sys.implementation.name != 'micropython':
    raise ImportError('qa needs MicroPython')
import micropython
from array import array

# The parameter block: int32 words, the DC_* offsets of dense_conv.s / 4:
# 0 L, 1 ci, 2 k, 3 st, 4 pd, 5 co, 6 Lo, 7 lo, 8-10 b m s (set by _a),
# 11 filters per group (0: w is the weights), 12-26 the routine's state.
try:
    @micropython.asm_thumb
    def _a(r0, r1, r2, r3):
        #<asm dense_conv.s set_tables
        data(2, 0x6201, 0x6242, 0x6283)
        #>
except AttributeError:
    raise ImportError('qa needs asm_thumb')


# _c(x, w, y, P): the dense_conv routine (method and cost: its source)
@micropython.asm_thumb
def _c(r0, r1, r2, r3):
    #<asm dense_conv.s dense_conv
    data(2, 0xF000, 0xF801, 0xE0A3, 0xB408, 0x6318, 0x6359, 0x639A, 0x695C, 0x699D, 0x4365,
         0x2D00, 0xDC00, 0xE097, 0x685C, 0x689D, 0x4365, 0x655D, 0x691C, 0x4264, 0x63DC,
         0x699C, 0x641C)
    data(2, 0x9F00, 0x6C3C, 0x1E64, 0x643C, 0x6BF8, 0x4241, 0x2900, 0xDA00, 0x2100, 0x683A,
         0x1A12, 0x68BB, 0x429A, 0xDD00, 0x461A, 0x1A52, 0xDC00, 0x2200, 0x687B, 0x435A,
         0x65BA)
    data(2, 0x4254, 0x2503, 0x4025, 0x65FD, 0x1B64, 0x64BC, 0x4359, 0x4358, 0x1840, 0x6B3D,
         0x1940, 0x1900, 0x64F8, 0x6B7D, 0x6AFC, 0x66BC, 0x2C00, 0xD003, 0x6639, 0x1D2C,
         0x667C, 0x682D, 0x1949, 0x6539, 0x6BF8, 0x68FD, 0x1940, 0x63F8, 0x2000, 0x6478)
    data(2, 0x6C78, 0x0081, 0x6A3A, 0x5852, 0x4694, 0x6D3D, 0x6D7A, 0x18AA, 0x6EBC, 0x2C00,
         0xD00A, 0x1E64, 0x66BC, 0xD107, 0x6AFC, 0x66BC, 0x6E7C, 0x6822, 0x1D24, 0x667C,
         0x6E3C, 0x1912, 0x653A, 0x6CBB, 0x2B00, 0xD01F, 0x6DBE, 0x19AC, 0x6CFA, 0x1B52,
         0x6DF9, 0x1C65, 0x1CA6, 0x1CE7, 0x2902, 0xD00A, 0xD80D, 0x2901, 0xD003)
    data(2, 0x5710, 0x5719, 0x4348, 0x4484, 0x5750, 0x5759, 0x4348, 0x4484, 0x5790, 0x5799,
         0x4348, 0x4484, 0x57D0, 0x57D9, 0x4348, 0x4484, 0x3204, 0x3304, 0xD1EC)
    data(2, 0x9F00, 0x6C78, 0x0081, 0x6A7A, 0x5852, 0x4663, 0x4353, 0x6ABA, 0x5852, 0x1E54,
         0x2501, 0x40A5, 0x195B, 0x4113, 0x2B7F, 0xDD00, 0x237F, 0x69FC, 0x42A3, 0xDA00,
         0x4623, 0x6BBD, 0x702B, 0x3501, 0x63BD, 0x3001, 0x6478, 0x6979, 0x4288, 0xDBA7,
         0x6C3C, 0x2C00, 0xDD00, 0xE770, 0xBC02, 0x4770)
    #>


_P = array('i', [0] * 27)
_D = array('i', [1, 0, 1, 1, 0, 0, 1] + [0] * 20)  # a dense: L = k = st = Lo = 1


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
