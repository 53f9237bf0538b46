"""The three networks in float64: forces = -dE/dR (central differences), invariance of the
energy and equivariance of the forces under rotations, translations, permutations of identical
atoms and lattice translations; SO3krates' Euclidean variables transform as their degree;
SpookyNet's charges add up to the total charge."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from gdmlkit.nn import SchNet, SO3krates, SpookyNet

from helpers import wigner_from_sh

SMALL = {"n_features": 16, "n_interactions": 2, "cutoff": 4.0}
ARCHS = {"schnet": lambda: SchNet(**SMALL), "spookynet": lambda: SpookyNet(**SMALL, long_range_cutoff=6.0),
         "so3krates": lambda: SO3krates(**SMALL, l_max=3, n_heads=2)}
# ethanol, atom order C C O H H H H H H
ETHANOL_Z = np.array([6, 6, 8, 1, 1, 1, 1, 1, 1])
ETHANOL_R = np.array([[-0.0048, -0.5687, 0.0], [-1.2188, 0.3349, 0.0], [1.2157, 0.1809, 0.0],
                      [-0.0083, -1.2206, 0.8837], [-0.0083, -1.2206, -0.8837], [-2.1434, -0.2561, 0.0],
                      [-1.2028, 0.9819, 0.8845], [-1.2028, 0.9819, -0.8845], [1.9807, -0.4144, 0.0]])
CELL = np.array([[5.0, 0.4, 0.0], [0.3, 4.6, 0.2], [-0.2, 0.5, 5.3]])


def _network(name, seed=0):
    """A float64 network with all weights perturbed (zero-initialised layers would hide terms)."""
    torch.manual_seed(seed)
    net = ARCHS[name]().double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net.eval()


def energy_forces(net, R, z, cell=None, pbc=None, charge=0.0, spin=0.0):
    """Energies (n,) and forces (n, n_atoms, 3) of positions R (n, n_atoms, 3) as numpy float64."""
    R = torch.as_tensor(np.asarray(R, dtype=np.float64)).reshape(-1, len(z), 3)
    n = R.shape[0]
    pos = R.reshape(-1, 3).clone().requires_grad_(True)
    pairs = net.pair_lists(pos.view(n, len(z), 3), None if cell is None else np.broadcast_to(cell, (n, 3, 3)), pbc)
    batch = torch.arange(n).repeat_interleave(len(z))
    zt = torch.as_tensor(np.tile(z, n))
    q, s = torch.full((n,), float(charge), dtype=torch.float64), torch.full((n,), float(spin), dtype=torch.float64)
    E = net(zt, pos, batch, n, pairs, q, s)
    (g,) = torch.autograd.grad(E.sum(), pos)
    return E.detach().numpy(), -g.view(n, len(z), 3).numpy()


def _periodic_system():
    rng = np.random.default_rng(7)
    frac = rng.uniform(size=(8, 3))
    return frac @ CELL, np.array([14, 14, 8, 8, 8, 8, 1, 1])


@pytest.mark.parametrize("name", sorted(ARCHS))
@pytest.mark.parametrize("periodic", [False, True])
def test_forces_are_negative_energy_gradient(name, periodic):
    net = _network(name)
    if periodic:
        R, z = _periodic_system()
        cell = CELL
    else:
        R, z, cell = ETHANOL_R + np.random.default_rng(1).normal(scale=0.05, size=ETHANOL_R.shape), ETHANOL_Z, None
    _, F = energy_forces(net, R, z, cell)
    h = 1e-5
    steps = np.zeros((2 * R.size,) + R.shape)
    for k in range(R.size):
        steps[2 * k].flat[k], steps[2 * k + 1].flat[k] = h, -h
    E, _ = energy_forces(net, R[None] + steps, z, cell)
    F_fd = -(E[0::2] - E[1::2]).reshape(R.shape) / (2 * h)
    np.testing.assert_allclose(F, F_fd[None], rtol=1e-6, atol=1e-7 * np.abs(F).max())


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_molecule_invariance_and_equivariance(name):
    net = _network(name)
    E, F = energy_forces(net, ETHANOL_R, ETHANOL_Z)
    scale = np.abs(F).max()
    for seed in range(3):
        Q = Rotation.random(random_state=seed).as_matrix()
        t = np.random.default_rng(seed).normal(size=3) * 3.0
        E2, F2 = energy_forces(net, ETHANOL_R @ Q.T + t, ETHANOL_Z)
        np.testing.assert_allclose(E2, E, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(F2[0], F[0] @ Q.T, atol=1e-10 * scale)
    perm = np.array([0, 1, 2, 5, 3, 4, 8, 6, 7])  # permutes hydrogens among themselves
    E3, F3 = energy_forces(net, ETHANOL_R[perm], ETHANOL_Z[perm])
    np.testing.assert_allclose(E3, E, rtol=1e-12)
    np.testing.assert_allclose(F3[0], F[0][perm], atol=1e-10 * scale)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_periodic_invariance(name):
    """Lattice translations of single atoms, a global rotation of atoms and cell, and a shift change nothing."""
    net = _network(name)
    R, z = _periodic_system()
    E, F = energy_forces(net, R, z, CELL)
    scale = np.abs(F).max()
    R_shift = R.copy()
    R_shift[0] += CELL[1] - 2 * CELL[2]
    R_shift[5] -= CELL[0]
    E2, F2 = energy_forces(net, R_shift + 0.37, z, CELL)
    np.testing.assert_allclose(E2, E, rtol=1e-12)
    np.testing.assert_allclose(F2, F, atol=1e-10 * scale)
    Q = Rotation.random(random_state=5).as_matrix()
    E3, F3 = energy_forces(net, R @ Q.T, z, CELL @ Q.T)
    np.testing.assert_allclose(E3, E, rtol=1e-12)
    np.testing.assert_allclose(F3[0], F[0] @ Q.T, atol=1e-10 * scale)


def test_so3krates_euclidean_variables_transform_as_their_degree():
    net = _network("so3krates")
    z = torch.as_tensor(ETHANOL_Z)

    def chi(R):
        pos = torch.as_tensor(R)
        x, c = net.features(z, pos, net.pair_lists(pos[None]))
        return x.detach().numpy(), [t.detach().numpy() for t in c]

    x, c = chi(ETHANOL_R)
    Q = Rotation.random(random_state=11).as_matrix()
    x2, c2 = chi(ETHANOL_R @ Q.T + 1.5)
    np.testing.assert_allclose(x2, x, atol=1e-10 * np.abs(x).max())
    for l, (a, b) in enumerate(zip(c, c2), start=1):
        assert a.shape == (9, 2 * l + 1)
        assert np.abs(a).max() > 1e-3  # nonzero, so the check below has teeth
        np.testing.assert_allclose(b, a @ wigner_from_sh(Q, l).T, atol=1e-9 * np.abs(a).max())


def test_spookynet_charges_sum_to_total_charge_and_states_change_energy():
    net = _network("spookynet")
    R = torch.as_tensor(np.stack([ETHANOL_R, ETHANOL_R + 0.01]))
    pos = R.reshape(-1, 3)
    z = torch.as_tensor(np.tile(ETHANOL_Z, 2))
    batch = torch.arange(2).repeat_interleave(9)
    pairs = net.pair_lists(R)

    def run(charge, spin):
        q, s = torch.tensor(charge, dtype=torch.float64), torch.tensor(spin, dtype=torch.float64)
        E, qi = net(z, pos, batch, 2, pairs, q, s, return_charges=True)
        return E.detach().numpy(), qi.detach().numpy().reshape(2, 9)

    E0, q0 = run([0.0, 0.0], [0.0, 0.0])
    E1, q1 = run([1.0, -1.0], [1.0, 2.0])
    np.testing.assert_allclose(q0.sum(1), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(q1.sum(1), [1.0, -1.0], atol=1e-12)
    assert np.all(np.abs(E1 - E0) > 1e-6)
    assert np.abs(q0).max() > 1e-3  # charges are not trivially zero


def test_spookynet_zbl_dominates_at_short_range():
    """Two nuclei pushed together: the energy grows like the bare Coulomb repulsion Z1 Z2 k_e / r."""
    net = _network("spookynet")
    z = np.array([6, 8])
    E = [energy_forces(net, np.array([[0, 0, 0], [r, 0, 0]]), z)[0][0] for r in (0.01, 0.005)]
    k_e = net.coulomb_constant
    # E(r) ~ k_e Z1 Z2 phi(r/a) / r with phi -> 1: doubling 1/r nearly doubles E
    assert E[1] - E[0] == pytest.approx(k_e * 48 * (1 / 0.005 - 1 / 0.01), rel=0.1)
