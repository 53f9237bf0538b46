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
# # Scaling: training time and memory versus N
#
# Training time and peak memory of gdmlkit and the reference implementation sgdml 1.0.3 against the number of
# training geometries $N$, on GFN2-xTB ethanol. The measured points are read from the tables that the
# benchmark scripts save (`benchmarks/results/`; every run in a fresh process, wall time and peak resident
# memory its own):
#
# * `python benchmarks/sgdml_vs_gdmlkit.py` → `sgdml_vs_gdmlkit.md`: gdmlkit's closed form against sgdml;
# * `python benchmarks/scaling.py --sizes 1000 2000 5000 --sgdml-sizes 1000 --preconditioners random leverage cholesky --tol 1e-4`
#   → `scaling_ethanol_cpu.md`: gdmlkit's PCG solver with each preconditioner (and sgdml's iterative solver at N = 1000).
#
# Below them, this notebook times gdmlkit on the shipped rMD17 ethanol data on *your* machine, at sizes set by
# `SIZE` (`"small"`: N up to 200, a few seconds; `"full"`: up to 1000, a few minutes and 6 GB for the closed form).
# Set the environment variable `GDMLKIT_NOTEBOOK_SIZE=full` or edit the cell below.

# %% tags=["parameters"]
from _setup import notebook_size

SIZE = notebook_size()  # "small" or "full"
LIVE_SIZES = {"small": [50, 100, 200], "full": [200, 500, 1000]}[SIZE]  # N timed on this machine

# %%
import time
import warnings

import matplotlib.pyplot as plt
from _setup import save_figure
from _common import machine, read_table

from gdmlkit import GDMLRegressor, load_example

sgdml_machine, vs_sgdml = read_table("sgdml_vs_gdmlkit")
pcg_machine, pcg_rows = read_table("scaling_ethanol_cpu")
print("sgdml_vs_gdmlkit.md:", sgdml_machine)
print("scaling_ethanol_cpu.md:", pcg_machine)

series = {}  # label -> (N, wall s, peak GB)
for row in vs_sgdml:
    label = "sgdml 1.0.3" if row["code"] == "sgdml" else "gdmlkit, closed form (Cholesky)"
    series.setdefault(label, []).append((int(row["N train"]), float(row["wall s (fit+predict)"]),
                                         float(row["peak RSS GB"])))
for row in pcg_rows:
    if row["code"] == "sgdml":
        label = "sgdml 1.0.3 (iterative)"
    elif row["code"] == "closed form":
        label = "gdmlkit, closed form (Cholesky)"
    else:
        pc = row["preconditioner"].partition(" (")[0]  # e.g. "random (float32 factor)"
        label = f"gdmlkit, PCG ({pc} Nyström)"
    series.setdefault(label, []).append((int(row["N train"]), float(row["wall s"]), float(row["peak RSS GB"])))
for label, points in series.items():
    print(f"{label:<35}", "  ".join(f"N={N}: {t:.1f} s, {m:.2f} GB" for N, t, m in points))

# %% [markdown]
# sgdml's point at N = 1000 is its iterative solver: its analytic solver needs three kernel copies (17.5 GB)
# and is killed on a 24 GiB machine. The PCG points keep the pairwise coefficients cached up to N = 5000 and
# store the preconditioner in float32 from N = 5000; N = 10000 ran with `max_memory=4` (see the table). Both
# tables time fit plus prediction of 5000 test geometries; the PCG table also includes loading the data and
# the symmetry search.

# %%
MARKERS = {"sgdml 1.0.3": "s-", "sgdml 1.0.3 (iterative)": "s", "gdmlkit, closed form (Cholesky)": "o-"}
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for label, points in series.items():
    N, t, mem = zip(*points)
    axes[0].loglog(N, t, MARKERS.get(label, "^-"), label=label)
    axes[1].loglog(N, mem, MARKERS.get(label, "^-"), label=label)
axes[0].set_ylabel("training + prediction wall time (s)")
axes[1].set_ylabel("peak resident memory (GB)")
for ax, yticks in zip(axes, [[1, 3, 10, 30, 100, 300, 1000, 3000], [0.5, 1, 2, 4, 10, 20]]):
    ax.set_xticks([200, 500, 1000, 2000, 5000, 10000], labels=["200", "500", "1000", "2000", "5000", "10000"])
    ax.set_yticks(yticks, labels=[f"{y:g}" for y in yticks])
    ax.minorticks_off()
    ax.set_xlabel("training geometries N (ethanol, 27 force components each)")
    ax.legend(fontsize=8)
fig.suptitle(f"GFN2-xTB ethanol; {sgdml_machine}", fontsize=9)
fig.tight_layout()
save_figure(fig, "scaling")

# %% [markdown]
# ## On this machine
#
# The closed form assembles and factorises the $n \times n$ kernel ($n = N(3 \cdot 9 - 6)$ unknowns in the
# rigid-motion-free subspace), $O(n^3)$ time and $O(n^2)$ memory; PCG needs $O(n^2)$ time per iteration and
# $O(n k)$ memory. At small N the closed form is faster; PCG wins once the kernel no longer fits in memory.

# %%
data = load_example("ethanol_train")
live = {"closed form (Cholesky)": [], "PCG (random Nyström)": []}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    for N in LIVE_SIZES:
        for label, solver in [("closed form (Cholesky)", "cholesky"), ("PCG (random Nyström)", "pcg")]:
            t0 = time.perf_counter()
            GDMLRegressor(sigma=10.0, solver=solver, random_state=0).fit(data[:N])
            live[label].append(time.perf_counter() - t0)
            print(f"N = {N:4d} {label:<24} fit {live[label][-1]:.2f} s")

fig, ax = plt.subplots(figsize=(5.5, 4))
for label, times in live.items():
    ax.loglog(LIVE_SIZES, times, "o-", label=label)
ax.set_xlabel("training geometries N (rMD17 ethanol)")
ax.set_ylabel("fit wall time (s)")
ax.set_title(machine(), fontsize=7)
ax.legend()
fig.tight_layout()
save_figure(fig, "scaling_this_machine")
