"""dorm-bench: dorm vs Django ORM vs SQLAlchemy vs Tortoise ORM, against the raw driver.

Run it with ``python -m dorm_bench.compare`` (or the ``dorm-bench`` command); see
:mod:`dorm_bench.compare` for the options.
"""

from __future__ import annotations

__version__ = "0.1.0"
