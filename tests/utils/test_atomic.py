"""Atomic writes: the target holds the old or the new contents, never a partial file."""

import os

import pytest

from gdmlkit.utils.atomic import atomic_open


def test_success_replaces_and_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.npz"
    with atomic_open(path, suffix=".npz") as fh:
        fh.write(b"old")
    assert path.read_bytes() == b"old"
    with pytest.raises(RuntimeError, match="died"):
        with atomic_open(path, suffix=".npz") as fh:
            fh.write(b"half-writ")
            raise RuntimeError("died while writing")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    with atomic_open(path) as fh:
        fh.write(b"new")
    assert path.read_bytes() == b"new"
