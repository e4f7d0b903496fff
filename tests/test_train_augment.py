"""train/augment.py: shape, dtype, range, determinism, and each transform against a plain oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microbit_nn.train import augment as A
from microbit_nn.train.datasets import load_dataset

IDENTITY = dict(rotate_deg=0, scale=(1, 1), speed=(1, 1), shift=0, noise_mg=0)


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return load_dataset("synthetic:4", seed=2).windows


def test_shape_dtype_range_and_determinism(windows) -> None:
    a = A.augment(windows, np.random.default_rng(7))
    b = A.augment(windows, np.random.default_rng(7))
    c = A.augment(windows, np.random.default_rng(8))
    assert a.shape == windows.shape and a.dtype == np.int16
    assert np.abs(a.astype(int)).max() <= 2048
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, windows)
    extreme = np.full((3, 50, 3), 2048, np.int16)
    assert np.abs(A.augment(extreme, np.random.default_rng(0), noise_mg=200).astype(int)).max() <= 2048
    assert A.augment(windows[:0], np.random.default_rng(0)).shape == (0,) + windows.shape[1:]


def test_identity_parameters_return_the_input(windows) -> None:
    np.testing.assert_array_equal(A.augment(windows, np.random.default_rng(1), **IDENTITY), windows)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), deg=st.floats(0, 180))
def test_random_rotations_are_rotations_within_angle(seed: int, deg: float) -> None:
    r = A.random_rotations(16, np.random.default_rng(seed), deg)
    np.testing.assert_allclose(r @ r.transpose(0, 2, 1), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
    angle = np.degrees(np.arccos(np.clip((np.trace(r, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert (angle <= deg + 1e-6).all()


def test_rotation_keeps_lengths(windows) -> None:
    params = dict(IDENTITY, rotate_deg=40)
    out = A.augment(windows, np.random.default_rng(3), **params).astype(float)
    norm_in, norm_out = np.linalg.norm(windows.astype(float), axis=2), np.linalg.norm(out, axis=2)
    unclipped = np.abs(out).max(axis=2) < 2048
    assert np.abs(norm_in - norm_out)[unclipped].max() <= 1.0  # rounding only
    assert not np.array_equal(out, windows)


def test_scale_keeps_window_mean(windows) -> None:
    w = np.clip(windows, -1000, 1000)  # room to scale up without clipping
    out = A.augment(w, np.random.default_rng(4), **dict(IDENTITY, scale=(1.2, 1.2))).astype(float)
    mean = w.astype(float).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(out, np.clip(np.rint(mean + 1.2 * (w - mean)), -2048, 2048), atol=0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.integers(-8, 8))
def test_shift_is_an_edge_padded_roll(seed: int, shift: int) -> None:
    x = np.random.default_rng(seed).normal(size=(2, 20, 3))
    got = A.time_warp(x, np.ones(2), np.full(2, float(shift)))
    idx = np.clip(np.arange(20) - shift, 0, 19)
    np.testing.assert_allclose(got, x[:, idx], atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), speed=st.floats(0.5, 2.0), shift=st.floats(-5, 5))
def test_time_warp_matches_np_interp(seed: int, speed: float, shift: float) -> None:
    x = np.random.default_rng(seed).normal(size=(1, 30, 3))
    got = A.time_warp(x, np.array([speed]), np.array([shift]))
    t = np.arange(30)
    pos = 14.5 + (t - 14.5) * speed - shift
    for c in range(3):
        np.testing.assert_allclose(got[0, :, c], np.interp(pos, t, x[0, :, c]), atol=1e-12)


def test_noise_level(windows) -> None:
    out = A.augment(windows, np.random.default_rng(5), **dict(IDENTITY, noise_mg=20)).astype(float)
    resid = (out - windows)[np.abs(out).max(axis=2) < 2048]
    assert 17 < resid.std() < 23 and abs(resid.mean()) < 2


def test_motion_rotation_turns_the_motion_around_the_window_mean(windows) -> None:
    w = np.clip(windows, -1000, 1000)  # no clipping after turning
    out = A.augment(w, np.random.default_rng(6), **dict(IDENTITY, motion_deg=180)).astype(float)
    x = w.astype(float)
    mean_in, mean_out = x.mean(axis=1, keepdims=True), out.mean(axis=1, keepdims=True)
    # gravity (the window mean) stays; each sample's motion keeps its length (up to rounding)
    assert np.abs(mean_out - mean_in).max() <= 0.5
    motion_in, motion_out = x - mean_in, out - mean_in
    assert np.abs(np.linalg.norm(motion_in, axis=2) - np.linalg.norm(motion_out, axis=2)).max() <= 1.0
    # one rotation per window: the oracle is the least-squares rotation, and it fits every sample
    for i in range(len(w)):
        u, _, vt = np.linalg.svd(motion_in[i].T @ motion_out[i])
        r = (u @ vt).T
        assert np.abs(motion_in[i] @ r.T - motion_out[i]).max() <= 1.0
    assert not np.array_equal(out, x)


def test_motion_rotation_leaves_gravity_only_windows_alone() -> None:
    still = np.tile(np.array([0, 0, -1000], np.int16), (4, 50, 1))
    out = A.augment(still, np.random.default_rng(0), **dict(IDENTITY, motion_deg=180))
    np.testing.assert_array_equal(out, still)
