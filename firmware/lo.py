# Loaders of the app's all-Python build (firmware/app.py calls them once,
# then drops them; the engine build ships le.py under this name instead):
# a module of their own, since app.py with them needs more heap to compile
# than the V1 has. li(g) imports the kernel modules and the model, lt(g)
# makes the tables, lb(g) the buffers and binds the kernel calls; g is the
# dict they set their results in (the app's globals). Three functions, so
# that the code of each is dropped before the next allocates.
import gc

# rv(R, i, j) reverses R[i:j] (int16) in place; the app rotates its ring
# with three of them before each prediction. In Thumb code (V1/V2) one
# costs ~8 instructions a swap and allocates nothing (and less heap than
# the same in Python); in Python a swap goes through a temporary (a tuple
# swap allocates a 2-tuple on the V1).
try:
    import micropython

    @micropython.asm_thumb
    def rv(r0, r1, r2):
        #<asm loader.s rv
        data(2, 0x0049, 0x0052, 0x1841, 0x1882, 0x3A02, 0x4291, 0xD205, 0x880B, 0x8810, 0x8008,
             0x8013, 0x3102, 0xE7F6, 0x2000)
        #>
except (ImportError, AttributeError):
    def rv(R, i, j):
        j -= 1
        while i < j:
            t = R[i]
            R[i] = R[j]
            R[j] = t
            i += 1
            j -= 1


def li(g):
    # Imports the Python kernels, biggest compile first (each compile needs a
    # large free block): ft (mlp only), qk; then the model. Sets K F (the
    # modules qk, and ft or 0), M, rv and X (what runs the model: the banner
    # says it).
    F = 0
    try:
        import ft as F
    except ImportError:
        pass
    gc.collect()
    import qk as K
    gc.collect()
    import model as M
    g.update(K=K, F=F, M=M, rv=rv, X='python')


def z(c, n):
    # an array of n items; from a range MicroPython makes it with no
    # temporary copy (truncating the values; CPython refuses for 'b')
    from array import array
    try:
        return array(c, range(n))
    except OverflowError:
        return array(c, bytes(n))


def lt(g):
    # Makes the model's tables: Q (dropped by lb), E (the exp table) and G
    # (what the display shows per class, then '?' for unknown: G[-1]).
    # M.Q, flat: per table its typecode, then its bytes literal or its
    # item count in model.bin; biggest first, so each finds a hole.
    from array import array
    from microbit import Image
    M = g['M']
    Q = []
    f = 0
    L = M.Q
    for i in range(0, len(L), 2):
        if type(L[i + 1]) is int:
            f = f or open(M.B, 'rb')
            a = z(L[i], L[i + 1])
            # bytes per item: b 1, h 2, i 4; a short file (a damaged copy) is refused
            if f.readinto(a) != L[i + 1] * (1, 2, 4)['bhi'.index(L[i])]:
                print('E', 'no model', M.B, 'short', 'redeploy')
                raise OSError
        else:
            a = array(L[i], L[i + 1])
        Q.append(a)
    if f:
        f.close()
    g.update(Q=Q, E=Q[-1000 - M.E], G=[getattr(Image, x, x[0]) for x in M.G] + ['?'])
    M.Q = M.G = 0


def lb(g):
    # Makes R (the ring of M.W samples) and the calls' output buffers, and
    # binds the calls: Z ((function, arguments) per call), y (the logits),
    # O (amax and conf, each with its arguments).
    # M.L, flat: per call the kernel, output typecode, output size (-k-1:
    # the output buffer of call k), output position, argument count n, then
    # n arguments: 0 stands for the input (the previous call's output) and
    # the output, -1000 - i for table i (no argument is below -128)
    M, Q = g['M'], g.pop('Q')
    R = z('h', 3 * M.W)
    Z = []
    O = []
    y = R
    L = M.L
    i = 0
    while i < len(L):
        a = list(L[i + 5:i + 5 + L[i + 4]])
        for j in range(len(a)):
            if a[j] <= -1000:
                a[j] = Q[-1000 - a[j]]
        a[0] = y
        x = L[i + 2]
        y = z(L[i + 1], x) if x > 0 else O[-x - 1]
        O.append(y)
        a[L[i + 3]] = y
        f = L[i]
        Z.append((getattr(g['K'], f, 0) or getattr(g['F'], f), tuple(a)))
        i += 5 + L[i + 4]
    M.L = 0
    K = g['K']
    g.update(R=R, Z=Z, y=y, O=(K.amax, (y,), K.conf, (y, g['E'])))
