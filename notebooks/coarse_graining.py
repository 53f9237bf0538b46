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
# # Coarse-grained force fields by force matching
#
# A coarse-grained (CG) force field should reproduce the *mean* force on the CG beads, averaged over the
# degrees of freedom that were integrated out (the solvent, the side chains). The forces mapped from an
# all-atom simulation are that mean force plus a large, zero-mean noise, so the model that best fits them in
# the least-squares sense (force matching) is the mean force. {py:class}`~gdmlkit.coarse_graining.CGGDMLRegressor`
# fits it as Wang et al. (J. Chem. Phys. 152, 194106 (2020)) do: an ensemble of small GDML models, each on
# its own subset of the frames drawn stratified over the CG configurations, averaged.
#
# The first part runs here: a 3-bead system with a known potential and forces drowned in noise. The second
# shows the alanine-dipeptide benchmark (`python benchmarks/cg_ala2.py`) from its saved results.
#
# **Parameters.** `SIZE = "small"` (default, under a minute on 2 cores) or `"full"` (more frames and longer
# dynamics); set `GDMLKIT_NOTEBOOK_SIZE=full` or edit the cell below.

# %% tags=["parameters"]
from _setup import notebook_size

SIZE = notebook_size()  # "small" or "full"
N_FRAMES = {"small": 3000, "full": 20000}[SIZE]  # noisy training frames
N_MODELS = {"small": 8, "full": 16}[SIZE]  # ensemble members
N_TRAIN = {"small": 200, "full": 500}[SIZE]  # frames per member
NOISE = 3.0  # label noise, in units of the RMS true force
STEPS = {"small": 1500, "full": 10000}[SIZE]  # Langevin steps
KT = 1.0  # energy unit of the toy system

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import torch
from _setup import ROOT, save_figure

from gdmlkit import GDMLRegressor
from gdmlkit.coarse_graining import CGGDMLRegressor, fes_kl_divergence, langevin

# %% [markdown]
# ## A toy CG system with a known mean force
#
# Three beads; the potential is a double well in the first bond length $r_{01}$, coupled to the second bond
# $r_{12}$, plus an angle term through $r_{02}$. The "mapped forces" are the exact forces plus Gaussian noise
# of three times their RMS: the situation of CG data, where the instantaneous force error dwarfs the signal.


# %%
def potential(R):
    d = lambda i, j: torch.linalg.vector_norm(R[:, i] - R[:, j], dim=-1)  # noqa: E731
    r1, r2, r3 = d(0, 1), d(1, 2), d(0, 2)
    return 4.0 * (r1 - 1.5) ** 2 * (r1 - 2.5) ** 2 + 2.0 * (r2 - 2.0) ** 2 + 1.5 * r1 * r2 + 3.0 * (r3 - 3.2) ** 2


def energy_forces(R):
    Rt = torch.tensor(np.asarray(R, dtype=np.float64), requires_grad=True)
    E = potential(Rt)
    return E.detach().numpy(), -torch.autograd.grad(E.sum(), Rt)[0].numpy()


def random_frames(n, seed):
    rng = np.random.default_rng(seed)
    r1, r2, th = rng.uniform(1.3, 2.7, n), rng.uniform(1.5, 2.5, n), np.radians(rng.uniform(100, 150, n))
    R = np.zeros((n, 3, 3))
    R[:, 0, 0], R[:, 2, 0], R[:, 2, 1] = r1, r2 * np.cos(th), r2 * np.sin(th)
    Q = np.linalg.qr(rng.normal(size=(n, 3, 3)))[0]
    return np.einsum("nij,naj->nai", Q, R)


R = random_frames(N_FRAMES, 0)
F_true = energy_forces(R)[1]
noise = NOISE * np.sqrt(np.mean(F_true**2))
F_noisy = F_true + np.random.default_rng(1).normal(scale=noise, size=F_true.shape)
R_test = random_frames(500, 2)
F_test = energy_forces(R_test)[1]
print(f"RMS true force {np.sqrt(np.mean(F_true**2)):.2f}, label noise {noise:.2f}")

# %% [markdown]
# ## One model against the stratified ensemble
#
# `sigma` and `lam` lists are cross-validated on the force-matching error of held-out frames (large `lam`
# is the point: the labels are noise-dominated). The strata are k-means clusters of the descriptors.

# %%
template = GDMLRegressor(perms="none")
single = CGGDMLRegressor(template, n_models=1, n_train=N_TRAIN, sampling="random", sigma=(0.3, 1.0, 3.0),
                         lam=(0.01, 1.0, 100.0)).fit(R, F_noisy)
ensemble = CGGDMLRegressor(template, n_models=N_MODELS, n_train=N_TRAIN, n_strata=8, sigma=(0.3, 1.0, 3.0),
                           lam=(0.01, 1.0, 100.0)).fit(R, F_noisy)
for name, model in [("one model", single), (f"ensemble of {N_MODELS}", ensemble)]:
    err = np.sqrt(np.mean((model.predict(R_test)[1] - F_test) ** 2))
    print(f"{name:>15}: sigma {model.sigma_:g}, lam {model.lam_:g}, RMS error against the mean force {err:.3f} "
          f"({err / noise:.1%} of the label noise)")

# %% [markdown]
# Predicted against exact force components of the test frames: the labels scatter by the noise (grey, the
# training labels against their exact values); the ensemble scatters least.

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharex=True, sharey=True)
pairs = [("noisy labels", F_true[:500], F_noisy[:500]), ("one model", F_test, single.predict(R_test)[1]),
         (f"ensemble of {N_MODELS}", F_test, ensemble.predict(R_test)[1])]
for ax, (title, exact, pred) in zip(axes, pairs):
    ax.scatter(exact.ravel(), pred.ravel(), s=2, alpha=0.4)
    ax.plot([-15, 15], [-15, 15], "k", lw=0.8)
    rms = np.sqrt(np.mean((pred - exact) ** 2))
    ax.set_title(f"{title}: RMS error {rms:.2f}", fontsize=9)
    ax.set_xlabel("exact force component")
axes[0].set_ylabel("label / prediction")
axes[0].set_ylim(-15, 15)
axes[0].set_xlim(-15, 15)
save_figure(fig, "cg_toy_parity")

# %% [markdown]
# ## CG dynamics
#
# {py:func}`~gdmlkit.coarse_graining.langevin` integrates many walkers at once with BAOAB; every step is one
# batched prediction of the ensemble (a single merged predictor: the ensemble mean of GDML models is a GDML
# model). The distribution of $r_{01}$ sampled with the fitted force field against that of the exact potential.

# %%
start = R[:100]
runs = {"exact": energy_forces, "ensemble": ensemble.predict}
r01 = {}
for name, force in runs.items():
    traj = langevin(force, start, masses=12.0, kT=KT, dt=0.02, friction=2.0, n_steps=STEPS, stride=10)
    frames = traj.R[len(traj.R) // 5:].reshape(-1, 3, 3)
    r01[name] = np.linalg.norm(frames[:, 1] - frames[:, 0], axis=1)
fig, ax = plt.subplots(figsize=(5, 3))
for name, r in r01.items():
    ax.hist(r, bins=60, range=(1.0, 3.0), density=True, histtype="step", label=name)
ax.set_xlabel("$r_{01}$")
ax.set_ylabel("density")
ax.legend()
save_figure(fig, "cg_toy_distribution")

# %% [markdown]
# ## Alanine dipeptide (saved benchmark)
#
# `python benchmarks/cg_ala2.py` fits the CG models on the CGnet data (5 backbone beads, 10,000 frames of
# explicit-water MD at 300 K, Å and kcal/mol/Å), runs Langevin dynamics with each and compares the free-energy
# surface in the backbone dihedrals with the reference; the table is in `benchmarks/results/cg_ala2_cpu.md`.

# %%
results = json.loads((ROOT / "benchmarks" / "results" / "cg_ala2_cpu.json").read_text())
sizes = sorted({int(k.split(":")[1]) for k in results if k.count(":") == 2})
labels = {"single": "(a) one GDML, random", "ensemble": "(b) stratified GDML ensemble", "cgnet": "(c) CGnet-like"}
ref = results["reference"]


def entry(method, n):
    return next((v for k, v in results.items() if k.startswith(f"{method}:{n}:")), None)


fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
metrics = [("FES error (kT$^2$), populated bins", lambda e: e["fes_error"], ref["floor"]),
           ("KL divergence (nats)", lambda e: fes_kl_divergence(e["F"], ref["F"]), ref.get("floor_kl"))]
for ax, (ylabel, metric, floor) in zip(axes, metrics):
    for method, label in labels.items():
        ns = [n for n in sizes if entry(method, n) is not None]
        ax.plot(ns, [metric(entry(method, n)) for n in ns], "o-", label=label)
    if floor is not None:
        ax.axhline(floor, color="gray", ls=":", label="reference halves")
    ax.axhline(metric(results["prior"]), color="k", ls="--", label="prior only")
    ax.set_xscale("log")
    ax.set_xlabel("N (frames per GDML model)")
    ax.set_ylabel(ylabel)
axes[0].legend(fontsize=7)
fig.tight_layout()
save_figure(fig, "cg_ala2_error")

# %%
N = max(sizes)
panels = [("reference (MD)", ref["F"]), ("prior only", results["prior"]["F"])] + [
    (f"{label}, N = {N}", entry(m, N)["F"]) for m, label in labels.items() if entry(m, N) is not None]
fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2), sharey=True, constrained_layout=True)
for ax, (title, F) in zip(axes, panels):
    im = ax.imshow(np.asarray(F).T, origin="lower", extent=(-180, 180, -180, 180), vmin=0, vmax=8)
    ax.set_title(title, fontsize=8)
    ax.set_xlabel(r"$\phi$ (deg)")
axes[0].set_ylabel(r"$\psi$ (deg)")
fig.colorbar(im, ax=axes, label="free energy (kT)")
save_figure(fig, "cg_ala2_fes")
