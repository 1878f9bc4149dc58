"""`python -m cli ...` runs the `tinmen` command line."""

import sys

from cli.main import main

sys.exit(main())
