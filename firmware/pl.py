# The user's program's loader (mbnn build --program; shipped with one only):
# app.py's li calls lp first thing, before model.py and the tables compile
# and load: the program's compile needs a big free block, which the
# tables' pieces would break up. If the program does not compile, the app
# goes on without it. If the model then does not load beside it, the app
# (model.py, the tables) calls lf: it notes why in P.no and resets the board, and lp then skips
# the program (an E line at every boot until a deploy removes P.no), so a
# program never costs the board its model. A module of its own, so that
# app.py stays small enough to compile; the app drops both functions after
# use (docs/program.md).
import os


def lp(g):
    # P (the program module) into the app's globals g
    if 'P.no' in os.listdir():
        f = open('P.no')
        print('E', 'program', f.read())
        f.close()
        return
    try:
        import program
        g['P'] = program
        # the host then reads lines it cannot parse as the program's
        print('I program')
    except Exception as x:
        print('E', 'program', repr(x))


def lf(x):
    # the model did not load beside the program (x): note why, restart
    if 'P.no' not in os.listdir():
        f = open('P.no', 'w')
        f.write(repr(x) + ' beside the model: make the program smaller')
        f.close()
        from microbit import reset
        reset()
