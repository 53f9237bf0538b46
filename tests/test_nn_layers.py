"""gdmlkit.nn shared layers: spherical harmonics against scipy and as rotation representations,
neighbour lists against ASE's, cutoff smoothness."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list
from scipy.spatial.transform import Rotation
from scipy.special import sph_harm_y

from gdmlkit.nn.layers import cosine_cutoff, spherical_harmonics
from gdmlkit.nn.neighbors import neighbor_list
from gdmlkit.nn.spookynet import smooth_cutoff

L_MAX = 4


def _unit_vectors(n, seed):
    u = np.random.default_rng(seed).normal(size=(n, 3))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def wigner_from_sh(Q, l, n=64, seed=0):
    """D_l(Q) with Y_l(Q u) = D_l Y_l(u), by least squares on random unit vectors u."""
    u = _unit_vectors(n, seed)
    Y = spherical_harmonics(torch.from_numpy(u), l)[l - 1].numpy()
    YQ = spherical_harmonics(torch.from_numpy(u @ Q.T), l)[l - 1].numpy()
    return np.linalg.lstsq(Y, YQ, rcond=None)[0].T


def test_spherical_harmonics_match_scipy():
    u = _unit_vectors(200, 1)
    theta, phi = np.arccos(u[:, 2]), np.arctan2(u[:, 1], u[:, 0])
    Y = spherical_harmonics(torch.from_numpy(u), L_MAX)
    for l in range(1, L_MAX + 1):
        ref = []
        for m in range(-l, l + 1):
            c = sph_harm_y(l, abs(m), theta, phi)  # complex, with the Condon-Shortley phase
            if m == 0:
                ref.append(c.real)
            else:
                ref.append(np.sqrt(2) * (-1) ** m * (c.imag if m < 0 else c.real))
        np.testing.assert_allclose(Y[l - 1].numpy(), np.stack(ref, -1), atol=1e-12)


@pytest.mark.parametrize("l", range(1, L_MAX + 1))
def test_spherical_harmonics_transform_as_degree_l(l):
    """Y_l(Q u) = D_l(Q) Y_l(u) with D_l orthogonal and D_l(Q1 Q2) = D_l(Q1) D_l(Q2)."""
    Q1, Q2 = Rotation.random(2, random_state=l).as_matrix()
    D1, D2, D12 = (wigner_from_sh(Q, l) for Q in (Q1, Q2, Q1 @ Q2))
    u = _unit_vectors(30, 99)  # points not used to fit D
    Y = spherical_harmonics(torch.from_numpy(u), l)[l - 1].numpy()
    YQ = spherical_harmonics(torch.from_numpy(u @ Q1.T), l)[l - 1].numpy()
    np.testing.assert_allclose(YQ, Y @ D1.T, atol=1e-10)
    np.testing.assert_allclose(D1 @ D1.T, np.eye(2 * l + 1), atol=1e-10)
    np.testing.assert_allclose(D12, D1 @ D2, atol=1e-10)


def _pair_set(R, i, j, shift_cart):
    vec = R[j] - R[i] + shift_cart
    return sorted(zip(i.tolist(), j.tolist(), *np.round(vec, 8).T.tolist()))


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True)])
def test_periodic_neighbor_list_matches_ase(pbc):
    rng = np.random.default_rng(3)
    cell = np.array([[4.0, 0.3, 0.0], [0.6, 3.5, 0.2], [0.1, -0.5, 5.0]])
    R = rng.uniform(-3.0, 7.0, size=(7, 3))  # some atoms outside the cell
    cutoff = 4.5
    i, j, S = ase_neighbor_list("ijS", Atoms("H7", positions=R, cell=cell, pbc=pbc), cutoff)
    mi, mj, ms = neighbor_list(torch.from_numpy(R[None]), cutoff, cell[None], pbc)
    assert _pair_set(R, mi.numpy(), mj.numpy(), ms.numpy()) == _pair_set(R, i, j, S @ cell)


def test_molecular_neighbor_list_matches_ase_and_flattens_batches():
    rng = np.random.default_rng(4)
    R = rng.uniform(0, 6, size=(2, 8, 3))
    cutoff = 3.0
    mi, mj, ms = neighbor_list(torch.from_numpy(R), cutoff)
    assert torch.all(ms == 0)
    ref = []
    for b in range(2):
        i, j = ase_neighbor_list("ij", Atoms("H8", positions=R[b]), cutoff)
        ref += sorted(zip((i + 8 * b).tolist(), (j + 8 * b).tolist()))
    assert sorted(zip(mi.tolist(), mj.tolist())) == sorted(ref)


@pytest.mark.parametrize("cutoff_fn", [cosine_cutoff, smooth_cutoff])
def test_cutoffs_vanish_smoothly(cutoff_fn):
    d = torch.tensor([0.0, 4.999999, 5.0, 6.0], dtype=torch.float64, requires_grad=True)
    f = cutoff_fn(d, 5.0)
    (g,) = torch.autograd.grad(f.sum(), d)
    f = f.detach().numpy()
    assert f[0] == pytest.approx(1.0)
    np.testing.assert_allclose(f[1:], 0.0, atol=1e-9)
    np.testing.assert_allclose(g.numpy(), 0.0, atol=1e-5)
