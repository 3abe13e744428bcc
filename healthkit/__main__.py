"""``python -m healthkit``: the command line (healthkit._cli)."""

import sys

from ._cli import main

sys.exit(main())
