"""The process group: whether one is active, how to start it from torchrun's environment, and the
few collectives the sharded solver needs (sums, row gathers, broadcasts, a data check)."""

import hashlib
import os

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["active", "init_from_env", "rank", "world_size", "all_sum", "gather_rows", "broadcast_seed",
           "check_same_data", "shard_counts"]


def active():
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank():
    return dist.get_rank() if active() else 0


def world_size():
    return dist.get_world_size() if active() else 1


def init_from_env(device="cpu"):
    """Initialise the default process group from the variables torchrun sets (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT): NCCL for a CUDA `device`, Gloo otherwise. Returns the rank."""
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ValueError(f"No torchrun environment ({', '.join(missing)} unset). Launch with "
                           "'torchrun --nproc-per-node K ...' (or set them for each process).")
    if not dist.is_initialized():
        cuda = torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank()


def shard_counts(n, parts):
    """Sizes of `parts` contiguous, balanced blocks of n items (the first n % parts one larger)."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def all_sum(t):
    """Sum of tensor `t` over all processes (returned; `t` itself unchanged). Identity without a group."""
    if not active():
        return t
    out = t.clone()
    dist.all_reduce(out)
    return out


def gather_rows(t, counts):
    """The full tensor from every process's rows (process r holds counts[r] rows of `t`), on all of them."""
    if not active():
        return t
    m = max(counts)
    pad = torch.zeros((m,) + tuple(t.shape[1:]), dtype=t.dtype, device=t.device)
    pad[:t.shape[0]] = t
    parts = [torch.empty_like(pad) for _ in counts]
    dist.all_gather(parts, pad)
    return torch.cat([p[:c] for p, c in zip(parts, counts)])


def broadcast_seed(seed, device="cpu"):
    """`seed`, or without one a seed drawn on rank 0 and shared, so that random choices agree on every rank."""
    if seed is not None or not active():
        return seed
    t = torch.tensor([np.random.SeedSequence().entropy % 2**62], dtype=torch.int64, device=device)
    dist.broadcast(t, 0)
    return int(t)


def check_same_data(device, *arrays):
    """Raise ValueError unless every process holds the same arrays (a hash of them is compared)."""
    if not active():
        return
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    mine = torch.tensor([int.from_bytes(h.digest()[:7], "little")], dtype=torch.int64, device=device)
    parts = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, mine)
    bad = [r for r, p in enumerate(parts) if int(p) != int(parts[0])]
    if bad:
        raise ValueError(f"Processes {bad} hold different training data than process 0: every process of a "
                         "distributed fit must pass the same dataset, split and parameters (load the same file "
                         "with the same seed on every rank).")
