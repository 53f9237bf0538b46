"""Hessian (gradient-domain) kernels: the dense reference, the lazy operator and its backends."""

from .base import KernelOperator, DenseKernelOperator
from .operator import HessianKernelOperator

__all__ = ["KernelOperator", "DenseKernelOperator", "HessianKernelOperator"]
