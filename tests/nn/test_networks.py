"""The three networks in float64: forces = -dE/dR (central differences), invariance of the
energy and equivariance of the forces under rotations, reflections, translations, permutations of
identical atoms and lattice translations; energy and forces continuous as an atom leaves the
cutoff sphere; batches give the energies of their geometries alone; far-apart molecules: the sum
of their energies (SchNet, SO3krates), the Coulomb energy of their partial charges (SpookyNet);
SO3krates' Euclidean variables transform as their degree; SpookyNet's charges add up to the total
charge and charge and spin each change the energy."""

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
    for seed in range(4):
        Q = Rotation.random(random_state=seed).as_matrix()
        if seed == 3:
            Q = -Q  # improper: a rotation times the inversion (O(3), not only SO(3))
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


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_energy_and_forces_continuous_as_an_atom_leaves_the_cutoff(name):
    """A He atom moved outward from the outermost atom along u: its distance to that atom crosses the
    cutoff (4 Å) alone. The jumps of E and F across it shrink with the step (continuous: in
    proportion; a step function would keep them)."""
    net = _network(name)
    u = np.array([0.3, 0.9, 0.3]) / np.linalg.norm([0.3, 0.9, 0.3])
    k = np.argmax(ETHANOL_R @ u)

    def at(r):
        E, F = energy_forces(net, np.vstack([ETHANOL_R, ETHANOL_R[k] + r * u]), np.append(ETHANOL_Z, 2))
        return E[0], F[0]

    rc = SMALL["cutoff"]
    d = np.linalg.norm(ETHANOL_R - (ETHANOL_R[k] + rc * u), axis=1)  # He to each atom at the crossing
    assert np.sort(d)[1] > rc + 0.5  # only one pair crosses
    assert abs(at(rc - 1.0)[0] - at(rc + 1.0)[0]) > 1e-3  # the atom interacts inside
    jumps = []
    for delta in (1e-3, 1e-6):
        (E1, F1), (E2, F2) = at(rc - delta), at(rc + delta)
        jumps.append((abs(E1 - E2), np.abs(F1 - F2).max()))
    scale = np.abs(at(rc - 1.0)[1]).max()
    for j_big, j_small in zip(*jumps):
        assert j_small <= 1e-2 * j_big + 1e-10 * scale


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_batch_gives_energies_of_its_geometries_alone(name):
    net = _network(name)
    R = ETHANOL_R + np.random.default_rng(2).normal(scale=0.1, size=(3,) + ETHANOL_R.shape)
    E, F = energy_forces(net, R, ETHANOL_Z)
    for b in range(3):
        E1, F1 = energy_forces(net, R[b], ETHANOL_Z)
        np.testing.assert_allclose(E1, E[b:b + 1], rtol=1e-12)
        np.testing.assert_allclose(F1[0], F[b], atol=1e-10 * np.abs(F).max())
    assert np.ptp(E) > 1e-6


def _two_molecules(D):
    """Ethanol and a water molecule D Å apart along x: positions, atomic numbers, and the slices of each."""
    water = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    R = np.vstack([ETHANOL_R, water + [D, 0.0, 0.0]])
    return R, np.concatenate([ETHANOL_Z, [8, 1, 1]]), slice(0, 9), slice(9, 12)


@pytest.mark.parametrize("name", ["schnet", "so3krates"])
def test_far_apart_molecules_add_up(name):
    """Local networks are size-separable: beyond the cutoff, energy = sum of the parts, forces those of each part."""
    net = _network(name)
    R, z, a, b = _two_molecules(30.0)
    E, F = energy_forces(net, R, z)
    Ea, Fa = energy_forces(net, R[a], z[a])
    Eb, Fb = energy_forces(net, R[b], z[b])
    np.testing.assert_allclose(E, Ea + Eb, rtol=1e-12)
    np.testing.assert_allclose(F[0], np.vstack([Fa[0], Fb[0]]), atol=1e-12 * np.abs(F).max())


def test_spookynet_far_apart_molecules_interact_by_coulomb_of_their_charges():
    """SpookyNet's long-range limit: beyond the local cutoff the fragments' partial charges no longer depend
    on their distance and the energy changes as k_e sum_{i in A, j in B} q_i q_j / r_ij (the nonlocal
    attention and the charge equilibration act on the whole geometry, so E(A + B) is not E(A) + E(B))."""
    net = _network("spookynet")

    def run(D):
        R, z, a, b = _two_molecules(D)
        pos = torch.as_tensor(R)
        E, q = net(torch.as_tensor(z), pos, torch.zeros(12, dtype=torch.long), 1, net.pair_lists(pos[None]),
                   torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), return_charges=True)
        q = q.detach().numpy()
        r = np.linalg.norm(R[a][:, None] - R[b][None], axis=-1)
        return float(E.detach()), q, net.coulomb_constant * np.sum(q[a][:, None] * q[b][None] / r)

    (E1, q1, C1), (E2, q2, C2) = run(12.0), run(40.0)
    np.testing.assert_allclose(q1, q2, atol=1e-12)
    assert abs(C1 - C2) > 1e-4  # the Coulomb energy changes measurably
    np.testing.assert_allclose(E1 - E2, C1 - C2, rtol=1e-9)


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
    E_charge, _ = run([1.0, -1.0], [0.0, 0.0])  # each embedding alone changes the energy
    E_spin, _ = run([0.0, 0.0], [1.0, 2.0])
    assert np.all(np.abs(E_charge - E0) > 1e-6) and np.all(np.abs(E_spin - E0) > 1e-6)
    assert np.abs(q0).max() > 1e-3  # charges are not trivially zero


def test_spookynet_zbl_dominates_at_short_range():
    """Two nuclei pushed together: the energy grows like the bare Coulomb repulsion Z1 Z2 k_e / r."""
    net = _network("spookynet")
    z = np.array([6, 8])
    E = [energy_forces(net, np.array([[0, 0, 0], [r, 0, 0]]), z)[0][0] for r in (0.01, 0.005)]
    k_e = net.coulomb_constant
    # E(r) ~ k_e Z1 Z2 phi(r/a) / r with phi -> 1: doubling 1/r nearly doubles E
    assert E[1] - E[0] == pytest.approx(k_e * 48 * (1 / 0.005 - 1 / 0.01), rel=0.1)
