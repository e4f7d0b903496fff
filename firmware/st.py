# On-device selftest. After `!t` (file st.on, then a reset) main.py drops
# the app's main loop, imports the kernels (app.li) and runs this, which
# makes the model's tables (app.ld), then tests. The golden vectors of st.bin (from the numpy reference at export; layout in
# export/goldens.py) go through every kernel module that has the function
# (qk, ft) and through the whole model, one test at a time so the V1
# heap holds one test only. Compact on purpose: it compiles in what the
# loaded model leaves. Ends in a reset.
import gc
from array import array
import app


def rd(f):
    # one argument: a number, or an array (typecode, item count, items);
    # from a range MicroPython makes the array with no temporary copy
    c = f.read(1)[0]
    if c == 110:
        return array('i', f.read(4))[0]
    h = f.read(2)
    n = h[0] + 256 * h[1]
    try:
        a = array(chr(c), range(n))
    except OverflowError:
        a = array(chr(c), bytes(n))
    f.readinto(a)
    return a


def run():
    import os
    os.remove('st.on')
    app.ld()
    gc.collect()
    f = open('st.bin', 'rb')
    g = [0, 0]
    while f.read(1)[0]:
        t = str(f.read(f.read(1)[0]), 'ascii')
        n = str(f.read(f.read(1)[0]), 'ascii')
        h = f.read(2)
        j = h[0] - (h[0] > 127) * 256
        a = [rd(f) for i in range(h[1])]
        e = rd(f)
        # a kernel's test runs on each module that has it; the model's once
        # (the engine build has no kernel module at all)
        for k in (app.K, app.F) if n else (1,):
            if not k or n and not hasattr(k, n):
                continue
            o = e[:]
            if not n:
                # the whole model: the window into the ring, then the calls
                for i in range(len(a[0])):
                    app.R[i] = a[0][i]
                for c, b in app.Z:
                    c(*b)
                o = app.y
            elif j < 0:
                o[0] = getattr(k, n)(*a)
            else:
                # a kernel must overwrite its output: it starts as a pattern
                for i in range(len(o)):
                    o[i] = 85
                b = a[:]
                b.insert(j, o)
                getattr(k, n)(*b)
            i = 0
            while i < len(e) and o[i] == e[i]:
                i += 1
            if i < len(e):
                print('T', t, 'FAIL', i, o[i], '!=', e[i])
            else:
                print('T', t, 'ok')
            g[i == len(e)] += 1
        a = e = o = b = 0
        gc.collect()
    f.close()
    print('T done', g[1], g[0])
    from microbit import reset
    reset()
