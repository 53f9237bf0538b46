"""The closed form's kernel assembly: pair-structured Jacobians (gdmlkit.kernels.dense_pairs) against dense
Jacobians (gdmlkit.kernels.dense, the reference), in one run, with the maximum difference of the two matrices.
Prints and saves benchmarks/results/dense_kernel_cpu.md.

Systems: rMD17 ethanol (9 atoms, its 6 sGDML permutations), GFN2-xTB aspirin (21 atoms), 3BPA (27 atoms; shipped
or ../shared/data), and the mlearn Si (64 atoms, Fd-3m, 1536 operations) and Mo (54 atoms, Im-3m, 2592)
AIMD blocks with the full space group BIGDMLRegressor(perms='auto') finds. Kernel with energy rows and the
rigid-motion-free bases, as the closed form assembles it (lower triangle).

Usage (one thread): ``OMP_NUM_THREADS=1 python benchmarks/dense_kernel.py``
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import SHARED, write_table  # noqa: E402

#: (name, loader, N geometries)
SYSTEMS = [("ethanol", 9, 100), ("aspirin", 21, 50), ("3bpa", 27, 30), ("Si", 64, 4), ("Mo", 54, 3)]


def load(name):
    from gdmlkit import BIGDMLRegressor, GDMLRegressor, load_dataset, load_example

    if name == "ethanol":
        return load_example("ethanol_train"), GDMLRegressor()
    if name == "aspirin":
        return load_dataset(SHARED / "molecules" / "xtb_md" / "aspirin_gfn2xtb_500K.npz"), GDMLRegressor()
    if name == "3bpa":
        return load_dataset(SHARED / "molecules" / "botnet_3bpa" / "train_300K.npz"), GDMLRegressor()
    el, n = name, {"Si": 64, "Mo": 54}[name]
    ds = load_dataset(SHARED / "periodic" / "mlearn" / el / f"{el}_training_aimd_nvt_0_{n}atoms.npz")
    model = BIGDMLRegressor(perms="auto")
    model.set_cell(ds)
    return ds, model


def system(name, n):
    import torch

    from gdmlkit.symmetry import permutation_desc_index

    ds, model = load(name)
    sub = ds[np.random.default_rng(0).permutation(len(ds))[:n]]
    perms = model._resolve_perms(ds.R[:80] if model.is_periodic else sub.R, ds.z)
    desc = model._make_descriptor(ds.n_atoms)
    x, g = desc.transform(torch.from_numpy(sub.R))
    frame = desc.internal_frame(torch.from_numpy(sub.R))
    return x, g, desc, torch.from_numpy(permutation_desc_index(perms)), frame.basis()


def main():
    import torch

    from gdmlkit.kernels.dense import assemble_kernel
    from gdmlkit.kernels.dense_pairs import assemble_pair_kernel

    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    rows = []
    for name, n_atoms, n in SYSTEMS:
        x, g, desc, dp, Q = system(name, n)
        t0 = time.perf_counter()
        K0 = assemble_kernel(x, desc.jacobian_times(g, Q), dp, 10.0, use_E=True, lower_only=True)
        t1 = time.perf_counter()
        K1 = assemble_pair_kernel(x, g, desc._pairs("cpu"), dp, 10.0, basis=Q, use_E=True, lower_only=True)
        t2 = time.perf_counter()
        err = np.abs(np.tril(K0) - np.tril(K1)).max() / np.abs(K0).max()
        rows.append([name, n_atoms, len(dp), n, K0.shape[0], f"{t1 - t0:.2f}", f"{t2 - t1:.2f}",
                     f"{(t1 - t0) / (t2 - t1):.1f}", f"{err:.1e}"])
        print(rows[-1], flush=True)
    write_table("dense_kernel_cpu", ["system", "atoms", "permutations", "N", "size", "dense J s", "pairs s",
                                     "speed-up", "max rel. difference"], rows, notes=[
        "Closed-form kernel assembly (energy rows, rigid-motion-free bases, lower triangle, Matérn-5/2, "
        "sigma 10), one thread: dense Jacobians (gdmlkit.kernels.dense) against pair-structured ones "
        "(gdmlkit.kernels.dense_pairs). Command: `OMP_NUM_THREADS=1 python benchmarks/dense_kernel.py`.",
        f"Load average at the start: {load:.1f} (other work shares the cores when it exceeds 1: ratios from one run "
        "are comparable, absolute times less so)."])


if __name__ == "__main__":
    main()
