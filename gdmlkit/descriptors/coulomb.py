"""Coulomb-matrix descriptor: the off-diagonal entries z_a z_b / r_ab (Rupp et al. 2012), a > b.

The diagonal 0.5 z^2.4 is constant for a fixed molecule and left out. Against inverse distances the
entries are weighted by the nuclear charges, so pairs of heavy atoms dominate the kernel distance.
"""

import numpy as np
import torch

from .autodiff import DESCRIPTORS, PairDescriptor

__all__ = ["CoulombMatrixDescriptor"]


class CoulombMatrixDescriptor(PairDescriptor):
    """Entries z_a z_b / r_ab (e^2 / L) over pairs a > b.

    Parameters
    ----------
    z : int array (n_atoms,)
        Atomic numbers.
    """

    name = "coulomb_matrix"

    def __init__(self, z):
        self.z = np.asarray(z, dtype=np.int64)
        super().__init__(len(self.z))
        self._zz = torch.from_numpy((self.z[self._a.numpy()] * self.z[self._b.numpy()]).astype(np.float64))

    @property
    def params(self):
        return {"z": self.z.tolist()}

    def pair_function(self, r):
        return self._zz / r


DESCRIPTORS[CoulombMatrixDescriptor.name] = CoulombMatrixDescriptor
