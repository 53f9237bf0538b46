"""The AD kernel path against the hand-derived Matérn/inverse-distance one: time of each operation, side by side.

Same training set (shipped rMD17 ethanol, N geometries, the 6 sGDML permutations), same internal coordinates as PCG.
'hand' is the default path (HessianKernelOperator, InverseDistanceDescriptor); 'AD' the same kernel and descriptor
written as a radial profile and a torch descriptor function (Matern52Kernel, AutodiffInverseDistanceDescriptor), with
eager AD coefficients or compiled ones (torch.compile; its one-off compilation is reported apart); 'AD Morse +
Gaussian' a new descriptor and kernel. Each time is the median of --repeats runs in one process.
Usage: ``python benchmarks/autodiff_kernel.py [--n 1000] [--repeats 3]`` (about 10 min at N = 1000 on 2 cores).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_table  # noqa: E402

from gdmlkit import find_permutations, load_example  # noqa: E402
from gdmlkit.descriptors import (AutodiffInverseDistanceDescriptor, InverseDistanceDescriptor,  # noqa: E402
                                 MorseDescriptor)
from gdmlkit.kernels import HessianKernelOperator  # noqa: E402
from gdmlkit.kernels.autodiff import AutodiffKernelOperator  # noqa: E402
from gdmlkit.kernels.dense import assemble_kernel  # noqa: E402
from gdmlkit.kernels.radial import GaussianKernel, Matern52Kernel  # noqa: E402
from gdmlkit.models.predictor import GDMLPredictor  # noqa: E402
from gdmlkit.symmetry import permutation_desc_index  # noqa: E402


def timed(f, repeats):
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1000, help="training geometries (default 1000)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--assembly-n", type=int, default=300, help="geometries of the dense-assembly row (default 300)")
    a = p.parse_args()
    train, test = load_example("ethanol_train")[:a.n], load_example("ethanol_test")
    R, z = train.R, train.z
    dp = permutation_desc_index(find_permutations(R, z))
    sigma = 10.0
    t = time.perf_counter()
    compiled = Matern52Kernel(compiled=True)
    compiled.coefficients(torch.rand(64, 64, dtype=torch.float64) + 0.1, sigma)
    compile_s = time.perf_counter() - t
    variants = {  # name -> (operator kwargs, descriptor for predictor, kernel for predictor, sigma)
        "hand (default)": (dict(), InverseDistanceDescriptor(9), None, sigma),
        "AD, eager": (dict(kernel=Matern52Kernel(), descriptor=AutodiffInverseDistanceDescriptor(9)),
                      AutodiffInverseDistanceDescriptor(9), Matern52Kernel(), sigma),
        "AD, compiled": (dict(kernel=compiled, descriptor=AutodiffInverseDistanceDescriptor(9)),
                         AutodiffInverseDistanceDescriptor(9), compiled, sigma),
        "AD Morse + Gaussian, eager": (dict(kernel=GaussianKernel(), descriptor=MorseDescriptor(z)),
                                       MorseDescriptor(z), GaussianKernel(), 1.0),
    }
    rng = np.random.default_rng(0)
    results = {}
    for name, (kw, desc, kernel, sig) in variants.items():
        Op = AutodiffKernelOperator if "kernel" in kw else HessianKernelOperator
        op = Op(R, dp, sig, 1e-10, coordinates="internal", **kw)
        v = torch.from_numpy(rng.normal(size=op.shape[0]))
        res = {"matvec": timed(lambda: op.matvec(v), a.repeats)}
        U = torch.from_numpy(rng.normal(size=(a.n, op.x.shape[1])))
        res["J products"] = timed(lambda: op.from_descriptor(op.to_descriptor(v.reshape(a.n, -1, 1))), a.repeats)
        res["pairs"] = timed(lambda: op._descriptor_matvec(U), a.repeats)
        cols = rng.choice(op.shape[0], 200, replace=False)
        res["200 columns"] = timed(lambda: op.columns(cols), a.repeats)
        res["diagonal"] = timed(lambda: op.diagonal(), a.repeats)
        cached = Op(R, dp, sig, 1e-10, coordinates="internal", cache_coefficients=True, **kw)
        res["matvec (cached)"] = timed(lambda: cached.matvec(v), a.repeats)
        w = op.x.numpy() * 0 + rng.normal(size=op.x.shape)
        pred = GDMLPredictor(op.x.numpy(), w, dp, sig, 0.0, 9, descriptor=desc, kernel=kernel)
        res["predict 1000"] = timed(lambda: pred.predict(test.R), a.repeats)
        m = a.assembly_n
        xs, gs = desc.transform(torch.from_numpy(R[:m]))
        J = desc.jacobian(gs)
        dpt = torch.from_numpy(dp)
        res[f"dense K (N={m})"] = timed(lambda: assemble_kernel(xs, J, dpt, sig, lower_only=True, kernel=kernel), 1)
        results[name] = res
        print(name, {k: round(v, 4) for k, v in res.items()}, flush=True)
    ops = list(next(iter(results.values())))
    hand = results["hand (default)"]
    header = ["operation"] + [f"{name} (s)" for name in results] + [f"{name} / hand" for name in list(results)[1:]]
    rows = [[op] + [f"{results[nm][op]:.4f}" for nm in results] + [f"{results[nm][op] / hand[op]:.2f}"
                                                                   for nm in list(results)[1:]] for op in ops]
    notes = [f"Ethanol (shipped rMD17), N = {a.n} training geometries, 6 permutations, internal coordinates "
             f"({R.shape[1] * 3 - 6} per geometry), sigma 10 (Morse + Gaussian: sigma 1), float64, "
             f"median of {a.repeats}. `python benchmarks/autodiff_kernel.py --n {a.n} --repeats {a.repeats}`.",
             "matvec = one PCG product (J products + pairs); J products = J Q v and Q^T J^T y alone; pairs = the "
             "descriptor-space pair sum alone; 200 columns / diagonal = preconditioner inputs; predict = energies "
             "and forces of the 1000 test geometries; dense K = closed-form kernel assembly (lower blocks).",
             f"The compiled coefficients were compiled once in this process in {compile_s:.1f} s (not in the table)."]
    write_table("autodiff_kernel_cpu", header, rows, notes)


if __name__ == "__main__":
    main()
