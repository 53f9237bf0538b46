"""Helpers shared by the benchmark scripts and notebooks: machine description, child-process runs, tables."""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def machine():
    """One line naming the CPU, cores, memory and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)")


def run_child(args, timeout=None, pythonpath=None):
    """Run `python args...` in a fresh process; return (JSON of its last '{' stdout line, wall s).

    `pythonpath` (a folder) is put first on the child's PYTHONPATH, e.g. another checkout of gdmlkit.
    A child that fails or is killed (e.g. out of memory) returns ({'error': ...}, wall).
    """
    env = None
    if pythonpath is not None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pythonpath)] + [p for p in [os.environ.get(
            "PYTHONPATH")] if p]))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return {"error": f"timeout after {timeout} s"}, time.perf_counter() - t0
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        return {"error": f"exit {proc.returncode} {last}"}, wall
    lines = [line for line in out.strip().splitlines() if line.startswith("{")]
    return json.loads(lines[-1]), wall


def peak_rss_gb():
    """Peak resident memory of this process and its finished children (GB)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) * 1024 / 1e9


def write_table(name, header, rows, notes=()):
    """Print a Markdown table and save it as benchmarks/results/<name>.md."""
    RESULTS.mkdir(exist_ok=True)
    lines = [f"Machine: {machine()}", ""] + list(notes) + ([""] if notes else [])
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / f"{name}.md").write_text(text)
    return text


def read_table(name):
    """The table saved by :func:`write_table` as (machine line, list of row dicts keyed by the header)."""
    lines = (RESULTS / f"{name}.md").read_text().splitlines()
    machine_line = lines[0].removeprefix("Machine: ")
    table = [line for line in lines if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in table[2:]]
    return machine_line, rows
