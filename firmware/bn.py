# Device side of `mbnn bench` (host/cmd_bench.py, docs/bench.md). The bench's
# main.py imports the app, drops its main loop and calls run(app), which
# loads the model with the app's own loaders (li, ld) and then times it
# (go). Small on purpose: its code stays in the V1 heap beside the loaded
# model. Under QEMU's -icount shift=0 one instruction takes 1 ns, so
# ticks_us() differences count thousands of instructions.
import gc
from utime import ticks_us, ticks_diff


def tm(f, a):
    # 'calls us bytes' for f(*a): a warm-up call (a first call may allocate),
    # one that sizes the run to ~20 ms of device time (1 to 50 calls) and
    # counts the heap it leaves as garbage, then the timed calls, each run
    # after a gc.collect()
    f(*a)
    gc.collect()
    m = gc.mem_free()
    t = ticks_us()
    f(*a)
    t = ticks_diff(ticks_us(), t)
    m -= gc.mem_free()
    n = min(50, 1 + 20000 // (t + 1))
    gc.collect()
    t = ticks_us()
    for i in range(n):
        f(*a)
    return '%d %d %d' % (n, ticks_diff(ticks_us(), t), m)


def go(A):
    # A: the app module after A.ld(). Times the classify path on every
    # window in bw.bin (each the size of the ring A.R) and prints 'B' lines:
    # m (module and function of each step of A.Z), s (a step), y (logits),
    # r (a ring reversal), a (amax), e (conf), c (the whole classify step:
    # the app's cl, from write position 0: as many swaps as at any other),
    # f (free heap), end
    R = A.R
    N = len(R)
    Z = A.Z
    O = A.O
    for k in dir(A):
        v = getattr(A, k)
        if type(v) is type(gc):
            for j in dir(v):
                for i in range(len(Z)):
                    if getattr(v, j) is Z[i][0]:
                        print('B m', i, v.__name__, j)
    f = open('bw.bin', 'rb')
    while f.readinto(R) == 2 * N:
        for i in range(len(Z)):
            print('B s', i, tm(Z[i][0], Z[i][1]))
        y = A.y
        print('B y', *y)
        print('B r', tm(A.rv, (R, 0, N)))
        print('B a', tm(O[0], O[1]))
        print('B e', tm(O[2], O[3]))
        print('B c', tm(A.cl, (0, 0)))
    f.close()
    gc.collect()
    print('B f', gc.mem_free())
    print('B end')


def run(A):
    # what the bench's main.py calls once it has imported the app (and
    # dropped its main loop): the app's own loaders in order (li
    # imports the modules, ld makes the tables and buffers), each dropped
    # after it has run as the app does, then go()
    for k in ('li', 'ld'):
        f = getattr(A, k, 0)
        if f:
            gc.collect()
            f()
            setattr(A, k, 0)
    f = 0
    gc.collect()
    go(A)
