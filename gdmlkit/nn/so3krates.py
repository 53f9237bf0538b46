"""SO3krates (Frank, Unke, Müller, NeurIPS 2022; Frank et al., Nat. Commun. 15, 6539 (2024)):
a transformer on invariant atom features x_i and sparse Euclidean variables chi_i (one
spherical-harmonic coordinate vector per degree l = 1..l_max per atom). Attention updates
x and chi separately; the two talk only through invariants (per-degree norms), never
through tensor products."""

import math

import torch
from torch import nn

from .layers import AtomisticModel, GaussianRBF, cosine_cutoff, segment_sum, spherical_harmonics

__all__ = ["SO3krates"]


def _degree_norms(chi):
    """Per-degree squared norms, list of (..., 2l+1) -> (..., l_max)."""
    return torch.stack([(c * c).sum(-1) for c in chi], dim=-1)


class EuclideanTransformerBlock(nn.Module):
    """Invariant and Euclidean self-attention with filters from distances and from
    per-degree distances of the Euclidean variables, then a mixing (interaction) block."""

    def __init__(self, n, n_rbf, l_max, n_heads):
        super().__init__()
        self.l_max, self.n_heads = l_max, n_heads
        self.norm = nn.LayerNorm(n)
        self.filter_x = nn.Sequential(nn.Linear(n_rbf + l_max, n), nn.SiLU(), nn.Linear(n, n))
        self.filter_chi = nn.Sequential(nn.Linear(n_rbf + l_max, n), nn.SiLU(), nn.Linear(n, n))
        self.qkv_x = nn.Linear(n, 3 * n, bias=False)
        self.qk_chi = nn.Linear(n, 2 * n, bias=False)
        self.mix = nn.Sequential(nn.Linear(n + l_max, n), nn.SiLU(), nn.Linear(n, n + l_max))

    def forward(self, x, chi, rbf, Y, fcut, idx_i, idx_j):
        n_atoms, n = x.shape
        h = self.norm(x)
        dchi = _degree_norms([c[idx_j] - c[idx_i] for c in chi])
        edge = torch.cat([rbf, dchi], dim=-1)
        # invariant attention, n_heads heads
        q, k, v = self.qkv_x(h).chunk(3, dim=-1)
        w = self.filter_x(edge)
        alpha = (q[idx_i] * w * k[idx_j]).view(-1, self.n_heads, n // self.n_heads).sum(-1)
        alpha = alpha * fcut[:, None] / math.sqrt(n // self.n_heads)
        msg = (alpha[:, :, None] * v[idx_j].view(-1, self.n_heads, n // self.n_heads)).reshape(-1, n)
        x = x + segment_sum(msg, idx_i, n_atoms)
        # Euclidean attention, one head per degree: chi_l += sum_j a^l_ij Y_l(r_ij)
        q, k = self.qk_chi(h).chunk(2, dim=-1)
        w = self.filter_chi(edge)
        beta = torch.stack([t.sum(-1) for t in (q[idx_i] * w * k[idx_j]).tensor_split(self.l_max, dim=-1)], -1)
        beta = beta * fcut[:, None] / math.sqrt(n / self.l_max)
        chi = [c + segment_sum(beta[:, l, None] * Y[l], idx_i, n_atoms) for l, c in enumerate(chi)]
        # interaction: invariants of both parts mixed; chi rescaled per degree (no tensor products)
        a = self.mix(torch.cat([x, _degree_norms(chi)], dim=-1))
        x = x + a[:, :n]
        chi = [c * (1.0 + a[:, n + l, None]) for l, c in enumerate(chi)]
        return x, chi


class SO3krates(AtomisticModel):
    """SO3krates energy: sum of atom-wise outputs of the invariant features after the blocks.

    Parameters
    ----------
    n_features : int
        Invariant feature width (paper 132); divisible by `n_heads`.
    n_interactions : int
        Transformer blocks (paper 3).
    n_rbf : int
        Gaussians on [0, cutoff].
    l_max : int
        Largest spherical-harmonic degree of the Euclidean variables (paper 3).
    n_heads : int
        Heads of the invariant attention (paper 4).
    cutoff : float
        Cosine cutoff radius (L).
    max_z : int
    """

    def __init__(self, n_features=64, n_interactions=3, n_rbf=32, l_max=3, n_heads=4, cutoff=5.0, max_z=100):
        super().__init__(cutoff)
        if n_features % n_heads:
            raise ValueError(f"n_features == {n_features} must be divisible by n_heads == {n_heads}.")
        self.l_max = int(l_max)
        self.embedding = nn.Embedding(max_z + 1, n_features)
        self.rbf = GaussianRBF(n_rbf, cutoff)
        self.chi_init = nn.Linear(n_rbf, l_max, bias=False)
        self.blocks = nn.ModuleList(EuclideanTransformerBlock(n_features, n_rbf, l_max, n_heads)
                                    for _ in range(n_interactions))
        self.output = nn.Sequential(nn.LayerNorm(n_features), nn.Linear(n_features, n_features), nn.SiLU(),
                                    nn.Linear(n_features, 1))

    def features(self, z, pos, pairs):
        """Invariant features x (n, F) and Euclidean variables chi (list over l of (n, 2l+1))."""
        idx_i, idx_j, shifts = pairs["local"]
        vec = pos[idx_j] - pos[idx_i] + shifts
        d = torch.linalg.norm(vec, dim=-1)
        Y = spherical_harmonics(vec / d[:, None], self.l_max)
        rbf, fcut = self.rbf(d), cosine_cutoff(d, self.cutoff)
        w = self.chi_init(rbf) * fcut[:, None]
        chi = [segment_sum(w[:, l, None] * Y[l], idx_i, pos.shape[0]) for l in range(self.l_max)]
        x = self.embedding(z)
        for block in self.blocks:
            x, chi = block(x, chi, rbf, Y, fcut, idx_i, idx_j)
        return x, chi

    def forward(self, z, pos, batch, n_samples, pairs, charge=None, spin=None):
        """Energies (n_samples,); see :class:`~gdmlkit.nn.layers.AtomisticModel`."""
        x, _ = self.features(z, pos, pairs)
        return segment_sum(self.output(x)[:, 0], batch, n_samples)
