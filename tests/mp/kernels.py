# The firmware's kernels (qk.py, ft.py, in the current directory) on every
# record of cases.bin (export/goldens.py's format, the one st.py reads on
# the device): one line per record, its name and the output's items. The same
# script runs under CPython and under MicroPython; the test compares the two
# and the expected outputs in the records.
from array import array
import qk
import ft

SIZE = {'b': 1, 'h': 2, 'i': 4}


def rd(f):
    c = chr(f.read(1)[0])
    if c == 'n':
        return array('i', f.read(4))[0]
    h = f.read(2)
    a = array(c, bytes(SIZE[c] * (h[0] + 256 * h[1])))
    f.readinto(a)
    return a


def main():
    f = open('cases.bin', 'rb')
    while f.read(1)[0]:
        t = f.read(f.read(1)[0]).decode()
        n = f.read(f.read(1)[0]).decode()
        h = f.read(2)
        j = h[0] - (h[0] > 127) * 256
        a = [rd(f) for i in range(h[1])]
        o = rd(f)
        k = getattr(qk, n, 0) or getattr(ft, n)
        if j < 0:
            o[0] = k(*a)
        else:
            # a kernel must overwrite its output: it starts as a pattern
            for i in range(len(o)):
                o[i] = 85
            a.insert(j, o)
            k(*a)
        print(t, ' '.join([str(v) for v in o]))
    f.close()


main()
