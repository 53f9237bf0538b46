"""Sphinx configuration of the gdmlkit documentation.

Build (what CI runs): ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html``.
The notebooks in ``notebooks/`` (jupytext percent-format ``.py``, reached through the
``docs/notebooks`` link) are executed by myst-nb at their small size during the build; a
cell that raises fails the build.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document (and run the notebooks with) this checkout's gdmlkit
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("GDMLKIT_NOTEBOOK_SIZE", "small")
# figures of the docs build stay in the build folder; notebooks/figures/ holds the committed ones
os.environ.setdefault("GDMLKIT_FIGURES", str(ROOT / "docs" / "_build" / "figures"))

import gdmlkit  # noqa: E402

project = "gdmlkit"
author = "the gdmlkit developers"
copyright = "the gdmlkit developers, MIT licence"
release = gdmlkit.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build", "conf.py", "notebooks/_*.py", "notebooks/figures"]
templates_path = ["_templates"]
html_theme = "furo"
html_title = f"gdmlkit {release}"

# Notebooks: plain-text jupytext files, executed on every build; errors fail it.
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
nb_execution_mode = os.environ.get("GDMLKIT_NB_EXECUTION", "force")  # "off" to preview the docs quickly
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_execution_show_tb = True
nb_output_stderr = "remove"  # import-time chatter (e.g. tqdm without ipywidgets) stays out of the pages
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# API reference from the docstrings (numpydoc style).
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_param = False  # parameter types stay text

# -n: every cross-reference must resolve. Napoleon turns the prose types of numpydoc
# sections ("ndarray (n, n_atoms, 3)", "{'auto', 'none'}") into class references, so
# class targets outside gdmlkit are not checked (nor are the libraries gdmlkit uses,
# which have no inventory offline); every gdmlkit.* target, module, function, method
# and page reference is.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:class", r"(?!gdmlkit\.).*"),
    (r"py:(mod|func|meth|data|obj)", r"(ase|numpy|torch|scipy|sklearn)(\..*)?"),
]
