"""Tiled Matérn-5/2 Hessian products (HessianPairs) against the per-pair formula."""

import pytest
import torch


@pytest.mark.parametrize("cols", [None, 7])
def test_tiled_hessian_product_equals_pairwise_sum(cols):
    """HessianPairs (one or several column tiles) against the per-pair formula of matern.py's docstring."""
    from gdmlkit.kernels.matern import HessianPairs, matern52, matern52_coefficients

    g = torch.Generator().manual_seed(0)
    x, XP, UP = (torch.rand(m, 5, generator=g, dtype=torch.float64) for m in (4, 30, 30))
    w = torch.rand(30, generator=g, dtype=torch.float64)
    d = x[:, None, :] - XP[None]  # (4, 30, 5)
    dist = d.norm(dim=-1)
    a, b = matern52_coefficients(dist, 2.0)
    du = (d * UP[None]).sum(-1)
    F_ref = (a[..., None] * UP[None] - (b * du)[..., None] * d).sum(1) + ((a * w)[..., None] * d).sum(1)
    E_ref = -(a * du).sum(1) + (matern52(dist, 2.0) * w).sum(1)
    pairs = HessianPairs(XP, 2.0, cols=cols)
    assert -(-30 // pairs.cols) == (1 if cols is None else 5)  # column tiles of the 30 points
    F, E = pairs.product(x, UP, with_energy=True, energy_weights=w)
    torch.testing.assert_close(F, F_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(E, E_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(pairs.product(x, UP, coefficients=pairs.coefficients(x)),
                               pairs.product(x, UP), rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="no energy kernel"):
        pairs.product(x, UP, coefficients=pairs.coefficients(x), energy_weights=w)
