# On-device selftest. On `!t` the app's main loop returns; main.py drops
# its code to make room and runs this with the app's kernels and model. The
# golden vectors of st.bin (from the numpy reference at export; layout in
# export/goldens.py) go through every kernel module that has the function
# (qk, qa, ft) and through the whole model, one test at a time so the V1
# heap holds one test only; sv.py holds the helpers (two small modules
# compile where one big one would not). Ends in a reset.
import gc
from microbit import reset
import app


def ck(n, o, e):
    # prints the T line; returns 1 when it passed
    for i in range(len(e)):
        if o[i] != e[i]:
            print('T', n, 'FAIL', i, o[i], '!=', e[i])
            return 0
    print('T', n, 'ok')
    return 1


def run():
    import sv
    gc.collect()
    f = open('st.bin', 'rb')
    g = [0, 0]
    while f.read(1)[0]:
        nm = str(f.read(f.read(1)[0]), 'ascii')
        fn = str(f.read(f.read(1)[0]), 'ascii')
        h = f.read(2)
        j = h[0] - (h[0] > 127) * 256
        a = [sv.rd(f) for i in range(h[1])]
        e = sv.rd(f)
        for k in (app.K, app.D, app.F):
            if k and (not fn or hasattr(k, fn)):
                r = ck(nm + ('/qa' if k is app.D else ''), sv.do(k, fn, j, a, e), e)
                g[r] += 1
                if not fn:
                    break
        a = e = 0
        gc.collect()
    f.close()
    print('T done', g[1], g[0])
    reset()
