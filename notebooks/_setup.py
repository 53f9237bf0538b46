"""Shared setup of the notebooks: repository paths, the benchmark helpers, where figures go.

Figures are written to ``notebooks/figures/`` (shown by the README), or to the folder named
by the environment variable ``GDMLKIT_FIGURES`` (the docs build points it into its build folder).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # benchmarks/_common.py, benchmarks/preconditioners.py
FIGURES = Path(os.environ.get("GDMLKIT_FIGURES", ROOT / "notebooks" / "figures"))
SIZES = ("small", "full")


def notebook_size(default="small"):
    """Run size from the environment variable GDMLKIT_NOTEBOOK_SIZE ('small' or 'full')."""
    size = os.environ.get("GDMLKIT_NOTEBOOK_SIZE", default)
    if size not in SIZES:
        raise ValueError(f"GDMLKIT_NOTEBOOK_SIZE={size!r}; expected one of {list(SIZES)}.")
    return size


def save_figure(fig, name):
    """Save `fig` as FIGURES/<name>.png (the notebook still shows it inline)."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
