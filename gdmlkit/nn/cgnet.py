"""CGnet-like network (Wang et al., ACS Cent. Sci. 5, 755 (2019)): energy of a coarse-grained bead chain
from a multilayer perceptron on its internal features."""

import torch
from torch import nn

from .layers import AtomisticModel

__all__ = ["CGNet"]


class CGNet(AtomisticModel):
    """E = MLP(features) for chains of `n_beads` beads (one geometry = one chain, bead order fixed).

    Features: inverse distances of all bead pairs, cosines of the angles of consecutive bead triples, and
    cosine and sine of the dihedrals of consecutive quadruples (the sines tell mirror images apart).
    Differences from CGnet: no feature standardisation layer and no Lipschitz regularisation (training stops
    early on the validation force-matching loss instead); the prior energy is added outside the network
    (:class:`gdmlkit.coarse_graining.CGNetRegressor`).

    Parameters
    ----------
    n_beads : int
        Beads per chain.
    n_hidden : int
        Width of the hidden layers (CGnet: 160 for alanine dipeptide).
    n_layers : int
        Hidden layers (tanh activations; CGnet: 5).
    cutoff : float
        Unused (the features are global); accepted because the estimator passes it.
    """

    def __init__(self, n_beads=5, n_hidden=64, n_layers=3, cutoff=5.0):
        super().__init__(cutoff)
        if n_beads < 4:
            raise ValueError(f"CGNet needs a chain of at least 4 beads (one dihedral); got n_beads={n_beads}.")
        self.n_beads = int(n_beads)
        a, b = torch.tril_indices(n_beads, n_beads, -1)
        self.register_buffer("pair_a", a, persistent=False)
        self.register_buffer("pair_b", b, persistent=False)
        n_features = len(a) + (n_beads - 2) + 2 * (n_beads - 3)
        layers, width = [], n_features
        for _ in range(n_layers):
            layers += [nn.Linear(width, n_hidden), nn.Tanh()]
            width = n_hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 1))

    def pair_lists(self, R, cell=None, pbc=None):
        """No neighbour lists: the features are computed from the whole chain."""
        return {}

    def features(self, R):
        """Features (n, n_features) of chains R (n, n_beads, 3)."""
        inv = 1.0 / torch.linalg.vector_norm(R[:, self.pair_a] - R[:, self.pair_b], dim=-1)
        b = R[:, 1:] - R[:, :-1]  # bond vectors (n, n_beads - 1, 3)
        u = b / torch.linalg.vector_norm(b, dim=-1, keepdim=True)
        cos_angle = -(u[:, :-1] * u[:, 1:]).sum(-1)
        n1 = torch.linalg.cross(u[:, :-2], u[:, 1:-1], dim=-1)
        n2 = torch.linalg.cross(u[:, 1:-1], u[:, 2:], dim=-1)
        x = (n1 * n2).sum(-1)
        y = (torch.linalg.cross(n1, n2, dim=-1) * u[:, 1:-1]).sum(-1)
        norm = torch.sqrt(x * x + y * y)
        return torch.cat([inv, cos_angle, x / norm, y / norm], dim=1)

    def forward(self, z, pos, batch, n_samples, pairs, charge=None, spin=None):
        """Energies (n_samples,) of flat positions pos (n_samples * n_beads, 3); see :class:`AtomisticModel`."""
        R = pos.view(n_samples, self.n_beads, 3)
        return self.mlp(self.features(R))[:, 0]
