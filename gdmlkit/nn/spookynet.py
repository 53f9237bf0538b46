"""SpookyNet (Unke et al., Nat. Commun. 12, 7273 (2021)): charge/spin embeddings, local
s/p/d interactions plus nonlocal attention, and physical corrections (ZBL repulsion,
electrostatics of learned partial charges). Empirical dispersion (D4) is not included."""

import math

import torch
from torch import nn

from .layers import AtomisticModel, segment_sum, spherical_harmonics
from .neighbors import neighbor_list

__all__ = ["SpookyNet", "COULOMB_CONSTANT_EV_A", "BOHR_A"]

#: e^2 / (4 pi eps0) in eV Å, and the Bohr radius in Å (CODATA, as in ase.units)
COULOMB_CONSTANT_EV_A = 14.399645351950548
BOHR_A = 0.5291772105638411
# universal ZBL screening function: sum_k c_k exp(-a_k x)
_ZBL_C = (0.18175, 0.50986, 0.28022, 0.02817)
_ZBL_A = (3.19980, 0.94229, 0.40290, 0.20162)


def smooth_cutoff(d, cutoff):
    """exp(-d^2 / ((cutoff - d)(cutoff + d))) for d < cutoff, else 0 (all derivatives vanish at the cutoff)."""
    inside = d < cutoff
    ds = torch.where(inside, d, torch.zeros_like(d))
    return torch.where(inside, torch.exp(-ds**2 / ((cutoff - ds) * (cutoff + ds))), torch.zeros_like(d))


class ResidualMLP(nn.Module):
    """x + W2 silu(W1 silu(x)) (pre-activation residual block)."""

    def __init__(self, n):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(n, n), nn.Linear(n, n)
        nn.init.zeros_(self.lin2.weight)

    def forward(self, x):
        return x + self.lin2(nn.functional.silu(self.lin1(nn.functional.silu(x))))


class ExpBernsteinRBF(nn.Module):
    """rho_k(r) = C(K-1, k) e^{-g r k} (1 - e^{-g r})^{K-1-k} f_cut(r), learnable g > 0. Output (..., K)."""

    def __init__(self, n, cutoff):
        super().__init__()
        self.cutoff = float(cutoff)
        k = torch.arange(n, dtype=torch.float64)
        logc = torch.lgamma(torch.tensor(float(n))) - torch.lgamma(k + 1) - torch.lgamma(n - k)
        self.register_buffer("logc", logc.float())
        self.register_buffer("k", k.float())
        self._gamma = nn.Parameter(torch.tensor(math.log(math.expm1(0.5))))

    def forward(self, d):
        x = -nn.functional.softplus(self._gamma) * d[..., None]  # log e^{-g r}
        log1m = torch.log(-torch.expm1(x).clamp(max=-1e-12))   # log(1 - e^{-g r}), finite at r -> 0
        n1 = self.k.shape[0] - 1
        return torch.exp(self.logc + self.k * x + (n1 - self.k) * log1m) * smooth_cutoff(d, self.cutoff)[..., None]


class ElectronicEmbedding(nn.Module):
    """Embedding of a molecule-wide quantity psi (total charge or spin): psi is distributed over
    atoms with attention weights a_i = psi softplus(q_i.k / sqrt(F)) / sum_j softplus(q_j.k / sqrt(F)),
    e_i = a_i v, with separate keys/values for psi > 0 and psi < 0."""

    def __init__(self, n):
        super().__init__()
        self.query = nn.Linear(n, n)
        self.key = nn.Parameter(torch.randn(2, n) / math.sqrt(n))
        self.value = nn.Parameter(torch.zeros(2, n))
        self.out = ResidualMLP(n)

    def forward(self, x, psi, batch, n_samples):
        sign = (psi < 0).long()[batch]  # 0 for psi >= 0, 1 for psi < 0
        w = nn.functional.softplus((self.query(x) * self.key[sign]).sum(-1) / math.sqrt(x.shape[1]))
        a = psi[batch] * w / segment_sum(w, batch, n_samples)[batch]
        return self.out(a[:, None] * self.value[sign])


class Interaction(nn.Module):
    """One SpookyNet module: local s/p/d message passing and nonlocal attention; returns (x, y)."""

    def __init__(self, n, n_rbf):
        super().__init__()
        self.pre = ResidualMLP(n)
        self.radial = nn.Linear(n_rbf, 3 * n, bias=False)  # G_s, G_p, G_d
        self.centre = ResidualMLP(n)
        self.p_proj = nn.Linear(n, 2 * n, bias=False)
        self.d_proj = nn.Linear(n, 2 * n, bias=False)
        self.qkv = nn.Linear(n, 3 * n, bias=False)
        self.post = ResidualMLP(n)
        self.out = ResidualMLP(n)

    def forward(self, x, rbf, Y1, Y2, idx_i, idx_j, n_samples):
        n_atoms, n = x.shape
        xt = self.pre(x)
        gs, gp, gd = self.radial(rbf).chunk(3, dim=-1)
        xj = xt[idx_j]
        s = segment_sum(gs * xj, idx_i, n_atoms)
        p = segment_sum(Y1[:, :, None] * (gp * xj)[:, None, :], idx_i, n_atoms)  # (atoms, 3, F)
        d = segment_sum(Y2[:, :, None] * (gd * xj)[:, None, :], idx_i, n_atoms)  # (atoms, 5, F)
        p1, p2 = self.p_proj(p).chunk(2, dim=-1)
        d1, d2 = self.d_proj(d).chunk(2, dim=-1)
        local = self.centre(xt) + s + (p1 * p2).sum(1) + (d1 * d2).sum(1)
        q, k, v = self.qkv(xt).view(n_samples, -1, 3 * n).chunk(3, dim=-1)  # all atoms of a molecule/cell
        nonlocal_ = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(n), dim=-1) @ v
        x = self.post(xt + local + nonlocal_.reshape(n_atoms, n))
        return x, self.out(x)


class SpookyNet(AtomisticModel):
    """SpookyNet energy: sum of atomic energies + ZBL repulsion + electrostatics of partial charges
    that add up to the total charge.

    Differences from the paper: elements are embedded by a learned vector only (no
    electron-configuration descriptor); the nonlocal interaction is exact softmax attention
    over the atoms of each geometry (the paper's FAVOR+ approximates it in linear time), so
    all geometries of a batch must have the same number of atoms; ZBL parameters are the
    fixed universal ones; no dispersion term; periodic electrostatics are cut off smoothly at
    `long_range_cutoff` (no Ewald sum).

    As in the paper, the nonlocal attention, the charge/spin embeddings and the charge
    normalisation act on the whole geometry, so the energy of two far-apart molecules is not
    the sum of theirs; beyond the local cutoff their interaction changes with distance only as
    the Coulomb energy of their partial charges (tests/nn/test_networks.py).

    Parameters
    ----------
    n_features, n_interactions, n_rbf : int
        Feature width (paper 128), modules (paper 6), Bernstein radial functions (paper 16).
    cutoff : float
        Local cutoff (L).
    coulomb_constant : float
        e^2 / (4 pi eps0) in the model's units (energy unit x L).
    bohr : float
        Bohr radius in L (ZBL screening length and Coulomb damping length).
    long_range_cutoff : float
        Electrostatics cutoff in periodic cells (L); molecules use all pairs.
    max_z : int
    """

    def __init__(self, n_features=64, n_interactions=3, n_rbf=16, cutoff=5.0, coulomb_constant=COULOMB_CONSTANT_EV_A,
                 bohr=BOHR_A, long_range_cutoff=10.0, max_z=100):
        super().__init__(cutoff)
        self.long_range_cutoff = float(long_range_cutoff)
        self.coulomb_constant = float(coulomb_constant)
        self.bohr = float(bohr)
        self.embedding = nn.Embedding(max_z + 1, n_features)
        self.charge_embedding = ElectronicEmbedding(n_features)
        self.spin_embedding = ElectronicEmbedding(n_features)
        self.rbf = ExpBernsteinRBF(n_rbf, cutoff)
        self.interactions = nn.ModuleList(Interaction(n_features, n_rbf) for _ in range(n_interactions))
        self.head = nn.Linear(n_features, 2)  # atomic energy, raw partial charge
        nn.init.zeros_(self.head.weight)
        self.element_bias = nn.Embedding(max_z + 1, 2)
        nn.init.zeros_(self.element_bias.weight)

    def pair_lists(self, R, cell=None, pbc=None):
        """Local pairs within `cutoff`; long-range pairs: all (molecules) or within `long_range_cutoff`."""
        local = neighbor_list(R, self.cutoff, cell, pbc)
        far = neighbor_list(R, math.inf if cell is None else self.long_range_cutoff, cell, pbc)
        return {"local": local, "long": far, "periodic": cell is not None}

    def forward(self, z, pos, batch, n_samples, pairs, charge, spin, return_charges=False):
        """Energies (n_samples,) divided by `energy_scale`; charge, spin: (n_samples,) total charge (e)
        and number of unpaired electrons. With `return_charges` also the partial charges (n_atoms_total,)."""
        idx_i, idx_j, shifts = pairs["local"]
        vec = pos[idx_j] - pos[idx_i] + shifts
        d = torch.linalg.norm(vec, dim=-1)
        Y1, Y2 = spherical_harmonics(vec / d[:, None], 2)
        rbf = self.rbf(d)
        x = self.embedding(z)
        x = x + self.charge_embedding(x, charge, batch, n_samples) + self.spin_embedding(x, spin, batch, n_samples)
        f = torch.zeros_like(x)
        for block in self.interactions:
            x, y = block(x, rbf, Y1, Y2, idx_i, idx_j, n_samples)
            f = f + y
        out = self.head(f) + self.element_bias(z)
        e_atom, q_raw = out[:, 0], out[:, 1]
        n_per = segment_sum(torch.ones_like(q_raw), batch, n_samples)
        q = q_raw + ((charge - segment_sum(q_raw, batch, n_samples)) / n_per)[batch]
        E_phys = self._zbl(z, d, idx_i, idx_j) + self._electrostatics(q, pos, pairs)
        energy = segment_sum(e_atom + E_phys / self.energy_scale, batch, n_samples)
        return (energy, q) if return_charges else energy

    def _zbl(self, z, d, idx_i, idx_j):
        """Per-atom ZBL nuclear repulsion (half of each pair to atom i), smoothly cut off."""
        zi, zj = z[idx_i].to(d.dtype), z[idx_j].to(d.dtype)
        a = 0.8854 * self.bohr / (zi**0.23 + zj**0.23)
        phi = sum(c * torch.exp(-k * d / a) for c, k in zip(_ZBL_C, _ZBL_A))
        e = 0.5 * self.coulomb_constant * zi * zj / d * phi * smooth_cutoff(d, self.cutoff)
        return segment_sum(e, idx_i, z.shape[0])

    def _electrostatics(self, q, pos, pairs):
        """Per-atom Coulomb energy of partial charges, 1/r damped to 1/sqrt(r^2 + a0^2) at short range."""
        idx_i, idx_j, shifts = pairs["long"]
        r = torch.linalg.norm(pos[idx_j] - pos[idx_i] + shifts, dim=-1)
        sw = smooth_cutoff(r, 4.0 * self.bohr)  # 1 at r = 0, 0 beyond 4 a0
        chi = sw / torch.sqrt(r**2 + self.bohr**2) + (1.0 - sw) / r
        if pairs["periodic"]:
            chi = chi * smooth_cutoff(r, self.long_range_cutoff)
        e = 0.5 * self.coulomb_constant * q[idx_i] * q[idx_j] * chi
        return segment_sum(e, idx_i, q.shape[0])
