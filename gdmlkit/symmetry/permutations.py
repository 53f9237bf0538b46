"""Permutational symmetries of a molecule, found from its training geometries (sGDML-style).

Two geometries are related by a symmetry when relabelling identical atoms of one
makes its distance matrix match the other's. For pairs of training geometries we
solve this matching (a quadratic assignment) approximately: a linear assignment on
per-atom distance profiles, restricted to atoms of one element, refined by repeated
linear assignments on the current match (started from that guess and from the
identity; the best is kept). A match that explains the pair at least `ratio` times
better than the identity labelling is a symmetry seen in the data (e.g. a methyl
rotation that happened during the MD). The symmetries collected over all pairs are
closed under composition into a group; a cap on its size is enforced with a warning.

A permutation ``p`` (n_atoms,) means: geometry ``R[:, p]`` is equivalent to ``R``.
"""

import itertools
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm.auto import tqdm

from ..utils.validation import check_atomic_numbers, check_positions

__all__ = [
    "find_permutations",
    "close_group",
    "validate_permutations",
    "identity_permutation",
    "permutation_desc_index",
]


def identity_permutation(n_atoms):
    """The trivial group (plain GDML): array (1, n_atoms)."""
    return np.arange(n_atoms, dtype=np.int64)[None]


def _distances(R):
    return np.linalg.norm(R[:, :, None, :] - R[:, None, :, :], axis=-1)


def _profiles(D, z):
    """Per-atom sorted distances to the atoms of each element: (n, n_atoms, n_atoms)."""
    cols = [np.sort(D[:, :, z == e], axis=-1) for e in np.unique(z)]
    return np.concatenate(cols, axis=-1)


def _assign(cost, same):
    cost = np.where(same, cost, 1e12)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


def _residual(Di, Dj, p):
    """|| D_i[p][:, p] - D_j || (Frobenius)."""
    return float(np.linalg.norm(Di[np.ix_(p, p)] - Dj))


def _match(Di, Dj, Pi, Pj, same, n_refine=10):
    """Best found p with D_i[p][:, p] ≈ D_j, and its residual."""
    start = _assign(((Pj[:, None, :] - Pi[None, :, :]) ** 2).sum(-1), same)
    best_p, best_r = None, np.inf
    for p in (start, np.arange(len(same))):
        for _ in range(n_refine):
            # cost[a, b] = sum_c (D_i[b, p[c]] - D_j[a, c])^2  (a of j assigned to b of i)
            cost = ((Dj[:, None, :] - Di[None, :, p]) ** 2).sum(-1)
            p_new = _assign(cost, same)
            if np.array_equal(p_new, p):
                break
            p = p_new
        r = _residual(Di, Dj, p)
        if r < best_r:
            best_p, best_r = p, r
    return best_p, best_r


def _compose(p, q):
    """The permutation 'first p, then q': R[:, p][:, q] == R[:, p[q]]."""
    return p[q]


def close_group(perms, max_perms=None):
    """Closure of a set of permutations under composition (and so inversion).

    Parameters
    ----------
    perms : int array (k, n_atoms)
    max_perms : int, optional
        Stop growing at this size; a UserWarning says so.

    Returns
    -------
    int64 array (n_perms, n_atoms): identity first, then the others sorted.
    """
    perms = np.asarray(perms, dtype=np.int64)
    n = perms.shape[1]
    ident = tuple(range(n))
    group = {ident}
    gens = [tuple(p) for p in perms]
    frontier = [ident]
    capped = False
    while frontier and not capped:
        new = []
        for g in frontier:
            for h in gens:
                c = tuple(np.asarray(g)[list(h)])
                if c not in group:
                    if max_perms is not None and len(group) >= max_perms:
                        capped = True
                        break
                    group.add(c)
                    new.append(c)
            if capped:
                break
        frontier = new
    if capped:
        warnings.warn(
            f"The permutation group grew beyond max_perms={max_perms}; it was truncated, so the kernel is "
            "not fully symmetric. Raise max_perms, pass the permutations explicitly, or use perms='none'.",
            UserWarning, stacklevel=2)
    rest = sorted(g for g in group if g != ident)
    return np.array([ident] + rest, dtype=np.int64)


def find_permutations(R, z, *, max_geometries=60, max_perms=512, ratio=3.0, random_state=0, progress=False):
    """Permutational symmetries seen in a set of geometries, closed into a group.

    Parameters
    ----------
    R : array (n_samples, n_atoms, 3)
        Geometries (any length unit).
    z : array (n_atoms,)
        Atomic numbers; only atoms of the same element are exchanged.
    max_geometries : int
        At most this many geometries (a random subset) are matched pairwise.
    max_perms : int
        Cap on the group size (warning when reached).
    ratio : float
        A match is a symmetry when its distance-matrix residual is at least `ratio`
        times smaller than that of the identity labelling.
    random_state : int
        Seed of the subset choice.
    progress : bool
        tqdm bar over geometry pairs.

    Returns
    -------
    int64 array (n_perms, n_atoms), identity first.
    """
    R = check_positions(R)
    z = check_atomic_numbers(z, n_atoms=R.shape[1])
    n = len(R)
    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(n, min(n, max_geometries), replace=False))
    D = _distances(R[idx])
    P = _profiles(D, z)
    same = z[:, None] == z[None, :]
    ident = np.arange(len(z))
    found = []
    pairs = list(itertools.combinations(range(len(idx)), 2))
    for i, j in tqdm(pairs, desc="Finding symmetries", disable=not progress):
        p, r = _match(D[i], D[j], P[i], P[j], same)
        if not np.array_equal(p, ident) and r * ratio < _residual(D[i], D[j], ident):
            found.append(p)
    if not found:
        return identity_permutation(len(z))
    return close_group(np.unique(np.array(found), axis=0), max_perms=max_perms)


def validate_permutations(perms, z):
    """Check user-supplied permutations; return them as int64 (n_perms, n_atoms).

    Each row must be a permutation of range(n_atoms) that maps atoms onto atoms of
    the same element, and the identity must be among them.
    """
    z = np.asarray(z)
    try:
        perms = np.asarray(perms)
    except (TypeError, ValueError) as exc:
        raise TypeError("perms must be an integer array of shape (n_perms, n_atoms).") from exc
    if perms.ndim == 1:
        perms = perms[None]
    if perms.ndim != 2 or perms.shape[1] != len(z):
        raise ValueError(f"perms must have shape (n_perms, n_atoms) = (k, {len(z)}); got {perms.shape}.")
    if perms.dtype.kind not in "iu":
        raise TypeError(f"perms must hold integers; got dtype {perms.dtype}.")
    perms = perms.astype(np.int64)
    ident = np.arange(len(z))
    for k, p in enumerate(perms):
        if not np.array_equal(np.sort(p), ident):
            raise ValueError(f"perms[{k}] = {p.tolist()} is not a permutation of 0..{len(z) - 1}.")
        if np.any(z[p] != z):
            a = int(np.nonzero(z[p] != z)[0][0])
            raise ValueError(f"perms[{k}] maps atom {p[a]} (Z={z[p[a]]}) onto atom {a} (Z={z[a]}); "
                             "permutations may only exchange atoms of the same element.")
    if not np.any(np.all(perms == ident, axis=1)):
        raise ValueError("perms must contain the identity permutation (np.arange(n_atoms)).")
    return perms


def permutation_desc_index(perms):
    """Descriptor index permutations induced by atom permutations.

    For descriptor entries over ``np.tril_indices(n_atoms, -1)`` pairs, returns
    dp (n_perms, D) with ``x(R[:, p]) == x(R)[:, dp[k]]`` for p = perms[k].
    """
    perms = np.asarray(perms, dtype=np.int64)
    n_atoms = perms.shape[1]
    a, b = np.tril_indices(n_atoms, k=-1)
    lookup = np.empty((n_atoms, n_atoms), dtype=np.int64)
    lookup[a, b] = np.arange(len(a))
    lookup[b, a] = np.arange(len(a))
    return lookup[perms[:, a], perms[:, b]]
