"""``python -m callcenter``: the same as the ``callcenter`` console script."""

import sys

from callcenter.cli import main

if __name__ == "__main__":
    sys.exit(main())
