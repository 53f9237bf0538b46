"""Building blocks shared by the networks: activations, radial bases, cutoffs, real
spherical harmonics and segment sums. Distances in the model's length unit L."""

import math

import torch
from torch import nn

from .neighbors import neighbor_list

__all__ = ["AtomisticModel", "shifted_softplus", "ShiftedSoftplus", "cosine_cutoff", "GaussianRBF", "spherical_harmonics",
           "segment_sum", "mlp"]


def shifted_softplus(x):
    """softplus(x) - log 2 (SchNet's activation; zero at x = 0)."""
    return nn.functional.softplus(x) - math.log(2.0)


class ShiftedSoftplus(nn.Module):
    def forward(self, x):
        return shifted_softplus(x)


def cosine_cutoff(d, cutoff):
    """0.5 (cos(pi d / cutoff) + 1) for d < cutoff, else 0; d of any shape (L)."""
    return torch.where(d < cutoff, 0.5 * (torch.cos(math.pi * d / cutoff) + 1.0), torch.zeros_like(d))


class GaussianRBF(nn.Module):
    """exp(-(d - mu_k)^2 / (2 w^2)) with `n` centres mu_k evenly spaced on [0, cutoff], w their spacing.

    Input d (...,) in L; output (..., n).
    """

    def __init__(self, n, cutoff):
        super().__init__()
        self.register_buffer("centers", torch.linspace(0.0, cutoff, n))
        self.width = cutoff / (n - 1)

    def forward(self, d):
        return torch.exp(-0.5 * ((d[..., None] - self.centers) / self.width) ** 2)


def spherical_harmonics(u, l_max):
    """Real spherical harmonics Y_lm of unit vectors, degrees 1..l_max.

    Orthonormal on the sphere, without the Condon-Shortley phase; order
    ``m = -l..l`` with m < 0 the ``sin(|m| phi)`` and m > 0 the ``cos(m phi)`` functions.
    Written as polynomials in (x, y, z), so smooth everywhere.

    Parameters
    ----------
    u : tensor (..., 3)
        Unit vectors.
    l_max : int

    Returns
    -------
    list of l_max tensors, entry l-1 of shape (..., 2l+1)
    """
    x, y, z = u[..., 0], u[..., 1], u[..., 2]
    # (x + i y)^m = r^m sin^m(theta) e^{i m phi}
    re, im = [torch.ones_like(x)], [torch.zeros_like(x)]
    for _ in range(l_max):
        re.append(re[-1] * x - im[-1] * y)
        im.append(re[-2] * y + im[-1] * x)
    # P[l][m] = d^m/dz^m P_l(z) (associated Legendre without the sin^m factor and without (-1)^m)
    P = [[None] * (l_max + 1) for _ in range(l_max + 1)]
    dfact = 1.0
    for m in range(l_max + 1):
        if m > 0:
            dfact *= 2 * m - 1
        P[m][m] = torch.full_like(z, dfact)
        if m + 1 <= l_max:
            P[m + 1][m] = (2 * m + 1) * z * P[m][m]
        for l in range(m + 2, l_max + 1):
            P[l][m] = ((2 * l - 1) * z * P[l - 1][m] - (l + m - 1) * P[l - 2][m]) / (l - m)
    out = []
    for l in range(1, l_max + 1):
        comps = []
        for m in range(-l, l + 1):
            a = abs(m)
            norm = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - a) / math.factorial(l + a))
            if m == 0:
                comps.append(norm * P[l][0])
            else:
                comps.append(math.sqrt(2.0) * norm * P[l][a] * (im[a] if m < 0 else re[a]))
        out.append(torch.stack(comps, dim=-1))
    return out


def segment_sum(values, index, n_segments):
    """out[k] = sum of values[index == k] along the first axis."""
    out = values.new_zeros((n_segments,) + values.shape[1:])
    return out.index_add(0, index, values)


def mlp(n_in, n_hidden, n_out, activation=ShiftedSoftplus, bias_out=True):
    """Two-layer perceptron Linear -> activation -> Linear."""
    return nn.Sequential(nn.Linear(n_in, n_hidden), activation(), nn.Linear(n_hidden, n_out, bias=bias_out))


class AtomisticModel(nn.Module):
    """Base of the networks: ``forward(z, pos, batch, n_samples, pairs, charge, spin)`` returns
    energies (n_samples,) of a flat batch (z (n,), pos (n, 3) in L, batch (n,) sample index),
    with `pairs` from :meth:`pair_lists`; charge and spin (n_samples,) are used by SpookyNet only.

    ``energy_scale`` is the estimator's energy standardisation (terms with physical units,
    such as SpookyNet's ZBL and Coulomb energies, are divided by it).
    """

    def __init__(self, cutoff):
        super().__init__()
        self.cutoff = float(cutoff)
        self.energy_scale = 1.0

    def pair_lists(self, R, cell=None, pbc=None):
        """{'local': (idx_i, idx_j, shifts)} within `cutoff` for positions R (n_samples, n_atoms, 3)."""
        return {"local": neighbor_list(R, self.cutoff, cell, pbc)}
