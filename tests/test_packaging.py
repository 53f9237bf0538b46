"""What a wheel ships: every folder of Python modules is a package, and the example data goes with it."""

import configparser
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_folder_is_a_package():
    """``packages = find:`` keeps only folders with an __init__.py; a folder of modules without one
    would be missing from a wheel while an editable install still finds it."""
    found = {p.replace(".", "/") for p in find_packages(ROOT, include=["gdmlkit*"])}
    folders = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "gdmlkit").rglob("*.py")
               if "examples" not in p.parts}
    assert folders - found == set()


def test_example_data_is_package_data():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    patterns = cfg["options.package_data"]["gdmlkit.data"]
    from gdmlkit.data.io import EXAMPLES

    examples = ROOT / "gdmlkit" / "data" / "examples"
    for name in EXAMPLES.values():
        assert (examples / name).is_file() and any(Path(name).match(p.strip().split("/")[-1])
                                                   for p in patterns.split(","))
