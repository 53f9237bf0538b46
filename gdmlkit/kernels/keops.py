"""KeOps backend: the descriptor-space kernel product as a compiled lazy reduction.

pykeops is imported lazily; :func:`keops_available` says whether it imports and
compiles here. Formulas are compiled once and cached by KeOps (~/.cache/keops*).
"""

import functools
import math

import torch

__all__ = ["keops_available", "keops_descriptor_matvec"]


@functools.lru_cache(maxsize=None)
def keops_available():
    """True when pykeops imports and can compile a trivial formula on this machine."""
    try:
        import pykeops  # noqa: F401
        from pykeops.torch import LazyTensor

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
    from pykeops.torch import LazyTensor

    xi = LazyTensor(x[:, None, :].contiguous())
    xj = LazyTensor(XP[None, :, :].contiguous())
    uj = LazyTensor(UP[None, :, :].contiguous())
    diff = xi - xj
    r = (diff.sqnorm2() + 1e-300).sqrt() * (math.sqrt(5.0) / sigma)
    e = (-r).exp()
    a = (5.0 / (3.0 * sigma**2)) * (1.0 + r) * e
    b = (25.0 / (3.0 * sigma**4)) * e
    return (a * uj - (b * (diff * uj).sum()) * diff).sum(dim=1)
