# Integer window features on the device; bit-exact with export/features.py.
# buf: array('h') milli-g, x,y,z interleaved, n samples (3n values), clipped
# to +/-2048 IN PLACE. out: array('i') of 24 = per axis x,y,z:
# max, min, mean, std, peaks, zcross, rms, mabs (docs/quantization.md).
# Sums of squares stay < 2**30 because n <= 255 and |v| <= 2048.


def isq(v):
    # exact floor(sqrt(v)) for 0 <= v < 2**30, bit by bit
    r = 0
    b = 1 << 28
    while b > v:
        b >>= 2
    while b:
        if v >= r + b:
            v -= r + b
            r = (r >> 1) + b
        else:
            r >>= 1
        b >>= 2
    return r


def feats(buf, n, out):
    h = n >> 1
    e = 3 * n
    for c in range(3):
        hi = -2048
        lo = 2048
        a = 0
        q = 0
        r = 0
        for i in range(c, e, 3):
            v = buf[i]
            if v > 2048:
                v = 2048
                buf[i] = v
            elif v < -2048:
                v = -2048
                buf[i] = v
            if v > hi:
                hi = v
            if v < lo:
                lo = v
            a += v
            r += v * v
            if v < 0:
                v = -v
            q += v
        a = (a + h) // n
        d = 0
        z = 0
        p = buf[c] >= a
        for i in range(c, e, 3):
            v = buf[i] - a
            d += v * v
            if (v >= 0) != p:
                z += 1
                p = not p
        d = isq(d // n)
        # peaks: rise into x[i], no rise after, more than std above the mean
        k = 0
        for i in range(c + 3, e - 3, 3):
            v = buf[i]
            if v > buf[i - 3] and v >= buf[i + 3] and v - a > d:
                k += 1
        o = 8 * c
        out[o] = hi
        out[o + 1] = lo
        out[o + 2] = a
        out[o + 3] = d
        out[o + 4] = k
        out[o + 5] = z
        out[o + 6] = isq(r // n)
        out[o + 7] = (q + h) // n
