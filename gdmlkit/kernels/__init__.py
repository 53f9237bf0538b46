"""Hessian (gradient-domain) kernels: the dense reference, the lazy operator and its backends, and radial base
kernels differentiated automatically (:mod:`~gdmlkit.kernels.radial`, :mod:`~gdmlkit.kernels.autodiff`)."""

from .base import KernelOperator, DenseKernelOperator
from .operator import HessianKernelOperator
from .autodiff import AutodiffKernelOperator
from .radial import GaussianKernel, Matern52Kernel, RadialKernel

__all__ = ["KernelOperator", "DenseKernelOperator", "HessianKernelOperator", "AutodiffKernelOperator",
           "RadialKernel", "Matern52Kernel", "GaussianKernel"]
