"""The ideal crystal behind thermal snapshots of a fixed supercell (BIGDML's automatic reference).

spglib needs near-ideal positions; a snapshot of a crystal at finite temperature has none
(the atoms are 0.1-0.3 Å off their sites, so it finds only P1 even at tolerances of half an
Ångström). :func:`find_reference` recovers the ideal structure from the training frames:

1. Frames are compared under the minimum image, after removing each frame's drift (mean
   displacement). Two frames *share sites* when every atom is within half the
   nearest-neighbour distance ``d_nn`` of its position in the other. The largest group of
   frames sharing sites with one frame is the crystal; the other frames (liquid, or
   crystals in which atoms have hopped to other sites) are left out of the reference.
2. Every rotation of the lattice, paired with each translation that moves atom 0 onto an atom
   of its element, is matched to the sites of the mean of the crystal frames within a tolerance
   (default ``MATCH_NN_FRACTION`` d_nn: the mean of a few hot frames is still 0.1-0.3 Å off the
   sites, where spglib's own search at one loose tolerance is fragile and may return P1, a low
   subgroup or a set of operations that is not a group); each match must be a bijection.
3. The mean is projected onto the operations found (each atom's site is the average of its
   images under every operation). The operations must map this ideal structure onto itself
   (to 1e-6 of the cell), the operations matched in (2) must belong to it; the group used is
   spglib's on the (exactly symmetric) ideal structure, and each atom's mean position must lie
   within ``MAX_SITE_DEVIATION_NN_FRACTION`` d_nn of its site (well below the d_nn / 2 at which
   its site would be ambiguous).

Any permutation of atoms of one element leaves the true energy unchanged, so a group found
this way cannot make the model wrong, only more or less data-efficient: the validation makes
sure it is the crystal's, the one that relates equivalent atoms of the snapshots.

Where any step fails -- no two frames share sites (atoms diffuse: a liquid), spglib finds only
the identity (an amorphous solid), or the validation fails -- :class:`NoLatticeSymmetryError`
says which and with what figures.
"""

from dataclasses import dataclass

import numpy as np
import spglib
from ase.geometry import find_mic

from ..descriptors.periodic import check_cell
from ..utils.validation import check_atomic_numbers, check_positions, check_scalar

from .spacegroup import SpaceGroupSymmetry, _match_sites, find_spacegroup_symmetry

__all__ = ["CrystalReference", "NoLatticeSymmetryError", "find_reference", "MATCH_NN_FRACTION",
           "MAX_SITE_DEVIATION_NN_FRACTION"]

#: Tolerance of matching operated atoms to sites on the mean structure, as a fraction of d_nn.
MATCH_NN_FRACTION = 0.25
#: spglib tolerance (fraction of d_nn) on the average of the mean over the operations found.
_SMOOTH_SYMPREC = 0.02
#: Largest accepted distance of an atom's mean position from its ideal site, as a fraction of d_nn.
MAX_SITE_DEVIATION_NN_FRACTION = 0.25
#: Tolerance (fraction of the longest cell vector) of the check that the ideal structure is invariant.
_INVARIANCE_TOL = 1e-6


class NoLatticeSymmetryError(ValueError):
    """The training frames show no lattice symmetry that can be validated (the message says why)."""


@dataclass(frozen=True)
class CrystalReference:
    """Ideal structure found from thermal snapshots, and its space group.

    Attributes
    ----------
    positions : array (n_atoms, 3)
        Ideal sites in the atom order of the data (length unit L), invariant under `group`.
    mean : array (n_atoms, 3)
        Mean position of each atom over the crystal frames (L).
    frames : int array (n_frames,)
        Indices of the training frames that share sites (those averaged).
    n_input_frames : int
        Number of frames given.
    group : SpaceGroupSymmetry
        Space group of `positions`, as atom permutations.
    symprec : float
        spglib tolerance used on `mean` (L).
    nn_distance : float
        Nearest-neighbour distance of the ideal structure (L).
    max_site_deviation : float
        Largest distance of a mean position from its site (L).
    rms_displacement : float
        Root-mean-square distance of the atoms of the crystal frames from their sites (L).
    """

    positions: np.ndarray
    mean: np.ndarray
    frames: np.ndarray
    n_input_frames: int
    group: SpaceGroupSymmetry
    symprec: float
    nn_distance: float
    max_site_deviation: float
    rms_displacement: float

    def summary(self):
        """JSON-ready dict of the figures (for ``BIGDMLRegressor.symmetry_``)."""
        return {"reference": f"mean of {len(self.frames)} of {self.n_input_frames} training frames",
                "reference_frames": len(self.frames), "symprec": float(self.symprec),
                "nn_distance": float(self.nn_distance), "max_site_deviation": float(self.max_site_deviation),
                "rms_displacement": float(self.rms_displacement)}


def _mic(d, cell, pbc):
    """Minimum-image vectors of displacements d (..., 3)."""
    return find_mic(d.reshape(-1, 3), cell, pbc)[0].reshape(d.shape)


def _nn_distances(positions, cell, pbc):
    """Nearest-neighbour distance of each atom (n_atoms,) of one structure (n_atoms, 3)."""
    d = np.linalg.norm(_mic(positions[:, None] - positions[None], cell, pbc), axis=-1)
    np.fill_diagonal(d, np.inf)
    return d.min(1)


def _displacements(R, ref, cell, pbc):
    """Minimum-image displacements (n, n_atoms, 3) of frames R from ref (n_atoms, 3), each frame's drift removed."""
    d = _mic(R - ref, cell, pbc)
    return d - d.mean(1, keepdims=True)


def _project(frac, perms, rotations, translations):
    """Average of each atom's images under the operations (fractional, n_atoms x 3); exactly invariant
    when the operations form a group."""
    acc = np.zeros_like(frac)
    for p, W, w in zip(perms, rotations, translations):
        moved = (frac @ W.T + w)[p]  # atom p[j] lands on site j
        acc += moved - np.round(moved - frac)
    return acc / len(perms)


def _lattice_rotations(cell, pbc):
    """Fractional rotations (n, 3, 3) that map the lattice of `cell` onto itself (its holohedry)."""
    data = spglib.get_symmetry((cell, np.zeros((1, 3)), [1]), symprec=1e-5 * np.linalg.norm(cell, axis=1).min())
    rot = np.unique(np.asarray(data["rotations"]), axis=0)
    keep = [np.array_equal(W[~pbc][:, ~pbc], np.eye(int((~pbc).sum()), dtype=int)) or pbc.all() for W in rot]
    return rot[np.asarray(keep, dtype=bool)]


def _operations(frac, z, cell, pbc, tol):
    """Operations (perms, W, w), one row each (several may permute the atoms alike), that map the noisy
    structure frac onto itself within `tol` (L): every lattice rotation with every translation that
    moves atom 0 onto an atom of its element, kept when each atom lands within `tol` of a distinct
    site; w is refined over all atoms (least squares)."""
    rot = _lattice_rotations(cell, pbc)
    cand = np.flatnonzero(z == z[0])
    Ws = np.repeat(rot, len(cand), axis=0)
    ws = (frac[cand][None] - (rot @ frac[0])[:, None]).reshape(-1, 3)
    for match in (2 * tol, tol):  # candidates from atom 0 alone (loosely), then refined over all atoms
        sigma = _match_sites(frac, z, Ws, ws, cell, pbc, match)
        ok = np.all(sigma >= 0, axis=1)
        Ws, ws, sigma = Ws[ok], ws[ok], sigma[ok]
        diff = frac[sigma] - (frac @ Ws.transpose(0, 2, 1) + ws[:, None])
        ws = ws + (diff - np.round(diff)).mean(1)
    return np.argsort(sigma, axis=1), Ws, ws


def _check_invariant(positions, group, cell):
    """Largest distance (L) between an atom of the operated ideal structure and the site it should occupy."""
    frac = np.linalg.solve(cell.T, positions.T).T
    worst = 0.0
    for p, W, w in zip(group.perms, group.rotations, group.translations):
        diff = (frac @ W.T + w)[p] - frac
        worst = max(worst, float(np.linalg.norm((diff - np.round(diff)) @ cell, axis=-1).max()))
    return worst


def _symmetrise(mean, z, cell, pbc, tol, d_nn):
    """(ideal positions, group, None) for the mean structure at matching tolerance `tol`, or
    (None, group or None, reason) when no symmetry is found or the ideal structure is not invariant
    under its group (the sites' distance from the mean is checked by :func:`find_reference`)."""
    frac = np.linalg.solve(cell.T, mean.T).T
    op_perms, Ws, ws = _operations(frac, z, cell, pbc, tol)
    perms = np.unique(op_perms, axis=0)
    if len(perms) == 1:
        return None, None, "only the identity (P1)"
    # the average over these operations is symmetric up to their noise; spglib finds the exact operations
    # there, and the average over those (all of them, also those that permute the atoms alike) is exact
    smooth = _project(frac, op_perms, Ws, ws)
    data = spglib.get_symmetry_dataset((cell, smooth, z), symprec=_SMOOTH_SYMPREC * d_nn)
    if data is None:
        return None, None, f"spglib fails on the average of the {len(perms)} operations matched within {tol:.3g}"
    rot, trans = np.asarray(data.rotations), np.asarray(data.translations)
    sigma = _match_sites(smooth, z, rot, trans, cell, pbc, 2 * _SMOOTH_SYMPREC * d_nn)
    keep = np.all(sigma >= 0, axis=1)
    ideal = _project(frac, np.argsort(sigma[keep], axis=1), rot[keep], trans[keep]) @ cell
    group = find_spacegroup_symmetry(ideal, z, cell, pbc, symprec=_SMOOTH_SYMPREC * d_nn)
    off = _check_invariant(ideal, group, cell)
    # the operations matched on the noisy mean (a few may miss the tolerance) must be the group's
    contained = len(np.unique(np.vstack([group.perms, perms]), axis=0)) == group.size
    if off > _INVARIANCE_TOL * np.linalg.norm(cell, axis=1).max() or not contained:
        return None, group, (f"{len(perms)} operations match within {tol:.3g}, but spglib finds "
                             f"{group.international} ({group.size} operations{'' if contained else ', not all of them'})"
                             f" on their average, with an atom {off:.3g} off its symmetric site")
    return ideal, group, None


def find_reference(R, z, cell, pbc=True, *, symprec=None):
    """Ideal crystal structure and space group of thermal snapshots of one supercell.

    Parameters
    ----------
    R : array (n_frames, n_atoms, 3)
        Snapshots (length unit L) in one fixed cell, in one atom order.
    z : int array (n_atoms,)
    cell : array (3, 3)
        Lattice vectors as rows (L).
    pbc : bool or 3 bools
    symprec : float, optional
        Tolerance (L) of matching operated atoms to sites on the mean structure. Default:
        ``MATCH_NN_FRACTION`` times the median nearest-neighbour distance of the frames.

    Returns
    -------
    CrystalReference

    Raises
    ------
    NoLatticeSymmetryError
        No two frames share sites (diffusing atoms: a liquid), spglib finds only P1 in the
        mean of the crystal frames, or the ideal structure fails validation.
    """
    R = check_positions(R, name="R")
    z = check_atomic_numbers(z, n_atoms=R.shape[1])
    cell, pbc = check_cell(cell, pbc)
    n = len(R)
    d_nn = float(np.median([np.median(_nn_distances(r, cell, pbc)) for r in R]))
    if symprec is not None:
        check_scalar(symprec, "symprec", min_val=0, include_min=False)

    # frames sharing sites: every atom within d_nn / 2 of its position in the other frame
    worst = np.stack([np.linalg.norm(_displacements(R, R[a], cell, pbc), axis=-1).max(1) for a in range(n)])
    share = worst < d_nn / 2
    base = int(np.argmax(share.sum(1)))
    frames = np.flatnonzero(share[base])
    if n > 1 and len(frames) == 1:
        others = np.delete(worst[base], base)
        raise NoLatticeSymmetryError(
            f"no two of the {n} training frames share atom sites: in every pair some atom is more than half the "
            f"nearest-neighbour distance ({d_nn / 2:.3g}) from its position in the other (smallest such "
            f"displacement from frame {base}: {others.min():.3g}). The atoms diffuse (a liquid?), so there is no "
            "lattice to symmetrise over.")
    mean = R[base] + _displacements(R[frames], R[base], cell, pbc).mean(0)
    # refine once around the mean: frames whose atoms all lie within d_nn / 2 of it
    frames = np.flatnonzero(np.linalg.norm(_displacements(R, mean, cell, pbc), axis=-1).max(1) < d_nn / 2)
    mean = mean + _displacements(R[frames], mean, cell, pbc).mean(0)

    used = f"the mean of {len(frames)} of the {n} training frames that share atom sites"
    if symprec is None:
        symprec = MATCH_NN_FRACTION * d_nn
    ideal, group, why = _symmetrise(mean, z, cell, pbc, symprec, d_nn)
    if why is None:
        dev = np.linalg.norm(_mic(mean - ideal, cell, pbc), axis=-1)
        nn_ideal = float(_nn_distances(ideal, cell, pbc).min())
        if dev.max() > MAX_SITE_DEVIATION_NN_FRACTION * nn_ideal:
            why = (f"{group.international}, but atom {int(dev.argmax())} lies {dev.max():.3g} from its site, more "
                   f"than {MAX_SITE_DEVIATION_NN_FRACTION} of the nearest-neighbour distance {nn_ideal:.3g} of "
                   "that structure")
    if why is not None:
        raise NoLatticeSymmetryError(
            f"no lattice symmetry in {used} (nearest-neighbour distance {d_nn:.3g}, tolerance {symprec:.3g}): "
            f"{why}. An amorphous or disordered structure?")
    rms = float(np.sqrt(np.mean(np.sum(_displacements(R[frames], ideal, cell, pbc) ** 2, axis=-1))))
    return CrystalReference(ideal, mean, frames, n, group, float(symprec), nn_ideal, float(dev.max()), rms)
