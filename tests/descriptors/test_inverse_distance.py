"""Inverse-distance descriptor: values, and Jacobian products against finite differences and autograd."""

import numpy as np
import pytest
import torch

from gdmlkit.descriptors import InverseDistanceDescriptor, pair_indices


@pytest.fixture
def geoms():
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.normal(scale=1.5, size=(4, 6, 3)))


def test_values_are_inverse_distances(geoms):
    x, _ = InverseDistanceDescriptor(6).transform(geoms)
    a, b = pair_indices(6)
    ref = 1.0 / np.linalg.norm(geoms.numpy()[:, a] - geoms.numpy()[:, b], axis=-1)
    np.testing.assert_allclose(x.numpy(), ref, rtol=1e-14)


def test_jacobian_matches_autograd(geoms):
    desc = InverseDistanceDescriptor(6)
    _, g = desc.transform(geoms)
    J = desc.jacobian(g)
    for s in range(len(geoms)):
        ref = torch.autograd.functional.jacobian(lambda r: desc.transform(r[None])[0][0], geoms[s])
        np.testing.assert_allclose(J[s].numpy(), ref.reshape(J.shape[1], -1).numpy(), rtol=1e-12, atol=1e-14)


def test_jvp_vjp_match_central_differences(geoms):
    desc = InverseDistanceDescriptor(6)
    _, g = desc.transform(geoms)
    rng = np.random.default_rng(1)
    V = torch.from_numpy(rng.normal(size=geoms.shape))
    h = 1e-6
    fd = (desc.transform(geoms + h * V)[0] - desc.transform(geoms - h * V)[0]) / (2 * h)
    np.testing.assert_allclose(desc.jvp(g, V).numpy(), fd.numpy(), rtol=1e-7, atol=1e-9)
    U = torch.from_numpy(rng.normal(size=(4, 15)))
    # adjoint identity <U, J V> = <J^T U, V>
    lhs = (U * desc.jvp(g, V)).sum()
    rhs = (desc.vjp(g, U) * V).sum()
    assert abs(float(lhs - rhs)) < 1e-12 * float(abs(lhs))


def test_coincident_atoms_are_rejected():
    R = torch.zeros(1, 3, 3, dtype=torch.float64)
    R[0, 1, 0] = 1.0
    with pytest.raises(ValueError, match="same position"):
        InverseDistanceDescriptor(3).transform(R)
