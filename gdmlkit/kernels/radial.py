"""Radial base kernels ``k(x, x') = kappa(|x - x'|)``, their Hessian coefficients by automatic differentiation.

A user writes only the profile kappa(r, sigma) in torch (elementwise on a tensor of descriptor distances r).
The descriptor-space Hessian of the kernel is then::

    d^2 k / dx dx'^T = a(r) I - b(r) (x - x')(x - x')^T,
    a = -kappa'(r) / r,    b = (kappa''(r) - kappa'(r) / r) / r^2,

with kappa' and kappa'' taken by nested forward-mode differentiation (``torch.func.jvp``). Since
every Hessian-kernel product of gdmlkit is written in a and b (:mod:`gdmlkit.kernels.matern`), the
tiled matrix products, the symmetric pair sum, the coefficient cache and the predictor carry over
unchanged to any radial kernel (:class:`RadialPairs`, :class:`RadialSymmetricPairs`).

Near r = 0 the quotients are 0/0 (and the derivatives of the profile cancel): below ``R_SMALL * sigma``
the coefficients come from the Taylor series in r, a = -(k2 + k4 r^2 / 6 + k5 r^3 / 24), b = k4 / 3 + k5 r / 8
(k_n the n-th derivative of kappa at 0, by AD too). This needs kappa'(0) = kappa'''(0) = 0, which holds for
the kernels whose force kernel is smooth at x = x' (Matérn nu >= 5/2, Gaussian); the neglected terms are
O((r/sigma)^4) relative.
"""

import functools
import math

import torch

from .matern import HessianPairs, SymmetricHessianPairs

__all__ = ["RadialKernel", "Matern52Kernel", "GaussianKernel", "KERNELS", "make_kernel", "KernelTiles",
           "RadialPairs", "RadialSymmetricPairs"]

#: Below R_SMALL * sigma the coefficients come from the Taylor series at 0 (see the module docstring).
R_SMALL = 1e-4


class RadialKernel:
    """A stationary isotropic base kernel ``k(x, x') = kappa(|x - x'|; sigma)``.

    Subclasses set ``name`` and implement :meth:`profile`, elementwise; kappa must be smooth at 0 with
    kappa'(0) = kappa'''(0) = 0 (see the module docstring), as the force kernel needs.

    Parameters
    ----------
    compiled : bool, default False
        Evaluate the coefficients with a ``torch.compile``-d nested forward-mode derivative (faster per
        tile than eager AD, benchmarks/autodiff_kernel.py) after a compilation of ~30 s per process
        (needs a C++ compiler).
    """

    name = None

    def __init__(self, compiled=False):
        self.compiled = bool(compiled)

    @property
    def params(self):
        """Constructor keywords, saved with a model."""
        return {"compiled": self.compiled}

    def profile(self, r, sigma):
        """kappa(r) for descriptor distances r (tensor, any shape) and length scale sigma (descriptor units)."""
        raise NotImplementedError

    def __call__(self, x1, x2, sigma):
        """k(x1, x2) of descriptors x1, x2 (..., D): (...)."""
        return self.profile(torch.linalg.vector_norm(x1 - x2, dim=-1), sigma)

    def coefficients(self, r, sigma, with_value=False):
        """Hessian coefficients (a, b) at distances r (any shape; r >= 0), and kappa(r) with `with_value`
        (else None): a = -kappa'/r, b = (kappa'' - kappa'/r) / r^2, by automatic differentiation of the
        profile (reverse mode; with ``compiled`` the nested forward mode compiled by ``torch.compile``)."""
        r_small = R_SMALL * sigma
        rs = r.clamp(min=r_small)
        if self.compiled:
            a, b, k = _compiled_coefficients(self, rs, sigma)
        else:
            a, b, k = self._coefficients(rs, sigma)
        small = r < r_small
        if bool(small.any()):
            d2, d4, d5 = self._derivatives_at_zero(sigma)
            q = r[small]
            a[small] = -(d2 + q * q * (d4 / 6.0 + d5 / 24.0 * q))
            b[small] = d4 / 3.0 + d5 / 8.0 * q
            if with_value:
                k[small] = self.profile(q, sigma)
        return a, b, (k if with_value else None)

    def _coefficients(self, r, sigma):
        """(a, b, kappa) at r > 0 by two reverse-mode passes (the profile is elementwise, so the gradient of
        sum(kappa') is kappa'')."""
        with torch.enable_grad():
            r = r.detach().requires_grad_(True)
            k = self.profile(r, sigma)
            k1, = torch.autograd.grad(k.sum(), r, create_graph=True)
            k2, = torch.autograd.grad(k1.sum(), r)
        a = k1.detach().div_(r.detach()).neg_()
        return a, (k2 + a).div_(r.detach() ** 2), k.detach()

    def _forward_mode_coefficients(self, r, sigma):
        """(a, b, kappa) at r > 0 by nested forward mode (what ``compiled`` compiles)."""
        one = torch.ones_like(r)

        def value_and_slope(q):
            return torch.func.jvp(lambda t: self.profile(t, sigma), (q,), (one,))

        (k, k1), (_, k2) = torch.func.jvp(value_and_slope, (r,), (one,))
        a = -k1 / r
        return a, (k2 + a) / (r * r), k

    def _derivatives_at_zero(self, sigma):
        """The 2nd, 4th and 5th derivatives of kappa at 0, as floats (cached per sigma)."""
        cache = self.__dict__.setdefault("_at_zero", {})
        if sigma not in cache:
            def derivative(f):
                return lambda q: torch.func.jvp(f, (q,), (torch.ones_like(q),))[1]
            d2 = derivative(derivative(lambda t: self.profile(t, sigma)))
            d4 = derivative(derivative(d2))
            zero = torch.zeros(1, dtype=torch.float64)
            cache[sigma] = float(d2(zero)), float(d4(zero)), float(derivative(d4)(zero))
        return cache[sigma]

    def spec(self):
        """{'name', 'params'}: what a model file records to rebuild this kernel (built-in kernels only)."""
        if KERNELS.get(self.name) is not type(self):
            raise TypeError(f"{type(self).__name__} is not a built-in kernel ({sorted(KERNELS)}); a model "
                            "using it cannot be saved. Keep the fitted estimator in memory, or pickle it.")
        return {"name": self.name, "params": dict(self.params)}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if k != "compiled" or v)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.params == other.params

    __hash__ = object.__hash__


class Matern52Kernel(RadialKernel):
    """Matérn nu = 5/2: kappa(r) = (1 + q + q^2 / 3) exp(-q), q = sqrt(5) r / sigma (gdmlkit's default kernel,
    here with AD coefficients: the reference for the AD path)."""

    name = "matern52"

    def profile(self, r, sigma):
        q = (math.sqrt(5.0) / sigma) * r
        return (1.0 + q + q * q / 3.0) * torch.exp(-q)


class GaussianKernel(RadialKernel):
    """Gaussian (squared exponential): kappa(r) = exp(-r^2 / (2 sigma^2)), infinitely differentiable."""

    name = "gaussian"

    def profile(self, r, sigma):
        return torch.exp(-0.5 * (r / sigma) ** 2)


#: Built-in kernels by name (what a model file stores).
KERNELS = {cls.name: cls for cls in (Matern52Kernel, GaussianKernel)}


def make_kernel(kernel):
    """A kernel object from a RadialKernel, a built-in name ('matern52', 'gaussian') or a saved spec dict."""
    if isinstance(kernel, RadialKernel):
        return kernel
    if isinstance(kernel, dict):
        name, params = kernel["name"], kernel.get("params", {})
    else:
        name, params = kernel, {}
    if name not in KERNELS:
        raise ValueError(f"Unknown kernel {name!r}; expected a RadialKernel or one of {sorted(KERNELS)}.")
    return KERNELS[name](**params)


@functools.lru_cache(maxsize=None)
def _compiler():
    return torch.compile(RadialKernel._forward_mode_coefficients, dynamic=False)


#: Elements per call of the compiled coefficients: every call has this one shape, so it compiles once.
COMPILED_CHUNK = 2**16


def _compiled_coefficients(kernel, r, sigma):
    """The compiled coefficients of r (any shape), in flat chunks of ``COMPILED_CHUNK`` (the last one padded)."""
    flat = r.reshape(-1)
    n = flat.shape[0]
    padded = flat.new_full((-(-n // COMPILED_CHUNK) * COMPILED_CHUNK,), 1.0)
    padded[:n] = flat
    parts = [_compiler()(kernel, c.clone(), sigma) for c in padded.split(COMPILED_CHUNK)]
    return tuple(torch.cat([p[i] for p in parts])[:n].reshape(r.shape) for i in range(3))


class KernelTiles:
    """Tile coefficients from a radial kernel's AD coefficients in place of the Matérn formulas.

    The Matérn tiles work in q = s r and scale by ca, cb; with s = ca = cb = 1 they take r itself and
    (a, b) as they are, so every product of the parent class holds for the kernel."""

    def _use_kernel(self, kernel):
        self.kernel = kernel
        self._s = self._ca = self._cb = 1.0
        one = torch.ones(self.XP.shape[0], 1, dtype=self.XP.dtype, device=self.XP.device)
        self._B1 = torch.cat([-2.0 * self.XP, one, (self.XP * self.XP).sum(1, keepdim=True)], 1)

    def _tile_coefficients(self, xa, t, energy_kernel=False):
        """(a, b, kappa or None) of the tile of queries xa (augmented) against training points t."""
        r = (xa @ self._B1[t].T).clamp_(min=0.0).sqrt_()
        return self.kernel.coefficients(r, self.sigma, with_value=energy_kernel)


class RadialPairs(KernelTiles, HessianPairs):
    """:class:`~gdmlkit.kernels.matern.HessianPairs` for a radial kernel: queries x against M points XP (M, D)."""

    def __init__(self, XP, kernel, sigma, rows=None, cols=None):
        super().__init__(XP, sigma, rows=rows, cols=cols)
        self._use_kernel(kernel)


class RadialSymmetricPairs(KernelTiles, SymmetricHessianPairs):
    """:class:`~gdmlkit.kernels.matern.SymmetricHessianPairs` (training set against itself, each pair of
    geometry blocks once) for a radial kernel."""

    def __init__(self, x, desc_perms, kernel, sigma, block=None):
        super().__init__(x, desc_perms, sigma, block=block)
        self._use_kernel(kernel)
