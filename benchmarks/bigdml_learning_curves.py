"""BIGDML learning curves on periodic systems, against minimum-image-only GDML on the same splits,
plus NVE molecular dynamics with the ASE calculator. Prints and saves
benchmarks/results/bigdml_learning_curves.md.

Systems (fixed cells, eV and Å):

* ``pdh``: H in a 32-atom Pd supercell, EMT, 300 K (data/pdh_emt_300K.npz; reference ``R_ideal``).
  Test 200 frames, validation 50, training sets drawn from the other 250.
* ``mo``, ``si``: mlearn AIMD-NVT blocks (DFT PBE) from ../shared/data/periodic/mlearn. Only the
  solid frames are used (RMS displacement from the ideal lattice < 0.5 Å after removing the drift;
  the other frames are molten); test and validation frames are drawn from them at random.
  The ideal reference is the bcc / diamond supercell matched to the atoms of frame 0.

Each (method, N) picks sigma from a grid by the force MAE on the validation frames (the whole grid
up to N = 50; above, the previous size's best sigma and its two neighbours in the grid). Methods:
'none' = minimum image only (what sgdml 1.0.3 does with a lattice); 'full', 'translations',
'site' = BIGDML over the whole space group or a closed subgroup; 'sgdml' = sgdml 1.0.3 itself with
the lattice (no symmetries) at the sigma chosen for 'none'. Finished results are cached in
benchmarks/results/bigdml_learning_curves.json, so an interrupted run resumes.

Usage (one thread; each call a few minutes):
``OMP_NUM_THREADS=1 python benchmarks/bigdml_learning_curves.py --system pdh --sizes 10 25 50``
``... --system pdh --sizes 100 200 --methods full none`` ``... --md`` ``... --table``
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, SHARED, write_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CACHE = RESULTS / "bigdml_learning_curves.json"
SIGMAS = {name: [0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6] for name in ("pdh", "mo", "si")}
SGDML_MAX_N = 100  # sgdml's analytic solver at N = 200 (19,800 unknowns) would take several minutes more
NAMES = {"pdh": "PdH (EMT)", "mo": "Mo (mlearn)", "si": "Si (mlearn)"}
#: "<perms>_c": the integration constant instead of the default energy constraints (use_E_cstr=False), as sgdml
METHODS = {"pdh": ["full", "none", "full_c", "none_c", "sgdml"], "mo": ["translations_c", "site_c", "full_c", "none_c"],
           "si": ["translations_c", "site_c", "full_c", "none_c"]}  # mo, si: superseded by bigdml_mlearn.py
FULL_MAX_N = {"pdh": 200, "mo": 10, "si": 10}
FULL_MAX_N.update({f"{k}_c": v for k, v in list(FULL_MAX_N.items())})  # the full group of mo/si (2592, 1536) costs too much above


def _matched_reference(R0, cell, ideal):
    """Ideal sites in the atom order of R0: the assignment (over shifts onto each atom) of least RMS."""
    from ase.geometry import get_distances
    from scipy.optimize import linear_sum_assignment

    best = (np.inf, None)
    for k in range(len(R0)):
        shift = R0[k] - ideal[0]
        D = get_distances(R0 - shift, ideal, cell=cell, pbc=True)[1]
        r, c = linear_sum_assignment(D)
        cost = np.sqrt(np.mean(D[r, c] ** 2))
        if cost < best[0]:
            best = (cost, ideal[c] + shift)
    return best[1]


def load_system(name):
    """(dataset, reference positions, train pool, validation, test index arrays, description)."""
    from ase.build import bulk
    from ase.geometry import find_mic

    from gdmlkit import load_dataset

    rng = np.random.default_rng(0)
    if name == "pdh":
        path = REPO / "data" / "pdh_emt_300K.npz"
        ds = load_dataset(path)
        with np.load(path) as f:
            ref = f["R_ideal"]
        idx = rng.permutation(len(ds))
        return ds, ref, idx[250:], idx[200:250], idx[:200], "H in Pd32 (EMT, 300 K), 33 atoms, 500 frames"
    el, lattice, rep, n_atoms = {"mo": ("Mo", "bcc", 3, 54), "si": ("Si", "diamond", 2, 64)}[name]
    path = SHARED / "periodic" / "mlearn" / el / f"{el}_training_aimd_nvt_0_{n_atoms}atoms.npz"
    ds = load_dataset(path)
    cell = ds.cell[0]
    ideal = bulk(el, lattice, a=cell[0, 0] / rep, cubic=True).repeat(rep).positions
    ref = _matched_reference(ds.R[0], cell, ideal)
    disp = np.stack([find_mic(R - ref, cell)[0] for R in ds.R])
    disp -= disp.mean(1, keepdims=True)
    solid = np.flatnonzero(np.sqrt((disp**2).sum(-1).mean(1)) < 0.5)
    idx = rng.permutation(solid)
    n_test, n_val = (22, 10) if name == "mo" else (13, 10)
    desc = f"mlearn {el} AIMD (PBE), {n_atoms} atoms, {len(solid)} solid of {len(ds)} frames"
    return ds, ref, idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test], desc


def _errors(model, ds):
    E, F = model.predict(ds)
    return (1000 * float(np.mean(np.abs(E - ds.E))) / ds.n_atoms, 1000 * float(np.mean(np.abs(F - ds.F))))


def fit_ours(ds, ref, method, sigma, train):
    from gdmlkit import BIGDMLRegressor

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BIGDMLRegressor(sigma=sigma, perms=method.removesuffix("_c"), reference=ref, max_perms=4096,
                                use_E_cstr=False if method.endswith("_c") else "auto").fit(ds[train])
    return model, time.perf_counter() - t0


def fit_sgdml(ds, sigma, train, test):
    """sgdml 1.0.3 with its lattice (minimum image, no symmetries); (E MAE meV/atom, F MAE meV/Å, s)."""
    from sgdml.predict import GDMLPredict
    from sgdml.train import GDMLTrain

    def d(idx):
        return {"type": "d", "name": np.array("x"), "theory": np.array("-"), "md5": np.array(str(idx[0])),
                "R": ds.R[idx], "z": ds.z, "E": ds.E[idx, None], "F": ds.F[idx], "r_unit": np.array("Ang"),
                "e_unit": np.array("eV"), "lattice": ds.cell[0].T}

    np.random.seed(0)
    t0 = time.perf_counter()
    trainer = GDMLTrain(max_processes=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = trainer.create_task(d(train), len(train), d(test), 1, sig=sigma, lam=1e-10, use_sym=False,
                                   use_E=True)
        model = trainer.train(task)
    fit_s = time.perf_counter() - t0
    E, F = GDMLPredict(model, max_processes=1).predict(ds.R[test].reshape(len(test), -1))
    return (1000 * float(np.mean(np.abs(E - ds.E[test]))) / ds.n_atoms,
            1000 * float(np.mean(np.abs(F.reshape(ds.F[test].shape) - ds.F[test]))), fit_s)


def learning_curve(system, sizes, methods, cache, sigmas=None):
    ds, ref, pool, val, test, desc = load_system(system)
    cache.setdefault("systems", {})[system] = desc
    for method in methods:
        prev = None
        for n in sizes:
            key = f"{system}|{method}|{n}"
            if key in cache["runs"] or n > len(pool) or (method.startswith("full") and n > FULL_MAX_N[system]) or (
                    method == "sgdml" and n > SGDML_MAX_N):
                prev = cache["runs"].get(key, {}).get("sigma", prev)
                continue
            train = pool[:n]
            if method == "sgdml":
                none = cache["runs"].get(f"{system}|none_c|{n}")
                if none is None:
                    continue
                e, f, fit_s = fit_sgdml(ds, none["sigma"], train, test)
                res = {"sigma": none["sigma"], "n_perms": 1, "E": e, "F": f, "fit_s": fit_s}
            else:
                grid = sigmas or SIGMAS[system]
                if n > 50 and prev is not None and prev in grid:  # the previous best and its neighbours
                    i = grid.index(prev)
                    grid = grid[max(0, i - 1):i + 2]
                scores = {}
                for s in grid:
                    model, fit_s = fit_ours(ds, ref, method, s, train)
                    scores[s] = (_errors(model, ds[val])[1], model, fit_s)
                    print(f"  {key} sigma={s}: validation force MAE {scores[s][0]:.1f} meV/Å ({fit_s:.1f} s)",
                          flush=True)
                best = min(scores, key=lambda s: scores[s][0])
                _, model, fit_s = scores[best]
                e, f = _errors(model, ds[test])
                res = {"sigma": best, "grid": grid, "n_perms": len(model.perms_), "E": e, "F": f, "fit_s": fit_s,
                       "group": model.symmetry_.get("international"), "group_size": model.symmetry_.get("group_size")}
                prev = best
            cache["runs"][key] = res
            print(key, res, flush=True)
            save_cache(cache)


def nve_md(cache, n_train=200, ps=10.0, dt_fs=0.5):
    """NVE with GDMLCalculator on the PdH BIGDML model: energy drift and accuracy along the trajectory."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet
    from tqdm.auto import tqdm

    from gdmlkit import GDMLCalculator

    ds, ref, pool, _, test, _ = load_system("pdh")
    sigma = cache["runs"][f"pdh|full|{n_train}"]["sigma"]
    model, _ = fit_ours(ds, ref, "full", sigma, pool[:n_train])
    atoms = ds[test[:1]].to_atoms()[0]
    atoms.calc = GDMLCalculator(model)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(1))
    dyn = VelocityVerlet(atoms, dt_fs * units.fs)
    n_steps, every = int(round(ps * 1000 / dt_fs)), 100
    t, e_tot, e_pot, frames = [], [], [], []
    t0 = time.perf_counter()
    for step in tqdm(range(0, n_steps + 1, every), desc="NVE MD", unit=f"x{every} steps"):
        if step:
            dyn.run(every)
        t.append(step * dt_fs / 1000)
        e_pot.append(atoms.get_potential_energy())
        e_tot.append(e_pot[-1] + atoms.get_kinetic_energy())
        if step % (n_steps // 20) == 0:
            frames.append(atoms.copy())
    wall = time.perf_counter() - t0
    e_tot = np.array(e_tot)
    slope = np.polyfit(t, e_tot, 1)[0]
    emt = []
    for a in frames:
        a.calc = EMT()
        emt.append(a.get_potential_energy())
    pred = [GDMLCalculator(model).get_potential_energy(a) for a in frames]
    cache["md"] = {
        "n_train": n_train, "ps": ps, "dt_fs": dt_fs, "wall_s": wall, "steps": n_steps,
        "drift_meV_atom_ps": 1000 * slope / len(atoms), "std_meV_atom": 1000 * float(np.std(e_tot)) / len(atoms),
        "max_dev_meV_atom": 1000 * float(np.max(np.abs(e_tot - e_tot[0]))) / len(atoms),
        "T_mean_K": float(np.mean(2 * (e_tot - np.array(e_pot)) / (3 * len(atoms) * units.kB))),
        "emt_mae_meV_atom": 1000 * float(np.mean(np.abs(np.array(pred) - np.array(emt)))) / len(atoms),
    }
    print(cache["md"], flush=True)
    save_cache(cache)


def save_cache(cache):
    tmp = CACHE.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(cache, indent=1))
    tmp.replace(CACHE)


def table(cache):
    label = {"full": "BIGDML, full space group", "translations": "BIGDML, lattice translations",
             "site": "BIGDML, site symmetry of atom 0", "none": "GDML, minimum image only",
             "sgdml": "sgdml 1.0.3 with lattice"}
    label.update({f"{k}_c": f"{v}, integration constant" for k, v in list(label.items()) if k != "sgdml"})
    rows = []
    for system, desc in cache["systems"].items():
        for method in METHODS[system]:
            sizes = sorted({int(k.split("|")[2]) for k in cache["runs"] if k.startswith(f"{system}|{method}|")})
            for n in sizes:
                r = cache["runs"][f"{system}|{method}|{n}"]
                if r:
                    grid = ("/".join(f"{g:g}" for g in r["grid"]) if "grid" in r
                            else "as 'none_c'" if method == "sgdml" else "grid not recorded")
                    rows.append([NAMES[system], label[method], r["n_perms"], n, f"{r['sigma']:g} ({grid})",
                                 f"{r['E']:.3f}", f"{r['F']:.1f}", f"{r['fit_s']:.1f}"])
    notes = ["BIGDML learning curves: test MAE of energy (meV/atom) and forces (meV/Å), sigma chosen on "
             "validation frames; fit = wall seconds of the chosen fit on 1 thread. Models without a suffix use "
             "the default energy labels (use_E_cstr='auto': energy constraints in the closed form); "
             "'integration constant' ones use_E_cstr=False (as sgdml trains).",
             "Systems: " + "; ".join(cache["systems"].values()) + ".",
             "Command: `OMP_NUM_THREADS=1 python benchmarks/bigdml_learning_curves.py --system S --sizes ...`, "
             "then `--md` and `--table`."]
    md = cache.get("md")
    if md:
        notes.append(
            f"NVE MD with GDMLCalculator (PdH, BIGDML full group, integration constant, N = {md['n_train']}): {md['ps']} ps at "
            f"{md['dt_fs']} fs ({md['steps']} steps, {md['wall_s']:.0f} s), mean T {md['T_mean_K']:.0f} K; total "
            f"energy drift {md['drift_meV_atom_ps']:+.4f} meV/atom/ps, std {md['std_meV_atom']:.4f} meV/atom, "
            f"max deviation {md['max_dev_meV_atom']:.4f} meV/atom; potential energy vs EMT on 21 frames of the "
            f"trajectory: MAE {md['emt_mae_meV_atom']:.3f} meV/atom.")
    write_table("bigdml_learning_curves", ["system", "model", "perms", "N train", "sigma (grid)", "E MAE meV/atom",
                                           "F MAE meV/Å", "fit s"], rows, notes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", choices=sorted(METHODS))
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 25, 50, 100, 200])
    ap.add_argument("--methods", nargs="+")
    ap.add_argument("--sigmas", type=float, nargs="+", help="sigma grid instead of the default")
    ap.add_argument("--md", action="store_true", help="run the NVE MD (needs the pdh full N=200 result)")
    ap.add_argument("--table", action="store_true", help="only write the table from the cache")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {"runs": {}}
    if args.system:
        learning_curve(args.system, sorted(args.sizes), args.methods or METHODS[args.system], cache, args.sigmas)
    if args.md:
        nve_md(cache)
    table(cache)


if __name__ == "__main__":
    main()
