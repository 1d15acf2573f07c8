"""Query representation (``dorm.sql.query``) and SQL compilation (``dorm.sql.compiler``)."""
