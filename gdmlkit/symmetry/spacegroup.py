"""Space-group symmetries of a periodic supercell (spglib) as atom permutations (BIGDML).

spglib returns the operations (W, w) of the supercell's space group in fractional
coordinates, ``f -> W f + w``; for a supercell they include the pure lattice
translations of the Bravais lattice that map the supercell onto itself (W = I).
Each operation sends atom i of the reference structure onto the site of an atom
sigma(i) of the same element; the kernel is symmetrised over the permutations
``p = sigma^-1`` (so that, as for molecules, ``R[:, p]`` is equivalent to ``R``).

The group is found from one *reference* structure (an ideal crystal, in the atom
order of the data), not from thermal snapshots: spglib needs near-exact positions
(``symprec``, a Cartesian tolerance in the length unit of the positions).

Group sizes grow with the supercell (a 64-atom diamond supercell: 48 point
operations x 32 translations = 1536), and the kernel's cost grows linearly with
them. :meth:`SpaceGroupSymmetry.subgroup` gives the closed subgroups that trade
accuracy for cost: the lattice translations, or the site symmetry of one atom.
"""

from dataclasses import dataclass

import numpy as np
import spglib

from ..descriptors.periodic import check_cell
from ..utils.validation import check_atomic_numbers, check_positions, check_scalar

__all__ = ["SpaceGroupSymmetry", "find_spacegroup_symmetry", "SUBGROUPS"]

#: names accepted by :meth:`SpaceGroupSymmetry.subgroup`
SUBGROUPS = ("full", "translations", "site")


@dataclass(frozen=True)
class SpaceGroupSymmetry:
    """Space group of a reference supercell and the atom permutations it induces.

    Attributes
    ----------
    perms : int64 array (n_perms, n_atoms)
        Distinct atom permutations, row 0 the identity; ``R[:, p]`` is equivalent to ``R``.
    rotations : int array (n_perms, 3, 3)
        Fractional rotation W of one operation per permutation.
    translations : float array (n_perms, 3)
        Fractional translation w of that operation.
    cell : array (3, 3)
        Lattice vectors (rows) of the reference.
    international : str
        Hermann-Mauguin symbol, e.g. 'Fd-3m'.
    number : int
        Space-group number (1-230).
    n_operations : int
        Operations spglib found (> n_perms when several act identically on the atoms,
        e.g. the mirror plane of a flat layer).
    """

    perms: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    cell: np.ndarray
    international: str
    number: int
    n_operations: int

    @property
    def size(self):
        """Number of distinct permutations (the kernel's cost factor)."""
        return len(self.perms)

    @property
    def n_translations(self):
        """Number of pure lattice translations (W = I) among the operations."""
        return int(np.sum(np.all(self.rotations == np.eye(3, dtype=int), axis=(1, 2))))

    @property
    def n_point_operations(self):
        """Number of distinct rotations W (the point group's order)."""
        return len(np.unique(self.rotations.reshape(len(self.rotations), 9), axis=0))

    def cartesian_rotations(self):
        """Rotations M (n_perms, 3, 3) acting on Cartesian row vectors: ``r -> r @ M + t``."""
        inv = np.linalg.inv(self.cell)
        return np.einsum("ij,pkj,kl->pil", inv, self.rotations, self.cell)

    def subgroup(self, kind, atom=0):
        """Closed subgroup as a new :class:`SpaceGroupSymmetry`.

        Parameters
        ----------
        kind : {'full', 'translations', 'site'}
            'translations': the pure lattice translations (a normal subgroup, exact
            translational symmetrisation); 'site': the operations that leave `atom`
            on its site (its site-symmetry group, at most the point group's order).
        atom : int
            The atom whose site symmetry is taken for 'site'.
        """
        if kind not in SUBGROUPS:
            raise ValueError(f"Unknown subgroup {kind!r}; expected one of {list(SUBGROUPS)}.")
        if kind == "full":
            return self
        if kind == "translations":
            keep = np.all(self.rotations == np.eye(3, dtype=int), axis=(1, 2))
        else:
            check_scalar(atom, "atom", min_val=0, max_val=self.perms.shape[1] - 1, integer=True)
            keep = self.perms[:, atom] == atom
        return SpaceGroupSymmetry(self.perms[keep], self.rotations[keep], self.translations[keep], self.cell,
                                  self.international, self.number, int(keep.sum()))


def _match_sites(frac, z, rotations, translations, cell, pbc, tol):
    """sigma (n_ops, n_atoms): operation k moves atom i onto the site of atom sigma[k, i]; -1 if none."""
    n = len(z)
    sigma = np.full((len(rotations), n), -1, dtype=np.int64)
    same = z[:, None] == z[None, :]
    for k, (W, w) in enumerate(zip(rotations, translations)):
        moved = frac @ W.T + w
        diff = moved[:, None, :] - frac[None, :, :]
        shift = np.round(diff)
        dist = np.linalg.norm((diff - shift) @ cell, axis=-1)
        dist[~same] = np.inf
        j = dist.argmin(1)
        ok = dist[np.arange(n), j] <= tol
        # along non-periodic directions only a rigid shift of all atoms keeps the distances
        rigid = (shift[np.arange(n), j][:, ~pbc] == shift[0, j[0]][~pbc]).all()
        if ok.all() and rigid and len(np.unique(j)) == n:
            sigma[k] = j
    return sigma


def find_spacegroup_symmetry(positions, z, cell, pbc=True, *, symprec=1e-3, angle_tolerance=-1.0):
    """Space-group operations of a reference supercell as atom permutations.

    Parameters
    ----------
    positions : array (n_atoms, 3)
        Reference (ideal) positions, length unit L, in the atom order of the data.
    z : int array (n_atoms,)
    cell : array (3, 3)
        Lattice vectors as rows (L).
    pbc : bool or 3 bools
        Along non-periodic directions (e.g. the vacuum of a slab) an operation must
        move all atoms by the same lattice shift, or it is dropped.
    symprec : float, default 1e-3
        spglib's Cartesian distance tolerance (L); also the tolerance for matching
        moved atoms to sites.
    angle_tolerance : float, default -1
        spglib's angle tolerance in degrees (-1: spglib's default).

    Returns
    -------
    SpaceGroupSymmetry
    """
    R = check_positions(positions, name="positions")
    if R.shape[0] != 1:
        raise ValueError(f"positions must be one reference structure (n_atoms, 3); got {R.shape[0]} geometries.")
    R = R[0]
    z = check_atomic_numbers(z, n_atoms=len(R))
    cell, pbc = check_cell(cell, pbc)
    check_scalar(symprec, "symprec", min_val=0, include_min=False)
    frac = np.linalg.solve(cell.T, R.T).T
    data = spglib.get_symmetry_dataset((cell, frac, z), symprec=symprec, angle_tolerance=angle_tolerance)
    if data is None:
        raise ValueError(f"spglib could not determine the space group (symprec={symprec}): "
                         f"{spglib.get_error_message()}. Check the structure or loosen symprec.")
    rotations, translations = np.asarray(data.rotations), np.asarray(data.translations)
    sigma = _match_sites(frac, z, rotations, translations, cell, pbc, tol=max(symprec, 1e-8) * 2)
    keep = np.all(sigma >= 0, axis=1)
    perms = np.argsort(sigma[keep], axis=1)
    # lexicographic order puts the identity first; operations that repeat a permutation are dropped
    _, first = np.unique(perms, axis=0, return_index=True)
    perms, rot, trans = perms[first], rotations[keep][first], translations[keep][first]
    if not np.array_equal(perms[0], np.arange(len(z))):
        raise ValueError("The identity is not among the operations mapped to permutations; "
                         f"loosen symprec (now {symprec}) or check the reference structure.")
    return SpaceGroupSymmetry(perms.astype(np.int64), rot, trans, cell, str(data.international),
                              int(data.number), int(keep.sum()))
