"""Disjoint train/validation/test index splits, random or stratified by energy."""

import numpy as np

from gdmlkit.data.dataset import Dataset
from gdmlkit.utils.validation import check_scalar

__all__ = ["train_test_split"]

_STRATEGIES = ("random", "energy")


def train_test_split(dataset_or_n, n_train, n_test=None, n_valid=0, *, strategy="random",
                     random_state=None):
    """Draw disjoint train, validation and test indices.

    Parameters
    ----------
    dataset_or_n : Dataset or int
        The dataset, or its number of samples (``strategy='random'`` only).
    n_train : int
        Training samples, >= 1.
    n_test : int, optional
        Test samples; None takes all samples left after train and validation.
    n_valid : int, default 0
        Validation samples.
    strategy : {'random', 'energy'}
        'random': uniform without replacement. 'energy': each subset is drawn from
        the samples left by the previous ones, sorted by energy and cut into as many
        equal-count bins as samples wanted, one sample drawn per bin, so the subset
        spans the whole energy range with the pool's energy distribution.
    random_state : None, int or numpy.random.Generator
        Seed; the same seed gives the same split.

    Returns
    -------
    train, valid, test : ndarray of int64
        Sorted sample indices; `valid` is empty when ``n_valid == 0``.
    """
    if isinstance(dataset_or_n, Dataset):
        n_samples, energies = dataset_or_n.n_samples, dataset_or_n.E
    else:
        n_samples, energies = check_scalar(dataset_or_n, "dataset_or_n", min_val=1, integer=True), None
    check_scalar(n_train, "n_train", min_val=1, integer=True)
    check_scalar(n_valid, "n_valid", min_val=0, integer=True)
    if n_test is not None:
        check_scalar(n_test, "n_test", min_val=0, integer=True)
    n_wanted = n_train + n_valid + (0 if n_test is None else n_test)
    if n_wanted > n_samples:
        raise ValueError(
            f"n_train + n_valid + n_test = {n_train} + {n_valid} + {n_test or 0} = {n_wanted} "
            f"exceeds the {n_samples} samples available; ask for fewer."
        )
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy == {strategy!r}, must be one of {_STRATEGIES}.")
    if strategy == "energy" and energies is None:
        raise ValueError(
            "strategy='energy' needs energies, but "
            + ("the dataset has none (E is None)" if isinstance(dataset_or_n, Dataset) else
               "only a sample count was given")
            + "; pass a Dataset with E, or use strategy='random'."
        )
    rng = np.random.default_rng(random_state)
    pool = np.arange(n_samples)
    subsets = []
    for k in (n_train, n_valid, n_samples - n_train - n_valid if n_test is None else n_test):
        if strategy == "energy":
            picked = _draw_stratified(pool, energies, k, rng)
        else:
            picked = rng.choice(pool, size=k, replace=False)
        subsets.append(np.sort(picked).astype(np.int64))
        pool = np.setdiff1d(pool, picked, assume_unique=True)
    return tuple(subsets)


def _draw_stratified(pool, energies, k, rng):
    """One random member from each of `k` equal-count energy bins of `pool`."""
    if k == 0:
        return pool[:0]
    order = pool[np.argsort(energies[pool], kind="stable")]
    # bin sizes and starts as np.array_split(order, k) makes them
    sizes = np.full(k, len(order) // k)
    sizes[: len(order) % k] += 1
    starts = np.cumsum(sizes) - sizes
    return order[starts + rng.integers(0, sizes)]
