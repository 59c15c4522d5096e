"""``python -m crosswire.cli``: the same as the ``crosswire`` command."""

from crosswire.cli import main

raise SystemExit(main())
