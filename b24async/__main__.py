"""``python -m b24async``: the command-line interface (see :mod:`b24async.cli`)."""

import sys

from b24async.cli import main

if __name__ == "__main__":
    sys.exit(main())
