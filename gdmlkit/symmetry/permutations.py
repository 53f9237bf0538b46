"""Permutational symmetries of a molecule, found from its training geometries.

sGDML symmetrises its kernel over the atom permutations that map the molecule
onto itself *as sampled by the data*: e.g. ethanol's methyl rotation (3) times
the CH2 hydrogen swap (2), 6 permutations; not the 12 automorphisms of its bond
graph, since swapping two methyl hydrogens alone inverts the molecule's
handedness. A permutation ``p`` (atom ``a`` of ``R[:, p]`` is atom ``p[a]`` of
``R``) is such a symmetry when the relabelled geometries look like training
geometries. This module tests exactly that, on distance matrices ``D_i`` (which
ignore rotations, translations and reflections):

1. Scale. ``s_i = min_{j != i} ||D_i - D_j||_F`` is how far geometry i lies from
   its nearest neighbour in the training set (thermal spread plus sampling
   density; unit-free in what follows).
2. Criterion. ``p`` is accepted when, for at least half of the geometries,
   ``min_j ||D_i[p][:, p] - D_j||_F <= (1 + tol) s_i``: the relabelled geometry
   is about as close to the data as the geometries are to each other. Symmetries
   the data never explores (a methyl that never rotates) are therefore not
   found, as in sGDML; near-rigid symmetries (benzene's D6h) are, because the
   relabelled geometry differs from the data only by thermal noise.
3. Search. All such ``p`` are enumerated exactly by depth-first search over
   atoms (images restricted to atoms of the same element), pruned with two lower
   bounds on that residual: per atom, the per-element sorted distance profiles
   (sorting cannot increase the distance between two rows), and per partial
   assignment, the residual of the already assigned block of the matrix.
4. Group. The accepted set is closed under composition. Above ``max_perms`` a
   warning is raised and a subgroup is kept, grown greedily from the best
   supported permutations.

Unlike sGDML's pairwise bipartite matching plus permutation synchronisation,
this search is deterministic and cannot miss a permutation that meets the
criterion. With a single geometry (or identical copies) the scale falls back to
``1e-6 ||D_i||_F``, so only exact symmetries of that geometry are found.
"""

import math
import warnings

import numpy as np
from tqdm.auto import tqdm

from ..utils.validation import check_atomic_numbers, check_positions, check_scalar
from .groups import _closure, _sorted_unique

__all__ = ["find_permutations"]

_SCALE_FLOOR = 1e-6


def _distance_matrices(R):
    """(m, n_atoms, n_atoms) interatomic distances."""
    return np.linalg.norm(R[:, :, None, :] - R[:, None, :, :], axis=-1)


def _sq_dists(X, Y):
    """Squared Euclidean distances between the rows of X (m, d) and Y (k, d): (m, k)."""
    d2 = np.einsum("id,id->i", X, X)[:, None] + np.einsum("jd,jd->j", Y, Y)[None] - 2.0 * (X @ Y.T)
    return np.maximum(d2, 0.0)


def _nn_scale(D):
    """Squared nearest-neighbour distance ``s_i**2`` of each distance matrix, floored: (m,)."""
    m = len(D)
    flat = D.reshape(m, -1)
    floor = (_SCALE_FLOOR * np.linalg.norm(flat, axis=1)) ** 2
    if m == 1:
        return floor
    d2 = _sq_dists(flat, flat)
    np.fill_diagonal(d2, np.inf)
    return np.maximum(d2.min(axis=1), floor)


def _supported(lower, thr2, need):
    """Whether at least `need` geometries i have ``min_j lower[i, j] <= thr2[i]``."""
    return np.count_nonzero(lower.min(axis=1) <= thr2) >= need


def _profiles(D, z):
    """Each atom's distances to every element's atoms, sorted within element: (m, n, n)."""
    return np.concatenate([np.sort(D[:, :, z == e], axis=-1) for e in np.unique(z)], axis=-1)


def _allowed_images(D, z, thr2, need):
    """Candidate images of each atom: list of int64 arrays.

    Atom a may map onto b (same element) only if enough geometries i have some
    j with ``2 ||prof_i(b) - prof_j(a)||**2 <= thr2[i]``: a lower bound on the
    squared residual, since row and column a of ``D_i[p][:, p] - D_j`` hold a
    reordering of ``prof_i(b) - prof_j(a)`` within each element.
    """
    prof = _profiles(D, z)
    allowed = []
    for a in range(D.shape[1]):
        same = np.flatnonzero(z == z[a])
        ok = [b for b in same if _supported(2.0 * _sq_dists(prof[:, b], prof[:, a]), thr2, need)]
        allowed.append(np.array(ok, dtype=np.int64))
    return allowed


def _block_residual(D, rows, cols):
    """``||D_i[rows][:, rows] - D_j[cols][:, cols]||^2`` for all i, j: (m, m)."""
    m = len(D)
    return _sq_dists(D[:, rows][:, :, rows].reshape(m, -1), D[:, cols][:, :, cols].reshape(m, -1))


class _Search:
    """Depth-first enumeration of the permutations that meet the criterion.

    Atoms with a single allowed image (themselves) are fixed up front; the
    others are assigned in order of fewest candidates, each step adding the new
    row/column block to ``lower[i, j]``, the squared residual over assigned atoms.
    """

    def __init__(self, D, allowed, thr2, need, limit):
        self.D, self.thr2, self.need, self.limit = D, thr2, need, limit
        n = D.shape[1]
        fixed = [a for a in range(n) if len(allowed[a]) == 1]
        self.free = sorted((a for a in range(n) if len(allowed[a]) > 1), key=lambda a: len(allowed[a]))
        self.allowed = allowed
        self.src = fixed + self.free
        self.dst = [int(allowed[a][0]) for a in fixed]
        self.found, self.scores = [], []

    def run(self, progress=False):
        lower = _block_residual(self.D, self.dst, self.src[: len(self.dst)])
        if not self.free:
            self._record(lower)
            return
        images = self.allowed[self.free[0]]
        for b in tqdm(images, desc="symmetry search", disable=not progress):
            if len(self.found) >= self.limit:
                break
            self._extend(lower, int(b))

    def _extend(self, lower, b):
        """Assign the next free atom to image b, then recurse."""
        k = len(self.dst)
        a = self.src[k]
        Di = self.D[:, b, self.dst]
        Dj = self.D[:, a, self.src[:k]]
        lower = lower + 2.0 * _sq_dists(Di, Dj)
        if not _supported(lower, self.thr2, self.need):
            return
        self.dst.append(b)
        if len(self.dst) == len(self.src):
            self._record(lower)
        else:
            for c in self.allowed[self.src[k + 1]]:
                if len(self.found) >= self.limit:
                    break
                if c not in self.dst:
                    self._extend(lower, int(c))
        self.dst.pop()

    def _record(self, residual):
        p = np.empty(len(self.src), dtype=np.int64)
        p[self.src] = self.dst
        self.found.append(p)
        self.scores.append(float(np.median(residual.min(axis=1) / self.thr2)))


def _greedy_subgroup(perms, scores, max_perms):
    """Subgroup grown from the best-supported permutations (lowest score first) while its closure fits."""
    group = np.arange(perms.shape[1], dtype=np.int64)[None]
    for i in np.argsort(scores, kind="stable"):
        if not np.any(np.all(group == perms[i], axis=1)):
            bigger, complete = _closure(np.vstack([group, perms[i:i + 1]]), max_perms)
            if complete:
                group = bigger
    return group


def _subset(R, max_geometries, random_state):
    if max_geometries is None or len(R) <= max_geometries:
        return R
    rng = np.random.default_rng(random_state)
    return R[np.sort(rng.choice(len(R), size=max_geometries, replace=False))]


def find_permutations(R, z, *, max_geometries=1000, max_perms=512, tol=0.3, random_state=None, progress=False):
    """Permutational symmetries of a molecule sampled by training geometries.

    See the module docstring for the criterion and the search.

    Parameters
    ----------
    R : float array, shape (n_samples, n_atoms, 3)
        Training geometries (any length unit).
    z : int array, shape (n_atoms,)
        Atomic numbers.
    max_geometries : int or None, default=1000
        Search on a random subset of this many geometries (cost and memory grow
        as its square); None uses all.
    max_perms : int, default=512
        Largest group to return; beyond it a ``UserWarning`` is raised and a
        subgroup is kept.
    tol : float, default=0.3
        Relative slack of the criterion: a relabelled geometry may lie up to
        ``(1 + tol)`` times farther from the data than the geometry itself.
    random_state : int, numpy Generator or None
        Seed for the subset of geometries.
    progress : bool, default=False
        Show a tqdm progress bar over the search.

    Returns
    -------
    perms : int64 array, shape (n_perms, n_atoms)
        A group of permutations in lexicographic order (row 0 the identity);
        ``R[:, p]`` is equivalent to ``R`` for each row ``p``.
    """
    R = check_positions(R)
    z = check_atomic_numbers(z, n_atoms=R.shape[1])
    check_scalar(max_perms, "max_perms", min_val=1, integer=True)
    check_scalar(tol, "tol", min_val=0.0)
    if max_geometries is not None:
        check_scalar(max_geometries, "max_geometries", min_val=1, integer=True)
    D = _distance_matrices(_subset(R, max_geometries, random_state))
    thr2 = (1.0 + tol) ** 2 * _nn_scale(D)
    need = math.ceil(len(D) / 2)
    search = _Search(D, _allowed_images(D, z, thr2, need), thr2, need, limit=max_perms + 1)
    search.run(progress)
    found = np.array(search.found)
    group, complete = _closure(found, max_perms)
    if not complete or len(found) > max_perms:
        group = _greedy_subgroup(found, search.scores, max_perms)
        warnings.warn(
            f"The molecule has more than max_perms={max_perms} permutational symmetries in these data; "
            f"kept a subgroup of {len(group)}. Raise max_perms, or pass the permutations explicitly "
            "(perms=...; see close_group).",
            UserWarning,
            stacklevel=2,
        )
    return _sorted_unique(group)
