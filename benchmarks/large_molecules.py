"""Large molecules: PCG fits and operator memory against the number of atoms, beside the dense-Jacobian baseline.

Two tables, each run in fresh processes (peak RSS per run):

1. ``large_molecules_cpu``: PCG fits (internal coordinates, random Nyström preconditioner, 4 GB
   budget) of GFN2-xTB ethanol (9 atoms), DFT 3BPA (27 atoms; its 1000 shared frames, 900 to
   train) and GFN2-xTB Ac-Ala3-NHMe (42 atoms, ``benchmarks/data``), with wall time, iterations,
   peak memory and test errors.
2. ``large_molecules_operator_cpu``: the operator alone (build, preconditioner columns, products)
   on N noisy copies of random clusters of 30 to 150 atoms, where a dense per-frame Jacobian
   (D x 3N_atoms) would grow as N_atoms^3.

With ``--baseline CHECKOUT`` (e.g. a worktree of the commit before the Jacobian-free operator,
which kept dense J_i Q_i) every run is repeated with that checkout first on PYTHONPATH and the
memory ratio is reported. Usage::

    python benchmarks/large_molecules.py --baseline ../old
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, peak_rss_gb, run_child, write_table  # noqa: E402

HERE = Path(__file__).resolve().parent
MOLECULES = {  # name: (files, n_train, sigma)
    "ethanol": ([SHARED / "molecules" / "xtb_md" / "ethanol_gfn2xtb_500K.npz"], 1000, 10.0),
    "3bpa": ([SHARED / "molecules" / "botnet_3bpa" / f"train_{t}.npz" for t in ("300K", "mixedT")], 900, 20.0),
    "ac_ala3_nhme": ([HERE / "data" / "ac_ala3_nhme_gfn2xtb_500K.npz"], 1000, 40.0),
}


def load(name):
    """(R, z, E, F, energy unit) of a benchmark molecule, frames concatenated and duplicates removed."""
    files = MOLECULES[name][0]
    parts = [dict(np.load(f)) for f in files]
    R = np.concatenate([p["R"] for p in parts])
    _, keep = np.unique(R.reshape(len(R), -1).round(6), axis=0, return_index=True)
    keep = np.sort(keep)
    cat = lambda k: np.concatenate([p[k] for p in parts])[keep]  # noqa: E731
    return R[keep], parts[0]["z"], cat("E").reshape(-1), cat("F"), str(parts[0].get("e_unit", "?"))


def fit_worker(a):
    from gdmlkit import GDMLRegressor

    R, z, E, F, unit = load(a.molecule)
    _, n_train, sigma = MOLECULES[a.molecule]
    idx = np.random.default_rng(0).permutation(len(R))
    tr, te = idx[:n_train], idx[n_train:n_train + 1000]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDMLRegressor(sigma=sigma, solver="pcg", preconditioner="random", tol=1e-4, max_memory=4.0,
                              random_state=0).fit(R[tr], F[tr], E=E[tr], z=z)
    t_fit = time.perf_counter() - t0
    Ep, Fp = model.predict(R[te])
    info = model.solve_info_
    print(json.dumps({"atoms": R.shape[1], "n_train": len(tr), "n_test": len(te), "perms": len(model.perms_),
                      "unknowns": info["size"], "k": info["rank"], "iters": info["n_iter"], "t_fit": t_fit,
                      "rss_gb": peak_rss_gb(), "f_mae": float(np.abs(Fp - F[te]).mean()),
                      "e_mae": float(np.abs(Ep - E[te]).mean()), "unit": unit}))


def operator_worker(a):
    import torch

    from gdmlkit.kernels.operator import HessianKernelOperator

    rng = np.random.default_rng(0)
    n_atoms = a.atoms[0]
    side = int(np.ceil(n_atoms ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n_atoms] * 1.5
    R = grid + rng.normal(scale=0.2, size=(a.size, n_atoms, 3))
    D = n_atoms * (n_atoms - 1) // 2
    t0 = time.perf_counter()
    op = HessianKernelOperator(R, np.arange(D)[None], 30.0, lam=1e-8, coordinates="internal", backend="torch")
    cols = rng.choice(op.shape[0], 300, replace=False)
    C = op.columns(cols)
    v = torch.from_numpy(rng.normal(size=op.shape[0]))
    for _ in range(3):
        v = op.matvec(v) / 1e3
    print(json.dumps({"unknowns": op.shape[0], "D": D, "t": time.perf_counter() - t0, "rss_gb": peak_rss_gb(),
                      "check": float(C.sum())}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecules", nargs="*", default=list(MOLECULES))
    p.add_argument("--atoms", type=int, nargs="*", default=[30, 60, 100, 150])
    p.add_argument("--size", type=int, default=50, help="geometries of the operator-only runs")
    p.add_argument("--baseline", help="another gdmlkit checkout to run beside this one")
    p.add_argument("--baseline-molecules", nargs="*", default=["ethanol"],
                   help="molecules whose fits also run on the baseline (the operator table always does)")
    p.add_argument("--timeout", type=int, default=3600)
    p.add_argument("--worker", choices=["fit", "operator"], help=argparse.SUPPRESS)
    p.add_argument("--molecule", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker == "fit":
        return fit_worker(a)
    if a.worker == "operator":
        return operator_worker(a)
    root = HERE.parent
    versions = [("this", root)] + ([("baseline", Path(a.baseline).resolve())] if a.baseline else [])

    def both(args, baseline=True):
        out = {}
        for label, path in versions if baseline else versions[:1]:
            out[label], out[label + "_wall"] = run_child([__file__, *args], timeout=a.timeout, pythonpath=path)
            print(label, out[label], flush=True)
        return out

    def mem(res, label):
        r = res.get(label)
        return "-" if r is None else (r["error"] if "error" in r else f"{r['rss_gb']:.2f}")

    def ratio(res):
        r, b = res.get("this", {}), res.get("baseline", {})
        return f"{b['rss_gb'] / r['rss_gb']:.2f}" if "rss_gb" in r and "rss_gb" in b else "-"

    rows = []
    header = ["molecule", "atoms", "perms", "N train / test", "unknowns", "k", "iterations", "fit s", "peak GB",
              "baseline peak GB", "baseline / this", "F MAE", "E MAE"]
    for name in a.molecules:
        res = both(["--worker", "fit", "--molecule", name], name in a.baseline_molecules)
        r = res["this"]
        if "error" in r:
            rows.append([name] + [r["error"]] + ["-"] * (len(header) - 2))
        else:
            rows.append([name, r["atoms"], r["perms"], f"{r['n_train']} / {r['n_test']}", r["unknowns"], r["k"],
                         r["iters"], f"{r['t_fit']:.1f}", mem(res, "this"), mem(res, "baseline"), ratio(res),
                         f"{r['f_mae']:.4f}", f"{r['e_mae']:.4f}"])
        write_table("large_molecules_cpu", header, rows, notes=[
            "PCG fits, internal coordinates, random Nyström preconditioner (rank rule), tol 1e-4, lambda 1e-10, "
            "max_memory 4 GB, random split seed 0; ethanol and Ac-Ala3-NHMe GFN2-xTB in kcal/mol(/Å), 3BPA DFT in "
            "eV(/Å). Sigma fixed per molecule (10, 20, 40: the best test errors of closed-form fits to 150 geometries over 5-80). Fit time includes the symmetry search. Peak GB: the "
            "fitting process's peak RSS. Baseline: the same run on the checkout given by --baseline (for "
            f"{', '.join(a.baseline_molecules)}; '-': not run, to save hours). "
            f"Command: python benchmarks/large_molecules.py{' --baseline ' + a.baseline if a.baseline else ''}"])
    rows = []
    header = ["atoms", "D", "N geometries", "unknowns", "dense J_i Q_i GB", "peak GB", "baseline peak GB",
              "baseline / this", "s", "baseline s"]
    for n_atoms in a.atoms:
        res = both(["--worker", "operator", "--atoms", str(n_atoms), "--size", str(a.size)])
        r = res["this"]
        D = n_atoms * (n_atoms - 1) // 2
        base_t = f"{res['baseline']['t']:.1f}" if "t" in res.get("baseline", {}) else "-"
        rows.append([n_atoms, D, a.size, r.get("unknowns", "-"), f"{a.size * D * (3 * n_atoms - 6) * 8 / 1e9:.2f}",
                     mem(res, "this"), mem(res, "baseline"), ratio(res), f"{r.get('t', float('nan')):.1f}", base_t])
        write_table("large_molecules_operator_cpu", header, rows, notes=[
            "The operator alone: N noisy copies of a random cluster on a 1.5 Å grid, identity permutation, "
            "internal coordinates; build, 300 preconditioner columns and 3 products (torch backend). Dense "
            "J_i Q_i GB: what one copy of the per-frame dense Jacobians in internal coordinates takes "
            "(N D (3 N_atoms - 6) float64). "
            f"Command: python benchmarks/large_molecules.py --molecules --size {a.size}"
            f"{' --baseline ' + a.baseline if a.baseline else ''}"])


if __name__ == "__main__":
    main()
