"""gdmlkit's SchNet against an independent implementation, torch_geometric.nn.models.SchNet (PyG), with
the same weights, in float64: energies and forces (-dE/dR by autograd in both) of the bare network, and
the fitted estimator's predictions (force-RMS scale, per-element energies) against PyG's std/atomref.

PyG's default graph (radius_graph) needs torch_cluster; the PyG model gets its edges from
:class:`AllPairsWithinCutoff` instead, written here from the definition (no gdmlkit code)."""

import math

import numpy as np
import pytest
import torch

from gdmlkit import NNRegressor, load_example
from gdmlkit.nn import SchNet

pyg_schnet = pytest.importorskip("torch_geometric.nn.models.schnet")


class AllPairsWithinCutoff(torch.nn.Module):
    """PyG ``interaction_graph``: all ordered pairs of distinct atoms of one geometry closer than `cutoff`."""

    def __init__(self, cutoff):
        super().__init__()
        self.cutoff = cutoff

    def forward(self, pos, batch):
        with torch.no_grad():
            same = batch[:, None] == batch[None, :]
            close = torch.cdist(pos, pos) < self.cutoff
            j, i = torch.nonzero(same & close & ~torch.eye(len(pos), dtype=torch.bool), as_tuple=True)
        return torch.stack([j, i]), (pos[j] - pos[i]).norm(dim=-1)


def pyg_copy(net, **kw):
    """A float64 PyG SchNet holding the weights of gdmlkit's `net` (every PyG parameter but `atomref`,
    which `kw` may give, is assigned)."""
    n_features = net.embedding.weight.shape[1]
    ref = pyg_schnet.SchNet(hidden_channels=n_features, num_filters=n_features, num_interactions=len(net.interactions),
                            num_gaussians=net.rbf.centers.numel(), cutoff=net.cutoff,
                            interaction_graph=AllPairsWithinCutoff(net.cutoff), readout="add", **kw).double()
    pairs = [(ref.embedding.weight, net.embedding.weight[:100]),  # PyG embeds Z = 0..99
             (ref.lin1.weight, net.output[0].weight), (ref.lin1.bias, net.output[0].bias),
             (ref.lin2.weight, net.output[2].weight), (ref.lin2.bias, net.output[2].bias)]
    for theirs, ours in zip(ref.interactions, net.interactions):
        pairs += [(theirs.mlp[0].weight, ours.filter[0].weight), (theirs.mlp[0].bias, ours.filter[0].bias),
                  (theirs.mlp[2].weight, ours.filter[2].weight), (theirs.mlp[2].bias, ours.filter[2].bias),
                  (theirs.conv.lin1.weight, ours.in2f.weight),
                  (theirs.conv.lin2.weight, ours.f2out[0].weight), (theirs.conv.lin2.bias, ours.f2out[0].bias),
                  (theirs.lin.weight, ours.f2out[2].weight), (theirs.lin.bias, ours.f2out[2].bias)]
    with torch.no_grad():
        for dst, src in pairs:
            assert dst.shape == src.shape
            dst.copy_(src)
    assert {id(p) for p, _ in pairs} == {id(p) for n, p in ref.named_parameters() if not n.startswith("atomref")}
    if "atomref" in kw:  # PyG copied it into a float32 table before .double()
        ref.atomref.weight.data.copy_(kw["atomref"])
    for m in ref.modules():  # PyG stores log 2 rounded to float32 (torch.log(torch.tensor(2.0)).item())
        if isinstance(m, pyg_schnet.ShiftedSoftplus):
            m.shift = math.log(2.0)
    return ref.eval()


def pyg_energy_forces(ref, R, z):
    """Energies (n,) and forces (n, n_atoms, 3) of PyG's model for positions R (n, n_atoms, 3)."""
    n, n_atoms = R.shape[:2]
    pos = torch.as_tensor(R, dtype=torch.float64).reshape(-1, 3).requires_grad_(True)
    batch = torch.arange(n).repeat_interleave(n_atoms)
    E = ref(torch.as_tensor(np.tile(z, n), dtype=torch.long), pos, batch)[:, 0]
    (g,) = torch.autograd.grad(E.sum(), pos)
    return E.detach().numpy(), -g.view(n, n_atoms, 3).numpy()


def gdmlkit_energy_forces(net, R, z):
    n, n_atoms = R.shape[:2]
    pos = torch.as_tensor(R, dtype=torch.float64).reshape(-1, 3).requires_grad_(True)
    batch = torch.arange(n).repeat_interleave(n_atoms)
    E = net(torch.as_tensor(np.tile(z, n), dtype=torch.long), pos, batch, n, net.pair_lists(pos.view(n, n_atoms, 3)))
    (g,) = torch.autograd.grad(E.sum(), pos)
    return E.detach().numpy(), -g.view(n, n_atoms, 3).numpy()


@pytest.fixture(scope="module")
def ethanol():
    return load_example("ethanol_train")  # rMD17 ethanol, eV and Å


def test_network_matches_pyg_schnet(ethanol):
    """Random (non-zero) weights, cutoff 3 Å so that some pairs of every geometry lie outside it."""
    torch.manual_seed(0)
    net = SchNet(n_features=32, n_interactions=3, n_rbf=25, cutoff=3.0).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    R, z = ethanol.R[:6], ethanol.z
    d = np.linalg.norm(R[:, :, None] - R[:, None], axis=-1)
    assert np.all((d > 3.0).any(axis=(1, 2)))  # the cutoff matters in every geometry
    E, F = gdmlkit_energy_forces(net, R, z)
    E_ref, F_ref = pyg_energy_forces(pyg_copy(net), R, z)
    assert np.ptp(E_ref) > 1e-2 and np.abs(F_ref).max() > 1e-1  # non-trivial outputs
    np.testing.assert_allclose(E, E_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(F, F_ref, rtol=1e-6, atol=1e-6)


def test_fitted_estimator_matches_pyg_with_std_and_atomref(ethanol):
    """E = sum_i (energy_scale_ o_i + e_{z_i}) is PyG's per-atom std and atomref (mean 0)."""
    model = NNRegressor("schnet", model_options={"n_features": 16, "n_interactions": 2}, max_epochs=2,
                        batch_size=4, dtype="float64").fit(ethanol[:12])
    atomref = torch.zeros(100, 1, dtype=torch.float64)
    for Z, e in model.element_energies_.items():
        atomref[Z] = e
    ref = pyg_copy(model.module_, mean=0.0, std=model.energy_scale_, atomref=atomref)
    R = ethanol.R[100:105]
    E, F = model.predict(R)
    E_ref, F_ref = pyg_energy_forces(ref, R, ethanol.z)
    np.testing.assert_allclose(E, E_ref, rtol=1e-10)  # energies ~ -4.2e3 eV: relative
    np.testing.assert_allclose(F, F_ref, rtol=1e-6, atol=1e-6)
