"""Training across processes and nodes with ``torch.distributed`` (Gloo on CPUs, NCCL on GPUs).

Inside an initialised process group of more than one process, ``GDMLRegressor(solver='pcg')``
shards itself: each process holds a contiguous block of training geometries (rows of the
kernel, of the preconditioner's factor and of every PCG vector), computes its rows of each
product, and the pieces are combined with collectives. Launch with ``torchrun``::

    torchrun --nproc-per-node 2 -m gdmlkit train data.npz --solver pcg --distributed

or call :func:`init_from_env` at the top of a script that torchrun starts.
"""

from .group import active, init_from_env, rank, world_size
from .sharded import ShardedHessianOperator

__all__ = ["active", "init_from_env", "rank", "world_size", "ShardedHessianOperator"]
