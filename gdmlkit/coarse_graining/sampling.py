"""Stratified training subsets: k-means strata of CG configurations, one disjoint subset per ensemble member."""

import numpy as np

__all__ = ["kmeans", "stratum_sizes", "stratified_subsets"]


def kmeans(X, n_clusters, *, n_iter=100, random_state=0):
    """Lloyd's k-means with k-means++ seeding.

    Parameters
    ----------
    X : array (n, d)
        Points (e.g. CG descriptors, or collective variables such as (cos phi, sin phi, cos psi, sin psi)).
    n_clusters : int
    n_iter : int
        Maximum Lloyd iterations.
    random_state : int

    Returns
    -------
    labels : int ndarray (n,)
        Cluster of each point, in 0 .. n_clusters - 1; every cluster is non-empty.
    centers : ndarray (n_clusters, d)
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters == {n_clusters}, must be between 1 and the number of points ({n}).")
    rng = np.random.default_rng(random_state)
    centers = [X[rng.integers(n)]]
    d2 = ((X - centers[0]) ** 2).sum(1)
    for _ in range(1, n_clusters):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
        centers.append(X[rng.choice(n, p=p)])
        d2 = np.minimum(d2, ((X - centers[-1]) ** 2).sum(1))
    centers = np.array(centers)
    labels = np.full(n, -1)
    for _ in range(n_iter):
        dist = ((X[:, None, :] - centers[None]) ** 2).sum(-1)
        new = dist.argmin(1)
        for k in np.setdiff1d(np.arange(n_clusters), new):  # empty cluster: take the worst-served point
            far = int(dist[np.arange(n), new].argmax())
            new[far] = k
            dist[far] = 0.0
        if np.array_equal(new, labels):
            break
        labels = new
        centers = np.array([X[labels == k].mean(0) for k in range(n_clusters)])
    return labels, centers


def _largest_remainder(share, total):
    """Integers summing to `total` closest to the floats `share` (which sum to it)."""
    sizes = np.floor(share).astype(np.int64)
    sizes[np.argsort(-(share - sizes), kind="stable")[:total - sizes.sum()]] += 1
    return sizes


def stratum_sizes(counts, n_per_subset, allocation="proportional", n_subsets=1):
    """Frames each of `n_subsets` disjoint subsets takes from each stratum.

    Parameters
    ----------
    counts : int array (n_strata,)
        Frames in each stratum.
    n_per_subset : int
        Subset size (>= n_strata: every stratum contributes at least one frame).
    allocation : {'proportional', 'equal'}
        Sizes proportional to the strata's populations (largest remainder, at least one each), or equal.
    n_subsets : int
        Disjoint subsets to draw: a stratum gives each at most counts // n_subsets frames, and what it
        cannot give is shared out among the other strata by the same rule.

    Returns
    -------
    int ndarray (n_strata,), summing to `n_per_subset`
    """
    counts = np.asarray(counts, dtype=np.int64)
    k = len(counts)
    if allocation not in ("proportional", "equal"):
        raise ValueError(f"Unknown allocation {allocation!r}; expected 'proportional' or 'equal'.")
    if n_per_subset < k:
        raise ValueError(f"n_train == {n_per_subset} frames per model cannot cover {k} strata (one frame each at "
                         f"least); raise n_train to >= {k} or lower n_strata.")
    cap = counts // n_subsets
    if cap.min() < 1:
        s = int(np.argmin(cap))
        raise ValueError(f"Stratum {s} has {counts[s]} frames, too few for {n_subsets} disjoint subsets with one "
                         "frame from it each. Use fewer models (n_models), fewer strata (n_strata), or more frames.")
    if cap.sum() < n_per_subset:
        raise ValueError(f"{n_subsets} disjoint subsets of {n_per_subset} frames need {n_subsets * n_per_subset} "
                         f"frames but the strata hold {counts.sum()} (usable: {n_subsets * cap.sum()}). Use fewer "
                         "models (n_models), smaller subsets (n_train), or more frames.")
    sizes = np.zeros(k, dtype=np.int64)
    free, budget = np.arange(k), n_per_subset
    while True:  # capped strata give what they can; the rest is apportioned again among the others
        w = counts[free] if allocation == "proportional" else np.ones(len(free))
        share = 1 + (budget - len(free)) * w / w.sum()
        s = _largest_remainder(share, budget)
        over = s > cap[free]
        if not over.any():
            sizes[free] = s
            return sizes
        sizes[free[over]] = cap[free[over]]
        budget -= int(cap[free[over]].sum())
        free = free[~over]


def stratified_subsets(labels, n_per_subset, n_subsets, *, allocation="proportional", random_state=0):
    """Disjoint subsets of frames, each drawing `stratum_sizes` frames from every stratum.

    Parameters
    ----------
    labels : int array (n_frames,)
        Stratum of each frame (e.g. from :func:`kmeans`).
    n_per_subset : int
        Frames per subset (per ensemble member).
    n_subsets : int
        Number of subsets (ensemble members).
    allocation : {'proportional', 'equal'}
    random_state : int

    Returns
    -------
    list of n_subsets sorted int arrays (n_per_subset,)
        Frame indices; no frame is in two subsets.
    """
    labels = np.asarray(labels)
    strata, counts = np.unique(labels, return_counts=True)
    sizes = stratum_sizes(counts, n_per_subset, allocation, n_subsets)
    rng = np.random.default_rng(random_state)
    parts = [[] for _ in range(n_subsets)]
    for s, size in zip(strata, sizes):
        frames = rng.permutation(np.nonzero(labels == s)[0])
        for m in range(n_subsets):
            parts[m].append(frames[m * size:(m + 1) * size])
    return [np.sort(np.concatenate(p)) for p in parts]
