#!/usr/bin/env bash
# GPU checks in one prepared run (about 10 minutes on one H200-class GPU): the GPU tests, then PCG fits of
# ethanol at N = 10,000 and aspirin at N = 2000 with the KeOps and torch backends side by side, tables in
# benchmarks/results/scaling_{ethanol,aspirin}_gpu.md. Needs a CUDA build of torch and pykeops with nvcc.
set -uo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q -m gpu tests 2>&1 | tail -20
for backend in keops torch; do
  python benchmarks/scaling.py --molecule ethanol --sizes 10000 --preconditioners random --tol 1e-4 \
      --device cuda --backend "$backend" --table scaling_ethanol_gpu --append --timeout 240
  python benchmarks/scaling.py --molecule aspirin --sizes 2000 --preconditioners random --tol 1e-4 \
      --device cuda --backend "$backend" --table scaling_aspirin_gpu --append --timeout 240
done
