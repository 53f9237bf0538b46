"""Coarse-grained alanine dipeptide (5 backbone beads) by force matching, after Wang, Chmiela, Müller, Noé,
Clementi, J. Chem. Phys. 152, 194106 (2020): free-energy error in (phi, psi) of CG Langevin simulations
against the reference, for (a) one GDML model on N random frames, (b) the stratified ensemble of M GDML
models of N frames each, (c) a CGnet-like network (prior + MLP, force matching) on the ensemble's M N frames.
Prints and saves benchmarks/results/cg_ala2_cpu.md, figures cg_ala2_fes.png and cg_ala2_error.png.

Data: ../shared/data/coarse_graining/ala2_cgnet (10,000 frames at 10 ps of AMBER ff99SB-ILDN explicit-water
MD at 300 K, mapped to C_ACE N CA C N_NME; Å and kcal/mol/Å). Frames 0-8999 are the training pool, 9000-9999
the test frames of the force-matching error. The reference free-energy surface is that of all 10,000 frames.

All models use the harmonic bond/angle prior (Boltzmann inversion at kT = 0.596 kcal/mol). GDML members are
ChiralGDMLRegressor (inverse distances + signed volumes); (sigma, lam) is chosen for (b) by cross-validation of
the force-matching error (2 members per candidate, 1000 held-out pool frames) and reused for (a). Strata:
k-means (10 clusters) on (cos phi, sin phi, cos psi, sin psi).

CG simulation: BAOAB Langevin (gdmlkit.coarse_graining.langevin), carbon/nitrogen masses, 2 fs, friction
1/ps, 300 K, `--walkers` walkers started from random pool frames, `--steps` steps, the first 10% discarded.
FES: 20 x 20 bins of 18 degrees, error = mean squared difference (kT^2) over bins with >= 10 reference frames
after the best constant shift (gdmlkit.coarse_graining.fes_error).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/cg_ala2.py`` (default sizes 100 200 500 1000, M = 8, 64 walkers
x 25000 steps (50 ps each); resumable: finished runs are cached in benchmarks/results/cg_ala2_<tag>.json,
tag 'cpu' by default), ``--sizes ... --walkers 256 --steps 100000 --tag long`` for longer runs, ``--cv-from
TAG`` to reuse the (sigma, lam) an earlier run cross-validated, ``--table`` to print the cached results,
``--convergence 500 --steps 200000`` to check that the runs are long enough (metrics against simulated time;
table cg_ala2_<tag>_convergence.md), ``--param-sweep 1000`` to see whether the cross-validated (sigma, lam) is
the one that gives the best free-energy surface (table cg_ala2_<tag>_params.md).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, SHARED, machine, write_table  # noqa: E402

from gdmlkit.coarse_graining import (CGGDMLRegressor, CGNetRegressor, HarmonicPrior, backbone_dihedrals,  # noqa: E402
                                     boltzmann_kT, fes_error, fes_kl_divergence, free_energy_surface, langevin,
                                     time_unit_fs)

DATA = SHARED / "coarse_graining" / "ala2_cgnet"
KT = boltzmann_kT(300.0, "kcal/mol")
MASSES = np.array([12.011, 14.007, 12.011, 12.011, 14.007])  # C N C C N (amu)
POOL, BINS, MIN_COUNT = 9000, 20, 10
SIGMAS, LAMS = (0.2, 0.3, 0.5, 1.0, 2.0, 4.0), (0.001, 0.003, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
METHODS = {"single": "(a) one GDML, random", "ensemble": "(b) stratified GDML ensemble", "cgnet": "(c) CGnet-like"}


def load():
    R = np.load(DATA / "ala2_coordinates.npy").astype(np.float64)
    F = np.load(DATA / "ala2_forces.npy").astype(np.float64)
    return R, F


def dihedral_features(R):
    phi, psi = np.radians(backbone_dihedrals(R))
    return np.column_stack([np.cos(phi), np.sin(phi), np.cos(psi), np.sin(psi)])


def fes(R):
    phi, psi = backbone_dihedrals(R)
    return free_energy_surface(phi, psi, bins=BINS)


def simulate(model, R_pool, walkers, steps, seed, by_time=False):
    """CG Langevin run; returns the kept frames (n, 5, 3) (with `by_time`: (n_frames, walkers, 5, 3)) and the
    wall time."""
    tu = time_unit_fs("kcal/mol")
    start = R_pool[np.random.default_rng(seed).choice(len(R_pool), walkers, replace=False)]
    t0 = time.perf_counter()
    traj = langevin(model.predict, start, masses=MASSES, kT=KT, dt=2.0 / tu, friction=tu / 1000.0, n_steps=steps,
                    stride=10, random_state=seed, progress=True)
    kept = traj.R[1 + len(traj.R) // 10:]
    return (kept if by_time else kept.reshape(-1, 5, 3)), time.perf_counter() - t0


def fit(method, N, M, R, F, feats, cached, cv_from):
    """The fitted model of `method` at N frames per GDML model (M members), and its fit time. With `cv_from`
    (the cache of an earlier run) the ensemble takes the (sigma, lam) that run's cross-validation chose."""
    t0 = time.perf_counter()
    if method == "ensemble":
        sigma, lam = SIGMAS, LAMS
        if cv_from is not None and f"ensemble:{N}:{M}" in cv_from:
            sigma, lam = cv_from[f"ensemble:{N}:{M}"]["sigma"], cv_from[f"ensemble:{N}:{M}"]["lam"]
        model = CGGDMLRegressor(n_models=M, n_train=N, sigma=sigma, lam=lam, prior="harmonic", kT=KT,
                                progress=True).fit(R, F, features=feats)
    elif method == "single":  # the candidate whose CV members did best: the CV choice for one model
        cv = cached[f"ensemble:{N}:{M}"]["cv"]
        sigma, lam = (float(v) for v in min(cv, key=cv.get).split("/"))
        model = CGGDMLRegressor(n_models=1, n_train=N, sampling="random", sigma=sigma, lam=lam,
                                prior="harmonic", kT=KT).fit(R, F)
    else:  # the ensemble's frames
        frames = np.asarray(cached[f"ensemble:{N}:{M}"]["train_frames"])
        model = CGNetRegressor(kT=KT, progress=False).fit(R[frames], F[frames])
    return model, time.perf_counter() - t0


def run(args):
    R, F = load()
    R_pool, F_pool, R_test, F_test = R[:POOL], F[:POOL], R[POOL:], F[POOL:]
    feats = dihedral_features(R_pool)
    F_ref, c_ref, _ = fes(R)
    cache_path = RESULTS / f"cg_ala2_{args.tag}.json"
    cached = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    cv_from = None if args.cv_from is None else json.loads((RESULTS / f"cg_ala2_{args.cv_from}.json").read_text())
    if "reference" not in cached:
        h1, h2 = fes(R[:5000]), fes(R[5000:])
        prior = HarmonicPrior(KT).fit(R_pool)
        cached["reference"] = {"F": F_ref.tolist(), "floor": fes_error(h1[0], h2[0], h2[1], MIN_COUNT),
                               "prior_force_mse": float(np.mean((prior.energy_forces(R_test)[1] - F_test) ** 2)),
                               "zero_force_mse": float(np.mean(F_test**2))}
    if "prior" not in cached:  # control: bonds and angles only, flat in (phi, psi)
        prior = HarmonicPrior(KT).fit(R_pool)
        frames, t_sim = simulate(_PriorModel(prior), R_pool, args.walkers, args.steps, seed=0)
        cached["prior"] = {"fes_error": fes_error(fes(frames)[0], F_ref, c_ref, MIN_COUNT), "sim_s": t_sim,
                           "phi_pos": float(np.mean(backbone_dihedrals(frames)[0] > 0)), "F": fes(frames)[0].tolist()}
        cache_path.write_text(json.dumps(cached))
    for N in args.sizes:
        for method in ("ensemble", "single", "cgnet"):
            key = f"{method}:{N}:{args.models}"
            if key in cached:
                continue
            print(f"--- {key}", flush=True)
            model, t_fit = fit(method, N, args.models, R_pool, F_pool, feats, cached, cv_from)
            mse = float(np.mean((model.predict(R_test)[1] - F_test) ** 2))
            frames, t_sim = simulate(model, R_pool, args.walkers, args.steps, seed=N)
            F_cg, _, _ = fes(frames)
            entry = {"fes_error": fes_error(F_cg, F_ref, c_ref, MIN_COUNT), "force_mse": mse, "fit_s": t_fit,
                     "sim_s": t_sim, "frames": int(M_frames(method, N, args.models)), "F": F_cg.tolist(),
                     "phi_pos": float(np.mean(backbone_dihedrals(frames)[0] > 0))}
            if method != "cgnet":
                entry.update(sigma=model.sigma_, lam=model.lam_)
            if method == "ensemble" and model.cv_results_ is None:  # (sigma, lam) from --cv-from
                entry["train_frames"] = np.concatenate(model.subsets_).tolist()
                entry["cv"], entry["cv_ensemble"] = cv_from[key]["cv"], cv_from[key].get("cv_ensemble")
            elif method == "ensemble":
                entry["train_frames"] = np.concatenate(model.subsets_).tolist()
                names = [f"{s}/{lam:g}" for s, lam in model.cv_results_["params"]]
                entry["cv"] = dict(zip(names, model.cv_results_["force_mse"].mean(1).tolist()))
                entry["cv_ensemble"] = dict(zip(names, model.cv_results_["ensemble_force_mse"].tolist()))
            else:
                entry["epochs"] = getattr(getattr(model, "network_", None), "n_epochs_", None)
            cached[key] = entry
            cache_path.write_text(json.dumps(cached))
            print(f"    FES error {entry['fes_error']:.3f} kT^2, force MSE {mse:.2f}, fit {t_fit:.0f} s, "
                  f"sim {t_sim:.0f} s", flush=True)
    return cached


class _PriorModel:
    """The harmonic prior alone, with a model's predict."""

    def __init__(self, prior):
        self.predict = prior.energy_forces


def M_frames(method, N, M):
    """Distinct training frames of a method."""
    return N if method == "single" else N * M


def table(cached, args):
    ref = cached["reference"]
    if "floor_kl" not in ref:  # caches written before the KL column
        R = load()[0]
        ref["floor_kl"] = fes_kl_divergence(fes(R[5000:])[0], fes(R[:5000])[0])

    def kl(entry):
        return fes_kl_divergence(entry["F"], ref["F"])

    rows = []
    for N in args.sizes:
        cells = [cached.get(f"{m}:{N}:{args.models}") for m in METHODS]
        if any(c is None for c in cells):
            continue
        a, b, c = cells
        rows.append([N, N * args.models, f"{a['fes_error']:.2f}", f"{b['fes_error']:.2f}", f"{c['fes_error']:.2f}",
                     f"{kl(a):.2f} / {kl(b):.2f} / {kl(c):.2f}", f"{a['force_mse']:.1f} / {b['force_mse']:.1f} / {c['force_mse']:.1f}",
                     f"{a['sigma']:g} / {a['lam']:g}; {b['sigma']:g} / {b['lam']:g}", f"{a['phi_pos']:.3f} / {b['phi_pos']:.3f} / {c['phi_pos']:.3f}",
                     f"{a['fit_s']:.0f} / {b['fit_s']:.0f} / {c['fit_s']:.0f}"])
    cv_note = "" if args.cv_from is None else f" --tag {args.tag} --cv-from {args.cv_from}"
    cv_time = "" if args.cv_from is None else ("; fit times exclude the cross-validation where (sigma, lam) came from "
                                              "the --cv-from run (same data, seeds and grid)")
    notes = [f"`python benchmarks/cg_ala2.py --sizes {' '.join(map(str, args.sizes))} --models {args.models} "
             f"--walkers {args.walkers} --steps {args.steps}{cv_note}`; alanine dipeptide, 5 CG beads, 10,000 frames "
             "(../shared/data/coarse_graining/ala2_cgnet), Å and kcal/mol/Å, 300 K.",
             "FES error: mean squared free-energy difference (kT^2) in (phi, psi), 20 x 20 bins with >= 10 reference "
             f"frames, CG Langevin ({args.walkers} walkers x {args.steps} steps of 2 fs from random pool frames) "
             f"against all 10,000 frames. Metric floor (first against second half of the reference): {ref['floor']:.2f}; "
             f"the harmonic prior alone (flat in phi, psi) simulated the same way: {cached['prior']['fes_error']:.2f} "
             f"(phi > 0: {cached['prior']['phi_pos']:.3f}). KL: sum p_ref ln(p_ref / p_CG) (nats) over all bins, "
             f"large both for too flat and too rugged surfaces; floor {ref['floor_kl']:.2f}, prior alone "
             f"{kl(cached['prior']):.2f}.",
             "Force MSE: mean squared error against the instantaneous mapped forces of the 1000 test frames "
             f"((kcal/mol/Å)^2); the harmonic prior alone: {ref['prior_force_mse']:.1f}, zero forces: "
             f"{ref['zero_force_mse']:.1f} (the noise dominates it: it is the mean-force error plus the noise).",
             "(a) one ChiralGDML model on N random frames, (sigma, lam) that of (b)'s CV candidates whose members "
             "did best; (b) M = "
             f"{args.models} ChiralGDML models, N stratified frames each (k-means, 10 strata on the dihedrals), "
             f"(sigma, lam) by cross-validation of the ensemble's error (estimated from 2 members per candidate, "
             f"gdmlkit's CGGDMLRegressor) over sigma {SIGMAS} x lam {LAMS}; (c) CGnet-like (harmonic prior + 3 x 64 tanh MLP on inverse distances, "
             "angle cosines, dihedral cosines and sines; forces only, Adam, early stopping) on the M N frames of (b)"
             f"{cv_time}."]
    header = ["N per GDML model", "frames of (b), (c)", "FES error (a)", "FES error (b)", "FES error (c)",
              "KL (a) / (b) / (c)", "force MSE (a) / (b) / (c)", "sigma / lam (a); (b)", "phi > 0 (ref 0.024)", "fit s (a) / (b) / (c)"]
    write_table(f"cg_ala2_{args.tag}", header, rows, notes)


def convergence(cached, args):
    """Whether the runs are long enough: the KL divergence and FES error of the first 1/8, 1/4, 1/2 and all of
    one CG run of the ensemble at N = --convergence frames per member (its cross-validated sigma and lam, same
    seed as the table's run), and the KL divergence between the run's two halves."""
    N, M = args.convergence, args.models
    best = cached[f"ensemble:{N}:{M}"]
    R, F = load()
    F_ref, c_ref, _ = fes(R)
    model = CGGDMLRegressor(n_models=M, n_train=N, sigma=best["sigma"], lam=best["lam"], prior="harmonic",
                            kT=KT).fit(R[:POOL], F[:POOL], features=dihedral_features(R[:POOL]))
    frames, t_sim = simulate(model, R[:POOL], args.walkers, args.steps, seed=N, by_time=True)
    ps_per_frame = 10 * 2.0 / 1000  # stride 10 of 2 fs
    rows = []
    for frac in (1 / 8, 1 / 4, 1 / 2, 1):
        part = frames[:max(1, int(round(frac * len(frames))))].reshape(-1, 5, 3)
        F_cg = fes(part)[0]
        rows.append([f"{frac * len(frames) * ps_per_frame:.1f}", len(part), f"{fes_kl_divergence(F_cg, F_ref):.3f}",
                     f"{fes_error(F_cg, F_ref, c_ref, MIN_COUNT):.2f}",
                     f"{np.mean(backbone_dihedrals(part)[0] > 0):.3f}"])
    half = len(frames) // 2
    halves = fes_kl_divergence(fes(frames[half:].reshape(-1, 5, 3))[0], fes(frames[:half].reshape(-1, 5, 3))[0])
    notes = [f"`python benchmarks/cg_ala2.py --convergence {N} --models {M} --walkers {args.walkers} --steps "
             f"{args.steps} --tag {args.tag}`: one CG Langevin run ({args.walkers} walkers, 2 fs, the first 10% "
             f"discarded) of the stratified ensemble (M = {M}, N = {N}, sigma {best['sigma']:g}, lam {best['lam']:g} "
             f"from the table's cross-validation); metrics of its first part against the 10,000 reference frames.",
             f"KL between the run's second and first half: {halves:.3f}; reference halves: "
             f"{fes_kl_divergence(fes(R[5000:])[0], fes(R[:5000])[0]):.3f}. Simulation wall time {t_sim:.0f} s."]
    write_table(f"cg_ala2_{args.tag}_convergence", ["ps per walker (after the discarded 10%)", "frames",
                                                    "KL (nats)", "FES error (kT^2)", "phi > 0 (ref 0.024)"], rows,
                notes)


def param_sweep(cached, args):
    """Whether the force-matching cross-validation picks the (sigma, lam) that gives the best free-energy
    surface: the ensemble at N = --param-sweep frames per member refitted with each of --params (default: the
    cross-validation's --top best candidates), each simulated as in the table (same seed), beside its
    cross-validation error."""
    N, M = args.param_sweep, args.models
    best = cached[f"ensemble:{N}:{M}"]
    def by_params(table):
        return {tuple(float(v) for v in k.split("/")): mse for k, mse in table.items()}

    cv, cv_ens = by_params(best["cv"]), by_params(best["cv_ensemble"])
    params = [tuple(float(v) for v in p.split("/")) for p in args.params] if args.params else \
        sorted(cv_ens, key=cv_ens.get)[:args.top]
    R, F = load()
    F_ref, c_ref, _ = fes(R)
    feats = dihedral_features(R[:POOL])
    rows = []
    for sigma, lam in params:
        chosen = (sigma, lam) == (best["sigma"], best["lam"])
        if chosen:  # the table's run: same model, seed and length
            mse, F_cg, phi_pos = best["force_mse"], np.asarray(best["F"]), best["phi_pos"]
        else:
            model = CGGDMLRegressor(n_models=M, n_train=N, sigma=sigma, lam=lam, prior="harmonic",
                                    kT=KT).fit(R[:POOL], F[:POOL], features=feats)
            mse = float(np.mean((model.predict(R[POOL:])[1] - F[POOL:]) ** 2))
            frames, _ = simulate(model, R[:POOL], args.walkers, args.steps, seed=N)
            F_cg, phi_pos = fes(frames)[0], float(np.mean(backbone_dihedrals(frames)[0] > 0))
        rows.append([f"{sigma:g} / {lam:g}" + (" (CV choice)" if chosen else ""),
                     "" if (sigma, lam) not in cv else f"{cv[(sigma, lam)]:.2f} / {cv_ens[(sigma, lam)]:.2f}",
                     f"{mse:.2f}",
                     f"{fes_kl_divergence(F_cg, F_ref):.3f}", f"{fes_error(F_cg, F_ref, c_ref, MIN_COUNT):.2f}",
                     f"{phi_pos:.3f}"])
        print(rows[-1], flush=True)
    net = cached[f"cgnet:{N}:{M}"]
    chosen_by = f"--params {' '.join(args.params)}" if args.params else f"--top {args.top}"
    notes = [f"`python benchmarks/cg_ala2.py --param-sweep {N} {chosen_by} --models {M} --walkers {args.walkers} "
             f"--steps {args.steps} --tag {args.tag}`: the stratified ensemble (M = {M}, N = {N}) with each "
             f"(sigma, lam), simulated as in the table ({args.walkers} walkers x {args.steps} steps of 2 fs; the CV "
             "choice's row is the table's run).",
             "CV force MSE: the cross-validation's validation error ((kcal/mol/Å)^2, 1000 held-out pool frames) of "
             f"its 2 members, and that estimated for the mean of {M}, by which it chooses; test force MSE: against the 1000 test frames' instantaneous forces. For comparison, the "
             f"CGnet-like network on the same frames: KL {fes_kl_divergence(net['F'], F_ref):.3f}, FES error "
             f"{net['fes_error']:.2f}, test force MSE {net['force_mse']:.2f}."]
    write_table(f"cg_ala2_{args.tag}_params", ["sigma / lam", "CV force MSE member / ensemble", "test force MSE", "KL (nats)",
                                               "FES error (kT^2)", "phi > 0 (ref 0.024)"], rows, notes)


def figures(cached, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    N = max(n for n in args.sizes if f"cgnet:{n}:{args.models}" in cached)
    panels = [("reference (MD)", cached["reference"]["F"]), ("prior only", cached["prior"]["F"])] + [
        (f"{METHODS[m]}, N = {N}", cached[f"{m}:{N}:{args.models}"]["F"]) for m in METHODS]
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.8), sharey=True, constrained_layout=True)
    for ax, (title, Fg) in zip(axes, panels):
        im = ax.imshow(np.asarray(Fg).T, origin="lower", extent=(-180, 180, -180, 180), vmin=0, vmax=8, cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("phi (deg)")
    axes[0].set_ylabel("psi (deg)")
    fig.colorbar(im, ax=axes, label="free energy (kT)")
    fig.savefig(RESULTS / f"cg_ala2_{args.tag}_fes.png", dpi=90)
    ref = cached["reference"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    metrics = [("FES error (kT$^2$), populated bins", lambda e: e["fes_error"], ref["floor"]),
               ("KL divergence (nats)", lambda e: fes_kl_divergence(e["F"], ref["F"]), ref["floor_kl"])]
    for ax, (ylabel, metric, floor) in zip(axes, metrics):
        for m, label in METHODS.items():
            ns = [n for n in args.sizes if f"{m}:{n}:{args.models}" in cached]
            ax.plot(ns, [metric(cached[f"{m}:{n}:{args.models}"]) for n in ns], "o-", label=label)
        ax.axhline(floor, color="gray", ls=":", label="reference halves")
        ax.axhline(metric(cached["prior"]), color="k", ls="--", label="prior only")
        ax.set_xscale("log")
        ax.set_xlabel("N (frames per GDML model)")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / f"cg_ala2_{args.tag}_error.png", dpi=90)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500, 1000])
    p.add_argument("--models", type=int, default=8)
    p.add_argument("--walkers", type=int, default=64)
    p.add_argument("--steps", type=int, default=25000)
    p.add_argument("--cv-from", default=None, help="tag of an earlier run whose cross-validated (sigma, lam) to reuse")
    p.add_argument("--tag", default="cpu")
    p.add_argument("--table", action="store_true", help="print the cached results only")
    p.add_argument("--convergence", type=int, default=None, metavar="N",
                   help="only the sampling check: metrics against simulated time for the ensemble of N frames "
                   "per member (needs its cached run); e.g. --convergence 500 --steps 200000")
    p.add_argument("--param-sweep", type=int, default=None, metavar="N",
                   help="only the (sigma, lam) check: the ensemble of N frames per member refitted and simulated with "
                   "each of --params (needs its cached run)")
    p.add_argument("--params", nargs="+", default=None, metavar="SIGMA/LAM",
                   help="e.g. 0.5/3 2/0.003 (default: the cross-validation's --top best candidates)")
    p.add_argument("--top", type=int, default=5)
    args = p.parse_args()
    print(f"Machine: {machine()}", flush=True)
    if args.param_sweep is not None:
        return param_sweep(json.loads((RESULTS / f"cg_ala2_{args.tag}.json").read_text()), args)
    if args.convergence is not None:
        return convergence(json.loads((RESULTS / f"cg_ala2_{args.tag}.json").read_text()), args)
    if args.table:
        cached = json.loads((RESULTS / f"cg_ala2_{args.tag}.json").read_text())
    else:
        cached = run(args)
    table(cached, args)
    (RESULTS / f"cg_ala2_{args.tag}.json").write_text(json.dumps(cached))  # with the KL floor table() adds
    figures(cached, args)


if __name__ == "__main__":
    main()
