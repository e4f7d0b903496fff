"""Training-time augmentation of int16 milli-g windows (numpy, seeded).

Per window, in this order: a random 3-D rotation of the device (gravity and
motion turn together), a random rotation of the motion alone (the window
minus its mean: the direction a person moves in, gravity unchanged), amplitude scaling of the motion around the window's
mean (gravity keeps its 1 g), speed change and time shift by resampling
(positions outside the window repeat the edge samples), Gaussian sensor
noise, then rounding and clipping to +/-2048.
"""

from __future__ import annotations

import numpy as np

from microbit_nn.train.datasets import clip_mg


def random_rotations(n: int, rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """n rotation matrices [n, 3, 3] about random axes by up to max_deg degrees."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.radians(rng.uniform(-max_deg, max_deg, n))
    k = np.zeros((n, 3, 3))  # cross-product matrices
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k -= k.transpose(0, 2, 1)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def time_warp(x: np.ndarray, speed: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Resample windows x [N, L, 3]: output sample t reads input position
    centre + (t - centre) * speed - shift, clamped to the window, linearly
    interpolated (speed > 1 plays faster, shift > 0 moves later)."""
    n, length, _ = x.shape
    centre = (length - 1) / 2
    t = np.arange(length)
    pos = np.clip(centre + (t[None] - centre) * speed[:, None] - shift[:, None], 0, length - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, length - 1)
    frac = (pos - lo)[:, :, None]
    rows = np.arange(n)[:, None]
    return x[rows, lo] * (1 - frac) + x[rows, hi] * frac


def augment(windows: np.ndarray, rng: np.random.Generator, rotate_deg: float = 25,
            scale: tuple[float, float] = (0.8, 1.2), speed: tuple[float, float] = (0.85, 1.15),
            shift: int = 5, noise_mg: float = 20, motion_deg: float = 0) -> np.ndarray:
    """A randomly perturbed copy of `windows` (int16 [N, L, 3] milli-g), same
    shape, int16 within +/-2048. Deterministic for the state of `rng`."""
    x = np.asarray(windows, np.float64)
    n = len(x)
    if n == 0:
        return np.asarray(windows, np.int16).copy()
    x = x @ random_rotations(n, rng, rotate_deg).transpose(0, 2, 1)  # rows: R @ sample
    mean = x.mean(axis=1, keepdims=True)
    if motion_deg > 0:
        x = mean + (x - mean) @ random_rotations(n, rng, motion_deg).transpose(0, 2, 1)
    x = mean + (x - mean) * rng.uniform(*scale, n)[:, None, None]
    x = time_warp(x, rng.uniform(*speed, n), rng.integers(-shift, shift + 1, n).astype(np.float64))
    x += rng.normal(0.0, noise_mg, x.shape)
    return clip_mg(x)
