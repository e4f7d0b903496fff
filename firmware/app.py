# microbit-nn app (main.py imports it and calls go()): samples the
# accelerometer into a ring buffer, classifies the last window every hop,
# shows the class, speaks docs/protocol.md. Runs on MicroPython (micro:bit
# V1/V2) and CPython (fake microbit module). The V1 heap is the limit
# (docs/firmware.md): the loaders li() and ld() are dropped once they have
# run, and the rest is one function, since every function costs heap.
import gc


def rv(R, i, j):
    # reverse R[i:j] in place
    j -= 1
    while i < j:
        R[i], R[j] = R[j], R[i]
        i += 1
        j -= 1


def li():
    # Imports qa (its compile needs the largest free block), the model, then
    # qk (and ft for an mlp). Sets D K F (the kernel modules qa, qk, ft; 0
    # when absent) and M (the model).
    global D, K, F, M
    try:
        import qa as D
    except Exception:
        D = 0
    gc.collect()
    import model as M
    gc.collect()
    import qk as K
    gc.collect()
    F = 0
    if M.K == 'mlp':
        import ft as F


def ld():
    # Makes the model's tables, then the buffers, and binds the kernel
    # calls. Sets E (the exp table), R (the ring of M.W samples), Z (the
    # kernel calls, (function, arguments)), y (the logits) and G (what the
    # display shows per class).
    global E, R, Z, y, G
    from array import array
    from microbit import Image

    def z(c, n):
        # an array of n items; from a range MicroPython makes it with no
        # temporary copy (truncating the values; CPython refuses for 'b')
        try:
            return array(c, range(n))
        except OverflowError:
            return array(c, bytes(n))

    # M.Q, flat: per table its typecode, then its bytes literal or its item
    # count in model.bin; biggest first, so that each finds a hole
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
    M.Q = 0
    gc.collect()
    # M.L, flat: per call the kernel, output typecode, output size (-k-1:
    # the output buffer of call k), output position, argument count n, then
    # n arguments: 0 stands for the input (the previous call's output) and
    # the output, 2**20 + i for table i
    R = z('h', 3 * M.W)
    Z = []
    O = []
    y = R
    L = M.L
    i = 0
    while i < len(L):
        a = [Q[x - 1048576] if x >= 1048576 else x for x in L[i + 5:i + 5 + L[i + 4]]]
        a[0] = y
        x = L[i + 2]
        y = z(L[i + 1], x) if x > 0 else O[-x - 1]
        O.append(y)
        a[L[i + 3]] = y
        Z.append((getattr(D, L[i], 0) or getattr(K, L[i], 0) or getattr(F, L[i]), tuple(a)))
        i += 5 + L[i + 4]
    M.L = L = a = O = 0
    E = Q[M.E - 1048576]
    G = [getattr(Image, x, x[0]) for x in M.G.split(',')]
    M.G = 0


def go():
    # load, then the main loop (until !t): serial input, a sample every M.T
    # ms, a prediction every M.P ms. rr, rp: raw and replay modes
    from microbit import uart, display, accelerometer, running_time, button_a
    global li, ld
    li()
    li = 0
    gc.collect()
    ld()
    ld = 0
    gc.collect()
    N = len(R)
    W = N // 3
    p = n = q = z = rr = rp = 0
    b = b''
    l = b'!i'
    t = u = running_time()
    while True:
        # l: a line from the host; v: samples to store (host or accelerometer);
        # h: classify now; e: an error to report (1: the line made no sense).
        # E reasons are at most 10 characters: then they cost no heap object
        e = h = 0
        v = ()
        if uart.any():
            # read() with no size allocates 256 bytes (a block a fragmented
            # heap may lack); 32 keeps it small
            b += uart.read(32) or b''
        if b'\n' in b:
            l, b = b.split(b'\n', 1)
            l = l.strip()
            if z:
                z = 0
                l = b''
        elif len(b) > 80:
            e = 'too long'
            b = b''
            z = 1
        try:
            c = l[1:]
            if l[:1] != b'!':
                if l:
                    e = 'replay off'
                if l and rp:
                    v = l.split()
                    for j in range(len(v)):
                        v[j] = int(v[j])
                    e = len(v) % 3 > 0 or len(v) > 12 or max(v) > 32767 or min(v) < -32768
            elif c == b'c':
                h = n == W
                if not h:
                    e = 'too few'
            elif c == b'i' or c == b'g':
                gc.collect()
                if c == b'g':
                    print('I free', gc.mem_free())
                else:
                    print('I mbnn', M.V, M.K, W, M.T, M.P, gc.mem_free(), M.C)
            elif c == b't':
                # the selftest needs the heap this code holds: main.py runs it
                return
            elif c in (b'r0', b'r1', b'p0', b'p1'):
                if c[0] == 114:
                    rr = c[1] - 48
                else:
                    rp = c[1] - 48
                    p = n = 0
                print('I mode', rr, rp)
            else:
                e = 'unknown'
        except Exception:
            e = 1
        if e:
            print('E', 'bad input' if e == 1 else e)
            v = ()
        l = b''
        i = running_time()
        if i - t >= M.T:
            t += M.T
            if i - t >= M.T:
                t = i
            if not rp:
                v = accelerometer.get_values()
                if rr:
                    print('S', *v)
            if button_a.was_pressed():
                print('B a')
        for j in range(0, len(v), 3):
            R[p] = v[j]
            R[p + 1] = v[j + 1]
            R[p + 2] = v[j + 2]
            p = (p + 3) % N
            n = min(n + 1, W)
        if rp and v:
            print('K', n)
        if i - u >= M.P:
            u = i
            if n == W and not rp and not rr:
                h = 1
        if h:
            # rotate the ring so the oldest sample comes first, then classify
            rv(R, 0, p)
            rv(R, p, N)
            rv(R, 0, N)
            p = 0
            for f, a in Z:
                f(*a)
            k = K.amax(y)
            c = K.conf(y, E)
            if c < M.H:
                k = -1
            q += 1
            print('P', q, k, c, *y)
            display.show(G[k] if k >= 0 else '?')
