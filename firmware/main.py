# Boot file of microbit-nn (docs/firmware.md). The app is an imported module:
# on the V1, code compiled from main.py itself holds several times the heap.
# opt_level(3) drops line numbers from what is compiled next (less heap).
# app.go() returns only on `!t`: its code is dropped to make room for the
# selftest, which ends with a reset.
try:
    import micropython
    micropython.opt_level(3)
except ImportError:
    pass
import app
app.go()
app.go = 0
app.gc.collect()
import st
st.run()
