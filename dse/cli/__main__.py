"""``python -m dse.cli``: the command line as a module."""

import sys

from dse.cli import main

sys.exit(main())
