"""Strata and stratified subsets: every subset covers every stratum, subsets are disjoint, clear errors."""

import numpy as np
import pytest

from gdmlkit.coarse_graining import kmeans, stratified_subsets, stratum_sizes


def blobs(sizes, seed=0):
    """Well separated 2-D Gaussian blobs of the given sizes; returns points and true labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [5, 20]])[:len(sizes)]
    X = np.concatenate([c + rng.normal(scale=0.5, size=(n, 2)) for c, n in zip(centres, sizes)])
    return X, np.repeat(np.arange(len(sizes)), sizes)


def test_kmeans_recovers_separated_clusters():
    X, truth = blobs([300, 50, 20, 200, 5])
    labels, centres = kmeans(X, 5, random_state=1)
    # same partition up to renaming: each true cluster maps to exactly one label and vice versa
    pairs = set(zip(truth.tolist(), labels.tolist()))
    assert len(pairs) == 5 and len({p[1] for p in pairs}) == 5
    for k in range(5):
        np.testing.assert_allclose(centres[labels[truth == k][0]], X[truth == k].mean(0), atol=1e-12)


def test_stratified_subsets_cover_every_stratum_and_are_disjoint():
    _, labels = blobs([300, 50, 20, 200, 5])
    subsets = stratified_subsets(labels, 40, 2, random_state=3)
    expected = stratum_sizes(np.bincount(labels), 40)
    assert expected.sum() == 40 and expected.min() >= 1
    for s in subsets:
        assert len(s) == 40
        np.testing.assert_array_equal(np.bincount(labels[s], minlength=5), expected)  # every stratum, its share
    allidx = np.concatenate(subsets)
    assert len(np.unique(allidx)) == len(allidx)  # no frame in two subsets


def test_random_subsets_miss_rare_strata_where_stratified_do_not():
    """The reason for stratifying: random subsets of 40 out of 575 often miss the 5-frame stratum."""
    _, labels = blobs([300, 50, 20, 200, 5])
    rng = np.random.default_rng(0)
    misses = sum(4 not in labels[rng.choice(len(labels), 40, replace=False)] for _ in range(200))
    assert misses > 100


def test_proportional_and_equal_sizes():
    np.testing.assert_array_equal(stratum_sizes([90, 10], 12), [10, 2])  # 1 each + 10 split 9 : 1
    np.testing.assert_array_equal(stratum_sizes([90, 10], 12, "equal"), [6, 6])


def test_small_strata_give_what_they_can_to_disjoint_subsets():
    # proportional would be [17, 3]; 4 disjoint subsets can take only 10 // 4 = 2 each from the small stratum
    np.testing.assert_array_equal(stratum_sizes([100, 10], 20, n_subsets=4), [18, 2])
    labels = np.repeat([0, 1], [100, 10])
    subsets = stratified_subsets(labels, 20, 4)
    assert all(np.bincount(labels[s]).tolist() == [18, 2] for s in subsets)
    assert len(np.unique(np.concatenate(subsets))) == 80
    with pytest.raises(ValueError, match="need 120 frames but the strata hold 110"):
        stratum_sizes([100, 10], 30, n_subsets=4)


def test_too_few_frames_in_a_stratum():
    _, labels = blobs([300, 50, 20, 200, 5])
    with pytest.raises(ValueError, match="Stratum 4 has 5 frames, too few for 6 disjoint subsets with one"):
        stratified_subsets(labels, 40, 6)


def test_subset_smaller_than_number_of_strata():
    with pytest.raises(ValueError, match="cannot cover 5 strata"):
        stratum_sizes([10, 10, 10, 10, 10], 3)


def test_kmeans_more_clusters_than_points():
    with pytest.raises(ValueError, match="n_clusters == 11"):
        kmeans(np.zeros((10, 2)), 11)
