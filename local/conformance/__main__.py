"""``python -m local.conformance``: the probe as a command."""

import sys

from local.conformance.doctor import main

sys.exit(main())
