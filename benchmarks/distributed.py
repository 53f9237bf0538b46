"""Distributed PCG (torch.distributed, Gloo): one process against K processes on one machine.

Each configuration runs in fresh processes: the single-process fit directly, K processes
under ``torchrun --standalone``. Every process reports its own peak RSS, so the table shows
the memory per process falling as the kernel's rows are split, and the answers (iterations,
force MAE) staying the same. GFN2-xTB ethanol, the split and settings of benchmarks/scaling.py.
Usage::

    python benchmarks/distributed.py --sizes 2000 5000 --processes 2
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, peak_rss_gb, write_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED / "molecules" / "xtb_md" / "ethanol_gfn2xtb_500K.npz"


def worker(a):
    """One process of a fit (alone, or one of torchrun's): writes its figures to <out>/rank<r>.json."""
    import torch.distributed as dist

    from gdmlkit import GDMLRegressor
    from gdmlkit.distributed import init_from_env, rank

    if "RANK" in os.environ:
        init_from_env()
    d = dict(np.load(DATA))
    idx = np.random.default_rng(a.seed).permutation(len(d["E"]))
    tr, te = idx[:a.size], idx[a.size:a.size + a.n_test]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDMLRegressor(sigma=a.sigma, solver="pcg", preconditioner=a.preconditioner, tol=a.tol,
                              max_memory=a.max_memory, random_state=0)
        model.fit(d["R"][tr], d["F"][tr], E=d["E"][tr], z=d["z"])
    t_fit = time.perf_counter() - t0
    E, F = model.predict(d["R"][te])
    info = model.solve_info_
    Path(a.out, f"rank{rank()}.json").write_text(json.dumps({"rank": rank(), "processes": info["processes"], "iters": info["n_iter"], "k": info["rank"],
                      "t_pc": info["t_preconditioner_s"], "t_cg": info["t_solve_s"], "t_fit": t_fit,
                      "rss_gb": peak_rss_gb(), "held_gb": (info["factor_bytes"] + info["cache_bytes"]) / 1e9, "f_mae": float(np.abs(F - d["F"][te]).mean()),
                      "cached": bool(info["cached_coefficients"]), "factor_dtype": info["factor_dtype"]}))
    if dist.is_initialized():
        dist.destroy_process_group()


def launch(a, n, procs):
    """Run one configuration; (list of per-process JSON dicts, wall s)."""
    out_dir = tempfile.mkdtemp()
    args = [__file__, "--worker", "--out", out_dir, "--size", str(n), "--n-test", str(a.n_test), "--sigma", str(a.sigma),
            "--tol", str(a.tol), "--seed", str(a.seed), "--preconditioner", a.preconditioner]
    if a.max_memory is not None:
        args += ["--max-memory", str(a.max_memory)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    if procs == 1:
        cmd = [sys.executable, *args]
    else:  # the cores are shared out: one thread per process on a 2-core machine with 2 processes
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // procs))
        cmd = ["torchrun", "--standalone", "--nproc-per-node", str(procs), *args]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=a.timeout)
    wall = time.perf_counter() - t0
    rows = [json.loads(f.read_text()) for f in Path(out_dir).glob("rank*.json")]
    shutil.rmtree(out_dir)
    if out.returncode != 0 or len(rows) != procs:
        raise RuntimeError(f"{cmd[:4]} failed ({out.returncode}): {out.stderr[-1500:]}")
    return sorted(rows, key=lambda r: r["rank"]), wall


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000])
    p.add_argument("--processes", type=int, nargs="+", default=[2])
    p.add_argument("--preconditioner", default="random")
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--sigma", type=float, default=10.0)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--max-memory", type=float, default=None, help="each process's budget in GB")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=int, default=3600)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    header = ["N train", "processes", "k", "iterations", "precond s", "CG s", "wall s", "peak RSS GB per process",
              "factor + cache GB per process", "F MAE"]
    rows = []
    for n in a.sizes:
        for procs in [1] + a.processes:
            res, wall = launch(a, n, procs)
            r0 = res[0]
            label = f"{procs} (Gloo)" if procs > 1 else "1 (no process group)"
            rows.append([n, label, f"{r0['k']}" + (" (float32 factor)" if r0["factor_dtype"] == "float32" else ""),
                         r0["iters"], f"{r0['t_pc']:.1f}", f"{r0['t_cg']:.1f}", f"{wall:.1f}",
                         " / ".join(f"{r['rss_gb']:.2f}" for r in res),
                         " / ".join(f"{r['held_gb']:.2f}" for r in res), f"{r0['f_mae']:.4f}"])
            print(rows[-1], flush=True)
            write_table("distributed_cpu", header, rows, notes=[
                f"GFN2-xTB ethanol, random split seed {a.seed}, {a.n_test} test geometries, sigma {a.sigma}, "
                f"lambda 1e-10, PCG tolerance {a.tol:g}, {a.preconditioner} Nyström preconditioner (rank rule, "
                "random_state 0); force MAE in kcal/mol/Å. Wall time of the whole launch (torchrun start, loading, "
                "symmetry search, fit, prediction of the test set on every process). Several processes share this "
                "machine's cores (one thread each with 2 processes on 2 cores), so they are not faster here: the "
                "point is the memory per process and the answers. Factor + cache: the bytes of the Nyström factor and "
                "the cached pair coefficients that the process holds, the state that is split; the rest of the peak "
                "(torch, data, descriptors, temporaries of the preconditioner build) is held by every process. Both sum each pair of geometry blocks once (symmetric "
                "product; the processes deal out the tile pairs and all-reduce their sums), and the preconditioner's "
                "rank is chosen for the whole factor, so one and K processes solve the same system with the same "
                "preconditioner (iterations may differ by a few from rounding at lambda = 1e-10). "
                f"Command: python benchmarks/distributed.py --sizes {' '.join(map(str, a.sizes))} --processes "
                f"{' '.join(map(str, a.processes))}"])


if __name__ == "__main__":
    main()
