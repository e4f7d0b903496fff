# Boot file of microbit-nn (docs/firmware.md). The app is an imported module:
# on the V1, code compiled from main.py itself holds several times the heap.
# opt_level(3) drops line numbers from what is compiled next (less heap).
# app.go() returns only when a selftest is due (`!t` wrote st.on and reset
# the board): then the app's main loop and classify step are dropped, the
# kernels imported and the selftest compiled, before the model's tables
# fragment the heap.
try:
    import micropython
    micropython.opt_level(3)
except ImportError:
    pass
import app
if app.go():
    app.go = app.cl = 0
    app.li()
    import st
    st.run()
