# Gesture events for the user's program (program.py), shipped only with one
# (mbnn build/deploy --program). The app calls ev(k, c) after each
# prediction: k the class (-1 unknown), c the confidence in percent.
# The rule (docs/program.md; export/events.py is the host's copy): a
# gesture starts when it is the predicted class (at or above the threshold:
# the app has already made k -1 below it) and another one, or none, was
# active; it stops when another starts or a prediction is unknown. Each
# event is printed first ('G + k c' / 'G - k'), then the handler runs;
# one that raises is reported as an E line and classification goes on.
import program as U
from model import C

N = C.split(',')
a = -1


def h(n, *x):
    f = getattr(U, n, 0)
    if f:
        try:
            f(*x)
        except Exception as e:
            print('E', n, repr(e))


def ev(k, c):
    global a
    if k != a:
        if a >= 0:
            print('G -', a)
            h('on_stop', N[a])
        if k >= 0:
            print('G +', k, c)
            h('on_start', N[k], c)
        a = k
    h('on_prediction', N[k] if k >= 0 else None, c)


# tells the host that lines it cannot parse are the program's (docs/protocol.md)
print('I program')
