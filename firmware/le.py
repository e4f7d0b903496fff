# The engine's loader (export/engine.py), shipped as lo.py in place of the
# Python build's loader: app.py calls li, lt and lb once, then drops them.
# Only on MicroPython (the engine is Thumb code); the same file on the V1
# and the V2.
#
# The V1 heap fragments as modules compile: once all is compiled, no hole
# holds more than ~700-1,000 bytes. So the model comes in pieces (p.bin,
# sizes M.S), each its own bytearray: first the buffers (which hold the
# relocation list until the first prediction), then the tables, the
# routines' machine code and the call records, packed by the exporter. lb
# relocates them (rl) and binds one call of ex per record. The words
# between '#<asm' and '#>' are written by python -m microbit_nn.export.regen
# from export/asm/loader.s (the mnemonics and what each function does).
import micropython


# rv(R, i, j) reverses R[i:j] (int16) in place: the app's ring rotation
@micropython.asm_thumb
def rv(r0, r1, r2):
    #<asm loader.s rv
    data(2, 0x0049, 0x0052, 0x1841, 0x1882, 0x3A02, 0x4291, 0xD205, 0x880B, 0x8810, 0x8008,
         0x8013, 0x3102, 0xE7F6, 0x2000)
    #>


# ex(a) runs the call record at address a and returns the routine's r0
@micropython.asm_thumb
def ex(r0):
    #<asm loader.s ex
    data(2, 0x4603, 0x681C, 0x6858, 0x6899, 0x68DA, 0x3310, 0x47A0)
    #>


# rl(T, A) relocates the pieces once (the list at the start of T)
@micropython.asm_thumb
def rl(r0, r1):
    #<asm loader.s rl
    data(2, 0x4605, 0x682C, 0x3C01, 0xD40E, 0x686E, 0x68AF, 0x3508, 0x0C3B, 0x009B, 0x58CB,
         0xB2BF, 0x19DB, 0x0C32, 0x0092, 0x588A, 0xB2B6, 0x1992, 0x6013, 0xE7EE)
    #>


# ad(b): the address of b's items
@micropython.asm_thumb
def ad(r0):
    #<asm loader.s ad
    data(2, 0x4600)
    #>


def li(g):
    # the model; no kernel module (F K: 0): every kernel is in the engine;
    # X: what runs the model (the banner says it)
    import model as M
    g.update(F=0, K=0, M=M, rv=rv, X='engine')


def lt(g):
    # G (what the display shows per class, then '?' for unknown: G[-1])
    from microbit import Image
    M = g['M']
    g['G'] = [getattr(Image, x, x[0]) for x in M.G] + ['?']
    M.G = 0


def lb(g):
    # R (the ring), y (the logits), the pieces (C) relocated (A: the
    # addresses of R, y, then the pieces), Z: one (ex, (address,)) per call
    # record (M.Z), O: amax and conf the same way (M.O); records are given
    # as piece << 16 | offset
    from array import array
    M = g['M']
    R = array('h', range(3 * M.W))
    y = array('b', bytes(M.Y))
    A = array('i', [ad(R), ad(y)])
    C = []
    f = open(M.B, 'rb')
    for n in M.S:
        c = bytearray(n)
        # a short data file (a damaged copy) must never reach rl or ex
        if f.readinto(c) != n:
            print('E', 'no model', M.B, 'short', 'redeploy')
            raise OSError
        C.append(c)
        A.append(ad(c))
    f.close()
    # f.bin's chunks in flash (export/flashplace.py) are the pieces after p.bin's. The
    # "#F " line is code in flash builds only (export/writer.py uncomments it): on the
    # V1 even a line that does nothing costs heap, which other builds lack.
    #F for c in M.X: A.append(c)
    rl(C[0], A)
    Z = [(ex, (A[v >> 16] + (v & 65535),)) for v in M.Z + M.O]
    g.update(C=C, R=R, y=y, Z=Z[:-2], O=Z[-2] + Z[-1])
    M.Z = M.S = M.O = 0
