"""`python -m timbrespace.cli …`, the same as the `timbrespace` command."""

import sys

from timbrespace.cli import main

sys.exit(main())
