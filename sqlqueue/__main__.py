"""``python -m sqlqueue`` runs the command-line interface."""

from __future__ import annotations

import sys

from sqlqueue.cli import main

sys.exit(main())
