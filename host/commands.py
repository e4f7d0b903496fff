"""Registers every mbnn subcommand (name, implementing module, help)."""

from microbit_nn.host.cli import register

register("train", "cmd_train", "train a model on DATA (CSV folder, CreateAI JSON, or 'synthetic')")
register("eval", "cmd_eval", "evaluate a trained model (float and int8) on DATA")
register("data", "cmd_data", "show a summary of DATA (CSV folder, CreateAI JSON, or 'synthetic'); --csv exports it as CSV files")
register("flash", "cmd_flash", "copy a .hex onto the micro:bit's MICROBIT drive and wait for it to restart")
register("deploy", "cmd_deploy", "copy a model (and changed app files) onto a micro:bit running MicroPython")
register("stream", "cmd_stream", "show live predictions from a micro:bit (terminal view, --json or --csv)")
register("record", "cmd_record", "record gestures from a micro:bit into a CSV dataset folder")
register("bench", "cmd_bench", "measure a model on the emulated micro:bit V1: instructions per prediction, per MAC, free heap")
register("export", "cmd_export", "write the files a micro:bit needs for MODEL (app, kernels, model.py, selftest)")
register("build", "cmd_build", "build a flashable .hex: MicroPython plus the app and MODEL")
register("budget", "cmd_budget", "estimate (and for the V1 measure in the emulator) the free heap MODEL leaves")
register("program", "cmd_program", "write a starter program for MODEL: your MicroPython code that reacts to gestures")
register("replay", "cmd_replay", "replay recorded windows on a micro:bit (or the emulator) and compare with the reference")
register("selftest", "cmd_selftest", "run the on-device selftest (golden vectors) on a micro:bit or the emulator")
register("check", "cmd_check", "check a micro:bit (or the emulator): banner, selftest, replayed windows, free heap; a summary line for bug reports")
register("demo", "cmd_demo", "the whole pipeline on the emulated micro:bit: train, quantize, build the .hex, replay held-out gestures")
