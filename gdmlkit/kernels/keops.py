"""KeOps backend: the descriptor-space kernel product as a compiled lazy reduction.

pykeops is imported lazily; :func:`keops_available` says whether it imports and
compiles here. Formulas are compiled once and cached by KeOps (~/.cache/keops*).

KeOps' default CPU build uses ``-O3`` without ``-march``, so it never uses the CPU's
vector units. Unless the user set ``CXXFLAGS`` (or ``GDMLKIT_KEOPS_CXXFLAGS``), gdmlkit
compiles KeOps formulas with ``-march=native`` (see ``benchmarks/matvec.py`` for the
measured effect). ``-ffast-math`` is deliberately not used: it breaks NaN/inf checks.
KeOps keys its cache on the flags, so binaries built with other flags are not reused.
"""

import functools
import os
import sys

import torch

from .matern import matern52_constants

CPU_FLAGS = os.environ.get("GDMLKIT_KEOPS_CXXFLAGS", "-march=native")


def _import_pykeops():
    """Import pykeops.torch with gdmlkit's CPU flags (only if pykeops is not imported yet)."""
    if "keopscore" in sys.modules or "CXXFLAGS" in os.environ:
        from pykeops import torch as pk

        return pk
    os.environ["CXXFLAGS"] = CPU_FLAGS
    try:
        from pykeops import torch as pk
    finally:
        del os.environ["CXXFLAGS"]
    return pk

__all__ = ["keops_available", "keops_descriptor_matvec"]


@functools.lru_cache(maxsize=None)
def keops_available():
    """True when pykeops imports and can compile a trivial formula on this machine."""
    try:
        LazyTensor = _import_pykeops().LazyTensor
        x = torch.zeros(2, 1, dtype=torch.float64)
        (LazyTensor(x[:, None, :]) - LazyTensor(x[None, :, :])).sum(dim=1)
        return True
    except Exception:  # noqa: BLE001  (any failure means: fall back to torch)
        return False


def keops_descriptor_matvec(x, XP, UP, sigma):
    """sum_j [a(d_ij) u_j - b(d_ij) (d_ij . u_j) d_ij], d_ij = x_i - XP_j, as one KeOps reduction.

    Parameters
    ----------
    x : (m, D) tensor; XP, UP : (M, D) tensors
    sigma : float

    Returns
    -------
    (m, D) tensor
    """
    LazyTensor = _import_pykeops().LazyTensor
    xi = LazyTensor(x[:, None, :].contiguous())
    xj = LazyTensor(XP[None, :, :].contiguous())
    uj = LazyTensor(UP[None, :, :].contiguous())
    s, ca, cb = matern52_constants(sigma)
    diff = xi - xj
    r = (diff.sqnorm2() + 1e-300).sqrt() * s
    e = (-r).exp()
    a = ca * (1.0 + r) * e
    b = cb * e
    return (a * uj - (b * (diff * uj).sum()) * diff).sum(dim=1)
