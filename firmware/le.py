# The V1 engine's loaders (export/engine.py): the exporter appends this file
# to lo.py's z and rv, in place of lo.py's li, lt and lb, and ships the
# result as lo.py. Only on MicroPython (the engine is Thumb code): elsewhere
# the device gets lo.py as it is.
#
# The V1 heap fragments as modules compile: once all is compiled, no hole
# holds more than ~700 bytes. So the model comes in pieces (p.bin, sizes
# M.S), each its own bytearray: the buffers (which hold the relocation list
# until the first prediction), each table, each routine's machine code;
# then B (e.bin: the call records, then amax's and conf's). lb relocates B
# (rl) and binds one call of ex per record.
try:
    import micropython

    # ex(a) runs the call record at address a: r0-r2 its x w y, r3 its
    # parameter words, then blx its routine (the address, +1 for Thumb)
    @micropython.asm_thumb
    def ex(r0):
        #: mov r3, r0; ldr r4, [r3, #0]; ldr r0, [r3, #4]; ldr r1, [r3, #8]; ldr r2, [r3, #12]
        #: adds r3, #16; blx r4
        data(2, 0x4603, 0x681C, 0x6858, 0x6899, 0x68DA, 0x3310, 0x47A0)

    # rl(B, T, A) relocates B once, from the list at the start of T (the
    # buffers): a count, then per entry the byte offset of a word of B and
    # its value v: A[v >> 16] + (v & 65535), A the addresses of R, y and
    # the pieces. Returns B's address.
    @micropython.asm_thumb
    def rl(r0, r1, r2):
        #: mov r5, r1; ldr r4, [r5, #0]
        #: L: subs r4, #1; bmi X; ldr r6, [r5, #4]; ldr r7, [r5, #8]; adds r5, #8
        #: lsrs r3, r7, #16; lsls r3, r3, #2; ldr r3, [r2, r3]; uxth r7, r7; adds r3, r3, r7
        #: str r3, [r0, r6]; b L; X:
        data(2, 0x460D, 0x682C, 0x3C01, 0xD409, 0x686E, 0x68AF, 0x3508, 0x0C3B, 0x009B,
             0x58D3, 0xB2BF, 0x19DB, 0x5183, 0xE7F3)

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
    # R (the ring), y (the logits), the pieces, B relocated (A: the
    # addresses of R, y, then the pieces), Z: one (ex, (address,)) per
    # call record (M.Z: their offsets in B), O: amax and conf the same way
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
    B = bytearray(M.B)
    f = open('e.bin', 'rb')
    f.readinto(B)
    f.close()
    a = rl(B, C[0], A)
    g.update(B=B, C=C, R=R, y=y, Z=[(ex, (a + o,)) for o in M.Z],
             O=(ex, (a + M.O[0],), ex, (a + M.O[1],)))
    M.Z = M.S = M.O = 0
