"""gdmlkit.nn neighbour lists against ASE's, periodic (skewed cell, slab) and molecular (batched)."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from gdmlkit.nn.neighbors import neighbor_list


def _pair_set(R, i, j, shift_cart):
    vec = R[j] - R[i] + shift_cart
    return sorted(zip(i.tolist(), j.tolist(), *np.round(vec, 8).T.tolist()))


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True)])
def test_periodic_neighbor_list_matches_ase(pbc):
    rng = np.random.default_rng(3)
    cell = np.array([[4.0, 0.3, 0.0], [0.6, 3.5, 0.2], [0.1, -0.5, 5.0]])
    R = rng.uniform(-3.0, 7.0, size=(7, 3))  # some atoms outside the cell
    cutoff = 4.5
    i, j, S = ase_neighbor_list("ijS", Atoms("H7", positions=R, cell=cell, pbc=pbc), cutoff)
    mi, mj, ms = neighbor_list(torch.from_numpy(R[None]), cutoff, cell[None], pbc)
    assert _pair_set(R, mi.numpy(), mj.numpy(), ms.numpy()) == _pair_set(R, i, j, S @ cell)


def test_molecular_neighbor_list_matches_ase_and_flattens_batches():
    rng = np.random.default_rng(4)
    R = rng.uniform(0, 6, size=(2, 8, 3))
    cutoff = 3.0
    mi, mj, ms = neighbor_list(torch.from_numpy(R), cutoff)
    assert torch.all(ms == 0)
    ref = []
    for b in range(2):
        i, j = ase_neighbor_list("ij", Atoms("H8", positions=R[b]), cutoff)
        ref += sorted(zip((i + 8 * b).tolist(), (j + 8 * b).tolist()))
    assert sorted(zip(mi.tolist(), mj.tolist())) == sorted(ref)
