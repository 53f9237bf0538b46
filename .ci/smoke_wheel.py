"""Smoke test of gdmlkit installed from its wheel (run by .ci/run from outside the checkout).

Checks that the installed package, not the checkout, is imported, then fits the shipped ethanol
example with both solvers, saves, reloads and predicts through the installed code only.
"""

import sys
import tempfile
from pathlib import Path

import gdmlkit

where = Path(gdmlkit.__file__).resolve()
if Path(sys.prefix).resolve() not in where.parents:
    sys.exit(f"gdmlkit was imported from {where}, not from the wheel installed in {sys.prefix}")

from gdmlkit import GDMLRegressor, load_example, load_model, prediction_errors  # noqa: E402
from gdmlkit.kernels import HessianKernelOperator  # noqa: E402,F401  (the kernel layer ships)

train, test = load_example("ethanol_train")[:100], load_example("ethanol_test")[:200]
for solver in ("cholesky", "pcg"):
    model = GDMLRegressor(sigma=10.0, solver=solver, random_state=0).fit(train)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model.npz")
        model = load_model(Path(tmp) / "model.npz")
    err = prediction_errors(test.E, test.F, *model.predict(test))
    print(f"wheel smoke fit ({solver}): force MAE {err['force_mae']:.4f} {test.energy_unit}/{test.length_unit}")
    if not err["force_mae"] < 0.1:  # 0.056 eV/Å at N = 100; predicting zero forces gives 0.9 eV/Å
        sys.exit(f"force MAE {err['force_mae']} is far above what 100 ethanol geometries give")
