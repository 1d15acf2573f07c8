"""``ArrayField`` without a server: conversion, validation, deconstruction."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import dorm
from dorm.exceptions import FieldError, ValidationError
from dorm_postgres.fields import ArrayField


def field(base: Any, **kwargs: Any) -> ArrayField:
    f = ArrayField(base, **kwargs)
    f.set_attributes_from_name("values")
    return f


def test_types(pg: Any) -> None:
    assert field(dorm.IntegerField()).db_type(pg) == "integer[]"
    assert field(dorm.CharField(max_length=5), size=3).db_type(pg) == "varchar(5)[3]"
    assert field(field(dorm.IntegerField())).db_type(pg) == "integer[][]"
    assert field(dorm.UUIDField()).cast_db_type(pg) == "uuid[]"


def test_values_go_through_the_base_field(pg: Any) -> None:
    f = field(dorm.UUIDField())
    u = uuid.uuid4()
    assert f.get_db_prep_value([str(u), None], pg) == [u, None]
    j = field(dorm.JSONField())
    assert j.get_db_prep_value([{"a": 1}], pg) == ['{"a": 1}']
    assert [conv([' "x" ', "[1]"]) for conv in j.get_db_converters(pg)] == [["x", [1]]]
    assert field(dorm.IntegerField()).get_db_converters(pg) == []  # nothing to convert
    with pytest.raises(TypeError):
        f.get_prep_value("not a list")


def test_validation() -> None:
    f = field(dorm.IntegerField(), size=2)
    assert f.clean([1, "2"], None) == [1, 2]
    with pytest.raises(ValidationError, match="no more than 2"):
        f.clean([1, 2, 3], None)
    with pytest.raises(ValidationError, match="Item 2"):
        f.clean([1, "x"], None)
    with pytest.raises(ValidationError, match="not a list"):
        f.clean(5, None)


def test_deconstruct_and_clone() -> None:
    f = field(dorm.CharField(max_length=7), size=3, default=list)
    _name, path, _args, kwargs = f.deconstruct()
    assert path == "dorm_postgres.fields.ArrayField"
    assert kwargs["size"] == 3 and kwargs["default"] is list
    assert kwargs["base_field"].max_length == 7
    clone = f.clone()
    assert isinstance(clone, ArrayField) and clone.size == 3


def test_bad_definitions() -> None:
    with pytest.raises(FieldError):
        ArrayField("text")  # type: ignore[arg-type]
    with pytest.raises(FieldError):
        ArrayField(dorm.IntegerField(), size=0)
