"""The mirror-aware chain descriptor: Jacobian against finite differences, sign change under reflection,
and a GDML model on it that is conservative and tells mirror images apart."""

import numpy as np
import pytest
import torch

from gdmlkit.coarse_graining import ChiralGDMLRegressor, ChiralInverseDistanceDescriptor, dihedral


@pytest.fixture(scope="module")
def chains():
    """30 zig-zag 5-bead chains with random dihedrals (bond 1.5, angle ~110 degrees, jittered)."""
    rng = np.random.default_rng(0)
    R = np.cumsum(rng.normal(size=(30, 5, 3)), axis=1)
    return R + 0.1 * rng.normal(size=R.shape)


def test_jacobian_matches_finite_differences(chains):
    desc = ChiralInverseDistanceDescriptor(5)
    R = torch.from_numpy(chains[:3])
    x, g = desc.transform(R)
    assert x.shape == (3, 12) and g.shape == (3, 12, 5, 3)
    h = 1e-6
    for a, c in [(0, 0), (2, 1), (4, 2)]:
        dR = torch.zeros_like(R)
        dR[:, a, c] = h
        fd = (desc.transform(R + dR)[0] - desc.transform(R - dR)[0]) / (2 * h)
        torch.testing.assert_close(g[:, :, a, c], fd, rtol=1e-6, atol=1e-8)
    V = torch.randn(3, 5, 3, dtype=torch.float64)
    U = torch.randn(3, 12, dtype=torch.float64)
    torch.testing.assert_close((desc.jvp(g, V) * U).sum(), (desc.vjp(g, U) * V).sum())  # adjoint pair


def test_signed_volume_is_sin_theta_sin_theta_sin_dihedral(chains):
    """The appended entries are weight * sin(theta1) sin(theta2) sin(dihedral): checked against the dihedral."""
    desc = ChiralInverseDistanceDescriptor(5, weight=1.0)
    x = desc.transform(torch.from_numpy(chains))[0].numpy()
    for q, col in zip(([0, 1, 2, 3], [1, 2, 3, 4]), (10, 11)):
        b = np.diff(chains[:, q], axis=1)
        u = b / np.linalg.norm(b, axis=-1, keepdims=True)
        s1 = np.sqrt(1 - (u[:, 0] * u[:, 1]).sum(-1) ** 2)
        s2 = np.sqrt(1 - (u[:, 1] * u[:, 2]).sum(-1) ** 2)
        np.testing.assert_allclose(x[:, col], s1 * s2 * np.sin(np.radians(dihedral(chains, *q))), atol=1e-12)


def test_reflection_flips_only_the_signed_volumes(chains):
    desc = ChiralInverseDistanceDescriptor(5)
    x = desc.transform(torch.from_numpy(chains))[0]
    xm = desc.transform(torch.from_numpy(chains * np.array([1.0, 1.0, -1.0])))[0]
    torch.testing.assert_close(xm[:, :10], x[:, :10])
    torch.testing.assert_close(xm[:, 10:], -x[:, 10:])


@pytest.mark.filterwarnings("ignore:No energy labels")
def test_chiral_gdml_is_conservative_and_mirror_aware(chains):
    rng = np.random.default_rng(1)
    F = rng.normal(size=chains.shape)
    model = ChiralGDMLRegressor(sigma=2.0, lam=1e-6).fit(chains, F, z=np.ones(5, dtype=int))
    R = chains[:1].copy()
    h = 1e-5
    _, F_pred = model.predict(R)
    for a, c in [(1, 0), (3, 2)]:
        Rp, Rm = R.copy(), R.copy()
        Rp[0, a, c] += h
        Rm[0, a, c] -= h
        fd = -(model.predict(Rp)[0] - model.predict(Rm)[0]) / (2 * h)
        assert F_pred[0, a, c] == pytest.approx(fd[0], rel=1e-6, abs=1e-8)
    E, _ = model.predict(chains[:5])
    E_mirror, _ = model.predict(chains[:5] * np.array([1.0, 1.0, -1.0]))
    assert np.abs(E - E_mirror).max() > 1e-3  # a distance-only kernel gives equal energies


def test_chiral_gdml_rejects_permutations():
    with pytest.raises(ValueError, match="perms='none' only"):
        ChiralGDMLRegressor(perms="auto").fit(np.random.default_rng(0).normal(size=(4, 5, 3)),
                                              np.zeros((4, 5, 3)), z=np.ones(5, dtype=int))


def test_bad_quadruples():
    with pytest.raises(ValueError, match="quadruples must be an int array"):
        ChiralInverseDistanceDescriptor(5, quadruples=[[0, 1, 2, 7]])
    with pytest.raises(ValueError, match="4 distinct beads"):
        ChiralInverseDistanceDescriptor(5, quadruples=[[0, 1, 2, 1]])
