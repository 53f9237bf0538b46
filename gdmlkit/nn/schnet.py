"""SchNet (Schütt et al., NeurIPS 2017): continuous-filter convolutions on interatomic distances."""

import torch
from torch import nn

from .layers import AtomisticModel, GaussianRBF, ShiftedSoftplus, cosine_cutoff, mlp, segment_sum

__all__ = ["SchNet"]


class CFConv(nn.Module):
    """Continuous-filter convolution x_i <- sum_j x_j * W(r_ij) f_cut(r_ij), in the atom-wise
    in2f -> conv -> f2out layout of the paper's interaction block."""

    def __init__(self, n_features, n_rbf):
        super().__init__()
        self.in2f = nn.Linear(n_features, n_features, bias=False)
        self.filter = nn.Sequential(nn.Linear(n_rbf, n_features), ShiftedSoftplus(), nn.Linear(n_features, n_features))
        self.f2out = mlp(n_features, n_features, n_features)

    def forward(self, x, rbf, fcut, idx_i, idx_j):
        W = self.filter(rbf) * fcut[:, None]
        msg = self.in2f(x)[idx_j] * W
        return self.f2out(segment_sum(msg, idx_i, x.shape[0]))


class SchNet(AtomisticModel):
    """Energy as a sum of atom-wise contributions after `n_interactions` residual CFConv blocks.

    The layout is that of schnetpack (the authors' code) and of ``torch_geometric.nn.models.SchNet``:
    with the same weights and edges, energies and forces equal PyG's to rounding in float64
    (tests/nn/test_schnet_pyg.py). Differences from PyG: PyG embeds Z < 100 (here Z <= `max_z`);
    its default graph keeps at most 32 neighbours per atom (here all within `cutoff`); its
    defaults are 128 features, 6 interactions, 50 Gaussians and a 10 Å cutoff (here 64, 3, 20, 5);
    its optional per-atom ``mean``/``std``/``atomref`` are, here, the estimator's energy scale
    and per-element energies (:class:`~gdmlkit.nn.NNRegressor`); PyG rounds the log 2 of its
    shifted softplus to float32. Differences from the NeurIPS 2017 paper: Gaussians of width
    equal to their spacing on [0, cutoff] instead of every 0.1 Å up to 30 Å with
    gamma = 10 Å^-2, and the cosine cutoff of the later SchNet paper (J. Chem. Phys. 148,
    241722 (2018)).

    Parameters
    ----------
    n_features : int
        Width of the atom features (the paper uses 64).
    n_interactions : int
        Interaction blocks (paper: 3 for MD17).
    n_rbf : int
        Gaussians on [0, cutoff].
    cutoff : float
        Cosine cutoff radius (L).
    max_z : int
        Largest atomic number embedded.
    """

    def __init__(self, n_features=64, n_interactions=3, n_rbf=20, cutoff=5.0, max_z=100):
        super().__init__(cutoff)
        self.embedding = nn.Embedding(max_z + 1, n_features)
        self.rbf = GaussianRBF(n_rbf, cutoff)
        self.interactions = nn.ModuleList(CFConv(n_features, n_rbf) for _ in range(n_interactions))
        self.output = mlp(n_features, n_features // 2, 1)

    def forward(self, z, pos, batch, n_samples, pairs, charge=None, spin=None):
        """Energies (n_samples,) of flat atoms z (n,), pos (n, 3); see :class:`AtomisticModel`."""
        idx_i, idx_j, shifts = pairs["local"]
        d = torch.linalg.norm(pos[idx_j] - pos[idx_i] + shifts, dim=-1)
        rbf, fcut = self.rbf(d), cosine_cutoff(d, self.cutoff)
        x = self.embedding(z)
        for block in self.interactions:
            x = x + block(x, rbf, fcut, idx_i, idx_j)
        return segment_sum(self.output(x)[:, 0], batch, n_samples)
