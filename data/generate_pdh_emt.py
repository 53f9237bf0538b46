"""Generate data/pdh_emt_300K.npz: one H atom in a 32-atom Pd supercell, NVT MD with ASE's EMT.

Fixed cubic cell: 2 x 2 x 2 conventional fcc Pd cells at EMT's lattice constant
(a = 3.88 Å, the minimum of EMT's Pd energy on a 0.005 Å grid), plus one H on the
octahedral site (a/2, 0, 0). Langevin dynamics at 300 K (time step 0.5 fs, friction
0.01 / fs, seed 7), 2 ps of equilibration, then a frame every 25 fs. Labels are EMT
energies (eV) and forces (eV/Å); positions are unwrapped (Å). The ideal (0 K)
positions are stored as ``R_ideal``, the reference from which spglib finds the
space group (Pm-3m, 48 operations with H on its site).

Usage (about 80 s on one core)::

    OMP_NUM_THREADS=1 python data/generate_pdh_emt.py data/pdh_emt_300K.npz 500
"""

import sys

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from tqdm.auto import tqdm

A_PD = 3.88
SEED = 7
TEMPERATURE_K = 300.0
DT_FS = 0.5
STRIDE = 50  # steps between frames: 25 fs
EQUILIBRATION = 4000  # steps: 2 ps


def ideal_structure():
    """32 Pd atoms of 2 x 2 x 2 conventional fcc cells plus one octahedral H (Atoms, Å)."""
    atoms = bulk("Pd", "fcc", a=A_PD, cubic=True).repeat(2)
    atoms += Atoms("H", positions=[[A_PD / 2, 0.0, 0.0]])
    return atoms


def main(path, n_frames):
    atoms = ideal_structure()
    R_ideal = atoms.positions.copy()
    atoms.calc = EMT()
    rng = np.random.default_rng(SEED)
    MaxwellBoltzmannDistribution(atoms, temperature_K=TEMPERATURE_K, rng=rng)
    dyn = Langevin(atoms, DT_FS * units.fs, temperature_K=TEMPERATURE_K, friction=0.01 / units.fs, rng=rng)
    dyn.run(EQUILIBRATION)
    R, E, F = [], [], []
    for _ in tqdm(range(n_frames), desc="MD frames"):
        dyn.run(STRIDE)
        R.append(atoms.positions.copy())
        E.append(atoms.get_potential_energy())
        F.append(atoms.get_forces())
    np.savez_compressed(
        path, R=np.array(R), z=atoms.numbers.astype(np.uint8), E=np.array(E)[:, None], F=np.array(F),
        lattice=atoms.cell.array.T, R_ideal=R_ideal, r_unit="Ang", e_unit="eV", type="d",
        name="PdH_emt_300K", theory="ASE EMT (effective-medium theory), Langevin NVT 300 K",
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
