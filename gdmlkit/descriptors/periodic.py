"""Inverse distances under the minimum-image convention of a periodic supercell.

Each pair (a, b) is represented by its shortest periodic image,
``d_ab = R_a - R_b + n L`` minimising ``|d_ab|`` over lattice vectors ``n L`` of the
periodic directions. For any cell shape the search is exact: the cell is first
Minkowski-reduced (:func:`ase.geometry.minkowski_reduce`), the difference wrapped to
fractional coordinates in [-1/2, 1/2) of the reduced cell, and the 27 (9 or 3 with
non-periodic directions) neighbouring images compared. The image is locally constant,
so the Jacobian factors ``g = d / |d|^3`` of :class:`InverseDistanceDescriptor` carry
over unchanged.

The minimum image is unique for pairs closer than ``r_mic`` = half the shortest
lattice vector. The descriptor is rejected (ValueError) when that is smaller than
an atom's nearest-neighbour distance: the cell would then hold several images of the
same neighbour in the first coordination shell.
"""

import numpy as np
import torch
from ase.geometry import minkowski_reduce

from ..data.dataset import validate_cells
from .inverse_distance import InverseDistanceDescriptor

__all__ = ["PeriodicInverseDistanceDescriptor", "check_cell"]


def check_cell(cell, pbc=True):
    """Return ``(cell, pbc)`` as float64 (3, 3) rows and bool (3,), or raise ValueError.

    The cell must be finite and non-singular and at least one direction periodic.
    """
    cell = np.asarray(cell, dtype=np.float64)
    if cell.shape != (3, 3):
        raise ValueError(f"cell must have shape (3, 3) with the lattice vectors as rows; got {cell.shape}.")
    cells, pbc = validate_cells(cell, pbc, 1)  # finite, non-singular, pbc a bool or three
    if not pbc.any():
        raise ValueError("pbc is False along all cell vectors; use GDMLRegressor for non-periodic systems.")
    return cells[0], pbc


class PeriodicInverseDistanceDescriptor(InverseDistanceDescriptor):
    """Inverse minimum-image distances of `n_atoms` atoms in a fixed periodic cell.

    Parameters
    ----------
    n_atoms : int
    cell : array (3, 3)
        Lattice vectors as rows (length unit L).
    pbc : bool or 3 bools, default True
        Periodic directions (vectors of the cell).
    """

    def __init__(self, n_atoms, cell, pbc=True):
        super().__init__(n_atoms)
        self.cell, self.pbc = check_cell(cell, pbc)
        rcell, _ = minkowski_reduce(self.cell, self.pbc)
        self._rcell = torch.from_numpy(np.ascontiguousarray(rcell))
        self._rcell_inv = torch.from_numpy(np.linalg.inv(rcell))
        ranges = [np.arange(-1, 2) if p else np.zeros(1) for p in self.pbc]
        shifts = np.stack(np.meshgrid(*ranges, indexing="ij"), -1).reshape(-1, 3)
        self._shifts = torch.from_numpy(shifts @ rcell)  # (S, 3) Cartesian image shifts
        self._periodic = torch.from_numpy(self.pbc)
        #: half the shortest periodic lattice vector: pairs closer than this have a unique image
        self.r_mic = 0.5 * float(np.min(np.linalg.norm(rcell[self.pbc], axis=1)))

    def minimum_image(self, diff):
        """Shortest periodic images of difference vectors ``diff`` (..., 3): same shape."""
        rc, rci = self._rcell.to(diff), self._rcell_inv.to(diff)
        frac = diff @ rci
        frac = torch.where(self._periodic.to(diff.device), frac - torch.round(frac), frac)
        d0 = frac @ rc
        cand = d0[..., None, :] + self._shifts.to(diff)  # (..., S, 3)
        k = torch.linalg.vector_norm(cand, dim=-1).argmin(-1)
        return torch.take_along_dim(cand, k[..., None, None], dim=-2)[..., 0, :]

    def _nearest_neighbour_distance(self, r):
        """Largest over atoms of the nearest-neighbour distance, per geometry: (n,)."""
        n = r.shape[0]
        a, b = self._pairs(r.device)
        full = torch.full((n, self.n_atoms, self.n_atoms), float("inf"), dtype=r.dtype, device=r.device)
        full[:, a, b] = r
        full[:, b, a] = r
        return full.min(-1).values.max(-1).values

    def null_motions(self, R):
        """The 3 translations (n, 3 n_atoms, 3): rotating atoms inside a fixed cell changes their
        minimum images, so rotations are not null motions here."""
        eye = torch.eye(3, dtype=R.dtype, device=R.device)
        return eye.expand(R.shape[0], self.n_atoms, 3, 3).reshape(R.shape[0], 3 * self.n_atoms, 3)

    def transform(self, R):
        """Descriptor x (n, D) in 1/L and Jacobian factors g (n, D, 3) in 1/L^2 (see the base class)."""
        a, b = self._pairs(R.device)
        x_blocks, g_blocks = [], []
        step = max(1, 2**22 // (len(a) * self._shifts.shape[0] * 3))  # ~32 MB of image candidates
        for s in range(0, R.shape[0], step):
            Rs = R[s:s + step]
            diff = self.minimum_image(Rs[:, a, :] - Rs[:, b, :])
            r = torch.linalg.vector_norm(diff, dim=-1)
            if torch.any(r == 0):
                i, k = (int(v) for v in torch.nonzero(r == 0)[0])
                raise ValueError(f"Geometry {s + i} has atoms {int(a[k])} and {int(b[k])} at the same periodic "
                                 "position; inverse distances are undefined. Remove or repair this geometry.")
            nn = self._nearest_neighbour_distance(r)
            if torch.any(nn >= self.r_mic):
                i = int(torch.nonzero(nn >= self.r_mic)[0])
                raise ValueError(
                    f"The cell is too small for a unique minimum image: in geometry {s + i} an atom's nearest "
                    f"neighbour is {float(nn[i]):.3f} away but half the shortest lattice vector is only "
                    f"{self.r_mic:.3f} (length unit of R). Use a supercell (e.g. atoms.repeat((2, 2, 2))).")
            x = 1.0 / r
            x_blocks.append(x)
            g_blocks.append(diff * (x**3)[..., None])
        return torch.cat(x_blocks), torch.cat(g_blocks)
