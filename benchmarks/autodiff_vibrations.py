"""Harmonic frequencies of ethanol from a fitted GDML model's Hessian against GFN2-xTB (tblite) ones.

The model is fitted on GFN2-xTB ethanol frames (../shared/data/molecules/xtb_md, 500 K MD, kcal/mol and Å), so it and
the reference share the level of theory. Each side is relaxed from the same frame (ASE BFGS, fmax 1e-4 eV/Å): the model
on its GDMLCalculator, xTB on tblite's calculator. At the model's minimum its frequencies come from predict_hessian
(rigid motions projected out) and, as a check, from ASE's Vibrations on the GDMLCalculator (finite differences of the
predicted forces); at the xTB minimum from Vibrations on tblite. tblite is optional
(``pip install tblite``; run with OMP_NUM_THREADS=1), only this benchmark needs it.
Usage: ``python benchmarks/autodiff_vibrations.py [--n 1000] [--sigma 10]`` (a few minutes on 2 cores).
"""

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, write_table  # noqa: E402

from ase.optimize import BFGS  # noqa: E402
from ase.vibrations import Vibrations  # noqa: E402

from gdmlkit import GDMLCalculator, GDMLRegressor, load_dataset  # noqa: E402
from gdmlkit.models.hessian import model_frequencies  # noqa: E402


def relax(atoms, calc, fmax=1e-4):
    atoms = atoms.copy()
    atoms.calc = calc
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=2000)
    return atoms


def vibrations(atoms, folder, delta=0.005):
    """ASE Vibrations (4-point differences) of atoms' calculator: the 3N - 6 largest, imaginary ones negative."""
    vib = Vibrations(atoms, name=str(Path(folder) / "vib"), delta=delta, nfree=4)
    vib.run()
    f = vib.get_frequencies()
    return np.sort(np.where(np.abs(f.imag) > 0, -np.abs(f), f.real))[6:]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1000, help="training frames (default 1000)")
    p.add_argument("--sigma", type=float, default=10.0)
    p.add_argument("--start", type=int, default=0, help="frame both relaxations start from")
    a = p.parse_args()
    from tblite.ase import TBLite

    data = load_dataset(SHARED / "molecules" / "xtb_md" / "ethanol_gfn2xtb_500K.npz")
    idx = np.random.default_rng(0).permutation(len(data.E))
    train = data[idx[:a.n]]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDMLRegressor(sigma=a.sigma, solver="cholesky").fit(train)
    fit_s = time.perf_counter() - t0
    start = data[idx[a.n + a.start:a.n + a.start + 1]].to_atoms()[0]
    gdml_min = relax(start, GDMLCalculator(model))
    R = gdml_min.positions  # Å, the model's length unit here
    t0 = time.perf_counter()
    ours = model_frequencies(model, R)
    hess_s = time.perf_counter() - t0
    xtb_min = relax(start, TBLite(method="GFN2-xTB", verbosity=0))
    with tempfile.TemporaryDirectory() as tmp:
        fd = vibrations(gdml_min, Path(tmp) / "gdml")
        xtb = vibrations(xtb_min, Path(tmp) / "xtb")
    rmsd = float(np.sqrt(np.mean(np.sum((gdml_min.positions - gdml_min.positions.mean(0)
                                         - (xtb_min.positions - xtb_min.positions.mean(0))) ** 2, 1))))
    rows = [[i + 1, f"{x:.1f}", f"{o:.1f}", f"{f:.1f}", f"{o - x:+.1f}", f"{o - f:+.3f}"]
            for i, (x, o, f) in enumerate(zip(xtb, ours, fd))]
    rows.append(["MAE", "", "", "", f"{np.mean(np.abs(ours - xtb)):.1f}", f"{np.mean(np.abs(ours - fd)):.3f}"])
    notes = [f"Ethanol, GDML (sGDML default path, sigma {a.sigma:g}) fitted in closed form on {a.n} random GFN2-xTB "
             f"frames (500 K MD) in {fit_s:.0f} s; both relaxed from the same held-out frame (BFGS, fmax 1e-4 eV/Å; "
             f"minima {rmsd:.3f} Å apart, no alignment beyond centring). Frequencies in cm^-1, the 21 internal modes in "
             f"ascending order. 'GDML Hessian' = model_frequencies (predict_hessian, rigid motions projected out, "
             f"{hess_s:.2f} s); 'GDML ASE FD' = ase.vibrations.Vibrations on the GDMLCalculator (delta 0.005 Å, nfree "
             "4); 'xTB' = Vibrations on tblite's GFN2-xTB calculator at its own minimum.",
             f"`OMP_NUM_THREADS=1 python benchmarks/autodiff_vibrations.py --n {a.n} --sigma {a.sigma:g}`"]
    write_table("autodiff_vibrations_cpu", ["mode", "xTB", "GDML Hessian", "GDML ASE FD", "Hessian - xTB",
                                            "Hessian - ASE FD"], rows, notes)


if __name__ == "__main__":
    main()
