"""``python -m dorm_bench`` is ``python -m dorm_bench.compare``."""

from __future__ import annotations

import sys

from dorm_bench.compare import main

sys.exit(main())
