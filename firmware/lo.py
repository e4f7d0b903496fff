# Loaders of the app (firmware/app.py calls them once, then drops them):
# a module of their own, since app.py with them needs more heap to compile
# than the V1 has. li(g) imports the kernel modules and the model, lt(g)
# makes the tables, lb(g) the buffers and binds the kernel calls; g is the
# dict they set their results in (the app's globals). Three functions, so
# that the code of each is dropped before the next allocates.
import gc


def li(g):
    # Imports the kernel modules the device has, biggest compile first (each
    # compile needs a large free block): qa, qf or ft (mlp), qk; then the
    # model. Sets D K F (the modules qa, qk, qf/ft; 0 when absent), M.
    D = F = 0
    try:
        import qa as D
    except Exception:
        pass
    gc.collect()
    # qf: the features in machine code (faster, and less heap than ft); it
    # raises ImportError off MicroPython; neither file is there for a cnn
    try:
        import qf as F
    except ImportError:
        try:
            import ft as F
        except ImportError:
            pass
    gc.collect()
    import qk as K
    gc.collect()
    import model as M
    g.update(D=D, K=K, F=F, M=M)


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
            f = f or open('model.bin', 'rb')
            a = z(L[i], L[i + 1])
            f.readinto(a)
        else:
            a = array(L[i], L[i + 1])
        Q.append(a)
    if f:
        f.close()
    g.update(Q=Q, E=Q[-1000 - M.E], G=[getattr(Image, x, x[0]) for x in M.G] + ['?'])
    M.Q = M.G = 0


def lb(g):
    # Makes R (the ring of M.W samples) and the calls' output buffers, and
    # binds the calls: Z ((function, arguments) per call), y (the logits).
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
        Z.append((getattr(g['D'], f, 0) or getattr(g['K'], f, 0) or getattr(g['F'], f), tuple(a)))
        i += 5 + L[i + 4]
    M.L = 0
    g.update(R=R, Z=Z, y=y)
