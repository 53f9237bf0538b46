"""Internal coordinates: the force components that the descriptor can see, without dense bases.

A descriptor invariant to some rigid motions (translations and rotations of a molecule;
translations of a periodic cell) has Jacobians J_i with those motions T_i (3N, m) in their
null space. Posing the kernel system in the complement, with an orthonormal basis Q_i
(3N, r = 3N - m), gives n r instead of 3N n unknowns and the same predictions, and removes
the lam-sized eigenvalues of the null space that slow CG down.

Q_i is never formed: a Householder QR of T_i gives Q_i^full = H_1 ... H_m (3N, 3N), whose
first m columns span T_i and whose last r columns are Q_i. Kept in compact WY form,
Q_i^full = I - V_i W_i V_i^T (V_i 3N x m, W_i m x m), it takes 3N m + m^2 numbers per
geometry, and projecting or lifting is two thin matrix products, O(n N m).
"""

import torch

__all__ = ["InternalFrame"]


class InternalFrame:
    """Orthonormal bases of the complements of per-geometry null motions, as Householder reflectors.

    Build with :meth:`of` (None where the motions are linearly dependent, e.g. a linear molecule).

    Parameters
    ----------
    reflectors : tensor (n, 3N, m)
        Householder vectors (unit diagonal, zeros above) of the QR of the null motions.
    tau : tensor (n, m)
        Their scale factors (H_k = I - tau_k v_k v_k^T), as from ``torch.geqrf``.
    """

    def __init__(self, reflectors, tau):
        self.V = reflectors
        self.n, self.dim, self.m = reflectors.shape
        #: internal coordinates per geometry, 3N - m
        self.rank = self.dim - self.m
        # compact WY form H_1 ... H_m = I - V W V^T, W (n, m, m) upper triangular (LAPACK's larft recursion)
        W = torch.zeros(self.n, self.m, self.m, dtype=tau.dtype, device=tau.device)
        VtV = reflectors.transpose(1, 2) @ reflectors
        for j in range(self.m):
            W[:, j, j] = tau[:, j]
            if j:
                W[:, :j, j] = -tau[:, j, None] * (W[:, :j, :j] @ VtV[:, :j, j, None])[..., 0]
        self.W = W

    @classmethod
    def of(cls, motions, rtol=1e-8):
        """Frame of null motions T (n, 3N, m), or None when some T_i has rank < m (relative to rtol)."""
        A, tau = torch.geqrf(motions)
        diag = A.diagonal(dim1=-2, dim2=-1).abs()
        if bool(torch.any(diag < rtol * diag.max(-1, keepdim=True).values)):
            return None
        V = torch.tril(A, diagonal=-1)
        V.diagonal(dim1=-2, dim2=-1).fill_(1.0)
        return cls(V, tau)

    def project(self, F, geoms=slice(None)):
        """Cartesian vectors F (g, 3N) or (g, 3N, k) of geometries `geoms` -> internal (g, r) or (g, r, k):
        the last r rows of (I - V W^T V^T) F."""
        Y = F[..., None] if F.ndim == 2 else F
        V = self.V[geoms]
        out = Y[:, self.m:] - V[:, self.m:] @ (self.W[geoms].transpose(1, 2) @ (V.transpose(1, 2) @ Y))
        return out[..., 0] if F.ndim == 2 else out

    def lift(self, B, geoms=slice(None)):
        """Internal vectors B (g, r) or (g, r, k) -> Cartesian (g, 3N) or (g, 3N, k): (I - V W V^T) [0; B]."""
        Y = B[..., None] if B.ndim == 2 else B
        V = self.V[geoms]
        out = -V @ (self.W[geoms] @ (V[:, self.m:].transpose(1, 2) @ Y))
        out[:, self.m:] += Y
        return out[..., 0] if B.ndim == 2 else out

    def basis(self, geoms=slice(None)):
        """Dense Q_i (g, 3N, r) of geometries `geoms` (for chunks and references)."""
        g = self.V[geoms].shape[0]
        eye = torch.eye(self.rank, dtype=self.V.dtype, device=self.V.device).expand(g, -1, -1)
        return self.lift(eye, geoms)
