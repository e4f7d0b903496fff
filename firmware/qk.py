# Integer kernels of the int8 scheme in plain Python (micro:bit and CPython).
# Bit-exact with export/reference.py; see docs/quantization.md.
# x/y: array('b') time-major [L*C]; w: array('b'); b, m, s: array('i').
# lo is 0 for a fused ReLU, else -128. Every value stays below 2**30.


def rq(a, m, s, lo):
    a = (a * m + (1 << (s - 1))) >> s
    if a < lo:
        return lo
    if a > 127:
        return 127
    return a


def dense(x, w, b, m, s, y, lo):
    k = 0
    for o in range(len(y)):
        a = b[o]
        # iterating x (not indexing it) is ~25% faster on the V1
        for v in x:
            a += v * w[k]
            k += 1
        y[o] = rq(a, m[o], s[o], lo)


def conv(x, L, ci, w, k, st, pd, b, m, s, y, lo):
    co = len(b)
    q = 0
    for t in range((L + 2 * pd - k) // st + 1):
        p = t * st - pd
        j = 0
        if p < 0:
            j = -p
        e = k
        if p + k > L:
            e = L - p
        # valid taps j..e-1 are one contiguous run of x and of each filter
        n = (e - j) * ci
        i0 = (p + j) * ci
        for o in range(co):
            a = b[o]
            k0 = (o * k + j) * ci - i0
            for i in range(i0, i0 + n):
                a += x[i] * w[k0 + i]
            y[q] = rq(a, m[o], s[o], lo)
            q += 1


def mpool(x, L, c, k, st, y):
    q = 0
    for t in range(0, (L - k) // st * st + 1, st):
        for o in range(c):
            a = -128
            for i in range(t * c + o, (t + k) * c, c):
                if x[i] > a:
                    a = x[i]
            y[q] = a
            q += 1


def apool(x, L, c, k, st, m, s, y):
    q = 0
    for t in range(0, (L - k) // st * st + 1, st):
        for o in range(c):
            a = 0
            for i in range(t * c + o, (t + k) * c, c):
                a += x[i]
            y[q] = rq(a, m, s, -128)
            q += 1


def gap(x, L, c, m, s, y):
    for o in range(c):
        a = 0
        for i in range(o, L * c, c):
            a += x[i]
        y[o] = rq(a, m, s, -128)


def gmp(x, L, c, y):
    for o in range(c):
        a = -128
        for i in range(o, L * c, c):
            if x[i] > a:
                a = x[i]
        y[o] = a


def amax(y):
    k = 0
    for i in range(1, len(y)):
        if y[i] > y[k]:
            k = i
    return k


def rawq(x, n, sh, y):
    a = 1 << (sh - 1)
    for i in range(n):
        v = (x[i] + a) >> sh
        if v < -128:
            v = -128
        elif v > 127:
            v = 127
        y[i] = v


def featq(f, off, m, s, y):
    for i in range(len(y)):
        y[i] = rq(f[i] - off[i], m[i], s[i], -128)


def conf(y, E):
    k = y[amax(y)]
    n = len(E)
    a = 0
    for v in y:
        if k - v < n:
            a += E[k - v]
    return 25600 // a
