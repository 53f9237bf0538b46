"""gdmlkit.nn shared layers: spherical harmonics against scipy and as rotation representations,
cutoff smoothness."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from scipy.special import sph_harm_y

from gdmlkit.nn.layers import cosine_cutoff, spherical_harmonics
from gdmlkit.nn.spookynet import smooth_cutoff

from helpers import _unit_vectors, wigner_from_sh

L_MAX = 4


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


@pytest.mark.parametrize("cutoff_fn", [cosine_cutoff, smooth_cutoff])
def test_cutoffs_vanish_smoothly(cutoff_fn):
    d = torch.tensor([0.0, 4.999999, 5.0, 6.0], dtype=torch.float64, requires_grad=True)
    f = cutoff_fn(d, 5.0)
    (g,) = torch.autograd.grad(f.sum(), d)
    f = f.detach().numpy()
    assert f[0] == pytest.approx(1.0)
    np.testing.assert_allclose(f[1:], 0.0, atol=1e-9)
    np.testing.assert_allclose(g.numpy(), 0.0, atol=1e-5)
