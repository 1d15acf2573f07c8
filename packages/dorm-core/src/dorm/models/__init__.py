"""Models, fields, managers and the query-building vocabulary."""

from dorm.expressions import (
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OrderBy,
    OuterRef,
    RawSQL,
    RowRange,
    Subquery,
    Value,
    ValueRange,
    Window,
    WindowFrame,
)
from dorm.models.aggregates import Aggregate, Avg, Count, Max, Min, StdDev, Sum, Variance
from dorm.models.base import Model
from dorm.models.constraints import CheckConstraint, Index, UniqueConstraint
from dorm.models.fields import *  # noqa: F403
from dorm.models.fields import __all__ as _fields_all
from dorm.models.functions import *  # noqa: F403
from dorm.models.functions import __all__ as _functions_all
from dorm.models.lookups import Lookup, Transform
from dorm.models.manager import BaseManager, Manager
from dorm.models.prefetch import Prefetch, aprefetch_related_objects, prefetch_related_objects
from dorm.models.query_utils import Q
from dorm.models.related import (
    CASCADE,
    DO_NOTHING,
    PROTECT,
    RESTRICT,
    SET,
    SET_DEFAULT,
    SET_NULL,
    ForeignKey,
    ManyToManyField,
    OneToOneField,
)
from dorm.query import QuerySet, RawQuerySet

__all__ = [
    *_fields_all,
    *_functions_all,
    "Exists",
    "ExpressionWrapper",
    "OuterRef",
    "RowRange",
    "Subquery",
    "ValueRange",
    "Window",
    "WindowFrame",
    "CASCADE",
    "DO_NOTHING",
    "PROTECT",
    "RESTRICT",
    "SET",
    "SET_DEFAULT",
    "SET_NULL",
    "ForeignKey",
    "ManyToManyField",
    "OneToOneField",
    "Prefetch",
    "aprefetch_related_objects",
    "prefetch_related_objects",
    "Aggregate",
    "Avg",
    "BaseManager",
    "CheckConstraint",
    "Count",
    "F",
    "Func",
    "Index",
    "Lookup",
    "Manager",
    "Max",
    "Min",
    "Model",
    "OrderBy",
    "Q",
    "QuerySet",
    "RawQuerySet",
    "RawSQL",
    "StdDev",
    "Sum",
    "Transform",
    "UniqueConstraint",
    "Value",
    "Variance",
]
