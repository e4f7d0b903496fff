# The V1 engine's loaders (export/engine.py): the exporter appends this file
# to lo.py's z and rv, in place of lo.py's li, lt and lb, and ships the
# result as lo.py. Only on MicroPython (the engine is Thumb code): elsewhere
# the device gets lo.py as it is.
#
# The V1 heap fragments as modules compile: once all is compiled, no hole
# holds more than ~700-1,000 bytes. So the model comes in pieces (p.bin,
# sizes M.S), each its own bytearray: first the buffers (which hold the
# relocation list until the first prediction), then the tables, the
# routines' machine code and the call records, packed by the exporter. lb
# relocates them (rl) and binds one call of ex per record.
try:
    import micropython

    # ex(a) runs the call record at address a: r0-r2 its x w y, r3 its
    # parameter words, then blx its routine (the address, +1 for Thumb)
    @micropython.asm_thumb
    def ex(r0):
        #: mov r3, r0; ldr r4, [r3, #0]; ldr r0, [r3, #4]; ldr r1, [r3, #8]; ldr r2, [r3, #12]
        #: adds r3, #16; blx r4
        data(2, 0x4603, 0x681C, 0x6858, 0x6899, 0x68DA, 0x3310, 0x47A0)

    # rl(T, A) relocates the pieces once, from the list at the start of T
    # (the buffers): a count, then per entry where a word is and its value,
    # both v = piece << 16 | offset, meaning A[v >> 16] + (v & 65535), A
    # the addresses of R, y and the pieces.
    @micropython.asm_thumb
    def rl(r0, r1):
        #: mov r5, r0; ldr r4, [r5, #0]
        #: L: subs r4, #1; bmi X; ldr r6, [r5, #4]; ldr r7, [r5, #8]; adds r5, #8
        #: lsrs r3, r7, #16; lsls r3, r3, #2; ldr r3, [r1, r3]; uxth r7, r7; adds r3, r3, r7
        #: lsrs r2, r6, #16; lsls r2, r2, #2; ldr r2, [r1, r2]; uxth r6, r6; adds r2, r2, r6
        #: str r3, [r2, #0]; b L; X:
        data(2, 0x4605, 0x682C, 0x3C01, 0xD40E, 0x686E, 0x68AF, 0x3508, 0x0C3B, 0x009B,
             0x58CB, 0xB2BF, 0x19DB, 0x0C32, 0x0092, 0x588A, 0xB2B6, 0x1992, 0x6013, 0xE7EE)

    # ad(b): the address of b's items
    @micropython.asm_thumb
    def ad(r0):
        #: mov r0, r0
        data(2, 0x4600)
except ImportError:
    pass


def li(g):
    # the model; no kernel module (D F K: 0): every kernel is in the engine
    import model as M
    g.update(D=0, F=0, K=0, M=M, rv=rv)


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
    R = z('h', 3 * M.W)
    y = z('b', M.Y)
    A = array('i', [ad(R), ad(y)])
    C = []
    f = open('p.bin', 'rb')
    for n in M.S:
        c = bytearray(n)
        f.readinto(c)
        C.append(c)
        A.append(ad(c))
    f.close()
    rl(C[0], A)
    Z = [(ex, (A[v >> 16] + (v & 65535),)) for v in M.Z + M.O]
    g.update(C=C, R=R, y=y, Z=Z[:-2], O=Z[-2] + Z[-1])
    M.Z = M.S = M.O = 0
