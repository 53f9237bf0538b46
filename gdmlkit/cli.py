"""Command line: ``gdmlkit train``, ``gdmlkit test``, ``gdmlkit info`` (also ``python -m gdmlkit``)."""

import argparse
import sys
import time

import numpy as np

from .data import load_dataset, train_test_split
from .exceptions import ConvergenceError, NotPSDError
from .metrics import prediction_errors
from .model_selection import select_sigma
from .models import BIGDMLRegressor, GDMLRegressor, load_model

__all__ = ["main"]


def _errors_table(errors, energy_unit, length_unit):
    f_unit = f"{energy_unit}/{length_unit}"
    lines = [f"  force  MAE {errors['force_mae']:.4f}  RMSE {errors['force_rmse']:.4f}  [{f_unit}]"]
    if "energy_mae" in errors:
        lines.append(f"  energy MAE {errors['energy_mae']:.4f}  RMSE {errors['energy_rmse']:.4f}  [{energy_unit}]")
    return "\n".join(lines)


def _load(path, args):
    return load_dataset(path, energy_unit=args.energy_unit, length_unit=args.length_unit,
                        energy_key=args.energy_key, forces_key=args.forces_key)


def _reference(path):
    """Ideal positions (n_atoms, 3) for BIGDML's space group, or None (then found from the training frames)."""
    if path is None:
        return None
    if str(path).endswith(".npz"):
        with np.load(path) as f:
            if "R_ideal" not in f:
                raise ValueError(f"{path} has no array 'R_ideal'; give an .npz with R_ideal (n_atoms, 3) or an "
                                 "ASE-readable structure file.")
            return f["R_ideal"]
    import ase.io

    return ase.io.read(path).positions


def _cmd_train(args):
    if not args.distributed:
        return _train(args, print)
    if args.solver != "pcg":
        raise ValueError("--distributed shards the PCG solver; add --solver pcg.")
    import torch.distributed as dist

    from .distributed import init_from_env

    rank = init_from_env(args.device)
    try:  # every process trains its shard; process 0 reports and saves
        return _train(args, print if rank == 0 else (lambda *a, **k: None), save=rank == 0)
    finally:
        dist.destroy_process_group()


def _train(args, say, save=True):
    data = _load(args.dataset, args)
    test = _load(args.test, args) if args.test else None
    n_test = args.n_test if test is None else 0
    train_idx, _, test_idx = train_test_split(data, args.n_train, n_test=n_test if n_test else None,
                                              strategy="energy" if data.E is not None else "random",
                                              random_state=args.seed)
    train = data[train_idx]
    if test is None:
        test = data[test_idx]
    elif args.n_test:
        test = test[np.random.default_rng(args.seed).permutation(len(test))[:args.n_test]]
    say(f"training on {len(train)} geometries of {data.name or args.dataset} ({data.formula}), "
          f"testing on {len(test)}; units {data.energy_unit}, {data.length_unit}")
    perms = {"auto": "auto", "none": "none"}[args.perms]
    solver = {"solver": args.solver, "tol": args.tol, "max_memory": args.max_memory, "progress": save,
              "device": args.device, "backend": args.backend, "preconditioner": args.preconditioner,
              "checkpoint": args.checkpoint}
    if data.is_periodic:
        model = BIGDMLRegressor(lam=args.lam, perms=perms, reference=_reference(args.reference), **solver)
    elif args.reference:
        raise ValueError("--reference is for periodic data (BIGDML); this dataset has no cell.")
    else:
        model = GDMLRegressor(lam=args.lam, perms=perms, **solver)
    t0 = time.perf_counter()
    if args.sigma == "auto":
        sigmas = [float(s) for s in args.sigmas.split(",")]
        result = select_sigma(model, train, sigmas=sigmas, cv=args.cv, random_state=args.seed)
        say(result.table())
        model = result.best_estimator
    else:
        model.set_params(sigma=float(args.sigma)).fit(train)
    say(f"fitted sigma={model.sigma:g} with {len(model.perms_)} permutations in {time.perf_counter() - t0:.1f} s")
    info = model.solve_info_
    if info["solver"] == "pcg":
        say(f"PCG: {info['n_iter']} iterations to relative residual {info['residuals'][-1]:.1e}, "
              f"preconditioner {info['preconditioner']} of rank {info['rank']}")
    E, F = model.predict(test)
    errors = prediction_errors(test.E, test.F, E, F)
    say("test errors:")
    say(_errors_table(errors, data.energy_unit, data.length_unit))
    if args.output and save:
        model.save(args.output)
        say(f"model saved to {args.output}")
    return 0


def _cmd_test(args):
    model = load_model(args.model)
    data = _load(args.dataset, args)
    if getattr(model, "energy_unit_", None) and getattr(model, "length_unit_", None):  # CG models have none
        data = data.to_units(model.energy_unit_, model.length_unit_)
    if args.n_test and args.n_test < len(data):
        data = data[np.random.default_rng(args.seed).permutation(len(data))[:args.n_test]]
    t0 = time.perf_counter()
    E, F = model.predict(data)
    dt = time.perf_counter() - t0
    print(f"{len(data)} geometries in {dt:.2f} s ({len(data) / dt:.0f} geometries/s)")
    print(_errors_table(prediction_errors(data.E, data.F, E, F), data.energy_unit, data.length_unit))
    return 0


def _cmd_info(args):
    try:
        model = load_model(args.file)
    except (ValueError, KeyError):
        print(_load(args.file, args))
        return 0
    print(model.describe())
    return 0


def _parser():
    p = argparse.ArgumentParser(prog="gdmlkit", description="Gradient-domain kernel force fields.")
    sub = p.add_subparsers(dest="command", required=True)

    def units(sp):
        sp.add_argument("--energy-unit", help="energy unit of the file, if it declares none (e.g. kcal/mol, eV)")
        sp.add_argument("--length-unit", help="length unit of the file, if it declares none (e.g. Ang, Bohr)")
        sp.add_argument("--energy-key", help="extxyz/ASE files: info key of the energies (e.g. REF_energy)")
        sp.add_argument("--forces-key", help="extxyz/ASE files: per-atom array of the forces (e.g. REF_forces)")
        sp.add_argument("--seed", type=int, default=0, help="random seed of splits (default 0)")

    t = sub.add_parser("train", help="fit an sGDML model and print its test errors")
    t.add_argument("dataset", help="training data (.npz sGDML/rMD17, .xyz, any ASE format)")
    t.add_argument("--test", help="separate test data (default: geometries not used for training)")
    t.add_argument("--n-train", type=int, default=200, help="training geometries (default 200)")
    t.add_argument("--n-test", type=int, default=None, help="test geometries (default: all available)")
    t.add_argument("--sigma", default="auto", help="kernel length scale, or 'auto' for cross-validation")
    t.add_argument("--sigmas", default="5,10,20,40", help="candidates for --sigma auto (comma-separated)")
    t.add_argument("--cv", type=int, default=3, help="folds for --sigma auto (default 3)")
    t.add_argument("--lam", type=float, default=1e-10, help="regularisation (default 1e-10)")
    t.add_argument("--perms", choices=["auto", "none"], default="auto", help="find symmetries or plain GDML")
    t.add_argument("--reference", help="periodic data: ideal structure for the space group (default: found from "
                   "the training frames), as an .npz holding "
                   "R_ideal (the shipped PdH example does) or any ASE-readable file; atoms in the data's order "
                   "and length unit")
    t.add_argument("--solver", choices=["auto", "cholesky", "pcg"], default="auto",
                   help="closed form, or PCG with a Nyström preconditioner (default: closed form while the "
                        "kernel fits in half of the memory)")
    t.add_argument("--tol", type=float, default=1e-6, help="PCG relative residual tolerance (default 1e-6)")
    t.add_argument("--max-memory", type=float, default=None,
                   help="memory budget in GB for the solver (default: what is available)")
    t.add_argument("--preconditioner", choices=["random", "cholesky", "leverage", "svd", "none"], default="random",
                   help="PCG preconditioner (default random Nyström)")
    t.add_argument("--checkpoint", help="PCG checkpoint file: an interrupted fit resumes from it")
    t.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, cuda:1, ...")
    t.add_argument("--backend", choices=["auto", "torch", "keops"], default="auto",
                   help="kernel product: KeOps on CUDA, blocked torch on the CPU (default auto)")
    t.add_argument("--distributed", action="store_true",
                   help="shard PCG over the processes torchrun starts (torchrun --nproc-per-node K -m gdmlkit "
                        "train ... --solver pcg --distributed); Gloo on CPUs, NCCL on CUDA devices")
    t.add_argument("-o", "--output", help="save the model here (.npz)")
    units(t)
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("test", help="errors and speed of a saved model on a dataset")
    e.add_argument("model")
    e.add_argument("dataset")
    e.add_argument("--n-test", type=int, default=None)
    units(e)
    e.set_defaults(func=_cmd_test)

    i = sub.add_parser("info", help="describe a model or dataset file")
    i.add_argument("file")
    units(i)
    i.set_defaults(func=_cmd_info)
    return p


def main(argv=None):
    """Entry point of the ``gdmlkit`` command."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; nothing was saved for the unfinished step", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, MemoryError, ImportError, ConvergenceError, NotPSDError) as exc:
        print(f"gdmlkit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
