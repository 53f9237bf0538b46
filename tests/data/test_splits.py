"""Tests for gdmlkit.data.splits: random and energy-stratified train/validation/test splits."""

import numpy as np
import pytest

from gdmlkit.data import train_test_split

from helpers import make


def test_split_random_disjoint_reproducible():
    train, valid, test = train_test_split(100, 50, 20, 10, random_state=3)
    assert (len(train), len(valid), len(test)) == (50, 10, 20)
    assert len(np.unique(np.r_[train, valid, test])) == 80
    again = train_test_split(100, 50, 20, 10, random_state=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, valid, test), again))
    other = train_test_split(100, 50, 20, 10, random_state=4)
    assert not np.array_equal(train, other[0])
    train, valid, test = train_test_split(make(n=10), 6)
    assert len(valid) == 0 and sorted(np.r_[train, test].tolist()) == list(range(10))


@pytest.mark.parametrize(
    "args, kw, match",
    [
        ((100, 80, 30), {}, r"80 \+ 0 \+ 30 = 110 exceeds the 100 samples"),
        ((100, 90), dict(n_valid=20), r"90 \+ 20 \+ 0 = 110"),
        ((100, 0), {}, "n_train == 0, must be >= 1"),
        ((100, 10), dict(strategy="sorted"), "strategy"),
        ((100, 10), dict(strategy="energy"), "only a sample count"),
    ],
)
def test_split_bad_sizes(args, kw, match):
    with pytest.raises(ValueError, match=match):
        train_test_split(*args, **kw)


def test_split_energy_needs_energies():
    with pytest.raises(ValueError, match="E is None"):
        train_test_split(make(n=10, E=None), 3, strategy="energy")


def test_split_energy_stratified(ethanol):
    n, order = 20, np.argsort(ethanol.E)
    lowest, highest = set(order[:50].tolist()), set(order[-50:].tolist())  # bottom/top 1/n of energies
    grid = np.quantile(ethanol.E, np.linspace(0, 1, 101))
    cdf_full = np.searchsorted(np.sort(ethanol.E), grid, side="right") / len(ethanol)

    def ks(idx):
        return np.abs(np.searchsorted(np.sort(ethanol.E[idx]), grid, side="right") / len(idx) - cdf_full).max()

    ks_strat, ks_rand = [], []
    for seed in range(20):
        train, valid, test = train_test_split(ethanol, n, 100, n_valid=10, strategy="energy", random_state=seed)
        assert len(np.unique(np.r_[train, valid, test])) == n + 110
        assert lowest & set(train.tolist()) and highest & set(train.tolist())
        ks_strat.append(ks(train))
        ks_rand.append(ks(train_test_split(ethanol, n, random_state=seed)[0]))
    assert np.mean(ks_strat) < 0.5 * np.mean(ks_rand)
    again = train_test_split(ethanol, n, 100, n_valid=10, strategy="energy", random_state=0)
    assert np.array_equal(again[0], train_test_split(ethanol, n, 100, n_valid=10, strategy="energy",
                                                     random_state=0)[0])
