"""``python -m pytest_segpendo.relay``: run the reference relay (see :mod:`pytest_segpendo.relay.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
