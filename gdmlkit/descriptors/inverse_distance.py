"""Inverse pairwise distances and their Jacobian, applied matrix-free.

For a geometry R (n_atoms, 3) the descriptor has D = n_atoms (n_atoms - 1) / 2
entries ``x_k = 1 / |R_a - R_b|`` over the pairs ``(a, b) = np.tril_indices(n_atoms, -1)``
(a > b; the sGDML ordering). Its Jacobian has two non-zero 3-vectors per row,
``dx_k/dR_a = -g_k`` and ``dx_k/dR_b = +g_k`` with ``g_k = (R_a - R_b) / |R_a - R_b|^3``,
so it is stored as ``g`` (n_samples, D, 3) and applied with :meth:`jvp` and :meth:`vjp`
without forming the (D, 3 n_atoms) matrix.
"""

import numpy as np
import torch

__all__ = ["InverseDistanceDescriptor", "pair_indices"]


def pair_indices(n_atoms):
    """Atom pairs (a, b), a > b, in descriptor order: two int64 arrays of length D."""
    a, b = np.tril_indices(n_atoms, k=-1)
    return a.astype(np.int64), b.astype(np.int64)


class InverseDistanceDescriptor:
    """Inverse-distance descriptor of molecules with `n_atoms` atoms.

    Parameters
    ----------
    n_atoms : int
        Number of atoms per geometry.
    """

    def __init__(self, n_atoms):
        self.n_atoms = int(n_atoms)
        a, b = pair_indices(self.n_atoms)
        self._a = torch.from_numpy(a)
        self._b = torch.from_numpy(b)

    @property
    def dim(self):
        """Descriptor length D."""
        return len(self._a)

    def _pairs(self, device):
        return self._a.to(device), self._b.to(device)

    def transform(self, R):
        """Descriptor and Jacobian factors.

        Parameters
        ----------
        R : torch.Tensor, shape (n_samples, n_atoms, 3)
            Positions (length unit L).

        Returns
        -------
        x : torch.Tensor, shape (n_samples, D)
            Inverse distances (1/L).
        g : torch.Tensor, shape (n_samples, D, 3)
            Jacobian factors ``(R_a - R_b) / r^3`` (1/L^2).
        """
        a, b = self._pairs(R.device)
        diff = R[:, a, :] - R[:, b, :]
        r = torch.linalg.vector_norm(diff, dim=-1)
        if torch.any(r == 0):
            s, k = (int(i) for i in torch.nonzero(r == 0)[0])
            raise ValueError(
                f"Geometry {s} has atoms {int(a[k])} and {int(b[k])} at the same position; "
                "inverse distances are undefined. Remove or repair this geometry."
            )
        x = 1.0 / r
        g = diff * (x**3)[..., None]
        return x, g

    def jvp(self, g, V):
        """Jacobian-vector product ``J V``: (n, n_atoms, 3) -> (n, D)."""
        a, b = self._pairs(V.device)
        return torch.einsum("ndc,ndc->nd", g, V[:, b, :] - V[:, a, :])

    def vjp(self, g, U):
        """Vector-Jacobian product ``J^T U``: (n, D) -> (n, n_atoms, 3)."""
        a, b = self._pairs(U.device)
        contrib = U[..., None] * g
        out = torch.zeros(U.shape[0], self.n_atoms, 3, dtype=U.dtype, device=U.device)
        out.index_add_(1, b, contrib)
        out.index_add_(1, a, -contrib)
        return out

    def internal_basis(self, J, rtol=1e-9):
        """Orthonormal bases of the row spaces of the Jacobians (the non-rigid motions).

        The descriptor is invariant to translations and rotations, so each J_i (D, 3N)
        has a null space of dimension 6 (5 for linear geometries). Kernel systems posed
        in the complement Q_i (3N, r) are smaller and exactly equivalent for predictions.

        Parameters
        ----------
        J : tensor (n, D, 3N)
        rtol : float
            Singular values below rtol * largest count as zero.

        Returns
        -------
        tensor (n, 3N, r), or None when the rank differs between geometries.
        """
        _, S, Vh = torch.linalg.svd(J, full_matrices=False)
        ranks = (S > rtol * S[:, :1]).sum(1)
        r = int(ranks[0])
        if not bool(torch.all(ranks == r)):
            return None
        return Vh[:, :r, :].transpose(1, 2).contiguous()

    def jacobian(self, g):
        """Dense Jacobian (n, D, 3 n_atoms); for references and the dense kernel only."""
        n, D, _ = g.shape
        a, b = self._pairs(g.device)
        J = torch.zeros(n, D, self.n_atoms, 3, dtype=g.dtype, device=g.device)
        k = torch.arange(D, device=g.device)
        J[:, k, a, :] = -g
        J[:, k, b, :] = g
        return J.reshape(n, D, 3 * self.n_atoms)
