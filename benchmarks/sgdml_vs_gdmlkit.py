"""Train gdmlkit and sgdml side by side on the same split of GFN2-xTB ethanol; print and save a table.

Each fit runs in a fresh process so that wall time and peak memory (RSS) are its own.
Usage::

    python benchmarks/sgdml_vs_gdmlkit.py                 # N = 200, 500, 1000; 5000 test geometries
    python benchmarks/sgdml_vs_gdmlkit.py --sizes 200 --n-test 1000   # quick

sgdml 1.0.3's analytic solver needs three kernel copies (3 x 5.8 GB at N = 1000, plus
its workers) and is OOM-killed on a 24 GiB machine; this script does not provoke the
kill. Where the analytic estimate exceeds --sgdml-max-memory it runs sgdml's iterative
solver, as sgdml itself would with that memory limit.
"""

import argparse
import json
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import SHARED, peak_rss_gb, run_child, write_table  # noqa: E402

DATA = SHARED / "molecules" / "xtb_md" / "ethanol_gfn2xtb_500K.npz"


def split(n_train, n_test, seed):
    n = len(np.load(DATA)["E"])
    idx = np.random.default_rng(seed).permutation(n)
    return idx[:n_train], idx[n_train:n_train + n_test]


def worker(impl, n_train, n_test, sigma, seed, sgdml_max_memory):
    d = dict(np.load(DATA))
    tr, te = split(n_train, n_test, seed)
    R_test, F_test, E_test = d["R"][te], d["F"][te], d["E"][te].ravel()
    t0 = time.perf_counter()
    if impl == "gdmlkit":
        from gdmlkit import GDMLRegressor

        model = GDMLRegressor(sigma=sigma).fit(d["R"][tr], d["F"][tr], E=d["E"][tr], z=d["z"])
        t_fit = time.perf_counter() - t0
        info = {"solver": model.solve_info_["solver"], "n_perms": len(model.perms_)}
        t1 = time.perf_counter()
        E, F = model.predict(R_test)
    else:
        from sgdml.predict import GDMLPredict
        from sgdml.train import GDMLTrain

        def ds(idx, tag):
            return {"type": "d", "name": np.array("ethanol"), "theory": np.array("GFN2-xTB"), "md5": np.array(tag),
                    "R": d["R"][idx], "z": d["z"], "E": d["E"][idx], "F": d["F"][idx],
                    "r_unit": np.array("Ang"), "e_unit": np.array("kcal/mol")}

        np.random.seed(seed)
        trainer = GDMLTrain(max_memory=sgdml_max_memory)
        task = trainer.create_task(ds(tr, "train"), n_train, ds(te[:50], "valid"), 10, sig=sigma, lam=1e-10)
        model = trainer.train(task)
        t_fit = time.perf_counter() - t0
        info = {"solver": str(model["solver_name"]), "n_perms": int(len(model["perms"]))}
        pred = GDMLPredict(model)
        t1 = time.perf_counter()
        E, F = pred.predict(R_test.reshape(len(R_test), -1))
        F = F.reshape(F_test.shape)
    t_pred = time.perf_counter() - t1
    dF = F - F_test
    out = dict(info, t_fit=t_fit, t_pred=t_pred, pred_per_s=len(R_test) / t_pred, rss_gb=peak_rss_gb(),
               f_mae=float(np.abs(dF).mean()), f_rmse=float(np.sqrt((dF**2).mean())),
               e_mae=float(np.abs(E - E_test).mean()))
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000])
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--sigma", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sgdml-max-memory", type=int, default=12, help="GB given to sgdml (default 12)")
    p.add_argument("--impls", nargs="+", default=["sgdml", "gdmlkit"])
    p.add_argument("--worker", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker[0], int(a.worker[1]), a.n_test, a.sigma, a.seed, a.sgdml_max_memory)
    rows, res = [], {}
    for n in a.sizes:
        for impl in a.impls:
            args = [__file__, "--worker", impl, str(n), "--n-test", str(a.n_test), "--sigma", str(a.sigma),
                    "--seed", str(a.seed), "--sgdml-max-memory", str(a.sgdml_max_memory)]
            r, wall = run_child(args)
            res[(impl, n)] = (r, wall)
            print(impl, n, f"{wall:.1f} s", r, flush=True)
    for n in a.sizes:
        base = res.get(("sgdml", n), ({}, None))
        for impl in a.impls:
            r, wall = res[(impl, n)]
            if "error" in r:
                rows.append([n, impl, "—", r["error"], "", "", "", "", "", "", ""])
                continue
            b = base[0] if "error" not in base[0] else {}
            speed = f"{base[1] / wall:.1f}x" if b and impl != "sgdml" else ""
            mem = f"{r['rss_gb'] / b['rss_gb']:.2f}" if b and impl != "sgdml" else ""
            pred = f"{r['pred_per_s'] / b['pred_per_s']:.1f}x" if b and impl != "sgdml" else ""
            rows.append([n, impl, r["solver"], f"{wall:.1f}", speed, f"{r['rss_gb']:.2f}", mem,
                         f"{r['f_mae']:.4f}", f"{r['f_rmse']:.4f}", f"{r['e_mae']:.4f}",
                         f"{r['pred_per_s']:.0f} ({pred})" if pred else f"{r['pred_per_s']:.0f}"])
    write_table(
        "sgdml_vs_gdmlkit",
        ["N train", "code", "solver", "wall s (fit+predict)", "speed-up", "peak RSS GB", "RSS ratio",
         "F MAE", "F RMSE", "E MAE", "predict geoms/s (ratio)"],
        rows,
        notes=[f"Data: {DATA.name} (GFN2-xTB, kcal/mol, Å), random split seed {a.seed}, {a.n_test} test "
               f"geometries, sigma {a.sigma}, lambda 1e-10. Errors in kcal/mol(/Å). Ratios are gdmlkit / sgdml "
               "(speed-up = sgdml wall / gdmlkit wall)."],
    )


if __name__ == "__main__":
    main()
