"""``python -m core`` runs the command line (``diffusion-lab train | sample | info``)."""

import sys

from core.cli import main

sys.exit(main())
