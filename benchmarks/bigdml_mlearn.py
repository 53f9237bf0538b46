"""BIGDML on the mlearn AIMD blocks (Si, Ge, Mo, Li; DFT PBE): learning curves with the automatic
symmetry (reference found from the training frames), against minimum-image GDML and the mean-energy
predictor, energy constraints against the integration constant, and the cost of the full space group.
Prints and saves benchmarks/results/bigdml_mlearn_cpu.md.

Data: ../shared/data/periodic/mlearn/<El>/<El>_training_aimd_nvt_0_<n>atoms.npz (one fixed cell per
block; eV, Å). Every block mixes crystal frames at several temperatures with molten frames (atoms
diffused by 4-6 Å); test errors are given on all test frames and on the crystal and liquid ones
apart. Split: a fixed random permutation (seed 0); the test frames are those after the first 80
(Li, 76 frames: after the first 66, so its largest N is 66); training sets are the first N.

Methods (each fit in a child process, for its peak memory):
``mean``: the mean training energy, zero forces. ``none``: GDML with the minimum image only
(perms='none'). ``auto``: BIGDMLRegressor() defaults (perms='auto', reference found from the data:
the full space group where one is found). ``translations``: its lattice translations (cost check).
Each with energy constraints (``E``, the new default of the closed form) or the integration constant
(``c``). Sigma: 3-fold cross-validation of the force MAE (select_sigma) on the N = 20 training set for
``none`` over 2/4/8/16, 2-fold on N = 10 for ``auto`` over 4/8/16; each kept for the other N.

Usage (one thread): ``OMP_NUM_THREADS=1 python benchmarks/bigdml_mlearn.py --symmetry`` (the group
found for each training set), ``... --blocks Si Ge Mo Li --queue none`` and ``... --queue auto`` (resumable: finished runs are cached in
benchmarks/results/bigdml_mlearn_cpu.json), then ``--table``.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, SHARED, machine, peak_rss_gb, run_child, write_table  # noqa: E402

CACHE = RESULTS / "bigdml_mlearn_cpu.json"
BLOCKS = {"Si": 64, "Ge": 64, "Mo": 54, "Li": 54}
SIZES = (10, 20, 50, 80)
POOL = 80
GRIDS = {"none": (2.0, 4.0, 8.0, 16.0), "auto": (4.0, 8.0, 16.0)}
CV_N = {"none": 20, "auto": 10}
#: where the runs of the first session (which recorded no machine) were measured
EARLIER_MACHINE = "Intel(R) Xeon(R) Processor @ 2.60GHz, 2 cores, 24 GiB RAM"
LIQUID_RMS = 2.0  # Å: rms displacement from the nearest crystal frame above which a frame is molten


def load_block(el):
    """(dataset, train pool indices, test indices, liquid mask of the test frames)."""
    from gdmlkit import load_dataset
    from gdmlkit.symmetry.reference import _displacements

    ds = load_dataset(SHARED / "periodic" / "mlearn" / el / f"{el}_training_aimd_nvt_0_{BLOCKS[el]}atoms.npz")
    idx = np.random.default_rng(0).permutation(len(ds))
    pool = min(POOL, len(ds) - 10)
    cell = ds.cell[0]
    rms = np.stack([np.sqrt((_displacements(ds.R, r, cell, True) ** 2).sum(-1).mean(1)) for r in ds.R])
    solid = np.sort(rms, axis=1)[:, 1] < LIQUID_RMS  # some other frame shares its sites
    return ds, idx[:pool], idx[pool:], ~solid[idx[pool:]]


def _model(method, sigma, use_E_cstr):
    from gdmlkit import BIGDMLRegressor

    perms = {"none": "none", "auto": "auto", "translations": "translations"}[method]
    return BIGDMLRegressor(sigma=sigma, perms=perms, use_E_cstr=use_E_cstr)


def worker(el, method, n, sigma, energy):
    """One fit and test in this process; prints a JSON line."""
    import torch

    from gdmlkit import select_sigma

    torch.set_num_threads(1)
    ds, pool, test, liquid = load_block(el)
    train = ds[pool[:n]]
    n_atoms = ds.n_atoms
    out = {"block": el, "method": method, "n": n, "energy": energy}
    if method == "mean":
        E, F = np.full(len(test), train.E.mean()), np.zeros_like(ds.F[test])
    else:
        use = energy == "E"
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if sigma == "cv":
                res = select_sigma(_model(method, 1.0, use), train, sigmas=GRIDS[method],
                                   cv=3 if method == "none" else 2, progress=False)
                model = res.best_estimator
                out["cv"] = {f"{s:g}": float(m.mean()) for s, m in zip(res.sigmas, res.force_mae)}
            else:
                model = _model(method, float(sigma), use).fit(train)
        out["fit_s"] = time.perf_counter() - t0
        out["warnings"] = sorted({str(w.message)[:160] for w in caught if "spglib" not in str(w.message)
                                  and "OLD_ERROR" not in str(w.message)})
        t0 = time.perf_counter()
        E, F = model.predict(ds[test])
        out["predict_s_per_frame"] = (time.perf_counter() - t0) / len(test)
        out.update(sigma=float(model.sigma), n_perms=len(model.perms_), symmetry=model.symmetry_,
                   use_E_cstr=bool(model.solve_info_["use_E_cstr"]))
    e = np.abs(E - ds.E[test]) * 1000 / n_atoms
    f = np.abs(F - ds.F[test]).reshape(len(test), -1).mean(1) * 1000
    out.update(E=float(e.mean()), F=float(f.mean()), E_solid=float(e[~liquid].mean()),
               F_solid=float(f[~liquid].mean()), E_liquid=float(e[liquid].mean()) if liquid.any() else None,
               F_liquid=float(f[liquid].mean()) if liquid.any() else None, n_test=len(test),
               n_liquid=int(liquid.sum()), peak_gb=peak_rss_gb())
    print(json.dumps(out))


def sizes_of(el):
    """Training-set sizes of a block (its pool's size where that is below the largest)."""
    _, pool, _, _ = load_block(el)
    return [n for n in SIZES if n <= len(pool)] + ([len(pool)] if len(pool) < SIZES[-1] else [])


def plan(blocks, queue):
    """(block, method, n, energy) runs in order: the sigma searches, then the learning curves size by size
    across the blocks (so a partial run covers every block), then the cost and energy-label checks."""
    methods = {"none": ("mean", "none"), "auto": ("auto", "translations"), "all": ("mean", "none", "auto",
                                                                                 "translations")}[queue]
    sizes = {el: sizes_of(el) for el in blocks}
    out = [(el, "mean", n, "-") for el in blocks for n in sizes[el]]
    out += [(el, m, CV_N[m], "E") for m in ("none", "auto") for el in blocks]
    for n in sorted(set().union(*sizes.values())):
        for el in blocks:
            if n in sizes[el]:
                out += [(el, "none", n, "E"), (el, "auto", n, "E"), (el, "none", n, "c")]
    out += [(el, m, 10, e) for el in blocks for m, e in (("translations", "E"), ("auto", "c"))]
    return [r for r in out if r[1] in methods]


def symmetry_survey(blocks):
    """The reference find_reference gives for each training set (no fit); cached as '<El>|reference|<N>'."""
    from gdmlkit.symmetry import NoLatticeSymmetryError, find_reference

    for el in blocks:
        ds, pool, _, _ = load_block(el)
        for n in [n for n in SIZES if n <= len(pool)] + ([len(pool)] if len(pool) < SIZES[-1] else []):
            t0 = time.perf_counter()
            try:
                found = find_reference(ds.R[pool[:n]], ds.z, ds.cell[0])
                res = {"group": found.group.international, "size": found.group.size, **found.summary()}
            except NoLatticeSymmetryError as exc:
                res = {"group": None, "reason": str(exc)}
            res["s"] = time.perf_counter() - t0
            cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
            cache[f"{el}|reference|{n}"] = res
            CACHE.write_text(json.dumps(cache, indent=1))
            print(el, n, res, flush=True)


def run_queue(blocks, queue, cache, auto_sigma=None):
    for el, method, n, energy in plan(blocks, queue):
        key = f"{el}|{method}|{n}|{energy}"
        if key in cache:
            continue
        base = "auto" if method in ("auto", "translations") else method
        cv_key = f"{el}|{base}|{CV_N.get(base)}|E"
        sigma = "cv" if key == cv_key else cache.get(cv_key, {}).get("sigma", "cv")
        if base == "auto" and auto_sigma:
            sigma = auto_sigma
        res, wall = run_child([__file__, "--worker", el, method, str(n), str(sigma), energy])
        res.update(wall_s=wall, machine=machine())
        cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
        cache[key] = res
        CACHE.write_text(json.dumps(cache, indent=1))
        print(key, {k: v for k, v in res.items() if k not in ("symmetry", "warnings")}, flush=True)


def _f(x, fmt=".1f"):
    return "–" if x is None else format(x, fmt)


def table(cache):
    rows, notes = [], []
    survey = {k: cache.pop(k) for k in [k for k in cache if "|reference|" in k]}
    for key, r in survey.items():
        notes.append(f"{key.replace('|reference|', ', N = ')}: " + (
            f"lattice symmetry found: {r['group']} ({r['size']} operations) from the {r['reference']}, "
            f"max site deviation {r['max_site_deviation']:.3f} Å, rms displacement {r['rms_displacement']:.3f} Å "
            f"({r['s']:.1f} s)" if r["group"] else f"no lattice symmetry: {r['reason']}"))
    label = {"mean": "mean energy", "none": "GDML, minimum image", "auto": "BIGDML auto",
             "translations": "BIGDML translations"}
    for key, r in sorted(cache.items(), key=lambda kv: (list(BLOCKS).index(kv[0].split("|")[0]),
                                                      ["mean", "none", "translations", "auto"].index(
                                                          kv[0].split("|")[1]), int(kv[0].split("|")[2]),
                                                      kv[0].split("|")[3])):
        if "error" in r:
            rows.append([key.replace("|", " "), r["error"]] + [""] * 10)
            continue
        sym = r.get("symmetry") or {}
        group = (f"{sym['international']} {r['n_perms']}" if "international" in sym
                 else "none found" if sym.get("reference") == "none found" else str(r.get("n_perms", "–")))
        rows.append([r["block"], label[r["method"]], group, r["n"],
                     {"E": "constraints", "c": "constant", "-": "–"}[r["energy"]], _f(r.get("sigma"), "g"),
                     f"{r['E']:.1f}", f"{r['F']:.0f}", f"{r['E_solid']:.1f} / {_f(r['E_liquid'])}",
                     f"{r['F_solid']:.0f} / {_f(r['F_liquid'], '.0f')}",
                     _f(r.get("fit_s")), _f(r.get("predict_s_per_frame"), ".2f"), _f(r.get("peak_gb"), ".2f")])
        if "reason" in sym:
            notes.append(f"{key}: no lattice symmetry: {sym['reason']}")
        if r["method"] == "auto" and "reference" in sym and sym["reference"] != "none found":
            notes.append(f"{key}: reference {sym['reference']}, {sym['international']} ({sym['group_size']} "
                         f"operations), max site deviation {sym['max_site_deviation']:.3f} Å, rms displacement "
                         f"{sym['rms_displacement']:.3f} Å, nn distance {sym['nn_distance']:.3f} Å")
        if "cv" in r:
            notes.append(f"{key}: CV force MAE (eV/Å) by sigma " + ", ".join(
                f"{s}: {m:.3f}" for s, m in r["cv"].items()))
    header = ["block", "model", "group", "N", "energy labels", "sigma", "E MAE meV/atom", "F MAE meV/Å",
              "E crystal / liquid", "F crystal / liquid", "fit s", "predict s/frame", "peak GB"]
    intro = [
        "mlearn AIMD-NVT blocks (PBE): Si 90 frames x 64 atoms, Ge 90 x 64, Mo 108 x 54, Li 76 x 54 (eV, Å). "
        "Test frames: all frames after the first 80 of a seed-0 permutation (Si, Ge 10, Mo 28; Li 10, after "
        "66: Li has 76 frames, so its largest N is 66). Crystal / liquid: test frames that share atom sites "
        "with another frame of the block (rms displacement < 2 Å) or not.",
        "Errors: energy MAE per atom, force MAE per component, on the test frames. fit s: wall seconds of "
        "the fit (with the sigma search where sigma is chosen there), one thread; peak GB: the child "
        "process's peak RSS.",
        "Command: `OMP_NUM_THREADS=1 python benchmarks/bigdml_mlearn.py --blocks Si Ge Mo Li --queue none`, "
        "`... --queue auto`, then `--table`."]
    machines = {}
    for key, r in cache.items():
        machines.setdefault(r.get("machine", EARLIER_MACHINE), []).append(key.replace("|", " "))
    if len(machines) > 1:
        notes += [f"Measured on {m}: {', '.join(keys)}." for m, keys in machines.items()]
    write_table("bigdml_mlearn_cpu", header, rows, intro + [""] + notes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=5, metavar=("BLOCK", "METHOD", "N", "SIGMA", "ENERGY"))
    ap.add_argument("--blocks", nargs="+", default=list(BLOCKS), choices=list(BLOCKS))
    ap.add_argument("--queue", choices=["none", "auto", "all"])
    ap.add_argument("--auto-sigma", type=float, help="BIGDML's sigma, instead of cross-validating it")
    ap.add_argument("--symmetry", action="store_true", help="survey the reference of each training set")
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    if args.worker:
        el, method, n, sigma, energy = args.worker
        return worker(el, method, int(n), sigma, energy)
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    if args.symmetry:
        symmetry_survey(args.blocks)
    if args.queue:
        run_queue(args.blocks, args.queue, cache, args.auto_sigma)
    if args.table or args.queue or args.symmetry:
        cache = json.loads(CACHE.read_text())
        table(cache)


if __name__ == "__main__":
    main()
