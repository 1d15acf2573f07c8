"""``python -m dorm``: the ``dorm`` command line."""

from dorm.cli import main

raise SystemExit(main())
