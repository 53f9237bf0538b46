"""The lazy Hessian-kernel operator of any radial base kernel and any descriptor.

:class:`AutodiffKernelOperator` is :class:`~gdmlkit.kernels.HessianKernelOperator` with the
Matérn-5/2 coefficients replaced by those of a :class:`~gdmlkit.kernels.radial.RadialKernel`
(automatic differentiation of its profile). The descriptor side needs nothing new: the operator
applies J and J^T through the descriptor's ``jvp``/``vjp``, which an
:class:`~gdmlkit.descriptors.AutodiffDescriptor` derives by ``torch.func``. Products, columns,
diagonal, internal coordinates, the symmetric pair sum and the coefficient cache are the parent's,
so PCG and the Nyström preconditioners work unchanged (the operator contract of
``tests/operator_contract.py``).
"""

from .operator import HessianKernelOperator
from .radial import RadialPairs, RadialSymmetricPairs, make_kernel

__all__ = ["AutodiffKernelOperator"]


class AutodiffKernelOperator(HessianKernelOperator):
    """Symmetrised Hessian kernel (plus lam I) of a radial base kernel, as a linear operator.

    Parameters
    ----------
    R, desc_perms, sigma, lam
        As :class:`~gdmlkit.kernels.HessianKernelOperator` (desc_perms from the descriptor's
        ``permutation_index``).
    kernel : RadialKernel or str
        Base kernel, e.g. :class:`~gdmlkit.kernels.radial.GaussianKernel` or 'gaussian'.
    **kwargs
        ``coordinates``, ``device``, ``tile_rows``, ``descriptor``, ``features``,
        ``cache_coefficients``, ``pair_symmetry`` of HessianKernelOperator. The backend is always
        'torch' (KeOps formulas are Matérn-only).
    """

    def __init__(self, R, desc_perms, sigma, lam=0.0, *, kernel, backend="torch", **kwargs):
        if backend not in ("auto", "torch"):
            raise ValueError(f"backend={backend!r}: AutodiffKernelOperator has only the torch backend.")
        self.kernel = make_kernel(kernel)
        super().__init__(R, desc_perms, sigma, lam, backend="torch", **kwargs)

    def _make_pairs(self, tile_rows):
        if self.symmetric:
            return RadialSymmetricPairs(self.x, self.dp, self.kernel, self.sigma, block=tile_rows)
        return RadialPairs(self.XP, self.kernel, self.sigma)
