"""``python -m gdmlkit``: the command line (so that ``torchrun -m gdmlkit train ...`` works)."""

import sys

from .cli import main

sys.exit(main())
