"""Energy and force prediction from a fitted (s)GDML model, in descriptor space.

A fitted model is fully described by the training descriptors ``x_j`` (n, D), the
contracted coefficients ``w_j = J_j alpha_j`` (n, D), the descriptor permutations
``desc_perms`` (P, D), sigma and the integration constant c (plus optional energy
coefficients). For a query with descriptor x and Jacobian J::

    F(x) = J^T sum_{j,P} [ a w_jP - b (d_jP . w_jP) d_jP ],   d_jP = x - S_P x_j
    E(x) = -sum_{j,P} a (d_jP . w_jP) + c

Every sum is written as a matrix product over the n*P permuted training points,
so a batch of m queries costs O(m n P D) and never forms the (m, n P, D) differences.
"""

import numpy as np
import torch

from ..descriptors import InverseDistanceDescriptor
from ..kernels.matern import HessianPairs
from ..kernels.radial import RadialPairs
from ..utils.validation import check_device

__all__ = ["GDMLPredictor"]


class GDMLPredictor:
    """Batched predictor for a fitted sGDML model (CPU or CUDA, float64 by default).

    Parameters
    ----------
    x_train : array (n, D)
        Training descriptors.
    w_train : array (n, D)
        Descriptor-space coefficients ``J_j alpha_j``.
    desc_perms : int array (P, D)
        Descriptor index permutations (row 0 identity).
    sigma : float
        Kernel length scale.
    c : float
        Energy integration constant (energy unit).
    n_atoms : int
    alphas_E : array (n,), optional
        Coefficients of energy labels (models fitted with energy constraints).
    device : str or torch.device
    dtype : torch.dtype
    descriptor : descriptor object, optional
        Maps positions to (x, g) (default: molecular inverse distances of `n_atoms`).
    kernel : RadialKernel, optional
        Base kernel (default: the hand-derived Matérn-5/2).
    """

    def __init__(self, x_train, w_train, desc_perms, sigma, c, n_atoms, alphas_E=None,
                 device="cpu", dtype=torch.float64, descriptor=None, kernel=None):
        self.device = check_device(device)
        self.dtype = dtype
        self.sigma = float(sigma)
        self.c = float(c)
        self.descriptor = InverseDistanceDescriptor(n_atoms) if descriptor is None else descriptor
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=self.device)  # noqa: E731
        dp = torch.as_tensor(np.asarray(desc_perms), dtype=torch.long, device=self.device)
        n, D = np.shape(x_train)
        P = dp.shape[0]
        self.XP = t(x_train)[:, dp].reshape(n * P, D)
        self.WP = t(w_train)[:, dp].reshape(n * P, D)
        self.XP_WP = (self.XP * self.WP).sum(1)
        self.kernel = kernel
        self.pairs = HessianPairs(self.XP, self.sigma) if kernel is None else RadialPairs(self.XP, kernel, self.sigma)
        self.aE = None if alphas_E is None else t(alphas_E).repeat_interleave(P)

    def _batch(self, R):
        x, g = self.descriptor.transform(R)
        Fd, E = self.pairs.product(x, self.WP, self.XP_WP, with_energy=True, energy_weights=self.aE)
        return E + self.c, self.descriptor.vjp(g, Fd)

    def predict(self, R, batch_size=None):
        """Energies (m,) and forces (m, n_atoms, 3) for positions R (m, n_atoms, 3), as numpy.

        `batch_size` geometries are processed at a time (default: the product's tile rows).
        """
        R = torch.as_tensor(np.asarray(R), dtype=self.dtype, device=self.device)
        m = R.shape[0]
        if batch_size is None:
            batch_size = min(m, self.pairs.rows)
        E = np.empty(m)
        F = np.empty((m,) + tuple(R.shape[1:]))
        with torch.no_grad():
            for s in range(0, m, batch_size):
                e, f = self._batch(R[s:s + batch_size])
                E[s:s + batch_size] = e.cpu().numpy()
                F[s:s + batch_size] = f.cpu().numpy()
        return E, F

    def energies(self, x):
        """Energies (m,) numpy of descriptors x (m, D) tensor (e.g. the training set's, computed once)."""
        x = torch.as_tensor(x, dtype=self.dtype, device=self.device)
        step = self.pairs.rows
        with torch.no_grad():
            E = [self.pairs.product(x[s:s + step], self.WP, self.XP_WP, with_energy=True,
                                   energy_weights=self.aE)[1] for s in range(0, x.shape[0], step)]
        return (torch.cat(E) + self.c).cpu().numpy()

    def __repr__(self):
        return f"GDMLPredictor(n_points={self.XP.shape[0]}, sigma={self.sigma}, device={self.device})"
