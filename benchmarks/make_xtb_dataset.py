"""GFN2-xTB Langevin-MD reference dataset of one molecule, in sGDML npz format.

Provenance: the conventions of the shared ``molecules/xtb_md`` sets (shared/data/README.md,
section 5, and their ``generate.py``): GFN2-xTB energies and forces from tblite's ASE
calculator, Langevin dynamics (dt 0.5 fs, friction 0.02 in ASE units, 500 K by default),
a frame every ``--stride`` steps, after ``--equil`` unrecorded equilibration steps. That friction
is ~0.002/fs, a relaxation time of ~0.5 ps: started at the MMFF minimum, Ac-Ala3-NHMe (42 atoms)
needed ~2 ps to reach its equilibrium potential energy (after 500 steps, 0.25 ps, the first
~1.8 ps of frames were still ~20 kcal/mol low), hence the default of 4000 steps (2 ps). The start
geometry is either an .xyz file or a SMILES string embedded by RDKit (ETKDGv3 with hydrogens,
then MMFF94 optimisation); ``--start-xyz`` writes the start geometry (extxyz). All seeds are
fixed (``--seed``): the same command gives the same file.

Units written: ``R`` in Angstrom, ``E`` (n, 1) in kcal/mol, ``F`` in kcal/mol/Angstrom (the
sGDML convention), with string keys ``name``, ``theory``, ``type``='d', ``r_unit``='Ang',
``e_unit``='kcal/mol'; no ``md5`` key. Files are written atomically (temporary file in the
same folder, then ``os.replace``).

tblite and rdkit are benchmark-only tools (``pip install tblite rdkit``), not dependencies of
gdmlkit. Run with ``OMP_NUM_THREADS=1`` for a one-core timing. Example (benchmarks/data/)::

    python benchmarks/make_xtb_dataset.py "CC(=O)NC(C)C(=O)NC(C)C(=O)NC(C)C(=O)NC" \\
        --frames 2000 --stride 4 --temperature 500 --equil 4000 --name "Ac-Ala3-NHMe" \\
        --start-xyz benchmarks/data/ac_ala3_nhme_start.xyz \\
        -o benchmarks/data/ac_ala3_nhme_gfn2xtb_500K.npz
"""
import argparse
import os
import tempfile
import time

import numpy as np
from ase import Atoms, io, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from tqdm import tqdm

EV_TO_KCAL = 1.0 / (units.kcal / units.mol)


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside `path`, then move it onto `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def start_geometry(start, seed):
    """Atoms from an .xyz file, or from a SMILES string by RDKit ETKDGv3 + MMFF94."""
    if start.lower().endswith(".xyz"):
        return io.read(start)
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(start))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError(f"RDKit could not embed {start!r}")
    if AllChem.MMFFOptimizeMolecule(mol, maxIters=5000) != 0:
        raise RuntimeError("MMFF optimisation did not converge")
    return Atoms([a.GetAtomicNum() for a in mol.GetAtoms()], positions=mol.GetConformer().GetPositions())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("start", help="SMILES string or .xyz start geometry")
    p.add_argument("-o", "--output", required=True, help="output .npz path")
    p.add_argument("--frames", type=int, default=2000, help="frames to record (default 2000)")
    p.add_argument("--stride", type=int, default=4, help="MD steps between frames (default 4)")
    p.add_argument("--temperature", type=float, default=500.0, help="Langevin temperature, K (default 500)")
    p.add_argument("--equil", type=int, default=4000, help="unrecorded equilibration steps (default 4000)")
    p.add_argument("--dt", type=float, default=0.5, help="time step, fs (default 0.5)")
    p.add_argument("--friction", type=float, default=0.02, help="Langevin friction, ASE units (default 0.02)")
    p.add_argument("--seed", type=int, default=0, help="seed of embedding, velocities (seed) and noise (seed+1)")
    p.add_argument("--name", default=None, help="dataset name (default: chemical formula)")
    p.add_argument("--start-xyz", default=None, help="write the start geometry here")
    p.add_argument("--time-only", action="store_true", help="time energy+force calls, print the estimate, exit")
    args = p.parse_args()

    from tblite.ase import TBLite

    atoms = start_geometry(args.start, args.seed)
    if args.start_xyz:  # extxyz, comment line key="value" pairs (readable by ase.io.read)
        source = args.start if args.start.lower().endswith(".xyz") else f"RDKit ETKDGv3+MMFF94 seed {args.seed}"
        smiles = "" if args.start.lower().endswith(".xyz") else f'smiles="{args.start}" '
        atomic_write(args.start_xyz, lambda fh: fh.write(
            (f'{len(atoms)}\n{smiles}source="{source}" units="Angstrom"\n' + "".join(
                f"{s:2s} {x:14.8f} {y:14.8f} {z:14.8f}\n"
                for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions))).encode()))
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)

    # timing of one GFN2 energy+force call: the first (cold) and three on displaced geometries
    rng = np.random.default_rng(args.seed + 2)
    x0, times = atoms.positions.copy(), []
    for _ in range(4):
        t = time.perf_counter()
        atoms.get_potential_energy(), atoms.get_forces()
        times.append(time.perf_counter() - t)
        atoms.positions = x0 + rng.normal(scale=0.01, size=x0.shape)
    atoms.positions = x0
    per_call = float(np.median(times[1:]))
    nsteps = args.equil + args.frames * args.stride
    print(f"{atoms.get_chemical_formula()} ({len(atoms)} atoms): GFN2 energy+force call "
          f"{per_call:.3f} s (first {times[0]:.3f} s); {nsteps} MD steps -> ~{nsteps * per_call / 60:.1f} min")
    if args.time_only:
        return

    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=np.random.default_rng(args.seed))
    dyn = Langevin(atoms, args.dt * units.fs, temperature_K=args.temperature, friction=args.friction,
                   rng=np.random.default_rng(args.seed + 1))
    t0 = time.time()
    for _ in tqdm(range(args.equil), desc="equilibration", unit="step", mininterval=5):
        dyn.run(1)
    R, E, F, T = [], [], [], []
    for _ in tqdm(range(args.frames), desc="frames", unit="frame", mininterval=5):
        dyn.run(args.stride)
        R.append(atoms.get_positions())
        E.append(atoms.get_potential_energy())
        F.append(atoms.get_forces())
        T.append(atoms.get_temperature())
    wall = time.time() - t0

    name = args.name or atoms.get_chemical_formula()
    theory = (f"GFN2-xTB (tblite), Langevin {args.temperature:g} K, dt {args.dt:g} fs, friction {args.friction:g}, "
              f"every {args.stride} steps after {args.equil} equilibration steps")
    atomic_write(args.output, lambda fh: np.savez_compressed(
        fh, R=np.array(R), z=atoms.numbers, E=np.array(E)[:, None] * EV_TO_KCAL, F=np.array(F) * EV_TO_KCAL,
        type="d", name=f"{name} GFN2-xTB {args.temperature:g}K", theory=theory, r_unit="Ang", e_unit="kcal/mol"))
    half = len(R) // 2
    e = np.array(E) * EV_TO_KCAL
    print(f"{len(R)} frames ({nsteps} steps) in {wall:.0f} s ({wall / nsteps:.3f} s/step); wrote {args.output}\n"
          f"mean kinetic temperature {np.mean(T[:half]):.0f} K / {np.mean(T[half:]):.0f} K, mean E "
          f"{e[:half].mean():.2f} / {e[half:].mean():.2f} kcal/mol (first / second half of the frames)")


if __name__ == "__main__":
    main()
