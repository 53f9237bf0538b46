"""Command line: train on shipped data, test and inspect the saved model."""

from pathlib import Path

import pytest

from gdmlkit.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


def test_train_test_info(tmp_path, capsys):
    model = tmp_path / "m.npz"
    rc = main(["train", str(DATA / "ethanol_rmd17_train.npz"), "--test", str(DATA / "ethanol_rmd17_test.npz"),
               "--n-train", "40", "--n-test", "100", "--sigma", "auto", "--sigmas", "5,20", "--cv", "2",
               "-o", str(model)])
    out = capsys.readouterr().out
    assert rc == 0 and model.exists()
    assert "force  MAE" in out and "[eV/Ang]" in out and "energy MAE" in out
    assert main(["test", str(model), str(DATA / "ethanol_rmd17_test.npz"), "--n-test", "50"]) == 0
    assert "geometries/s" in capsys.readouterr().out
    assert main(["info", str(model)]) == 0
    assert "permutations" in capsys.readouterr().out
    assert main(["info", str(DATA / "ethanol_rmd17_test.npz")]) == 0


def test_train_with_pcg_in_a_memory_budget(capsys):
    rc = main(["train", str(DATA / "ethanol_rmd17_train.npz"), "--n-train", "30", "--n-test", "20", "--sigma", "10",
               "--solver", "pcg", "--tol", "1e-3", "--max-memory", "0.5"])
    out = capsys.readouterr().out
    assert rc == 0 and "PCG:" in out and "to relative residual" in out and "force  MAE" in out


def test_errors_are_reported_not_raised(tmp_path, capsys):
    rc = main(["train", str(tmp_path / "missing.npz")])
    assert rc == 2 and "error" in capsys.readouterr().err
    rc = main(["train", str(DATA / "ethanol_rmd17_train.npz"), "--n-train", "5000"])
    assert rc == 2 and "5000" in capsys.readouterr().err


def test_help_exits_cleanly():
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


def test_cli_trains_bigdml_with_a_reference_structure(capsys):
    from gdmlkit.cli import main
    from gdmlkit.data import example_path

    path = str(example_path("pdh_emt"))
    assert main(["train", path, "--n-train", "5", "--n-test", "5", "--sigma", "3.2", "--reference", path]) == 0
    assert "with 48 permutations" in capsys.readouterr().out  # Pm-3m of the ideal PdH supercell
    assert main(["train", str(example_path("ethanol_train")), "--n-train", "5", "--sigma", "10",
                 "--reference", path]) == 2  # molecules have no space group: a clear error, exit code 2
