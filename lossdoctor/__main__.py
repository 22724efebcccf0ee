"""`python -m lossdoctor` is the `lossdoctor` command."""

import sys

from .cli import main

sys.exit(main())
