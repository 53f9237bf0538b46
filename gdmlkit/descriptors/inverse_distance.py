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

from .internal import InternalFrame

__all__ = ["InverseDistanceDescriptor", "pair_indices"]

#: Up to this many atoms :meth:`InverseDistanceDescriptor.jacobian_times` multiplies the dense J_i (D x 3N)
#: by the basis; above, it gathers from the Jacobian factors (3 D r operations per geometry, not 3N D r).
DENSE_JACOBIAN_ATOMS = 32


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
        """Jacobian-vector products ``J V``: ``(n, n_atoms, 3, *k) -> (n, D, *k)``."""
        a, b = self._pairs(V.device)
        gk = g.reshape(g.shape + (1,) * (V.ndim - 3))
        return (gk * (V[:, b] - V[:, a])).sum(2)

    def vjp(self, g, U):
        """Vector-Jacobian products ``J^T U``: ``(n, D, *k) -> (n, n_atoms, 3, *k)``."""
        a, b = self._pairs(U.device)
        contrib = U[:, :, None] * g.reshape(g.shape + (1,) * (U.ndim - 2))
        out = torch.zeros((U.shape[0], self.n_atoms) + tuple(contrib.shape[2:]), dtype=U.dtype, device=U.device)
        out.index_add_(1, b, contrib)
        out.index_add_(1, a, contrib, alpha=-1.0)
        return out

    def null_motions(self, R):
        """Motions that leave every descriptor entry unchanged: the 3 translations and the 3 rotations
        about the centroid, as columns of T (n, 3 n_atoms, 6) (for R (n, n_atoms, 3))."""
        n = R.shape[0]
        eye = torch.eye(3, dtype=R.dtype, device=R.device)
        trans = eye.expand(n, self.n_atoms, 3, 3)  # [geometry, atom, xyz, motion]
        rot = torch.linalg.cross(eye[None, None, :, :], (R - R.mean(1, keepdim=True))[:, :, None, :], dim=-1)
        return torch.cat([trans, rot.transpose(2, 3)], 3).reshape(n, 3 * self.n_atoms, 6)

    def internal_frame(self, R):
        """:class:`~gdmlkit.descriptors.internal.InternalFrame` of the non-rigid motions of geometries R
        (n, n_atoms, 3), or None where some geometry is linear (its rotations are dependent)."""
        return InternalFrame.of(self.null_motions(R))

    def jacobian_times(self, g, Q):
        """J_i Q_i (n, D, r) for dense bases Q (n, 3 n_atoms, r): one small GEMM per geometry while that beats
        the memory-bound gathers of :meth:`jvp` (``DENSE_JACOBIAN_ATOMS``), the gathers above."""
        if self.n_atoms <= DENSE_JACOBIAN_ATOMS:
            return self.jacobian(g) @ Q
        return self.jvp(g, Q.reshape(Q.shape[0], self.n_atoms, 3, -1))

    def jacobian(self, g):
        """Dense Jacobian (n, D, 3 n_atoms); for references and the dense kernel only."""
        n, D, _ = g.shape
        a, b = self._pairs(g.device)
        J = torch.zeros(n, D, self.n_atoms, 3, dtype=g.dtype, device=g.device)
        k = torch.arange(D, device=g.device)
        J[:, k, a, :] = -g
        J[:, k, b, :] = g
        return J.reshape(n, D, 3 * self.n_atoms)
