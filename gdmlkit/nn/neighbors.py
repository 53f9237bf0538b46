"""Neighbour lists within a cutoff, for molecules (all pairs) and periodic cells (lattice images).

A batch of ``n_samples`` geometries with ``n_atoms`` atoms each is flattened to
``n_samples * n_atoms`` atoms; pairs refer to flat atom indices. The vector from
atom i to atom j is ``R[j] - R[i] + shift`` (shift = 0 for molecules), so positions
stay differentiable while the list itself is built without gradients.
"""

import itertools

import numpy as np
import torch

__all__ = ["neighbor_list"]


def neighbor_list(R, cutoff, cell=None, pbc=None):
    """Directed pairs (i, j), i != j or a different image, with ``|r_ij| < cutoff``.

    Parameters
    ----------
    R : tensor (n_samples, n_atoms, 3)
        Positions (length unit L).
    cutoff : float
        Cutoff radius (L).
    cell : tensor or array (n_samples, 3, 3), optional
        Lattice vectors as rows (L); None for molecules.
    pbc : array of 3 bools, optional
        Periodic directions (default all True when `cell` is given).

    Returns
    -------
    idx_i, idx_j : int64 tensors (n_pairs,)
        Flat atom indices (sample * n_atoms + atom).
    shifts : tensor (n_pairs, 3)
        Cartesian image offsets (L), same dtype and device as `R`.
    """
    if cell is None:
        return _molecular_pairs(R, cutoff)
    pbc = np.ones(3, dtype=bool) if pbc is None else np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    cell = cell.detach().cpu().numpy() if torch.is_tensor(cell) else np.asarray(cell)
    cell = cell.astype(np.float64).reshape(-1, 3, 3)
    R_np = R.detach().cpu().numpy().astype(np.float64)
    n_samples, n_atoms = R_np.shape[:2]
    out_i, out_j, out_s = [], [], []
    for b in range(n_samples):
        i, j, s = _periodic_pairs(R_np[b], cell[b], pbc, cutoff)
        out_i.append(i + b * n_atoms)
        out_j.append(j + b * n_atoms)
        out_s.append(s @ cell[b])
    device = R.device
    return (torch.from_numpy(np.concatenate(out_i)).to(device), torch.from_numpy(np.concatenate(out_j)).to(device),
            torch.from_numpy(np.concatenate(out_s)).to(device=device, dtype=R.dtype))


def _molecular_pairs(R, cutoff):
    n_samples, n_atoms = R.shape[:2]
    ii, jj = torch.meshgrid(torch.arange(n_atoms, device=R.device), torch.arange(n_atoms, device=R.device),
                            indexing="ij")
    off = ii != jj
    ii, jj = ii[off], jj[off]
    with torch.no_grad():
        d = torch.linalg.norm(R[:, jj] - R[:, ii], dim=-1)  # (n_samples, n_pairs)
        keep = d < cutoff
    base = (torch.arange(n_samples, device=R.device) * n_atoms)[:, None]
    idx_i = (ii[None] + base)[keep]
    idx_j = (jj[None] + base)[keep]
    return idx_i, idx_j, R.new_zeros((idx_i.shape[0], 3))


def _periodic_pairs(R, cell, pbc, cutoff):
    """Pairs of one periodic geometry; returns (i, j, integer cell offsets (n_pairs, 3))."""
    inv = np.linalg.inv(cell)
    frac = R @ inv
    wrap = np.where(pbc, np.floor(frac), 0.0)  # image of each atom inside the cell
    Rw = R - wrap @ cell
    spacing = 1.0 / np.linalg.norm(inv, axis=0)  # distance between lattice planes
    reps = [int(np.ceil(cutoff / spacing[k])) if pbc[k] else 0 for k in range(3)]
    offsets = np.array(list(itertools.product(*(range(-r, r + 1) for r in reps))), dtype=np.float64)
    vec = Rw[None, None, :, :] - Rw[None, :, None, :] + (offsets @ cell)[:, None, None, :]  # (n_off, i, j, 3)
    d = np.linalg.norm(vec, axis=-1)
    keep = d < cutoff
    zero = np.all(offsets == 0, axis=1)
    n = len(R)
    keep[zero, np.arange(n), np.arange(n)] = False
    o, i, j = np.nonzero(keep)
    shift = offsets[o] - wrap[j] + wrap[i]
    return i.astype(np.int64), j.astype(np.int64), shift
