"""microbit-nn: train int8 neural networks on a PC, run them on a BBC micro:bit.

The sub-packages live in the repository's top-level folders (train/, export/,
firmware/, host/) and are mapped into this package by pyproject.toml.
"""

__version__ = "0.1.0"
