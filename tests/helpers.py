"""Helpers the tests import with ``from helpers import ...`` (setup.cfg puts tests/ on sys.path):
reference permutations, data loaders and small synthetic systems. Fixtures are in conftest.py."""

import numpy as np
import pytest
import torch

from gdmlkit.data import Dataset
from gdmlkit.nn.layers import spherical_harmonics

#: the 6 permutations sGDML finds for MD17 and for the shipped rMD17 ethanol (same atom order C C O H H H H H H:
#: C0 bonded to O, CH2 H 3-4, methyl H 5-7, OH H 8)
ETHANOL_PERMS = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 4, 3, 5, 7, 6, 8], [0, 1, 2, 4, 3, 6, 5, 7, 8],
                          [0, 1, 2, 4, 3, 7, 6, 5, 8], [0, 1, 2, 3, 4, 7, 5, 6, 8], [0, 1, 2, 3, 4, 6, 7, 5, 8]])


def load_shared_npz(shared_data, relpath, keys=("R", "z", "E", "F")):
    """Arrays `keys` of ../shared/data/`relpath` as a dict; skips the test if the file is missing."""
    path = shared_data / relpath
    if not path.exists():
        pytest.skip(f"{path} not found")
    with np.load(path) as f:
        return {k: f[k] for k in keys}


def emt_bcc_cu(n_frames, seed=0):
    """bcc Cu 16-atom supercell and `n_frames` thermally displaced copies labelled with ASE's EMT.

    Returns (atoms, R (n, 16, 3) Å, E (n,) eV, F (n, 16, 3) eV/Å).
    """
    from ase.build import bulk
    from ase.calculators.emt import EMT

    atoms = bulk("Cu", "bcc", a=2.9, cubic=True).repeat(2)
    rng = np.random.default_rng(seed)
    R, E, F = [], [], []
    for _ in range(n_frames):
        a = atoms.copy()
        a.positions += rng.normal(scale=0.07, size=a.positions.shape)
        a.calc = EMT()
        R.append(a.positions)
        E.append(a.get_potential_energy())
        F.append(a.get_forces())
    return atoms, np.array(R), np.array(E), np.array(F)


# ---------------------------------------------------------------- small datasets (tests/data)

def make(n=5, n_atoms=3, seed=0, **kw):
    """A random molecular Dataset (kcal/mol, Å) of n geometries of atoms H, He, Li, ...; kw replace its arrays."""
    rng = np.random.default_rng(seed)
    args = dict(
        R=rng.normal(size=(n, n_atoms, 3)) * 2,
        z=np.arange(1, n_atoms + 1),
        E=rng.normal(size=n),
        F=rng.normal(size=(n, n_atoms, 3)),
        energy_unit="kcal/mol",
        length_unit="Ang",
    )
    args.update(kw)
    return Dataset(**args)


#: a skewed cell for the data tests
CELL = np.array([[5.0, 0.0, 0.0], [1.0, 6.0, 0.0], [0.5, 0.3, 7.0]])  # rows, not symmetric


# ---------------------------------------------------------------- rotations of spherical harmonics (tests/nn)

def _unit_vectors(n, seed):
    u = np.random.default_rng(seed).normal(size=(n, 3))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def wigner_from_sh(Q, l, n=64, seed=0):
    """D_l(Q) with Y_l(Q u) = D_l Y_l(u), by least squares on random unit vectors u."""
    u = _unit_vectors(n, seed)
    Y = spherical_harmonics(torch.from_numpy(u), l)[l - 1].numpy()
    YQ = spherical_harmonics(torch.from_numpy(u @ Q.T), l)[l - 1].numpy()
    return np.linalg.lstsq(Y, YQ, rcond=None)[0].T


# ---------------------------------------------------------------- a synthetic CG system (tests/coarse_graining)
# 3 beads with a known potential of two bond lengths (double well in r01, coupled to r12) plus an angle term
def cg_potential(R):
    """U(R) for R (n, 3, 3) (torch): 4 (r1-1.5)^2 (r1-2.5)^2 + 2 (r2-2)^2 + 1.5 r1 r2 + 3 (r02-3.2)^2."""
    d = lambda i, j: torch.linalg.vector_norm(R[:, i] - R[:, j], dim=-1)  # noqa: E731
    r1, r2, r3 = d(0, 1), d(1, 2), d(0, 2)
    return 4.0 * (r1 - 1.5) ** 2 * (r1 - 2.5) ** 2 + 2.0 * (r2 - 2.0) ** 2 + 1.5 * r1 * r2 + 3.0 * (r3 - 3.2) ** 2


def cg_energy_forces(R):
    """Exact energies (n,) and forces (n, 3, 3) of positions R (n, 3, 3) (numpy)."""
    Rt = torch.tensor(np.asarray(R, dtype=np.float64), requires_grad=True)
    E = cg_potential(Rt)
    return E.detach().numpy(), -torch.autograd.grad(E.sum(), Rt)[0].numpy()


def cg_frames(n, seed):
    """n random geometries (r01 in [1.3, 2.7], r12 in [1.5, 2.5], angle 100-150 degrees, random rotation and
    translation) and their exact (mean) forces."""
    rng = np.random.default_rng(seed)
    r1, r2 = rng.uniform(1.3, 2.7, n), rng.uniform(1.5, 2.5, n)
    th = np.radians(rng.uniform(100, 150, n))
    R = np.zeros((n, 3, 3))
    R[:, 0, 0], R[:, 2, 0], R[:, 2, 1] = r1, r2 * np.cos(th), r2 * np.sin(th)
    Q = np.linalg.qr(rng.normal(size=(n, 3, 3)))[0]
    R = np.einsum("nij,naj->nai", Q, R) + rng.normal(size=(n, 1, 3))
    return R, cg_energy_forces(R)[1]
