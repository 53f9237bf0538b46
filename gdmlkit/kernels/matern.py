"""Matérn kernel (nu = 5/2) on descriptor distances and the coefficients of its derivatives.

With d = |x - x'| and r = sqrt(5) d / sigma::

    k(x, x')            = (1 + r + r^2 / 3) exp(-r)
    grad_x k            = -a(r) (x - x')
    d^2 k / dx dx'^T    =  a(r) I - b(r) (x - x')(x - x')^T

with a = 5 / (3 sigma^2) (1 + r) exp(-r) and b = 25 / (3 sigma^4) exp(-r).
"""

import math

import torch

__all__ = ["matern52", "matern52_coefficients"]


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
