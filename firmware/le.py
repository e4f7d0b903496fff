# The V1 engine's loaders (export/engine.py): the exporter appends this file
# to lo.py's li, z and rv, in place of lo.py's lt and lb, and ships the
# result as lo.py. The model's machine code, call records and tables are
# one bytearray B, read whole from model.bin; lb relocates it and binds one
# call of ex per record. Only on MicroPython (the engine is Thumb code):
# elsewhere the device gets lo.py as it is.
try:
    import micropython

    # ex(a) runs the call record at address a: r0-r2 its x w y, r3 its
    # parameter words, then blx its routine (the address, +1 for Thumb)
    @micropython.asm_thumb
    def ex(r0):
        #: mov r3, r0; ldr r4, [r3, #0]; ldr r0, [r3, #4]; ldr r1, [r3, #8]; ldr r2, [r3, #12]
        #: adds r3, #16; blx r4
        data(2, 0x4603, 0x681C, 0x6858, 0x6899, 0x68DA, 0x3310, 0x47A0)

    # rl(B, R, y, o) relocates B once, from the list at byte o of B (in the
    # buffers, unused until the first prediction): a count, then per entry
    # the byte offset of a word and its value: -1 the ring R's address, -2
    # the logits y's, else an offset in B, B's address added. Returns B's
    # address.
    @micropython.asm_thumb
    def rl(r0, r1, r2, r3):
        #: adds r3, r0, r3; ldr r4, [r3, #0]
        #: L: subs r4, #1; bmi X; ldr r5, [r3, #4]; ldr r6, [r3, #8]; adds r3, #8
        #: mov r7, r1; adds r6, #1; beq S; mov r7, r2; adds r6, #1; beq S
        #: subs r6, #2; adds r7, r0, r6; S: str r7, [r0, r5]; b L; X:
        data(2, 0x18C3, 0x681C, 0x3C01, 0xD40C, 0x685D, 0x689E, 0x3308, 0x460F, 0x3601,
             0xD004, 0x4617, 0x3601, 0xD001, 0x3E02, 0x1987, 0x5147, 0xE7F0)
except ImportError:
    pass


def lt(g):
    # B first, while the heap is one block; E (the exp table) and G (what
    # the display shows per class, then '?' for unknown: G[-1])
    from array import array
    from microbit import Image
    M = g['M']
    B = bytearray(M.N)
    f = open('model.bin', 'rb')
    f.readinto(B)
    f.close()
    g.update(B=B, E=array('h', M.Q[1]), G=[getattr(Image, x, x[0]) for x in M.G] + ['?'])
    M.Q = M.G = 0


def lb(g):
    # R (the ring), y (the logits), B relocated, Z: one (ex, (address,))
    # per call record (M.Z: their offsets in B)
    M, B = g['M'], g['B']
    R = z('h', 3 * M.W)
    y = z('b', M.Y)
    a = rl(B, R, y, M.X)
    g.update(R=R, y=y, Z=[(ex, (a + o,)) for o in M.Z])
    M.Z = 0
