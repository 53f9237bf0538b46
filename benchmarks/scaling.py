"""Scalable training: lazy operator + Nyström preconditioner + PCG at growing N; prints and saves a table.

Each fit runs in a fresh process (wall time and peak RSS are its own) on GFN2-xTB MD
data (ethanol or aspirin), testing on 5000 other geometries. sgdml's iterative solver
runs beside it on the same split and sigma where --sgdml-sizes asks for it.
Usage::

    python benchmarks/scaling.py --molecule ethanol --sizes 1000 2000 5000 10000
    python benchmarks/scaling.py --sizes 1000 --preconditioners cholesky random leverage --sgdml-sizes 1000
    python benchmarks/scaling.py --sizes 10000 --n-inducing 2000 --cache on --append
    python benchmarks/scaling.py --sizes 10000 --preconditioners random --tol 1e-4 --max-memory 4 --cache off --append
    python benchmarks/scaling.py --molecule aspirin --sizes 500 --closed-form-sizes 500 --append
    python benchmarks/scaling.py --sizes 1000 2000 --preconditioners random --tol 1e-4 \
        --baseline ../old-checkout --table scaling_ethanol_cpu_refactor
"""

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, SHARED, peak_rss_gb, read_table, run_child, write_table  # noqa: E402


BASELINE_NOTE = ("With --baseline each gdmlkit row is followed by the same fit run with the baseline checkout's code "
                 "(code column: the commit of each; '+' marks uncommitted changes in that checkout).")


def commit(checkout):
    """Short commit hash of a git checkout (and '+' for uncommitted changes)."""
    git = ["git", "-C", str(checkout)]
    sha = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    return (sha or "?") + ("+" if dirty else "")


def data_path(molecule):
    return SHARED / "molecules" / "xtb_md" / f"{molecule}_gfn2xtb_500K.npz"


def worker(a, impl, n, precond):
    d = dict(np.load(data_path(a.molecule)))
    idx = np.random.default_rng(a.seed).permutation(len(d["E"]))
    tr, te = idx[:n], idx[n:n + a.n_test]
    t0 = time.perf_counter()
    if impl == "closed form":
        from gdmlkit import GDMLRegressor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GDMLRegressor(sigma=a.sigma, solver="cholesky").fit(d["R"][tr], d["F"][tr], E=d["E"][tr],
                                                                         z=d["z"])
        out = {"iters": "-"}
        E, F = model.predict(d["R"][te])
    elif impl == "gdmlkit":
        from gdmlkit import GDMLRegressor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k = a.n_inducing if a.n_inducing == "auto" else int(a.n_inducing)
            cache = {"auto": "auto", "on": True, "off": False}[a.cache]
            model = GDMLRegressor(sigma=a.sigma, solver="pcg", preconditioner=precond, tol=a.tol, n_inducing=k,
                                  backend=a.backend, device=a.device, cache_coefficients=cache,
                                  max_memory=a.max_memory, random_state=0)
            model.fit(d["R"][tr], d["F"][tr], E=d["E"][tr], z=d["z"])
        info = model.solve_info_
        out = {"t_pc": info["t_preconditioner_s"], "t_cg": info["t_solve_s"], "iters": info["n_iter"],
               "rank": info["rank"], "converged": info["converged"], "backend": info["backend"],
               "factor_dtype": info["factor_dtype"],
               "cached": bool(info["cached_coefficients"])}
        E, F = model.predict(d["R"][te])
    else:
        from sgdml.predict import GDMLPredict
        from sgdml.train import GDMLTrain

        def ds(i, tag):
            return {"type": "d", "name": np.array(a.molecule), "theory": np.array("GFN2-xTB"), "md5": np.array(tag),
                    "R": d["R"][i], "z": d["z"], "E": d["E"][i], "F": d["F"][i]}

        np.random.seed(a.seed)
        trainer = GDMLTrain(max_memory=a.sgdml_max_memory)
        task = trainer.create_task(ds(tr, "train"), n, ds(te[:50], "valid"), 10, sig=a.sigma, lam=1e-10)
        m = trainer.train(task)
        out = {"iters": int(m.get("solver_iters", -1)), "solver": str(m["solver_name"])}
        E, F = GDMLPredict(m).predict(d["R"][te].reshape(len(te), -1))
        F = F.reshape(len(te), -1, 3)
    dF = F - d["F"][te]
    out.update(t_total=time.perf_counter() - t0, rss_gb=peak_rss_gb(), f_mae=float(np.abs(dF).mean()),
               e_mae=float(np.abs(E - d["E"][te].ravel()).mean()))
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecule", default="ethanol", choices=["ethanol", "aspirin"])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    p.add_argument("--preconditioners", nargs="+", default=["cholesky"])
    p.add_argument("--sgdml-sizes", type=int, nargs="*", default=[])
    p.add_argument("--closed-form-sizes", type=int, nargs="*", default=[],
                   help="sizes at which gdmlkit's closed-form solver runs too (the accuracy PCG should reach)")
    p.add_argument("--sgdml-max-memory", type=int, default=12)
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--sigma", type=float, default=10.0)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--backend", default="auto")
    p.add_argument("--n-inducing", default="auto", help="preconditioner rank k, or 'auto' (the estimator's rule)")
    p.add_argument("--cache", default="auto", choices=["auto", "on", "off"],
                   help="keep the pairwise kernel coefficients in memory (estimator's cache_coefficients)")
    p.add_argument("--max-memory", type=float, default=None,
                   help="gdmlkit's memory budget in GB (the estimator's max_memory; default: what is available)")
    p.add_argument("--append", action="store_true", help="add the rows to the saved table instead of replacing it")
    p.add_argument("--table", help="name of the saved table (default scaling_<molecule>_<device>)")
    p.add_argument("--baseline", help="another checkout of gdmlkit: each gdmlkit row is also run with its code, "
                                      "in turn, and labelled with its commit")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=int, default=3600)
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a, a.worker[0], int(a.worker[1]), a.worker[2])
    common = ["--molecule", a.molecule, "--n-test", str(a.n_test), "--sigma", str(a.sigma), "--tol", str(a.tol),
              "--backend", a.backend, "--device", a.device, "--seed", str(a.seed),
              "--sgdml-max-memory", str(a.sgdml_max_memory), "--n-inducing", a.n_inducing, "--cache", a.cache]
    if a.max_memory is not None:
        common += ["--max-memory", str(a.max_memory)]
    name = a.table or f"scaling_{a.molecule}_{a.device}"
    here = Path(__file__).resolve().parents[1]
    label = {None: "gdmlkit"}
    if a.baseline:
        label[a.baseline] = f"gdmlkit {commit(a.baseline)} (baseline)"
        label[None] = f"gdmlkit {commit(here)}"
    header = ["N train", "n", "code", "preconditioner", "backend", "k", "precond s", "CG s", "iterations", "wall s",
              "peak RSS GB", "F MAE"]
    saved = a.append and (RESULTS / f"{name}.md").exists()
    rows = [[r[h] for h in header] for r in read_table(name)[1]] if saved else []

    def save():  # after every row, so an interrupted run keeps what finished
        write_table(name, header, rows,
                    notes=[f"GFN2-xTB {a.molecule}, random split seed {a.seed}, {a.n_test} test geometries, sigma "
                           f"{a.sigma}, lambda 1e-10, PCG relative tolerance {a.tol:g}; force MAE in kcal/mol/Å. "
                           "Wall time includes data loading, symmetry search, fit and test prediction. n counts Cartesian "
                           "force components; PCG solves in the rigid-motion-free subspace ((3N-6)/3N of n). "
                           "'(cached)': pairwise kernel coefficients kept in memory across CG products. "
                           "'(float32 factor)': the preconditioner's eigenvectors stored in float32, the leading "
                           "ones in float64 (NystromPreconditioner factor_dtype)."]
                    + ([BASELINE_NOTE] if a.baseline else []))

    for n in a.sizes:
        checkouts = [None] + ([a.baseline] if a.baseline else [])
        jobs = [("gdmlkit", pc, c) for pc in a.preconditioners for c in checkouts]
        jobs += [("sgdml", "-", None)] if n in a.sgdml_sizes else []
        jobs += [("closed form", "-", None)] if n in a.closed_form_sizes else []
        for impl, pc, checkout in jobs:
            r, wall = run_child([__file__, "--worker", impl, str(n), pc, *common], timeout=a.timeout,
                                pythonpath=checkout or here)
            code = label[checkout] if impl == "gdmlkit" else impl
            print(n, code, pc, f"{wall:.0f} s", r, flush=True)
            if "error" in r:
                rows.append([n, "", code, pc, r["error"]] + [""] * 7)
                save()
                continue
            backend = r.get("backend", "-") + (" (cached)" if r.get("cached") else "")
            pc_label = pc + (" (float32 factor)" if r.get("factor_dtype") == "float32" else "")
            rows.append([n, n * len(np.load(data_path(a.molecule))["z"]) * 3, code, pc_label, backend,
                         r.get("rank", "-"), f"{r['t_pc']:.1f}" if "t_pc" in r else "-",
                         f"{r['t_cg']:.1f}" if "t_cg" in r else "-", r["iters"], f"{wall:.1f}",
                         f"{r['rss_gb']:.2f}", f"{r['f_mae']:.4f}"])
            save()


if __name__ == "__main__":
    main()
