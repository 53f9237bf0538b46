# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart
#
# Train an sGDML force field for ethanol on the revised-MD17 data shipped with gdmlkit, check it on
# held-out geometries, draw a learning curve and run molecular dynamics with it through ASE.
#
# **Parameters.** `SIZE = "small"` (default) trains on 200 geometries and runs in about a minute on a
# 2-core CPU; `SIZE = "full"` trains on 1000 (the rMD17 benchmark size; a few minutes, about 6 GB of memory).
# Set the environment variable `GDMLKIT_NOTEBOOK_SIZE=full` or edit the cell below.

# %% tags=["parameters"]
from _setup import notebook_size

SIZE = notebook_size()  # "small" or "full"
N_TRAIN = {"small": 200, "full": 1000}[SIZE]  # training geometries
N_TEST = {"small": 500, "full": 1000}[SIZE]  # test geometries
LEARNING_CURVE = {"small": [25, 50, 100, 200], "full": [50, 100, 200, 500, 1000]}[SIZE]
SIGMAS = [5, 10, 20, 40]  # candidate kernel length scales (1/Å)
MD_STEPS = {"small": 400, "full": 4000}[SIZE]  # velocity-Verlet steps of 0.5 fs
TEMPERATURE_K = 300.0

# %%

import matplotlib.pyplot as plt
import numpy as np
from _setup import save_figure
from ase import units
from ase.md import velocitydistribution
from ase.md.verlet import VelocityVerlet

from gdmlkit import GDMLCalculator, GDMLRegressor, load_example, prediction_errors, select_sigma

# %% [markdown]
# ## Data
#
# A {py:class}`~gdmlkit.data.Dataset` carries its units: the shipped rMD17 ethanol (PBE/def2-SVP) is in eV
# and Å, forces in eV/Å. The training and test files hold different geometries.

# %%
train = load_example("ethanol_train")[:N_TRAIN]
test = load_example("ethanol_test")[:N_TEST]
print(train)
print(test)

# %% [markdown]
# ## Fit, choosing sigma by cross-validation
#
# {py:func}`~gdmlkit.model_selection.select_sigma` cross-validates the force error over the candidate
# length scales and refits on all training data with the best one.

# %%
search = select_sigma(GDMLRegressor(), train, sigmas=SIGMAS, cv=3, progress=False)
print(search.table())
model = search.best_estimator
print(model.solve_info_["solver"], f"{len(model.perms_)} permutations")

# %%
E_pred, F_pred = model.predict(test)
err = prediction_errors(test.E, test.F, E_pred, F_pred)
print(f"test force MAE {1000 * err['force_mae']:.1f} meV/Å, energy MAE {1000 * err['energy_mae']:.1f} meV "
      f"({len(test)} geometries)")

# %% [markdown]
# ## Parity plots
#
# Energies are shown relative to the mean reference energy of the test set (the total DFT energy is about
# −4209 eV); every Cartesian force component is one point.

# %%
E_ref = test.E.mean()
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
axes[0].plot(test.E - E_ref, E_pred - E_ref, ".", ms=3)
axes[0].set_xlabel("reference energy − ⟨E⟩ (eV)")
axes[0].set_ylabel("predicted energy − ⟨E⟩ (eV)")
axes[0].set_title(f"energy MAE {1000 * err['energy_mae']:.1f} meV")
axes[1].plot(test.F.ravel(), F_pred.ravel(), ".", ms=1, alpha=0.3)
axes[1].set_xlabel("reference force component (eV/Å)")
axes[1].set_ylabel("predicted force component (eV/Å)")
axes[1].set_title(f"force MAE {1000 * err['force_mae']:.1f} meV/Å")
for ax in axes:
    lo, hi = ax.get_xlim()
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.set_aspect("equal")
fig.tight_layout()
save_figure(fig, "quickstart_parity")

# %% [markdown]
# ## Learning curve
#
# Test errors against the number of training geometries, at the sigma chosen above.

# %%
curve = []
for n_train in LEARNING_CURVE:
    m = GDMLRegressor(sigma=search.best_sigma, perms=model.perms_).fit(train[:n_train])
    curve.append(prediction_errors(test.E, test.F, *m.predict(test)))
    print(f"N = {n_train:4d}: force MAE {1000 * curve[-1]['force_mae']:.1f} meV/Å, "
          f"energy MAE {1000 * curve[-1]['energy_mae']:.1f} meV")
fig, ax = plt.subplots(figsize=(5.5, 4))
ax.loglog(LEARNING_CURVE, [1000 * c["force_mae"] for c in curve], "o-", label="force MAE (meV/Å)")
ax.loglog(LEARNING_CURVE, [1000 * c["energy_mae"] for c in curve], "s-", label="energy MAE (meV)")
ax.set_xlabel("training geometries N")
ax.set_ylabel("test MAE (meV/Å for forces, meV for energies)")
ax.legend()
fig.tight_layout()
save_figure(fig, "quickstart_learning_curve")

# %% [markdown]
# ## Molecular dynamics with the ASE calculator
#
# {py:class}`~gdmlkit.calculators.GDMLCalculator` gives ASE energies in eV and forces in eV/Å whatever units
# the model was trained in. Velocity-Verlet (NVE) from a test geometry with Maxwell-Boltzmann velocities at
# 300 K: the total energy should stay constant, up to the integrator's fluctuations.

# %%
atoms = test.to_atoms()[0]
atoms.calc = GDMLCalculator(model)
# ASE 3.29 renamed MaxwellBoltzmannDistribution to thermalize_momenta
thermalize = getattr(velocitydistribution, "thermalize_momenta", None) or velocitydistribution.MaxwellBoltzmannDistribution
thermalize(atoms, temperature_K=TEMPERATURE_K, rng=np.random.default_rng(0))
velocitydistribution.Stationary(atoms)
dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
trace = []
dyn.attach(lambda: trace.append((atoms.get_potential_energy(), atoms.get_kinetic_energy())), interval=1)
dyn.run(MD_STEPS)
epot, ekin = np.array(trace).T
t_fs = 0.5 * np.arange(len(epot))
etot = epot + ekin
print(f"{MD_STEPS} steps ({t_fs[-1]:.0f} fs): total energy drift {1000 * (etot[-1] - etot[0]):.2f} meV, "
      f"fluctuation (std) {1000 * etot.std():.2f} meV; potential energy range {1000 * np.ptp(epot):.0f} meV")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(t_fs, epot - epot[0], label="potential")
ax.plot(t_fs, ekin - ekin[0], label="kinetic")
ax.plot(t_fs, etot - etot[0], "k", label="total")
ax.set_xlabel("time (fs)")
ax.set_ylabel("energy change from t = 0 (eV)")
ax.legend()
fig.tight_layout()
save_figure(fig, "quickstart_md_energy")
