"""Atomic file writes: a temporary file beside the target, fsync, then a rename over it."""

import contextlib
import os
import tempfile

import numpy as np

__all__ = ["atomic_open", "atomic_savez"]


@contextlib.contextmanager
def atomic_open(path, suffix=""):
    """Binary file handle whose contents replace `path` only once the block finishes without error.

    A crash or an exception at any point leaves either the old file or the new one at `path`,
    never a partial file, and no temporary file behind (except after a hard kill).
    """
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_savez(path, **arrays):
    """``np.savez(path, **arrays)`` through :func:`atomic_open`: the old file or the new one, never a partial one."""
    with atomic_open(path, suffix=".npz") as fh:
        np.savez(fh, **arrays)
