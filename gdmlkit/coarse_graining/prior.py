"""Harmonic bond and angle prior of a bead chain, fitted by Boltzmann inversion (CGnet's prior)."""

import numpy as np
import torch

from ..utils.validation import check_positions, check_scalar

__all__ = ["HarmonicPrior"]


def _bonds_angles(R, bonds, angles):
    """Bond lengths (n, n_bonds) and angles (radians, (n, n_angles)) of positions R (n, n_beads, 3) (torch)."""
    r = torch.linalg.vector_norm(R[:, bonds[:, 1]] - R[:, bonds[:, 0]], dim=-1)
    u = R[:, angles[:, 0]] - R[:, angles[:, 1]]
    v = R[:, angles[:, 2]] - R[:, angles[:, 1]]
    cos = (u * v).sum(-1) / (torch.linalg.vector_norm(u, dim=-1) * torch.linalg.vector_norm(v, dim=-1))
    return r, torch.arccos(cos.clamp(-1.0, 1.0))


class HarmonicPrior:
    """U = sum_bonds k_b/2 (r - r_0)^2 + sum_angles k_a/2 (theta - theta_0)^2 on consecutive beads of a chain.

    :meth:`fit` sets r_0, theta_0 to the mean and k = kT / variance of each bond length and angle: the
    harmonic whose Boltzmann distribution has the data's mean and variance (a Gaussian fit of the histogram,
    without the r^2 and sin(theta) Jacobians).

    Parameters
    ----------
    kT : float
        Thermal energy in the data's energy unit (:func:`~gdmlkit.coarse_graining.boltzmann_kT`).

    Attributes
    ----------
    bonds_ : int ndarray (n_beads - 1, 2)
        Bead pairs of the bonds.
    angles_ : int ndarray (n_beads - 2, 3)
        Bead triples of the angles (vertex in the middle).
    r0_, k_bond_ : ndarray (n_bonds,)
        Length (L) and force constant (energy / L^2).
    theta0_, k_angle_ : ndarray (n_angles,)
        Angle (radians) and force constant (energy / rad^2).
    """

    def __init__(self, kT):
        check_scalar(kT, "kT", min_val=0, include_min=False)
        self.kT = float(kT)

    def fit(self, R):
        """Fit to positions R (n, n_beads, 3). Returns self."""
        R = check_positions(R)
        n_beads = R.shape[1]
        if n_beads < 3:
            raise ValueError(f"The prior needs a chain of at least 3 beads; got {n_beads}.")
        self.bonds_ = np.stack([np.arange(n_beads - 1), np.arange(1, n_beads)], 1)
        self.angles_ = np.stack([np.arange(n_beads - 2), np.arange(1, n_beads - 1), np.arange(2, n_beads)], 1)
        r, th = (t.numpy() for t in _bonds_angles(torch.from_numpy(R), torch.from_numpy(self.bonds_),
                                                  torch.from_numpy(self.angles_)))
        self.r0_, self.k_bond_ = r.mean(0), self.kT / r.var(0)
        self.theta0_, self.k_angle_ = th.mean(0), self.kT / th.var(0)
        return self

    def energy_forces(self, R):
        """Energies (n,) and forces (n, n_beads, 3) of positions R (n, n_beads, 3), in the data's units."""
        R = torch.tensor(np.asarray(R, dtype=np.float64), requires_grad=True)
        r, th = _bonds_angles(R, torch.from_numpy(self.bonds_), torch.from_numpy(self.angles_))
        E = (0.5 * torch.from_numpy(self.k_bond_) * (r - torch.from_numpy(self.r0_)) ** 2).sum(1) \
            + (0.5 * torch.from_numpy(self.k_angle_) * (th - torch.from_numpy(self.theta0_)) ** 2).sum(1)
        (grad,) = torch.autograd.grad(E.sum(), R)
        return E.detach().numpy(), -grad.numpy()
