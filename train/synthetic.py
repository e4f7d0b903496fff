"""A deterministic synthetic gesture generator (the demo and test default).

The accelerometer reads gravity (1000 mg) in the device's frame plus the
hand's own acceleration. Each recording is made by one of a dozen simulated
"people" (drawn from the seed), who differ in how they hold the device, how
fast and how big they move, their preferred motion axes, and their sensor
noise. Gestures (in the device frame, 50 Hz; speeds and sizes also scale
with the person's tempo and size factors):
- shake: 4-7 Hz back-and-forth along one axis, 700-1700 mg, with wrist
  rotation and hand jitter; a fifth are slow, small shakes (3-4 Hz, 350-800 mg).
- circle: two orthogonal sinusoids 90 degrees apart, 0.9-2 Hz, an ellipse
  in a plane near one of the device's, hand jitter; a fifth are small
  (200-350 mg).
- flick: one sharp pulse (~100-200 ms) with a rebound and a small poke of
  the device, 800-2000 mg; a quarter are gentle (350-700 mg).
- tilt: a smooth rotation of gravity by 30-80 degrees in 0.25-0.8 s.
- still: gravity only.
Every recording also gets a slow drift of a few degrees, sway (10-40 mg),
8-12 Hz tremor (3-15 mg) and Gaussian noise (10-30 mg), then is rounded to
int milli-g and clipped to +/-2048. Shakes, circles and stills last 1.2-2 s;
flicks and tilts 1.2-1.6 s, with the event placed so that every 50-sample
window cut from the recording (train/datasets.py) contains it, at a
different offset in each. Only numpy Generators seeded from `seed` are used,
and each class has its own stream, so a class's recordings do not depend on
which other classes are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.train.datasets import Recording, clip_mg

CLASSES = ("shake", "circle", "flick", "tilt", "still")
DEFAULT_PER_CLASS = 40
RATE_HZ = 50
WINDOW = 50  # events fit every window of this many samples
G_MG = 1000.0
N_PEOPLE = 12
# Device-frame directions of gravity's reading for typical ways to hold it.
_POSES = np.array([[0, 0, -1], [0, 0.7, -0.7], [0, 1, 0], [-0.7, 0, -0.7], [0, -0.5, -0.85]])
_AXES = np.eye(3)


@dataclass
class _Person:
    rest: np.ndarray  # unit vector: gravity's direction in the device frame
    speed: float  # tempo factor
    amp: float  # movement size factor
    noise: float  # sensor noise, mg
    shake_axis: np.ndarray
    flick_axis: np.ndarray
    plane: np.ndarray  # [2, 3] the circle's plane


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _near(rng: np.random.Generator, base: np.ndarray, deg: float) -> np.ndarray:
    """A unit vector at most about `deg` degrees from `base`."""
    perp = _unit(np.cross(base, _unit(rng.normal(size=3))))
    return _rotate(_unit(base)[None], perp, np.radians(rng.uniform(0, deg)) * np.ones(1))[0]


def _rotate(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: rotate rows of v [T, 3] about the unit `axis` by `angle` [T] radians."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return v * c + np.cross(axis, v) * s + axis * (v @ axis)[:, None] * (1 - c)


def _smooth(rng: np.random.Generator, t: np.ndarray, lo: float = 0.2, hi: float = 1.0) -> np.ndarray:
    """A random wobble in [-1, 1]: three sinusoids of lo..hi Hz."""
    a = rng.uniform(0.3, 1, 3)
    f, ph = rng.uniform(lo, hi, 3), rng.uniform(0, 2 * np.pi, 3)
    return (a[:, None] * np.sin(2 * np.pi * f[:, None] * t + ph[:, None])).sum(0) / a.sum()


def _people(seed: int) -> list[_Person]:
    rng = np.random.default_rng([seed, 1000])
    out = []
    for _ in range(N_PEOPLE):
        rest = _near(rng, _POSES[rng.integers(len(_POSES))], 20)
        e1 = _near(rng, _AXES[rng.choice(3, p=[0.45, 0.35, 0.2])], 20)
        e2 = _unit(np.cross(_near(rng, _AXES[rng.choice([1, 2])], 30), e1))
        out.append(_Person(rest, rng.uniform(0.85, 1.2), rng.uniform(0.75, 1.3), rng.uniform(10, 30),
                           _near(rng, _AXES[rng.choice(3, p=[0.5, 0.3, 0.2])], 25),
                           _near(rng, _AXES[rng.choice(3, p=[0.2, 0.3, 0.5])], 25), np.stack([e1, e2])))
    return out


def _shake(rng, p: _Person, t, grav):
    slow = rng.random() < 0.2
    f = p.speed * (rng.uniform(3, 4) if slow else rng.uniform(4, 7))
    amp = p.amp * (rng.uniform(350, 800) if slow else rng.uniform(700, 1700))
    phase = 2 * np.pi * f * t * (1 + 0.06 * _smooth(rng, t)) + rng.uniform(0, 2 * np.pi)
    wave = np.sin(phase) + rng.uniform(0, 0.35) * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
    axis = _near(rng, p.shake_axis, 20)
    turn = _unit(np.cross(axis, p.rest) + 1e-6)
    grav = _rotate(grav, turn, np.radians(rng.uniform(5, 25)) * np.sin(phase + rng.uniform(0, 1)))
    return grav + amp * (1 + 0.15 * _smooth(rng, t))[:, None] * wave[:, None] * axis


def _circle(rng, p: _Person, t, grav):
    f = p.speed * rng.uniform(0.9, 2.0)
    amp = p.amp * (rng.uniform(200, 350) if rng.random() < 0.2 else rng.uniform(300, 1000))
    phase = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
    e1 = _near(rng, p.plane[0], 15)
    e2 = _unit(np.cross(np.cross(e1, p.plane[1]), e1)) * rng.choice([-1, 1])
    ratio = rng.uniform(0.55, 1.0)
    grav = _rotate(grav, e1, np.radians(rng.uniform(2, 10)) * np.sin(phase))
    return grav + amp * (np.cos(phase)[:, None] * e1 + ratio * np.sin(phase)[:, None] * e2)


def _flick(rng, p: _Person, t, grav):
    n = len(t)
    w = rng.uniform(0.8, 2.2) / p.speed  # pulse width (samples)
    amp = p.amp * (rng.uniform(350, 700) if rng.random() < 0.25 else rng.uniform(800, 2000))
    lead, tail = int(np.ceil(3 * w)) + 1, int(np.ceil(6.7 * w)) + 1
    extra = n - WINDOW
    centre = rng.uniform(extra + lead, max(extra + lead, WINDOW - tail))
    k = np.arange(n)
    pulse = np.exp(-0.5 * ((k - centre) / w) ** 2)
    pulse -= rng.uniform(0.5, 0.8) * np.exp(-0.5 * ((k - centre - 2.2 * w) / (1.5 * w)) ** 2)
    axis = _near(rng, p.flick_axis, 25)
    turn = _unit(np.cross(axis, p.rest) + 1e-6)
    grav = _rotate(grav, turn, np.radians(rng.uniform(3, 12)) * np.exp(-0.5 * ((k - centre) / (3 * w)) ** 2))
    return grav + amp * pulse[:, None] * axis


def _tilt(rng, p: _Person, t, grav):
    n = len(t)
    extra = n - WINDOW  # the turn lies inside every window: extra <= start, start + dur <= WINDOW
    dur = int(np.clip(rng.uniform(12, 40) / p.speed, 12, WINDOW - extra))
    start = rng.integers(extra, WINDOW - dur + 1)
    x = np.clip((np.arange(n) - start) / dur, 0, 1)
    angle = np.radians(rng.uniform(30, 80)) * rng.choice([-1, 1]) * (0.5 - 0.5 * np.cos(np.pi * x))
    axis = _unit(np.cross(p.rest, rng.normal(size=3)))
    return _rotate(grav, axis, angle)


def _still(rng, p: _Person, t, grav):
    return grav  # drift, tremor and sway are added to every gesture


_MAKERS = {"shake": _shake, "circle": _circle, "flick": _flick, "tilt": _tilt, "still": _still}


def _length(rng: np.random.Generator, cls: str) -> int:
    """Samples in one recording: 1.2-2 s, flicks and tilts 1.2-1.6 s (so every window holds the event)."""
    return WINDOW + int(rng.integers(10, 31 if cls in ("flick", "tilt") else 51))


def _recording(rng: np.random.Generator, cls: str, p: _Person) -> np.ndarray:
    n = _length(rng, cls)
    t = np.arange(n) / RATE_HZ
    rest = _near(rng, p.rest, 15)
    drift_axis = _unit(np.cross(rest, rng.normal(size=3)))
    grav = G_MG * _rotate(np.repeat(rest[None], n, 0), drift_axis, np.radians(rng.uniform(1, 5)) * _smooth(rng, t))
    sig = _MAKERS[cls](rng, p, t, grav)
    if cls in ("shake", "circle"):  # a moving hand is not smooth
        sig = sig + rng.uniform(20, 80) * _smooth(rng, t, 3, 8)[:, None] * _unit(rng.normal(size=3))
    sway = rng.uniform(10, 40) * _smooth(rng, t, 0.3, 1.0)[:, None] * _unit(rng.normal(size=3))
    tremor = rng.uniform(3, 15) * np.sin(2 * np.pi * rng.uniform(8, 12) * t + rng.uniform(0, 6.3))
    sig = sig + sway + tremor[:, None] * _unit(rng.normal(size=3))
    return clip_mg(sig + rng.normal(0, p.noise, sig.shape))


def make_recordings(n_per_class: int = DEFAULT_PER_CLASS, seed: int = 0,
                    classes: list[str] | tuple[str, ...] | None = None) -> list[Recording]:
    """`n_per_class` synthetic recordings (int16 [T, 3] milli-g, T = 60-100) of
    each class, class by class in `classes` order (default CLASSES).
    Deterministic for `seed`; raises MbnnError for an unknown class."""
    classes = CLASSES if classes is None else tuple(classes)
    unknown = [c for c in classes if c not in _MAKERS]
    if unknown:
        raise MbnnError(f"unknown synthetic class(es) {unknown}; choose from {list(CLASSES)}")
    if seed < 0:
        raise MbnnError(f"seed {seed} is negative; use a seed >= 0")
    people = _people(seed)
    recs = []
    for cls in classes:
        rng = np.random.default_rng([seed, CLASSES.index(cls)])
        for i in range(n_per_class):
            who = int(rng.integers(N_PEOPLE))
            # "@p<who>": the simulated person is the recording's session (datasets.session_of)
            recs.append(Recording(cls, f"{cls}_{i:03d}@p{who}", _recording(rng, cls, people[who])))
    return recs
