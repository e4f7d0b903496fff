"""train/select.py: folds keep sessions and recordings whole, the ranking rule,
the data-size plan, and a small deterministic cross-validation."""

import numpy as np
import pytest

from microbit_nn.train import select as S
from microbit_nn.train.datasets import Recording, load_dataset, windows_from_recordings


def _recordings(names_per_class: dict) -> list[Recording]:
    rng = np.random.default_rng(0)
    return [Recording(label, name, rng.integers(-500, 500, (60 + 10 * i, 3)).astype(np.int16))
            for label, names in names_per_class.items() for i, name in enumerate(names)]


def test_folds_hold_whole_recordings_stratified_by_class():
    ds = windows_from_recordings(_recordings({"a": [f"a{i}" for i in range(8)], "b": [f"b{i}" for i in range(8)]}))
    fold, by = S.fold_of_windows(ds, 4, seed=3)
    assert by == "recording" and ds.sessions is None
    for g in np.unique(ds.groups):
        assert len(np.unique(fold[ds.groups == g])) == 1
    for c in range(2):  # 8 recordings of a class over 4 folds: 2 each
        recs = [len(np.unique(ds.groups[(ds.labels == c) & (fold == f)])) for f in range(4)]
        assert recs == [2, 2, 2, 2]
    again, _ = S.fold_of_windows(ds, 4, seed=3)
    assert np.array_equal(fold, again)


def test_folds_hold_whole_sessions_when_the_names_give_them():
    names = {"a": [f"a{i}@p{i % 5}" for i in range(10)], "b": [f"b{i}@p{i % 5}" for i in range(10)]}
    ds = windows_from_recordings(_recordings(names))
    assert ds.sessions is not None and len(np.unique(ds.sessions)) == 5
    fold, by = S.fold_of_windows(ds, 3, seed=0)
    assert by == "session"
    for s in np.unique(ds.sessions):
        assert len(np.unique(fold[ds.sessions == s])) == 1
    # fewer sessions than folds: by recording instead
    assert S.fold_of_windows(ds, 6, seed=0)[1] == "recording"


def test_synthetic_recordings_name_their_person():
    ds = load_dataset("synthetic:4", seed=0)
    assert ds.sessions is not None and len(np.unique(ds.sessions)) > 3


def _scored(name, folds, macs, wb=100):
    return S.Scored(S.Candidate("mlp", name), folds, macs, wb, "fits")


def test_pick_takes_the_best_mean_and_breaks_ties_by_cost():
    a, b, c = _scored(16, [0.9, 0.8], 400), _scored(24, [0.95, 0.85], 600), _scored(32, [1.0, 0.7], 800)
    best, why = S.pick([a, b, c])
    assert best is b and "best mean" in why
    # equal to 3 decimals: the cheaper one, whatever the order given
    d = _scored(8, [0.9, 0.8004], 200)
    for order in ([a, d], [d, a]):
        best, why = S.pick(order)
        assert best is d and "cheapest" in why


def test_plan_shrinks_with_the_data():
    small, big = S.plan_for(150), S.plan_for(4000)
    assert small.folds >= big.folds and small.epochs > big.epochs
    assert S.plan_for(10**6).epochs >= 12


def test_every_v2_candidate_size_differs_and_v1_sizes_are_a_subset_or_smaller():
    for target, cands in S.SIZES.items():
        assert len({c.name for c in cands}) == len(cands)


@pytest.fixture(scope="module")
def tiny_choice():
    ds = load_dataset("synthetic:6", seed=0)
    plan = S.Plan(folds=2, epochs=2, qat_epochs=1, patience=2)
    return ds, plan, S.cross_validate(ds, "v1", seed=0, plan=plan)


def test_cross_validation_scores_every_fitting_candidate(tiny_choice):
    ds, plan, choice = tiny_choice
    names = [s.candidate.name for s in choice.scored] + [r["name"] for r in choice.rejected]
    assert sorted(names) == sorted(c.name for c in S.SIZES["v1"])
    for s in choice.scored:
        assert len(s.folds) == 2 and all(0 <= f <= 1 for f in s.folds)
        assert s.verdict != "does not fit" or (s.candidate.kind, s.candidate.hidden) in (("mlp", 24), ("cnn", 16))
    assert choice.winner == sorted(choice.scored, key=S.rank_key)[0].candidate
    d = choice.as_dict()
    assert d["winner"] == choice.winner.name and d["reason"] and d["fold_by"] == "session"


def test_cross_validation_is_deterministic(tiny_choice):
    ds, plan, choice = tiny_choice
    again = S.cross_validate(ds, "v1", seed=0, plan=plan)
    assert [s.folds for s in again.scored] == [s.folds for s in choice.scored]
