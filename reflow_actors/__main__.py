"""``python -m reflow_actors``: the ``reflow`` command line."""

import sys

from reflow_actors.cli import main

if __name__ == "__main__":
    sys.exit(main())
