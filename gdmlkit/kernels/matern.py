"""Matérn kernel (nu = 5/2) on descriptor distances and the coefficients of its derivatives.

With d = ``|x - x'|`` and r = sqrt(5) d / sigma::

    k(x, x')            = (1 + r + r^2 / 3) exp(-r)
    grad_x k            = -a(r) (x - x')
    d^2 k / dx dx'^T    =  a(r) I - b(r) (x - x')(x - x')^T

with a = 5 / (3 sigma^2) (1 + r) exp(-r) and b = 25 / (3 sigma^4) exp(-r).
"""

import math

import torch

__all__ = ["matern52", "matern52_constants", "matern52_coefficients", "HessianPairs", "SymmetricHessianPairs",
           "PAIR_BLOCK"]

# Tile sizes were chosen by measurement: docs/theory/tuning.md gives the figures.
#: Query x training-point pairs per tile of :class:`HessianPairs` (temporaries near an L3 cache).
PAIR_BLOCK = 3 * 2**18
#: Query rows per tile (wide GEMMs; the column slice of the training points reused from cache).
TILE_ROWS = 256
#: Pairs per tile of :class:`SymmetricHessianPairs`, which keeps four tile-sized arrays live.
SYMMETRIC_PAIR_BLOCK = PAIR_BLOCK // 4


def matern52_constants(sigma):
    """(s, ca, cb) = (sqrt(5) / sigma, 5 / (3 sigma^2), 25 / (3 sigma^4)): r = s d, a = ca (1 + r) e^-r,
    b = cb e^-r. Every implementation of the kernel (torch tiles, KeOps, the dense reference) takes them
    from here."""
    return math.sqrt(5.0) / sigma, 5.0 / (3.0 * sigma**2), 25.0 / (3.0 * sigma**4)


def matern52(d, sigma):
    """Kernel value k(d) for descriptor distances `d` (any shape)."""
    r = matern52_constants(sigma)[0] * d
    return (1.0 + r + r * r / 3.0) * torch.exp(-r)


def matern52_coefficients(d, sigma):
    """Hessian coefficients (a, b) of the Matérn-5/2 kernel at descriptor distances `d`."""
    s, ca, cb = matern52_constants(sigma)
    r = s * d
    e = torch.exp(-r)
    return ca * (1.0 + r) * e, cb * e


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
        self._s, self._ca, self._cb = matern52_constants(self.sigma)
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


class SymmetricHessianPairs(HessianPairs):
    """Force-kernel product of a training set with itself, each pair of geometry blocks once.

    The symmetrised kernel is symmetric, K_ji = K_ij^T: for row geometry i, training
    geometry j and permutation S_P, ``H(x_j - S_P^T x_i) S_P^T = S_P^T H(d_ijP)`` with
    d_ijP = x_i - S_P x_j. So a tile of row geometries I against the permuted points of
    geometries J > I yields, from the same coefficients a, e, both its forward sum
    (to the rows I) and, mapped back through S_P^T, its transposed sum (to the rows J)::

        z_jP = sum_i [ a u_i - b (d_ijP . u_i) d_ijP ],    y_j += S_P^T z_jP

    The transposed sum costs three matrix products of the tile but no distances or
    exponentials (the speed-up is measured in docs/theory/tuning.md). This
    needs the permutations to form a group (closed under inverses; :meth:`applies`).

    Parameters
    ----------
    x : (n, D) tensor
        Training descriptors.
    desc_perms : (P, D) long tensor
        Descriptor index permutations (a group).
    sigma : float
    block : int, optional
        Geometries per block (default: tiles of block x block P pairs near ``SYMMETRIC_PAIR_BLOCK``).
    """

    def __init__(self, x, desc_perms, sigma, block=None):
        n, D = x.shape
        P = desc_perms.shape[0]
        g = block or self.default_block(n, P)
        super().__init__(x[:, desc_perms].reshape(-1, D), sigma, rows=g, cols=g * P)
        self.x, self.dp = x, desc_perms
        self._x1 = torch.cat([x, torch.ones(n, 1, dtype=x.dtype, device=x.device)], 1)

    @staticmethod
    def default_block(n, n_perms):
        """Geometries per block: tiles of g x g P pairs near ``SYMMETRIC_PAIR_BLOCK`` (at least 16 rows)."""
        return int(min(n, max(16, math.isqrt(SYMMETRIC_PAIR_BLOCK // n_perms))))

    @staticmethod
    def applies(desc_perms):
        """Whether the permutations are closed under inversion (needed for K_ji = K_ij^T)."""
        perms = {tuple(p) for p in desc_perms.tolist()}
        inverse = {tuple(sorted(range(len(p)), key=p.__getitem__)) for p in perms}
        return inverse == perms

    @property
    def n_tile_pairs(self):
        """Number of tile pairs (I, J >= I)."""
        t = len(self._tiles)
        return t * (t + 1) // 2

    def _tile_pairs(self, tiles=None):
        """(I, J, augmented row descriptors of block I) for the tile pairs J >= I (all, or those whose
        positions in that order are in `tiles`)."""
        pos = 0
        for I in range(len(self._tiles)):
            xa = None
            for J in range(I, len(self._tiles)):
                if tiles is None or pos in tiles:
                    if xa is None:
                        xa = self._augment(self.x[I * self.rows:(I + 1) * self.rows])
                    yield I, J, xa
                pos += 1

    def coefficients(self, tiles=None):
        """Pair coefficients (a', e) of every tile (I, J >= I), or of the tile pairs at positions `tiles`:
        about 8 n (n + block) P bytes for all."""
        return [self._tile_coefficients(xa, self._tiles[J])[:2] for _, J, xa in self._tile_pairs(tiles)]

    def product(self, U, coefficients=None, tiles=None):
        """y (n, D): y_i = sum_jP [a S_P u_j - b d_ijP (d_ijP . S_P u_j)] for U (n, D).

        tiles : set of int, optional
            Sum only the tile pairs at these positions (both their forward and transposed parts; the
            sums over disjoint sets add up to the whole product). `coefficients` are then theirs."""
        n, D = self.x.shape
        UP = U[:, self.dp].reshape(-1, D)
        XP_UP = (self.XP * UP).sum(1)
        xu = (self.x * U).sum(1, keepdim=True)
        Fa, G = torch.zeros_like(U), torch.zeros(n, D + 1, dtype=U.dtype, device=U.device)
        Za, Zg = torch.zeros_like(UP), torch.zeros(len(UP), D + 1, dtype=U.dtype, device=U.device)
        for pos, (I, J, xa) in enumerate(self._tile_pairs(tiles)):
            ri, t = slice(I * self.rows, (I + 1) * self.rows), self._tiles[J]
            if coefficients is not None:
                a, e = coefficients[pos]
            else:
                a, e, _ = self._tile_coefficients(xa, t)
            if J > I:  # transposed sum first: dv_ijP = d_ijP . u_i = x_i . u_i - XP_jP . u_i
                dv = torch.addmm(xu[ri], U[ri], self.XP[t].T, alpha=-1.0)
                Za[t].addmm_(a.T, U[ri])
                Zg[t].addmm_(dv.mul_(e).T, self._x1[ri])
            du = torch.addmm(XP_UP[None, t], self.x[ri], UP[t].T, beta=-1.0)  # d_ijP . S_P u_j
            Fa[ri].addmm_(a, UP[t])
            G[ri].addmm_(du.mul_(e), self._B3[t])
        y = self._ca * Fa + self._cb * (G[:, :D] - G[:, D:] * self.x)
        z = self._ca * Za - self._cb * (Zg[:, :D] - Zg[:, D:] * self.XP)
        P = self.dp.shape[0]
        return y.scatter_add_(1, self.dp.reshape(1, -1).expand(n, -1), z.reshape(n, P * D))
