"""Any pair descriptor under the minimum-image convention of a periodic cell, by automatic differentiation.

The pair vectors of a :class:`~gdmlkit.descriptors.PairDescriptor` are replaced by their shortest periodic
images, found as by :class:`~gdmlkit.descriptors.PeriodicInverseDistanceDescriptor` (Minkowski-reduced
cell, wrap, compare the neighbouring images). The chosen image is locally constant, so differentiating
through the search (``round`` and ``argmin`` have zero derivative) gives the Jacobian of the periodic
descriptor. The cell checks (unique minimum image) are that class's.
"""

import torch

from .autodiff import DESCRIPTORS, PairDescriptor
from .periodic import PeriodicInverseDistanceDescriptor

__all__ = ["MinimumImageDescriptor"]


class MinimumImageDescriptor(PairDescriptor):
    """``f(|minimum image of R_a - R_b|)`` over pairs a > b in a fixed periodic cell, f from `base`.

    Parameters
    ----------
    base : PairDescriptor
        The pair function (e.g. :class:`~gdmlkit.descriptors.MorseDescriptor` or
        :class:`~gdmlkit.descriptors.AutodiffInverseDistanceDescriptor`).
    cell : array (3, 3)
        Lattice vectors as rows (length unit L).
    pbc : bool or 3 bools, default True
    """

    name = "minimum_image"
    is_periodic = True

    def __init__(self, base, cell, pbc=True):
        if not isinstance(base, PairDescriptor) or isinstance(base, MinimumImageDescriptor):
            raise TypeError(f"base must be a (non-periodic) PairDescriptor; got {type(base).__name__}.")
        super().__init__(base.n_atoms)
        self.base = base
        self._cell_check = PeriodicInverseDistanceDescriptor(base.n_atoms, cell, pbc)
        self.cell, self.pbc = self._cell_check.cell, self._cell_check.pbc
        c = self._cell_check
        self._rcell, self._rcell_inv, self._shifts = c._rcell, c._rcell_inv, c._shifts
        self._wrap = c._periodic.to(torch.float64)  # 1 along periodic directions

    @property
    def params(self):
        return {"base": self.base.spec(), "cell": self.cell.tolist(), "pbc": self.pbc.tolist()}

    def pair_vectors(self, R):
        diff = R[self._a] - R[self._b]
        frac = diff @ self._rcell_inv
        frac = frac - self._wrap * torch.round(frac)
        cand = (frac @ self._rcell)[:, None, :] + self._shifts  # (D, S, 3)
        k = torch.linalg.vector_norm(cand, dim=-1).argmin(-1)
        return torch.take_along_dim(cand, k[:, None, None], dim=1)[:, 0, :]

    def pair_function(self, r):
        return self.base.pair_function(r)

    def transform(self, R):
        R = torch.as_tensor(R, dtype=torch.float64)
        self._cell_check.transform(R)  # coincident atoms, cell too small for a unique minimum image
        return super(PairDescriptor, self).transform(R)

    def null_motions(self, R):
        """The 3 translations (n, 3 n_atoms, 3): rotations inside a fixed cell change the images."""
        return self._cell_check.null_motions(R)


DESCRIPTORS[MinimumImageDescriptor.name] = MinimumImageDescriptor
