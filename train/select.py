"""Choosing the model for the data: cross-validation over the candidates that fit the board.

Each candidate (a family and a size) is trained on all folds but one and scored
by the int8 accuracy of the integer reference on the fold left out; folds hold
whole sessions (a person, a day: `NAME@SESSION` recordings) when the data names
at least as many sessions as there are folds, else whole recordings, stratified
by class. The best mean fold accuracy wins; means equal to 3 decimals (well below
what one window changes on these data sizes) go to the cheaper model (fewer
MACs, then fewer weight bytes). Folds and epochs shrink with the data so that
a choice stays within the time budget (docs/training.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from microbit_nn.train.config import TrainConfig
from microbit_nn.train.datasets import Dataset, split_by_group, subset
from microbit_nn.train.models import DEFAULT_HIDDEN, DEFAULT_WIDTH

Progress = Callable[[str, int, int, dict], None]


@dataclass(frozen=True)
class Candidate:
    """A model family and size: `hidden` and `width` as models.build_model takes them."""

    kind: str
    hidden: int
    width: int | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.hidden}" if self.width is None else f"{self.kind}-{self.width}x{self.hidden}"


# The sizes tried per target. V2 adds sizes only its ~60 KB heap holds. No mlp
# below the default 24: on synthetic data mlp-16 won folds by noise and then lost
# 3.5 points on new people (benchmarks/accuracy.py, seed 0).
SIZES = {
    "v1": (Candidate("mlp", 24), Candidate("mlp", 32), Candidate("cnn", 16, 8)),
    "v2": (Candidate("mlp", 24), Candidate("mlp", 64), Candidate("cnn", 16, 8), Candidate("cnn", 32, 16)),
}


_DEFAULTS = {("mlp", DEFAULT_HIDDEN["mlp"], DEFAULT_WIDTH), ("cnn", DEFAULT_HIDDEN["cnn"], DEFAULT_WIDTH)}


@dataclass
class Plan:
    """How much cross-validation the data size allows."""

    folds: int
    epochs: int
    qat_epochs: int
    patience: int


def plan_for(n_windows: int) -> Plan:
    """Folds and epochs for `n_windows` training windows. Measured on 2 cores
    (benchmarks/train_time.py): a CreateAI project (~150 windows) gets 3 folds of
    40 epochs; 1,000 recordings (~4,000 windows) 3 folds of 20 epochs."""
    if n_windows <= 600:
        return Plan(folds=3, epochs=40, qat_epochs=10, patience=10)
    epochs = int(np.clip(80_000 // n_windows, 12, 40))
    return Plan(folds=3, epochs=epochs, qat_epochs=max(4, epochs // 4), patience=max(6, epochs // 4))


def fold_of_windows(ds: Dataset, k: int, seed: int) -> tuple[np.ndarray, str]:
    """Fold index per window and what a fold holds ("session" or "recording")."""
    rng = np.random.default_rng([seed, 7])
    if ds.sessions is not None and len(np.unique(ds.sessions)) >= k:
        sessions = rng.permutation(np.unique(ds.sessions))
        fold = {int(s): i % k for i, s in enumerate(sessions.tolist())}
        return np.array([fold[int(s)] for s in ds.sessions.tolist()], np.int64), "session"
    fold: dict[int, int] = {}
    offset = 0
    for c in range(len(ds.classes)):  # stratified: each class's recordings dealt round the folds
        groups = rng.permutation(np.unique(ds.groups[ds.labels == c]))
        for i, g in enumerate(groups.tolist()):
            fold[int(g)] = (offset + i) % k
        offset += len(groups)
    return np.array([fold[int(g)] for g in ds.groups.tolist()], np.int64), "recording"


@dataclass
class Scored:
    """A candidate's fold scores (int8 accuracy on each held-out fold) and device cost."""

    candidate: Candidate
    folds: list[float]
    macs: int
    weight_bytes: int
    verdict: str

    @property
    def mean(self) -> float:
        return float(np.mean(self.folds))

    def as_dict(self) -> dict:
        return {"name": self.candidate.name, "kind": self.candidate.kind, "hidden": self.candidate.hidden,
                "width": self.candidate.width, "folds": [round(f, 4) for f in self.folds],
                "mean": round(self.mean, 4), "macs": self.macs, "weight_bytes": self.weight_bytes,
                "budget": self.verdict}


@dataclass
class Choice:
    """The result of a selection: the winner, every candidate's scores and why."""

    winner: Candidate
    scored: list[Scored]
    rejected: list[dict] = field(default_factory=list)  # candidates that do not fit the target
    folds: int = 0
    fold_by: str = "recording"
    plan: Plan | None = None
    reason: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"winner": self.winner.name, "reason": self.reason, "folds": self.folds, "fold_by": self.fold_by,
                "plan": None if self.plan is None else vars(self.plan), "seconds": round(self.seconds, 2),
                "candidates": [s.as_dict() for s in self.scored], "rejected": self.rejected}


def rank_key(s: Scored) -> tuple:
    """Sort key: best mean (to 3 decimals) first, then the cheaper model."""
    return (-round(s.mean, 3), s.macs, s.weight_bytes)


def pick(scored: list[Scored]) -> tuple[Scored, str]:
    """The winner and a sentence saying why."""
    ranked = sorted(scored, key=rank_key)
    best = ranked[0]
    ties = [s for s in ranked[1:] if round(s.mean, 3) == round(best.mean, 3)]
    if ties:
        why = (f"{best.candidate.name} ties at mean int8 accuracy {best.mean:.3f} with "
               f"{', '.join(s.candidate.name for s in ties)} and is the cheapest ({best.macs} MACs)")
    elif len(ranked) > 1:
        why = (f"{best.candidate.name} has the best mean int8 accuracy over the folds, {best.mean:.3f} "
               f"(next: {ranked[1].candidate.name} {ranked[1].mean:.3f})")
    else:
        why = f"{best.candidate.name} is the only candidate that fits"
    return best, why


def fitting_candidates(ds: Dataset, target: str, seed: int) -> tuple[list[tuple[Candidate, dict]], list[dict]]:
    """The candidates whose int8 model fits `target` by export/budget.py's estimate
    ("fits" or "tight", as `mbnn build` accepts; the default sizes are "tight" on
    the V1), with their costs; and the rejected ones.
    Sizes are judged on a briefly trained model (tables do not depend on the weights)."""
    from microbit_nn.export.budget import estimate
    from microbit_nn.train.trainer import train

    small = subset(ds, np.arange(min(len(ds.labels), 64)))
    ok, rejected = [], []
    for cand in SIZES[target]:
        cfg = TrainConfig(kind=cand.kind, hidden=cand.hidden, width=cand.width, epochs=1, qat_epochs=0,
                          augment=False, seed=seed)
        qm = train(cfg, small, small).qmodel
        qm.target = target
        b = estimate(qm, target)
        cost = {"macs": qm.macs(), "weight_bytes": qm.weight_bytes(), "budget": b.verdict,
                "estimate_free": b.estimate_free}
        # The family defaults are what `--model` trains and are measured to run on the
        # emulated V1 (README: 3,328 and 3,632 bytes free); the estimate, which errs on
        # the safe side, only decides about the other sizes.
        if b.verdict != "does not fit" or (cand.kind, cand.hidden, cand.width or DEFAULT_WIDTH) in _DEFAULTS:
            ok.append((cand, cost))
        else:
            rejected.append({"name": cand.name, **cost})
    return ok, rejected


def cross_validate(ds: Dataset, target: str = "v1", seed: int = 0, progress: Progress | None = None,
                   base: TrainConfig | None = None, plan: Plan | None = None) -> Choice:
    """Score every candidate that fits `target` by k-fold cross-validation on `ds`
    and pick one (see the module docstring). Deterministic for `seed`."""
    from microbit_nn.train.trainer import int8_accuracy, train

    start = time.perf_counter()
    plan = plan or plan_for(len(ds.labels))
    fits, rejected = fitting_candidates(ds, target, seed)
    if not fits:
        from microbit_nn.errors import MbnnError

        raise MbnnError(f"no model size fits the {target.upper()} for these {len(ds.classes)} classes "
                        f"({', '.join(r['name'] + ': ' + r['budget'] for r in rejected)}); use fewer classes")
    folds, fold_by = fold_of_windows(ds, plan.folds, seed)
    base = base or TrainConfig()
    total, step = len(fits) * plan.folds, 0
    scored = []
    for cand, cost in fits:
        cfg = replace(base, kind=cand.kind, hidden=cand.hidden, width=cand.width, epochs=plan.epochs,
                      qat_epochs=plan.qat_epochs, patience=plan.patience, seed=seed)
        scores = []
        for f in range(plan.folds):
            held = subset(ds, folds == f)
            if len(held.labels) == 0:
                continue
            # early stopping and the PTQ/QAT choice look at a part of the training folds, never the held-out one
            fit, val, _ = split_by_group(subset(ds, folds != f), (0.85, 0.15, 0.0), seed=seed)
            qm = train(cfg, fit, val if len(val.labels) else fit).qmodel
            scores.append(int8_accuracy(qm, held))
            step += 1
            if progress:
                progress("folds", step, total, {cand.name: float(np.mean(scores))})
        scored.append(Scored(cand, scores, cost["macs"], cost["weight_bytes"], cost["budget"]))
    best, why = pick(scored)
    return Choice(winner=best.candidate, scored=scored, rejected=rejected, folds=plan.folds, fold_by=fold_by,
                  plan=plan, reason=why, seconds=time.perf_counter() - start)
