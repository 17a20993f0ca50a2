"""``python -m tensorserve.webapp``: run the web app without the main CLI."""

import sys

from tensorserve.webapp.cli import main

sys.exit(main())
