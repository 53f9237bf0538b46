"""AD descriptors: Jacobian products against central finite differences, the AD inverse distances against the
hand-derived ones, and invariance under rotations, translations, permutations (and lattice translations)."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from gdmlkit import load_example
from gdmlkit.descriptors import (AutodiffDescriptor, AutodiffInverseDistanceDescriptor, CoulombMatrixDescriptor,
                                 InverseDistanceDescriptor, MinimumImageDescriptor, MorseDescriptor,
                                 PeriodicInverseDistanceDescriptor, as_autodiff, make_descriptor)
from gdmlkit.symmetry import permutation_desc_index
from gdmlkit.units import length_units_to_A

from helpers import ETHANOL_PERMS


@pytest.fixture(scope="module")
def ethanol():
    return load_example("ethanol_train")[:4]


@pytest.fixture(scope="module")
def pdh():
    return load_example("pdh_emt")[:3]


def molecular(z):
    return {"morse": MorseDescriptor(z, alpha=1.5), "coulomb": CoulombMatrixDescriptor(z),
            "inverse": AutodiffInverseDistanceDescriptor(len(z))}


MOLECULAR = ["morse", "coulomb", "inverse"]


def finite_difference_jacobian(desc, R, h=1e-6):
    """Central differences of desc.forward at one geometry R (n_atoms, 3): (D, 3 n_atoms)."""
    cols = []
    for i in range(R.numel()):
        e = torch.zeros(R.numel(), dtype=torch.float64)
        e[i] = h
        cols.append((desc.forward(R + e.reshape(R.shape)) - desc.forward(R - e.reshape(R.shape))) / (2 * h))
    return torch.stack(cols, 1).numpy()


def check_jacobian(desc, R):
    x, g = desc.transform(R)
    J = desc.jacobian(g).numpy()
    for s in range(len(R)):
        ref = finite_difference_jacobian(desc, R[s])
        np.testing.assert_allclose(J[s], ref, rtol=1e-6, atol=1e-7 * np.abs(ref).max())
    V = torch.from_numpy(np.random.default_rng(0).normal(size=R.shape + (2,)))
    U = torch.from_numpy(np.random.default_rng(1).normal(size=(len(R), J.shape[1], 2)))
    np.testing.assert_allclose(desc.jvp(g, V).numpy(), np.einsum("ndk,nkv->ndv", J, V.reshape(len(R), -1, 2)),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(desc.vjp(g, U).reshape(len(R), -1, 2).numpy(), np.einsum("ndk,ndv->nkv", J, U),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(desc.jvp(g, V[..., 0]).numpy(), desc.jvp(g, V)[..., 0].numpy(), rtol=1e-14)


@pytest.mark.parametrize("name", MOLECULAR)
def test_jacobian_equals_finite_differences(ethanol, name):
    check_jacobian(molecular(ethanol.z)[name], torch.from_numpy(ethanol.R))


def test_minimum_image_jacobian_equals_finite_differences(pdh):
    desc = MinimumImageDescriptor(MorseDescriptor(pdh.z), pdh.cell[0], pdh.pbc)
    check_jacobian(desc, torch.from_numpy(pdh.R))


def test_ad_inverse_distances_equal_the_hand_derived(ethanol, pdh):
    for ad, hand, R in ((AutodiffInverseDistanceDescriptor(9), InverseDistanceDescriptor(9), ethanol.R),
                        (MinimumImageDescriptor(AutodiffInverseDistanceDescriptor(pdh.R.shape[1]), pdh.cell[0]),
                         PeriodicInverseDistanceDescriptor(pdh.R.shape[1], pdh.cell[0]), pdh.R)):
        R = torch.from_numpy(R)
        (x1, g1), (x2, g2) = ad.transform(R), hand.transform(R)
        np.testing.assert_allclose(x1.numpy(), x2.numpy(), rtol=1e-14)
        np.testing.assert_allclose(ad.jacobian(g1).numpy(), hand.jacobian(g2).numpy(), rtol=1e-12, atol=1e-14)
        assert type(as_autodiff(hand)) is type(ad)


def test_values(ethanol):
    """Morse entries are 1 at the covalent bond length; Coulomb entries z_a z_b / r."""
    z = ethanol.z
    R = torch.zeros(9, 3, dtype=torch.float64)
    R[:, 0] = torch.arange(9) * 10.0
    R[1, 0] = 0.76 + 0.76  # C-C at the sum of ASE's covalent radii of carbon
    x = MorseDescriptor(z).forward(R)
    assert abs(float(x[0]) - 1.0) < 1e-12  # pair (1, 0)
    np.testing.assert_allclose(float(CoulombMatrixDescriptor(z).forward(R)[0]), 36 / 1.52, rtol=1e-14)
    bohr = MorseDescriptor(z, length_unit="Bohr").forward(R / length_units_to_A("Bohr"))
    np.testing.assert_allclose(bohr.numpy(), x.numpy(), rtol=1e-9)


@pytest.mark.parametrize("name", MOLECULAR)
def test_invariance(ethanol, name):
    """Rotations (proper and improper) and translations leave x unchanged; the ethanol permutations permute it as
    permutation_index says (and as the pair-index permutations do)."""
    desc = molecular(ethanol.z)[name]
    R = ethanol.R[0]
    x = desc.forward(torch.from_numpy(R)).numpy()
    for Q in (Rotation.random(random_state=0).as_matrix(), -np.eye(3)):
        moved = R @ Q.T + np.array([3.0, -1.0, 7.0])
        np.testing.assert_allclose(desc.forward(torch.from_numpy(moved)).numpy(), x, rtol=1e-12)
    idx = desc.permutation_index(ETHANOL_PERMS)
    np.testing.assert_array_equal(idx, permutation_desc_index(ETHANOL_PERMS))
    np.testing.assert_array_equal(AutodiffDescriptor.permutation_index(desc, ETHANOL_PERMS), idx)  # generic search
    for p, i in zip(ETHANOL_PERMS, idx):
        np.testing.assert_allclose(desc.forward(torch.from_numpy(R[p])).numpy(), x[i], rtol=1e-14)
    assert not np.allclose(desc.forward(torch.from_numpy(R[ETHANOL_PERMS[1]])).numpy(), x)  # a real permutation


def test_minimum_image_invariance(pdh):
    """Translating the cell contents or moving one atom by a lattice vector changes nothing; a rotation inside
    the fixed cell does (rotations are not null motions there)."""
    desc = MinimumImageDescriptor(MorseDescriptor(pdh.z), pdh.cell[0], pdh.pbc)
    R = pdh.R[0]
    x = desc.forward(torch.from_numpy(R)).numpy()
    moved = R + np.array([0.3, -2.0, 1.1])
    moved[5] += pdh.cell[0][1] - 2 * pdh.cell[0][2]
    np.testing.assert_allclose(desc.forward(torch.from_numpy(moved)).numpy(), x, rtol=1e-12)
    assert desc.null_motions(torch.from_numpy(pdh.R)).shape == (3, 3 * len(R), 3)
    rotated = (R - R.mean(0)) @ Rotation.from_euler("z", 10, degrees=True).as_matrix().T + R.mean(0)
    assert not np.allclose(desc.forward(torch.from_numpy(rotated)).numpy(), x, rtol=1e-3)


def test_cell_too_small_is_rejected():
    """Two H atoms 2.6 Å apart in a 3 Å cube: the nearest neighbour is beyond half the lattice vector."""
    desc = MinimumImageDescriptor(MorseDescriptor([1, 1]), 3.0 * np.eye(3))
    with pytest.raises(ValueError, match="too small for a unique minimum image"):
        desc.transform(np.array([[[0.0, 0.0, 0.0], [1.5, 1.5, 1.5]]]))


class Weighted(AutodiffDescriptor):
    """Inverse distances times entry-dependent weights: permuting atoms does not permute its entries."""

    n_atoms = 9

    def forward(self, R):
        return AutodiffInverseDistanceDescriptor(9).forward(R) * torch.arange(1.0, 37.0, dtype=torch.float64)


def test_user_descriptor_needs_covariance_and_cannot_be_saved():
    with pytest.raises(ValueError, match="does not permute the entries"):
        Weighted().permutation_index(ETHANOL_PERMS)
    np.testing.assert_array_equal(Weighted().permutation_index(ETHANOL_PERMS[:1]), np.arange(36)[None])
    with pytest.raises(TypeError, match="not a built-in descriptor"):
        Weighted().spec()


def test_spec_round_trip(ethanol, pdh):
    for desc in (MorseDescriptor(ethanol.z, alpha=2.0), CoulombMatrixDescriptor(ethanol.z),
                 MinimumImageDescriptor(MorseDescriptor(pdh.z), pdh.cell[0], pdh.pbc)):
        again = make_descriptor(desc.spec())
        R = torch.from_numpy((ethanol if desc.n_atoms == 9 else pdh).R[0])
        np.testing.assert_array_equal(again.forward(R).numpy(), desc.forward(R).numpy())
