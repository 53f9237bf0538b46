"""Iterations of PCG to a relative tolerance for each preconditioner and rank; prints and saves a table.

Setting of Blücher, Müller, Chmiela (JCTC 2023): MD17 ethanol, 583 training geometries
(n = 15,741 force components), sigma 10, tiny lambda, tolerance 1e-4, ranks k/n = 1.5 %,
4.8 % and 9.5 %. We use the real MD17 CCSD(T) ethanol geometries (random 583 of the 1000), or with
``--data rmd17`` 583 of 1000 rMD17 ethanol geometries (DFT, drawn from the MD17 DFT trajectory the
published counts were measured on), saved as a second table (``preconditioners_rmd17.md``).
``--rigid-free`` removes the forces' net-force and net-torque components, which lie in the kernel's
null space, from the right-hand side.
Usage: ``python benchmarks/preconditioners.py [--data md17_ccsd_t|rmd17] [--n-geoms 583] [--fractions 0.015 0.048 0.095]``

:func:`compare_preconditioners` is also what ``notebooks/preconditioner_benchmark.py`` runs.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, write_table  # noqa: E402

from gdmlkit.exceptions import ConvergenceWarning  # noqa: E402
from gdmlkit.kernels.operator import HessianKernelOperator  # noqa: E402
from gdmlkit.preconditioners import SVDNystrom, make_preconditioner  # noqa: E402
from gdmlkit.solvers.pcg import pcg  # noqa: E402
from gdmlkit.symmetry import find_permutations, permutation_desc_index  # noqa: E402

PUBLISHED = {  # iterations to 1e-4 on MD17 ethanol, n = 15,741 (Blücher et al. 2023)
    0.095: {"svd": 128, "leverage": 197, "cholesky": 245, "random": 207},
    0.048: {"svd": 240, "leverage": 379, "cholesky": 422, "random": 384},
    0.015: {"svd": 851, "leverage": 1508, "cholesky": 1348, "random": 1308},
}
PUBLISHED_N = 15741
DATA = {  # name: (file under shared/data/molecules, description)
    "md17_ccsd_t": ("md17_ccsd_t/ethanol_ccsd_t-train.npz", "MD17 CCSD(T) ethanol"),
    "rmd17": ("botnet_ethanol/train.npz", "rMD17 ethanol (PBE/def2-SVP on MD17 DFT geometries, BOTNet train set)"),
}


class CachedSVD(SVDNystrom):
    """Truncated eigendecomposition from one full eigh of K, computed at the first fit and shared
    (through the `cache` dict) by all ranks on the same operator."""

    def __init__(self, rank, cache):
        super().__init__(rank)
        self.cache = cache

    def _factor(self, op, rng):
        if "spectrum" not in self.cache:
            K = torch.as_tensor(op.to_dense())
            K.diagonal().sub_(op.lam)
            self.cache["spectrum"] = torch.linalg.eigh(K)
        evals, evecs = self.cache["spectrum"]
        return evecs[:, -self.rank:] * evals[-self.rank:].clamp(min=0).sqrt()


def compare_preconditioners(op, b, fractions, names=("svd", "leverage", "cholesky", "random"), *, tol=1e-4,
                            max_iter=5000, seed=0, progress=None):
    """PCG on ``op.matvec`` x = b without a preconditioner and with each (name, rank k = fraction * n).

    Parameters
    ----------
    op : HessianKernelOperator
    b : ndarray (n,)
        Right-hand side (forces, in the operator's coordinates).
    fractions : sequence of float
        Ranks as fractions k/n of the system size.
    names : sequence of str
        Preconditioners ('svd' shares one dense eigendecomposition between ranks).
    tol, max_iter : float, int
        PCG relative tolerance and iteration cap (runs that hit it are marked not converged).
    seed : int
        Seed of the preconditioners' random choices.
    progress : callable, optional
        Called with each result dict as it is done (e.g. ``print``).

    Returns
    -------
    list of dict
        One per run: 'name', 'fraction' (None for 'none'), 'k', 'build_s', 'cg_s', 'n_iter',
        'converged', 'residuals' (relative residual per iteration).
    """
    n = b.size
    cache = {}
    runs = [("none", None)] + [(name, frac) for frac in fractions for name in names]
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, frac in runs:
            k = 0 if frac is None else max(1, int(round(frac * n)))
            if name == "svd":
                pc = CachedSVD(k, cache)
            else:
                pc = make_preconditioner(name, k, random_state=seed) if k else None
            t0 = time.perf_counter()
            if pc is not None:
                pc.fit(op)
            t_build = time.perf_counter() - t0
            res = pcg(op.matvec, b, precond=pc, tol=tol, max_iter=max_iter)
            results.append({"name": name, "fraction": frac, "k": k, "build_s": t_build, "cg_s": res.time_s,
                            "n_iter": res.n_iter, "converged": res.converged, "residuals": res.residuals})
            if progress is not None:
                progress({key: v for key, v in results[-1].items() if key != "residuals"})
    return results


def run(args):
    path, what = DATA[args.data]
    d = np.load(SHARED / "molecules" / path)
    idx = np.random.default_rng(args.seed).permutation(len(d["E"]))[:args.n_geoms]
    R, F = d["R"][idx], d["F"][idx]
    perms = find_permutations(R, d["z"])
    dp = permutation_desc_index(perms)
    op = HessianKernelOperator(R, dp, args.sigma, lam=args.lam, backend=args.backend)
    b = F.ravel()
    if args.rigid_free:  # b = Q Q^T F per geometry: no component in the kernel's null space
        internal = HessianKernelOperator(R, dp, args.sigma, coordinates="internal")
        b = internal.lift(internal.project(F)).ravel()
    n = b.size
    print(f"n = {n}, {len(perms)} permutations, backend {op.backend}", flush=True)
    results = compare_preconditioners(op, b, args.fractions, args.preconditioners, tol=args.tol,
                                      max_iter=args.max_iter, seed=args.seed, progress=print)
    rows = []
    for r in results:
        frac = r["fraction"]
        pub = "-" if frac is None else PUBLISHED.get(round(frac, 3), {}).get(r["name"], "-")
        rows.append([r["name"], "-" if frac is None else f"{100 * frac:.1f} %", r["k"] or "-",
                     f"{r['build_s']:.1f}", f"{r['cg_s']:.1f}",
                     r["n_iter"] if r["converged"] else f">{r['n_iter']}", pub])
    name = ("preconditioners" + ("" if args.data == "md17_ccsd_t" else f"_{args.data}")
            + ("_rigid_free" if args.rigid_free else ""))
    np.savez(Path(__file__).resolve().parent / "results" / f"{name}_residuals.npz",
             **{r["name"] if r["fraction"] is None else f"{r['name']}@{r['fraction']}": np.array(r["residuals"])
                for r in results})
    write_table(name, ["preconditioner", "k/n", "k", "build s", "CG s", "iterations", "published iterations"],
                rows,
                notes=[f"{what}, {args.n_geoms} random geometries (seed {args.seed}), n = {n}, "
                       + ("forces without their net-force and net-torque components (--rigid-free), "
                          if args.rigid_free else "") +
                       f"{len(perms)} permutations, sigma {args.sigma}, lambda {args.lam:g}, relative tolerance "
                       f"{args.tol:g}, operator backend {op.backend}. Published: Blücher, Müller, Chmiela, JCTC 2023 "
                       "(MD17 ethanol DFT data)."])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="md17_ccsd_t", choices=sorted(DATA))
    p.add_argument("--n-geoms", type=int, default=583)
    p.add_argument("--sigma", type=float, default=10.0)
    p.add_argument("--lam", type=float, default=1e-10)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--max-iter", type=int, default=5000)
    p.add_argument("--fractions", type=float, nargs="+", default=[0.095, 0.048, 0.015])
    p.add_argument("--preconditioners", nargs="+", default=["svd", "leverage", "cholesky", "random"])
    p.add_argument("--rigid-free", action="store_true",
                   help="remove the forces' rigid-motion components (net force and torque: the kernel's null space)")
    p.add_argument("--backend", default="torch")
    p.add_argument("--seed", type=int, default=0)
    run(p.parse_args())


if __name__ == "__main__":
    main()
