"""``python -m desktop_app`` starts the app (same as the ``diffusion-lab-gui`` entry point)."""

import sys

from desktop_app.app import main

if __name__ == "__main__":
    sys.exit(main())
