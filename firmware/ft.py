# Integer window features on the device; bit-exact with export/features.py.
# buf: array('h') milli-g, x,y,z interleaved, n samples (3n values, n <= 255),
# clipped to +/-2048 IN PLACE. out: array('i') of 24 = per axis x,y,z:
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
            # clipping only happens on a new max/min, so it costs nothing else
            if v > hi:
                if v > 2048:
                    v = 2048
                    buf[i] = v
                hi = v
            if v < lo:
                if v < -2048:
                    v = -2048
                    buf[i] = v
                lo = v
            a += v
            r += v * v
            if v < 0:
                q -= v
            else:
                q += v
        m = (a + h) // n
        # sum((x-m)^2) = sum(x^2) - m*(2*sum(x) - n*m): exact, every term < 2**30
        d = isq((r - m * (2 * a - n * m)) // n)
        z = 0
        k = 0
        t = m + d
        u = buf[c]
        w = u
        p = u >= m
        for i in range(c + 3, e, 3):
            v = buf[i]
            if p:
                if v < m:
                    z += 1
                    p = 0
            elif v >= m:
                z += 1
                p = 1
            # w = x[i-1] is a peak: above mean + std, a rise into it, no rise after
            if w > t and w > u and w >= v:
                k += 1
            u = w
            w = v
        o = 8 * c
        out[o] = hi
        out[o + 1] = lo
        out[o + 2] = m
        out[o + 3] = d
        out[o + 4] = k
        out[o + 5] = z
        out[o + 6] = isq(r // n)
        out[o + 7] = (q + h) // n
