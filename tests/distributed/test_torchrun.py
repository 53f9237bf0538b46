"""The command line under torchrun: two local processes train the model one process trains."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdmlkit import load_model

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["train", str(ROOT / "data/ethanol_rmd17_train.npz"), "--test", str(ROOT / "data/ethanol_rmd17_test.npz"),
        "--n-train", "60", "--n-test", "100", "--sigma", "10", "--solver", "pcg", "--tol", "1e-10"]


def run(cmd, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_torchrun_two_processes_train_the_single_process_model(tmp_path):
    one = run([sys.executable, "-m", "gdmlkit", *ARGS, "-o", "one.npz"], tmp_path)
    two = run(["torchrun", "--standalone", "--nproc-per-node", "2", "-m", "gdmlkit", *ARGS, "--distributed",
               "-o", "two.npz"], tmp_path)
    mae = [re.search(r"force  MAE (\S+)", s).group(1) for s in (one, two)]
    assert mae[0] == mae[1] and two.count("test errors") == 1  # process 0 alone reports
    a, b = (load_model(tmp_path / f).alphas_ for f in ("one.npz", "two.npz"))
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6 * np.abs(a).max())


def test_distributed_flag_needs_pcg_and_torchrun(capsys):
    from gdmlkit.cli import main

    assert main(ARGS[:2] + ["--distributed"]) == 2
    assert "--distributed shards the PCG solver; add --solver pcg" in capsys.readouterr().err
    assert main(ARGS + ["--distributed"]) == 2
    assert "Launch with 'torchrun --nproc-per-node K" in capsys.readouterr().err
