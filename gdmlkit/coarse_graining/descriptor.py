"""A mirror-aware descriptor of bead chains, and the GDML estimator that uses it.

Inverse pairwise distances are invariant under reflections, so a kernel on them cannot tell a
chiral molecule from its mirror image: for the 5 backbone beads of alanine dipeptide the map
(phi, psi) -> (-phi, -psi) leaves every distance unchanged, and a distance-only model gives the
rare left-handed basin (phi > 0) the free energy of the populated right-handed one.
:class:`ChiralInverseDistanceDescriptor` appends, for each bead quadruple (i, j, k, l), the
signed volume ``t = b1 . (b2 x b3) / (|b1| |b2| |b3|)`` (b1 = R_j - R_i, b2 = R_k - R_j,
b3 = R_l - R_k; t = sin(theta_1) sin(theta_2) sin(dihedral)), which changes sign under reflection.
"""

import numpy as np
import torch

from ..descriptors import InverseDistanceDescriptor
from ..models import GDMLRegressor
from ..base import extends_params
from ..model_format import register_estimator

__all__ = ["ChiralInverseDistanceDescriptor", "ChiralGDMLRegressor", "chain_quadruples"]


def chain_quadruples(n_beads):
    """Consecutive quadruples (i, i+1, i+2, i+3) of a linear chain: int array (n_beads - 3, 4)."""
    return np.array([[i, i + 1, i + 2, i + 3] for i in range(n_beads - 3)], dtype=np.int64).reshape(-1, 4)


def _signed_volumes(R, quads):
    """Signed volumes t (n, n_quads) of positions R (n, n_atoms, 3) and their gradients (n, n_quads, 4, 3)
    with respect to the quadruple's beads: with V = b1 . (b2 x b3) and N = |b1| |b2| |b3|,
    dt/db_i = (dV/db_i) / N - t b_i / |b_i|^2, dV/db1 = b2 x b3, dV/db2 = b3 x b1, dV/db3 = b1 x b2."""
    P = R[:, quads]  # (n, q, 4, 3)
    b = P[:, :, 1:] - P[:, :, :-1]  # (n, q, 3, 3): b1, b2, b3
    b1, b2, b3 = b.unbind(2)
    dV = torch.stack([torch.linalg.cross(b2, b3, dim=-1), torch.linalg.cross(b3, b1, dim=-1),
                      torch.linalg.cross(b1, b2, dim=-1)], 2)
    sq = (b * b).sum(-1)  # (n, q, 3)
    N = torch.sqrt(sq.prod(-1))
    t = (b1 * dV[:, :, 0]).sum(-1) / N
    db = dV / N[..., None, None] - t[..., None, None] * b / sq[..., None]
    zero = torch.zeros_like(db[:, :, :1])
    dP = torch.cat([zero, db], 2) - torch.cat([db, zero], 2)  # b_k = P_{k+1} - P_k
    return t, dP


class ChiralInverseDistanceDescriptor:
    """Inverse distances of all bead pairs followed by `weight` times the signed volume of each quadruple.

    Same interface as :class:`~gdmlkit.descriptors.InverseDistanceDescriptor` (transform, jvp, vjp,
    jacobian, internal coordinates), with the Jacobian held densely as g (n, D, n_atoms, 3): meant for
    coarse-grained chains of a few beads.

    Parameters
    ----------
    n_atoms : int
        Beads per geometry.
    quadruples : int array (n_quads, 4)
        Bead quadruples whose signed volume is appended (default: consecutive ones, :func:`chain_quadruples`).
    weight : float
        Scale of the signed volumes (dimensionless, in [-1, 1]) against the inverse distances (1/L).
    """

    def __init__(self, n_atoms, quadruples=None, weight=0.2):
        self.n_atoms = int(n_atoms)
        self._inv = InverseDistanceDescriptor(self.n_atoms)
        q = chain_quadruples(self.n_atoms) if quadruples is None else np.asarray(quadruples, dtype=np.int64)
        if q.ndim != 2 or q.shape[1] != 4 or (q.size and (q.min() < 0 or q.max() >= self.n_atoms)):
            raise ValueError(f"quadruples must be an int array (n_quads, 4) of bead indices < {self.n_atoms}; "
                             f"got shape {q.shape}.")
        if any(len(set(row)) < 4 for row in q.tolist()):
            raise ValueError(f"Each quadruple needs 4 distinct beads; got {q.tolist()}.")
        self.quadruples = torch.from_numpy(q)
        self.weight = float(weight)

    @property
    def dim(self):
        """Descriptor length D = n_atoms (n_atoms - 1) / 2 + n_quads."""
        return self._inv.dim + len(self.quadruples)

    def transform(self, R):
        """Descriptor x (n, D) and dense Jacobian g (n, D, n_atoms, 3) of positions R (n, n_atoms, 3)."""
        x_inv, g_inv = self._inv.transform(R)
        n, D = x_inv.shape
        q = self.quadruples.to(R.device)
        t, dP = _signed_volumes(R, q)
        g = torch.zeros(n, self.dim, self.n_atoms, 3, dtype=R.dtype, device=R.device)
        g[:, :D] = self._inv.jacobian(g_inv).view(n, D, self.n_atoms, 3)
        rows = torch.arange(D, self.dim, device=R.device)[:, None].expand(-1, 4)
        g[:, rows, q] = self.weight * dP
        return torch.cat([x_inv, self.weight * t], 1), g

    def jvp(self, g, V):
        """``J V``: ``(n, n_atoms, 3, *k) -> (n, D, *k)``."""
        return torch.einsum("ndac,nac...->nd...", g, V)

    def vjp(self, g, U):
        """``J^T U``: ``(n, D, *k) -> (n, n_atoms, 3, *k)``."""
        return torch.einsum("ndac,nd...->nac...", g, U)

    def jacobian(self, g):
        """Dense Jacobian (n, D, 3 n_atoms)."""
        return g.reshape(g.shape[0], g.shape[1], -1)

    def jacobian_times(self, g, Q):
        """J_i Q_i (n, D, r) for bases Q (n, 3 n_atoms, r)."""
        return self.jacobian(g) @ Q

    def null_motions(self, R):
        """Translations and rotations (n, 3 n_atoms, 6): they leave every entry unchanged (reflections do not)."""
        return self._inv.null_motions(R)

    def internal_frame(self, R):
        """Internal-coordinate frame of geometries R, as for inverse distances."""
        return self._inv.internal_frame(R)


@register_estimator
class ChiralGDMLRegressor(GDMLRegressor):
    """:class:`~gdmlkit.models.GDMLRegressor` on :class:`ChiralInverseDistanceDescriptor` (no permutations).

    Parameters
    ----------
    quadruples : int array (n_quads, 4), optional
        Bead quadruples of the signed volumes (default: consecutive beads of a chain).
    chirality_weight : float, default=0.2
        Their weight against the inverse distances.
    sigma, **params
        Those of :class:`~gdmlkit.models.GDMLRegressor` (``perms`` must stay 'none').
    """

    @extends_params(GDMLRegressor.__init__, perms="none")
    def __init__(self, sigma=10.0, *, quadruples=None, chirality_weight=0.2, **params):
        super().__init__(sigma, **params)
        self.quadruples = quadruples
        self.chirality_weight = chirality_weight

    def _check_params(self):
        super()._check_params()
        if not (isinstance(self.perms, str) and self.perms == "none"):
            raise ValueError(f"ChiralGDMLRegressor supports perms='none' only; got perms={self.perms!r}.")

    def _make_descriptor(self, n_atoms):
        return ChiralInverseDistanceDescriptor(n_atoms, self.quadruples, self.chirality_weight)

    def _desc_perms(self, perms):
        return np.arange(self._make_descriptor(perms.shape[1]).dim, dtype=np.int64)[None]
