"""``DATABASES`` entries -> psycopg connection parameters, and their validation."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

import dorm
from dorm.exceptions import ImproperlyConfigured
from dorm_postgres.settings import POOL_DEFAULTS, parse_settings


def settings(**entry: Any) -> dict[str, Any]:
    return {"ENGINE": "postgresql", "NAME": "", "OPTIONS": {}, "CONN_MAX_AGE": 0, **entry}


def test_keys_build_the_conninfo() -> None:
    pg = parse_settings(
        settings(NAME="app", USER="bob", PASSWORD="s3cret", HOST="db.local", PORT=6543),
        "default",
    )
    assert conninfo_to_dict(pg.conninfo) == {
        "dbname": "app",
        "user": "bob",
        "password": "s3cret",
        "host": "db.local",
        "port": "6543",
    }
    assert "s3cret" not in pg.describe()
    assert pg.describe() == "app at db.local:6543"


def test_keys_override_the_dsn() -> None:
    pg = parse_settings(
        settings(NAME="other", OPTIONS={"conninfo": "postgresql://u@h:5432/base?sslmode=require"}),
        "default",
    )
    params = conninfo_to_dict(pg.conninfo)
    assert params["dbname"] == "other"
    assert params["user"] == "u" and params["host"] == "h" and params["sslmode"] == "require"
    # "dsn" is accepted as the same thing.
    assert parse_settings(settings(OPTIONS={"dsn": "dbname=x"}), "a").params["dbname"] == "x"


def test_other_options_are_libpq_parameters() -> None:
    pg = parse_settings(
        settings(NAME="x", OPTIONS={"application_name": "svc", "connect_timeout": 3}), "default"
    )
    params = conninfo_to_dict(pg.conninfo)
    assert params["application_name"] == "svc" and params["connect_timeout"] == "3"


def test_unknown_option_is_reported() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        parse_settings(settings(NAME="x", OPTIONS={"sslmood": "on"}), "main")
    message = str(info.value)
    assert "'main'" in message and "sslmood" in message and "libpq" in message


def test_dorm_options_and_defaults() -> None:
    pg = parse_settings(settings(NAME="x"), "default")
    assert pg.pool is None
    assert pg.prepare_threshold == 5
    assert pg.server_side_cursors is True
    assert pg.isolation_level is None
    assert pg.max_age is None
    pg = parse_settings(
        settings(
            NAME="x",
            CONN_MAX_AGE=120,
            OPTIONS={
                "prepare_threshold": None,
                "isolation_level": "SERIALIZABLE",
                "server_side_cursors": False,
                "circuit_breaker": {"failure_threshold": 3},  # read by dorm-resilience
            },
        ),
        "default",
    )
    assert pg.prepare_threshold is None
    assert pg.isolation_level == "serializable"
    assert pg.server_side_cursors is False
    assert pg.max_age == 120.0
    assert "circuit_breaker" not in pg.conninfo


def test_pool_options() -> None:
    pg = parse_settings(settings(NAME="x", OPTIONS={"pool": {"max_size": 20}}), "default")
    assert pg.pool == {**POOL_DEFAULTS, "max_size": 20}
    pg = parse_settings(settings(NAME="x", CONN_MAX_AGE=60, OPTIONS={"pool": True}), "default")
    assert pg.pool == {**POOL_DEFAULTS, "max_lifetime": 60.0}


@pytest.mark.parametrize(
    ("pool", "fragment"),
    [
        ({"max_size": 0}, "max_size >= 1"),
        ({"min_size": 5, "max_size": 2}, "min_size <= max_size"),
        ({"timeout": 0}, "timeout"),
        ({"max_size": "many"}, "must be numbers"),
        ({"maxsize": 3}, "Unknown pool options ['maxsize']"),
        (10, "must be a dict"),
    ],
)
def test_bad_pool_options(pool: Any, fragment: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=None) as info:
        parse_settings(settings(NAME="x", OPTIONS={"pool": pool}), "default")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"isolation_level": "chaotic"}, "isolation_level"),
        ({"prepare_threshold": -1}, "prepare_threshold"),
    ],
)
def test_bad_dorm_options(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        parse_settings(settings(NAME="x", OPTIONS=options), "default")
    assert fragment in str(info.value)


def test_bad_conn_max_age() -> None:
    with pytest.raises(ImproperlyConfigured, match="CONN_MAX_AGE"):
        parse_settings(settings(NAME="x", CONN_MAX_AGE="soon"), "default")


def test_session_time_zone_follows_use_tz() -> None:
    dorm.configure(DATABASES={"default": settings(NAME="x")})
    assert parse_settings(settings(NAME="x"), "default").time_zone == "UTC"
    dorm.configure(
        DATABASES={"default": settings(NAME="x")}, USE_TZ=False, TIME_ZONE="Europe/Paris"
    )
    try:
        assert parse_settings(settings(NAME="x"), "default").time_zone == "Europe/Paris"
        assert (
            parse_settings(settings(NAME="x", TIME_ZONE="Asia/Tokyo"), "default").time_zone
            == "Asia/Tokyo"
        )
    finally:
        dorm.configure(DATABASES={"default": settings(NAME="x")})


def test_wrappers_validate_at_construction() -> None:
    from dorm.db import connections

    dorm.configure(DATABASES={"default": settings(NAME="x", OPTIONS={"pool": "yes"})})
    with pytest.raises(ImproperlyConfigured, match="must be a dict"):
        connections["default"]
