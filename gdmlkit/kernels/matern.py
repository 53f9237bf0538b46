"""Matérn kernel (nu = 5/2) on descriptor distances and the coefficients of its derivatives.

With d = ``|x - x'|`` and r = sqrt(5) d / sigma::

    k(x, x')            = (1 + r + r^2 / 3) exp(-r)
    grad_x k            = -a(r) (x - x')
    d^2 k / dx dx'^T    =  a(r) I - b(r) (x - x')(x - x')^T

with a = 5 / (3 sigma^2) (1 + r) exp(-r) and b = 25 / (3 sigma^4) exp(-r).
"""

import math

import torch

__all__ = ["matern52", "matern52_coefficients", "HessianPairs", "PAIR_BLOCK"]

#: Query x training-point pairs per tile of :class:`HessianPairs`: the (rows, cols)
#: temporaries then stay near the CPU's L3 cache (32 MB on the 2-core EPYC where it
#: was measured; tiles 4x larger were 2x slower).
PAIR_BLOCK = 3 * 2**18
#: Query rows per tile. Tiles of 128-2048 rows (x 6144-384 columns) made the ethanol product at
#: N = 10000 2.3x faster than tiles of 13 rows x all 60000 columns (wider GEMMs, the
#: column slice of the training points reused from cache).
TILE_ROWS = 256


def matern52(d, sigma):
    """Kernel value k(d) for descriptor distances `d` (any shape)."""
    r = (math.sqrt(5.0) / sigma) * d
    return (1.0 + r + r * r / 3.0) * torch.exp(-r)


def matern52_coefficients(d, sigma):
    """Hessian coefficients (a, b) of the Matérn-5/2 kernel at descriptor distances `d`."""
    r = (math.sqrt(5.0) / sigma) * d
    e = torch.exp(-r)
    a = (5.0 / (3.0 * sigma**2)) * (1.0 + r) * e
    b = (25.0 / (3.0 * sigma**4)) * e
    return a, b


class HessianPairs:
    """Hessian-kernel products of query descriptors against M fixed (permuted) training points.

    For a query x (row of an (m, D) tensor) and coefficients u_j (rows of UP, (M, D))::

        Fd(x) = sum_j [ a(d_j) u_j - b(d_j) (d_j . u_j) d_j ],    d_j = x - XP_j
        Ed(x) = -sum_j a(d_j) (d_j . u_j)

    The sums run over tiles of `rows` queries x `cols` points, each a few matrix
    products plus one exp: ``r^2 = 5 (d . d) / sigma^2`` comes from a single product with
    the augmented points ``[-2 s XP, 1, s^2 (XP . XP)]`` (s = sqrt(5)/sigma), and the constant
    factors of a = 5/(3 sigma^2) (1 + r) e and b = 25/(3 sigma^4) e, e = exp(-r), are
    applied to the (m, D) results, not to the tiles.

    Parameters
    ----------
    XP : (M, D) float tensor
        Training descriptors under every permutation.
    sigma : float
        Kernel length scale.
    rows, cols : int, optional
        Tile shape (default: ``TILE_ROWS`` x ``PAIR_BLOCK // TILE_ROWS``, more rows for small M).
    """

    def __init__(self, XP, sigma, rows=None, cols=None):
        self.XP = XP
        self.sigma = float(sigma)
        M, D = XP.shape
        self._s = math.sqrt(5.0) / self.sigma
        self._ca = 5.0 / (3.0 * self.sigma**2)
        self._cb = 25.0 / (3.0 * self.sigma**4)
        one = torch.ones(M, 1, dtype=XP.dtype, device=XP.device)
        self._B1 = torch.cat([(-2.0 * self._s) * XP, one, (self._s**2) * (XP * XP).sum(1, keepdim=True)], 1)
        self._B3 = torch.cat([XP, one], 1)
        self.rows = rows or max(TILE_ROWS, PAIR_BLOCK // max(1, M))
        self.cols = cols or max(1, PAIR_BLOCK // self.rows)
        self._tiles = [slice(c, min(M, c + self.cols)) for c in range(0, M, self.cols)]

    def _augment(self, x):
        xs = self._s * x
        one = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        return torch.cat([xs, (xs * xs).sum(1, keepdim=True), one], 1)

    def _tile_coefficients(self, xa, t, energy_kernel=False):
        """a' = (1 + r) e and e = exp(-r) (a = ca a', b = cb e) of one tile; with energy_kernel also k."""
        rn = (xa @ self._B1[t].T).clamp_(min=0.0).sqrt_().neg_()  # -r
        e = torch.exp(rn)
        k = e * (1.0 - rn + rn * rn / 3.0) if energy_kernel else None
        return torch.addcmul(e, rn, e, value=-1.0, out=rn), e, k

    def coefficients(self, x):
        """Pair coefficients of queries x (m, D) for every tile: a list of (a', e), 16 m M bytes."""
        xa = self._augment(x)
        return [self._tile_coefficients(xa, t)[:2] for t in self._tiles]

    def product(self, x, UP, XP_UP=None, coefficients=None, with_energy=False, energy_weights=None):
        """Fd (m, D) (and Ed (m,) with `with_energy`) of queries x (m, D) for coefficients UP (M, D).

        XP_UP : (M,) tensor, optional
            Row sums of XP * UP (computed when missing; pass it when calling for many row blocks).
        coefficients : list, optional
            :meth:`coefficients` of these x (skips the distances and exponentials; they hold
            no energy kernel, so not with `energy_weights`).
        energy_weights : (M,) tensor, optional
            Weights aE_j of energy-label coefficients (models fitted with energy
            constraints) adding ``sum_j aE_j [a_j d_j]`` to Fd and ``sum_j aE_j k_j`` to Ed.
        """
        if coefficients is not None and energy_weights is not None:
            raise ValueError("Cached coefficients hold no energy kernel; pass energy_weights without coefficients.")
        if XP_UP is None:
            XP_UP = (self.XP * UP).sum(1)
        xa = None if coefficients is not None else self._augment(x)
        Fa = torch.zeros_like(x)  # sum a' u_j
        G = torch.zeros(x.shape[0], x.shape[1] + 1, dtype=x.dtype, device=x.device)  # sum b'(d.u)[XP_j, 1]
        Ed = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device) if with_energy else None
        for i, t in enumerate(self._tiles):
            if coefficients is None:
                a, e, k = self._tile_coefficients(xa, t, energy_kernel=energy_weights is not None)
            else:
                (a, e), k = coefficients[i], None
            du = torch.addmm(XP_UP[None, t], x, UP[t].T, beta=-1.0)  # d_j . u_j
            if with_energy:
                Ed.sub_((a * du).sum(1), alpha=self._ca)
            if energy_weights is not None:
                aw = a * energy_weights[None, t]
                G.addmm_(aw, self._B3[t], alpha=-self._ca / self._cb)  # + ca aE a' d_j (sign: d = x - XP)
                if with_energy:
                    Ed.add_(k @ energy_weights[t])
            Fa.addmm_(a, UP[t])
            G.addmm_(du.mul_(e), self._B3[t])
        D = x.shape[1]
        Fd = self._ca * Fa + self._cb * (G[:, :D] - G[:, D:] * x)
        return (Fd, Ed) if with_energy else Fd
