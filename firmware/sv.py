# Selftest helpers (see st.py): reading st.bin's arguments and running one
# test. A module of their own, so each of the two compiles on the V1 in the
# smaller free block that is left once the app is loaded.
from array import array
import app


def z(c, n):
    # an array of n items; from a range MicroPython makes it with no
    # temporary copy (truncating the values; CPython refuses for 'b')
    try:
        return array(c, range(n))
    except OverflowError:
        return array(c, bytes(n))


def rd(f):
    # one argument: a number or an array (typecode, item count, items)
    c = f.read(1)[0]
    if c == 110:
        return array('i', f.read(4))[0]
    h = f.read(2)
    a = z(chr(c), h[0] + 256 * h[1])
    f.readinto(a)
    return a


def do(k, fn, j, a, e):
    # runs one test with module k; returns the output to compare with e
    if not fn:
        # the whole model: the window into the ring, then the calls
        x = a[0]
        for i in range(len(x)):
            app.R[i] = x[i]
        for f, b in app.Z:
            f(*b)
        return app.y
    o = e[:]
    if j < 0:
        o[0] = getattr(k, fn)(*a)
        return o
    # a kernel must overwrite every output: start from a pattern
    for i in range(len(o)):
        o[i] = 85
    b = a[:]
    b.insert(j, o)
    getattr(k, fn)(*b)
    return o
