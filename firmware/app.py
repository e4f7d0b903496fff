# microbit-nn app (main.py imports it and calls go()): samples the
# accelerometer into a ring buffer, classifies the last window every hop,
# shows the class, speaks docs/protocol.md. Runs on MicroPython (micro:bit
# V1/V2) and CPython (fake microbit module). The V1 heap is the limit
# (docs/firmware.md): the loaders (li, ld, and lo.py behind them) are
# dropped once they have run, and the rest is two functions (each function
# costs heap of its own): go (the main loop) and cl (classify once).
import gc


def cl(p, q):
    # classify once: the window is the ring R, oldest sample at the write
    # position p; rotate it so that sample comes first (rv, from lo.py), run
    # the kernel calls Z and O (amax, then conf: class and confidence),
    # print prediction q ('P' line) and show the class.
    # The ring's write position is 0 afterwards. firmware/bn.py times this.
    # "#P " lines: code in builds with a user's program only (export/writer.py
    # uncomments them and drops the lines that end "#-P"): on the V1 every line
    # costs heap. The gesture events (docs/program.md; export/events.py is
    # the host's copy of the rule): a gesture starts when it is the predicted
    # class (at or above the threshold: k is -1 below it) and another one, or
    # none, was active (A); it stops when another starts or a prediction is
    # unknown. Each event is printed first ('G + k c' / 'G - k'), then the
    # program's handler runs (h). With a program the display is its own.
    #P global A
    from microbit import display  #-P
    N = len(R)
    rv(R, 0, p)
    rv(R, p, N)
    rv(R, 0, N)
    for f, a in Z:
        f(*a)
    k = O[0](*O[1])
    c = O[2](*O[3])
    if c < M.H:
        k = -1
    print('P', q, k, c, *y)
    #P if k != A:
    #P     if A >= 0:
    #P         print('G -', A)
    #P         h('on_stop', A)
    #P     if k >= 0:
    #P         print('G +', k, c)
    #P         h('on_start', k, c)
    #P     A = k
    #P h('on_prediction', k, c)
    display.show(G[k])  #-P


#P A = -1
#P P = 0


#P def h(n, k, *x):
#P     # runs the program's handler n (if it has one) with the class's name
#P     # (None for unknown: k -1), split from M.C only now (a list kept would
#P     # cost heap); one that raises is an E line and the app goes on
#P     f = getattr(P, n, 0)
#P     if f:
#P         try:
#P             f(M.C.split(',')[k] if k >= 0 else None, *x)
#P         except Exception as e:
#P             print('E', n, repr(e))


def li(p=0):
    # loads with lo.py (a module of its own: see there): K F (the kernel
    # modules qk, ft; 0 when absent), M (the model), X (what runs it). The
    # loaders report a model that does not load (an E line, then its
    # exception ends main.py: the board stays at the REPL for a deploy).
    # First, with p (go; not the selftest or the bench), the user's program
    # P (mbnn build --program: the "#P " lines), by pl.py (see there).
    #P if p:
    #P     import pl
    #P     pl.lp(globals())
    #P     gc.collect()
    import lo
    lo.li(globals())
    lo.li = 0


def ld():
    # R (the ring of M.W samples), Z (the kernel calls, (function,
    # arguments)), O (amax, its arguments, conf, its arguments), y (the
    # logits), G (what the display shows)
    import lo
    lo.lt(globals())
    lo.lt = 0
    gc.collect()
    lo.lb(globals())
    lo.lb = lo.z = lo.rl = lo.ad = 0


def go():
    # load, then the main loop: serial input, a sample every M.T ms, a
    # prediction every M.P ms (rr, rp: raw and replay modes). Returns 1 at
    # once when a selftest is due: main.py runs it.
    from microbit import uart, accelerometer, running_time, button_a, reset
    global li, ld
    import os
    if 'st.on' in os.listdir():
        return 1
    #P import pl
    #P try:
    #P     li(1)
    #P     gc.collect()
    #P     ld()
    #P except Exception as x:
    #P     pl.lf(x)
    #P     raise
    #P pl.lp = pl.lf = li = ld = 0
    li(1)  #-P
    li = 0  #-P
    gc.collect()  #-P
    ld()  #-P
    ld = 0  #-P
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
                    e = len(v) % 3 > 0 or max(v) > 32767 or min(v) < -32768
            elif c == b'c':
                h = n == W
                if not h:
                    e = 'too few'
            elif c == b'i' or c == b'g':
                gc.collect()
                if c == b'g':
                    print('I free', gc.mem_free())
                else:
                    print('I mbnn', M.V, M.K, W, M.T, M.P, gc.mem_free(), M.C, X)
            elif c == b't':
                # the selftest needs the heap this loop holds: main.py runs
                # it instead after a reset
                open('st.on', 'w').close()
                reset()
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
            q += 1
            cl(p, q)
            p = 0
