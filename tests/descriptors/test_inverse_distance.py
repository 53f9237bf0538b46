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


def test_batched_jvp_vjp_equal_the_dense_jacobian(geoms):
    """Trailing dimensions (several vectors at once) give the dense products column by column."""
    desc = InverseDistanceDescriptor(6)
    _, g = desc.transform(geoms)
    J = desc.jacobian(g).numpy()
    rng = np.random.default_rng(2)
    V = rng.normal(size=(4, 6, 3, 5))
    U = rng.normal(size=(4, 15, 5))
    np.testing.assert_allclose(desc.jvp(g, torch.from_numpy(V)).numpy(), J @ V.reshape(4, 18, 5), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(desc.vjp(g, torch.from_numpy(U)).numpy().reshape(4, 18, 5),
                               J.transpose(0, 2, 1) @ U, rtol=1e-12, atol=1e-14)


def test_null_motions_are_the_jacobian_null_space(geoms):
    """Translations and rotations leave inverse distances unchanged (J T = 0) and are all of J's null
    space (rank 3N - 6); the internal frame is an orthonormal basis of the complement."""
    desc = InverseDistanceDescriptor(6)
    _, g = desc.transform(geoms)
    J = desc.jacobian(g).numpy()
    T = desc.null_motions(geoms).numpy()
    assert T.shape == (4, 18, 6)
    np.testing.assert_allclose(J @ T, 0.0, atol=1e-12 * np.abs(J).max())
    assert all(np.linalg.matrix_rank(Ji) == 12 for Ji in J) and all(np.linalg.matrix_rank(t) == 6 for t in T)
    frame = desc.internal_frame(geoms)
    Q = frame.basis().numpy()
    assert frame.rank == 12 and Q.shape == (4, 18, 12)
    np.testing.assert_allclose(Q.transpose(0, 2, 1) @ Q, np.broadcast_to(np.eye(12), (4, 12, 12)), atol=1e-13)
    np.testing.assert_allclose(Q.transpose(0, 2, 1) @ T, 0.0, atol=1e-12)
    F = np.random.default_rng(3).normal(size=(4, 18))
    np.testing.assert_allclose(frame.project(torch.from_numpy(F)).numpy(), np.einsum("nkr,nk->nr", Q, F),
                               atol=1e-13)
    B = np.random.default_rng(4).normal(size=(4, 12, 2))
    np.testing.assert_allclose(frame.lift(torch.from_numpy(B)).numpy(), Q @ B, atol=1e-13)
    np.testing.assert_allclose(frame.lift(torch.from_numpy(B[1:3]), slice(1, 3)).numpy(), Q[1:3] @ B[1:3],
                               atol=1e-13)


def test_linear_geometry_has_no_internal_frame():
    R = torch.zeros(2, 3, 3, dtype=torch.float64)
    R[:, :, 0] = torch.tensor([0.0, 1.1, 2.3])
    R[1, 1, 1] = 0.4  # bent: has one
    desc = InverseDistanceDescriptor(3)
    assert desc.internal_frame(R) is None
    assert desc.internal_frame(R[1:]).rank == 3
