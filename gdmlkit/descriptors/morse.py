"""Morse-scaled pair distances: exp(-alpha (r_ab / r0_ab - 1)), r0_ab the sum of covalent radii.

Each entry is 1 at the pair's covalent bond length and decays exponentially beyond it, so bonded
neighbours weigh most and distant pairs fade smoothly, unlike 1/r, which weighs a 1 Å bond only 5x a
5 Å contact. Covalent radii are ASE's (Cordero et al. 2008), in Å.
"""

import numpy as np
import torch
from ase.data import covalent_radii

from ..units import length_units_to_A, normalize_length_unit
from .autodiff import DESCRIPTORS, PairDescriptor

__all__ = ["MorseDescriptor"]


class MorseDescriptor(PairDescriptor):
    """Morse-scaled distances x_ab = exp(-alpha (r_ab / r0_ab - 1)) (dimensionless), a > b.

    Parameters
    ----------
    z : int array (n_atoms,)
        Atomic numbers (fix r0_ab = covalent radius of a + that of b).
    alpha : float, default 1.0
        Decay rate per bond length (> 0).
    length_unit : str, default 'Ang'
        Length unit of the positions (any of :data:`gdmlkit.units.LENGTH_UNITS`); the radii are converted to it.
    """

    name = "morse"

    def __init__(self, z, alpha=1.0, length_unit="Ang"):
        z = np.asarray(z, dtype=np.int64)
        super().__init__(len(z))
        if not alpha > 0:
            raise ValueError(f"alpha == {alpha}, must be > 0.")
        unit = normalize_length_unit(length_unit)
        self.z, self.alpha, self.length_unit = z, float(alpha), unit
        r0 = (covalent_radii[z[self._a.numpy()]] + covalent_radii[z[self._b.numpy()]]) / length_units_to_A(unit)
        self._r0 = torch.from_numpy(r0)

    @property
    def params(self):
        return {"z": self.z.tolist(), "alpha": self.alpha, "length_unit": self.length_unit}

    def pair_function(self, r):
        return torch.exp(-self.alpha * (r / self._r0 - 1.0))


DESCRIPTORS[MorseDescriptor.name] = MorseDescriptor
