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
# # Preconditioner benchmark
#
# `GDMLRegressor(solver="pcg")` solves $(K + \lambda I)\,\alpha = F$ by preconditioned conjugate
# gradients (see {doc}`../theory/pcg`). The preconditioner and its rank
# $k$ decide how many iterations CG needs and how long the preconditioner takes to build. This notebook
# measures both for a molecule of your choice and sets them beside the published MD17 ethanol iteration
# counts (Blücher, Müller, Chmiela, *J. Chem. Theory Comput.* 2023) and our own full-size benchmark
# (`benchmarks/preconditioners.py`, saved in `benchmarks/results/`).
#
# **Parameters.** `SIZE = "small"` (default) runs in about a minute on a 2-core CPU;
# `SIZE = "full"` uses the published setting (583 geometries, $n$ = 15,741 unknowns; about half an hour,
# dominated by the unpreconditioned run and the dense eigendecomposition of the SVD preconditioner).
# Set the environment variable `GDMLKIT_NOTEBOOK_SIZE=full` or edit the cell below.

# %% tags=["parameters"]
from _setup import notebook_size

SIZE = notebook_size()  # "small" or "full"
MOLECULE = "ethanol"  # a key of MOLECULES below
N_GEOMS = {"small": 80, "full": 583}[SIZE]  # training geometries; n = 3 * n_atoms * N_GEOMS unknowns
FRACTIONS = {"small": [0.03, 0.048, 0.095, 0.2, 0.3], "full": [0.015, 0.048, 0.095]}[SIZE]  # ranks k/n
SHOW_FRACTION = {"small": 0.095, "full": 0.048}[SIZE]  # rank of the residual-versus-iteration plot
SIGMA, LAM, TOL = 10.0, 1e-10, 1e-4  # the published setting: kernel length scale (1/Å), ridge, rel. tolerance
MAX_ITER = {"small": 3000, "full": 5000}[SIZE]
SEED = 0

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter, PercentFormatter
from _setup import save_figure
from _common import RESULTS, SHARED, read_table
from preconditioners import PUBLISHED, PUBLISHED_N, compare_preconditioners

from gdmlkit import GDMLRegressor, find_permutations, load_dataset, load_example
from gdmlkit.kernels.operator import HessianKernelOperator
from gdmlkit.symmetry import permutation_desc_index

MOLECULES = {  # name -> loader of a Dataset; all but 'ethanol' are read from ../shared/data
    "ethanol": lambda: load_example("ethanol_train"),  # rMD17 ethanol, PBE, eV and Å (shipped)
    "ethanol_ccsd_t": lambda: load_dataset(SHARED / "molecules/md17_ccsd_t/ethanol_ccsd_t-train.npz",
                                           energy_unit="kcal/mol", length_unit="Ang"),  # the published molecule
    "aspirin": lambda: load_dataset(SHARED / "molecules/xtb_md/aspirin_gfn2xtb_500K.npz"),
    "3bpa": lambda: load_dataset(SHARED / "molecules/botnet_3bpa/train_300K.npz"),
}
if MOLECULE not in MOLECULES:
    raise ValueError(f"Unknown MOLECULE {MOLECULE!r}; expected one of {sorted(MOLECULES)}.")
data = MOLECULES[MOLECULE]()
idx = np.random.default_rng(SEED).permutation(len(data))[:N_GEOMS]
train = data[np.sort(idx)]
perms = find_permutations(train.R, train.z)
op = HessianKernelOperator(train.R, permutation_desc_index(perms), SIGMA, lam=LAM)
b = op.project(train.F)
n = b.size
print(f"{train.formula}: {N_GEOMS} geometries, {len(perms)} permutations, n = {n} unknowns")

# %% [markdown]
# ## Residual versus iteration
#
# One PCG solve without a preconditioner and one per preconditioner and rank. The residual is relative,
# $\lVert F - (K + \lambda I)\alpha_t \rVert / \lVert F \rVert$, so it does not depend on the force unit.

# %%
t0 = time.perf_counter()
results = compare_preconditioners(op, b, FRACTIONS, tol=TOL, max_iter=MAX_ITER, seed=SEED)
print(f"{len(results)} solves in {time.perf_counter() - t0:.1f} s")
print(f"{'preconditioner':<15}{'k/n':>7}{'k':>7}{'build s':>9}{'CG s':>8}{'iterations':>12}")
for r in results:
    frac = "-" if r["fraction"] is None else f"{100 * r['fraction']:.1f}%"
    its = r["n_iter"] if r["converged"] else f">{r['n_iter']}"
    print(f"{r['name']:<15}{frac:>7}{r['k']:>7}{r['build_s']:>9.2f}{r['cg_s']:>8.2f}{its:>12}")

# %%
NAMES = ["svd", "leverage", "cholesky", "random"]
COLORS = {"none": "black", "svd": "C0", "leverage": "C1", "cholesky": "C2", "random": "C3"}
saved = np.load(RESULTS / "preconditioners_residuals.npz")

fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for r in results:
    if r["fraction"] is None or r["fraction"] == SHOW_FRACTION:
        axes[0].semilogy(r["residuals"], color=COLORS[r["name"]], label=r["name"])
axes[0].set_title(f"{train.formula}, n = {n}, k/n = {100 * SHOW_FRACTION:g} % (this run)")
for name in ["none"] + NAMES:
    key = name if name == "none" else f"{name}@0.048"
    axes[1].semilogy(saved[key], color=COLORS[name], label=name)
axes[1].set_title(f"MD17 CCSD(T) ethanol, n = {PUBLISHED_N}, k/n = 4.8 % (saved benchmark)")
for ax, its in zip(axes, [max(r["n_iter"] for r in results if r["name"] != "none" and r["fraction"] == SHOW_FRACTION),
                         max(len(saved[f"{name}@0.048"]) for name in NAMES)]):
    ax.axhline(TOL, color="grey", lw=0.8, ls=":")
    ax.set_xlim(0, 1.5 * its)  # the unpreconditioned run goes on beyond the right edge
    ax.set_xlabel("PCG iteration")
    ax.legend()
axes[0].set_ylabel(r"relative residual $\|F - (K+\lambda I)\alpha\| / \|F\|$")
fig.tight_layout()
save_figure(fig, "preconditioner_convergence")

# %% [markdown]
# ## Iterations versus rank, beside the published counts
#
# Filled markers: this run. Open markers: our full-size benchmark on MD17 CCSD(T) ethanol
# (`benchmarks/results/preconditioners.md`, $n$ = 15,741). Crosses: Blücher et al. (2023) on MD17 ethanol DFT
# data with the same $n$, $\sigma$ and tolerance. A small system needs a larger $k/n$ for the same iteration
# count, so compare the small run's *ordering* of the preconditioners with the published one, and the saved
# full-size numbers with the published numbers.

# %%
machine, bench = read_table("preconditioners")
fig, ax = plt.subplots(figsize=(6.5, 4.5))
for name in NAMES:
    mine = [r for r in results if r["name"] == name]
    ax.plot([r["k"] / n for r in mine], [r["n_iter"] for r in mine], "o-", color=COLORS[name],
            label=f"{name} (this run, n = {n})")
    capped = [r for r in mine if not r["converged"]]
    ax.plot([r["k"] / n for r in capped], [r["n_iter"] for r in capped], "^", ms=11, mfc="none", color=COLORS[name])
    rows = [row for row in bench if row["preconditioner"] == name]
    ax.plot([float(row["k/n"].rstrip(" %")) / 100 for row in rows], [int(row["iterations"].lstrip(">")) for row in rows],
            "o", mfc="none", color=COLORS[name])
    ax.plot(sorted(PUBLISHED), [PUBLISHED[f][name] for f in sorted(PUBLISHED)], "x", ms=9, color=COLORS[name])
ax.plot([], [], "ko", mfc="none", label=f"saved benchmark (n = {PUBLISHED_N})")
ax.plot([], [], "kx", label=f"Blücher et al. 2023 (n = {PUBLISHED_N})")
ax.plot([], [], "k^", mfc="none", label=f"hit the cap of {MAX_ITER} iterations")
ax.set_xscale("log")
ax.set_yscale("log")
ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=1))
ax.xaxis.set_minor_formatter(NullFormatter())
ax.set_xticks(sorted(set(FRACTIONS) | set(PUBLISHED)))
ax.tick_params(axis="x", labelrotation=45)
ax.set_xlabel("rank k / n")
ax.set_ylabel(f"PCG iterations to relative residual {TOL:g}")
ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "preconditioner_iterations")
print("saved benchmark machine:", machine)

# %% [markdown]
# ## Wall time: preconditioner build versus CG
#
# The build time of `svd` at its first rank includes one dense eigendecomposition of $K$ ($O(n^3)$), shared
# by its other ranks; it is a reference for the best possible rank-$k$ preconditioner, not a practical choice
# beyond a few thousand unknowns.

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharex=True)
for name in NAMES:
    mine = [r for r in results if r["name"] == name]
    x = [r["k"] / n for r in mine]
    axes[0].plot(x, [r["build_s"] for r in mine], "o-", color=COLORS[name], label=name)
    axes[1].plot(x, [r["cg_s"] for r in mine], "o-", color=COLORS[name], label=name)
    axes[2].plot(x, [r["build_s"] + r["cg_s"] for r in mine], "o-", color=COLORS[name], label=name)
for ax, what in zip(axes, ["preconditioner build", "CG", "build + CG"]):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=1))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(FRACTIONS)
    ax.tick_params(axis="x", labelrotation=45)
    ax.set_xlabel("rank k / n")
    ax.set_ylabel(f"{what} wall time (s)")
axes[1].axhline(results[0]["cg_s"], color="black", ls=":", label="none")
axes[1].legend()
fig.tight_layout()
save_figure(fig, "preconditioner_time")

# %% [markdown]
# ## The automatic rank rule against the measured optimum
#
# With `n_inducing="auto"` the estimator takes $k = (c\,n^2/2)^{1/3}$ ($c$ = `rank_constant` = 36), which
# balances the $O(n k^2)$ build against CG iterations that fall as $k$ grows. Here the estimator itself is
# fitted at several ranks with its defaults (random Nyström over whole geometries, internal coordinates,
# tolerance 1e-6) and the total solve time is compared with the rule's $k$. Timings on a shared machine are
# noisy by some 10 %.

# %%
n_internal = HessianKernelOperator(train.R, op.dp, SIGMA, coordinates="internal").shape[0]  # the estimator's n
est = GDMLRegressor(sigma=SIGMA, lam=LAM, solver="pcg", perms=perms, max_iter=10 * MAX_ITER, random_state=SEED)
k_auto = est.fit_policy().rank(n_internal)
sweep = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # no energy-correlation or convergence chatter
    for k in sorted({int(f * n_internal) for f in (0.05, 0.1, 0.15, 0.25, 0.4, 0.6)} | {k_auto}):
        info = est.set_params(n_inducing=k).fit(train).solve_info_
        sweep.append((info["rank"], info["t_preconditioner_s"], info["t_solve_s"], info["converged"]))
        print(f"k = {info['rank']:5d}: build {info['t_preconditioner_s']:.2f} s, CG {info['t_solve_s']:.2f} s, "
              f"{info['n_iter']} iterations{'' if info['converged'] else ' (not converged)'}")
k, t_build, t_cg, converged = map(np.array, zip(*sweep))
total = np.where(converged, t_build + t_cg, np.inf)
best = int(np.argmin(total))
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(k, t_build + t_cg, "o-", label="build + CG")
ax.plot(k, t_build, "s--", label="build")
ax.plot(k, t_cg, "^--", label="CG")
if not converged.all():
    ax.plot(k[~converged], (t_build + t_cg)[~converged], "rx", ms=10, label="not converged")
ax.axvline(k_auto, color="C3", label=f"rule: k = {k_auto}")
ax.plot(k[best], total[best], "k*", ms=14, label=f"measured optimum: k = {k[best]}")
ax.set_xscale("log")
ax.set_xlabel(f"rank k (of n = {n_internal} unknowns)")
ax.set_ylabel("wall time (s)")
ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "preconditioner_rank_rule")
print(f"rule k = {k_auto}: {total[k == k_auto][0]:.2f} s; optimum k = {k[best]}: {total[best]:.2f} s")
