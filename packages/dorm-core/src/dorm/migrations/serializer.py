"""Turn values (fields, indexes, constraints, expressions, defaults) into Python source.

``serialize(value)`` returns ``(code, imports)``: an expression that rebuilds ``value``
and the import lines it needs. The autodetector also compares definitions through it: two
fields are the same when they serialize to the same code.
"""

from __future__ import annotations

import collections.abc
import datetime
import decimal
import enum
import functools
import math
import types
import uuid
from typing import Any

from dorm.migrations.exceptions import MigrationError

Result = tuple[str, set[str]]


def _dorm_name(obj: Any) -> str | None:
    """``"dorm.X"`` when ``obj`` is exported from the top-level ``dorm`` package."""
    name = getattr(obj, "__name__", None)
    if not name:
        return None
    import dorm

    if getattr(dorm, name, None) is obj:
        return f"dorm.{name}"
    return None


def _path_import(path: str) -> Result:
    """``"pkg.mod.Name"`` -> (``"pkg.mod.Name"``, ``{"import pkg.mod"}``)."""
    module, _, _name = path.rpartition(".")
    if not module:
        return path, set()
    if module == "dorm" or module.startswith("dorm.models"):
        return "dorm." + path.rpartition(".")[2], {"import dorm"}
    if module.startswith("dorm.migrations.operations") or module == "dorm.migrations":
        return "migrations." + path.rpartition(".")[2], {"from dorm import migrations"}
    return path, {f"import {module}"}


def _call(path: str, args: Any, kwargs: dict[str, Any]) -> Result:
    name, imports = _path_import(path)
    parts = []
    for arg in args:
        code, imp = serialize(arg)
        parts.append(code)
        imports |= imp
    for key, value in kwargs.items():
        code, imp = serialize(value)
        parts.append(f"{key}={code}")
        imports |= imp
    return f"{name}({', '.join(parts)})", imports


def _qualified(obj: Any, kind: str) -> Result:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if module == "builtins" and qualname:
        return qualname, set()
    dorm_name = _dorm_name(obj)
    if dorm_name:
        return dorm_name, {"import dorm"}
    if not module or not qualname or "<" in qualname:
        raise MigrationError(
            f"Cannot serialize the {kind} {obj!r}: migrations can only refer to {kind}s by "
            "import path, so it must be defined at module level (not a lambda or a nested "
            "function)."
        )
    if module == "__main__":
        raise MigrationError(f"Cannot serialize {obj!r}: it is defined in __main__.")
    if module.startswith("dorm.migrations"):
        return f"migrations.{qualname}", {"from dorm import migrations"}
    return f"{module}.{qualname}", {f"import {module}"}


def _sequence(items: Any, open_: str, close: str, single_comma: bool = False) -> Result:
    imports: set[str] = set()
    parts = []
    for item in items:
        code, imp = serialize(item)
        parts.append(code)
        imports |= imp
    if single_comma and len(parts) == 1:
        return f"{open_}{parts[0]},{close}", imports
    return f"{open_}{', '.join(parts)}{close}", imports


def _expression(value: Any) -> Result | None:
    from dorm.expressions import CombinedExpression, F, Func, Value
    from dorm.models.query_utils import Q

    if isinstance(value, Q):
        kwargs: dict[str, Any] = {}
        if value.connector != Q.AND:
            kwargs["_connector"] = value.connector
        if value.negated:
            kwargs["_negated"] = True
        return _call("dorm.Q", list(value.children), kwargs)
    if isinstance(value, F):
        return _call("dorm.F", [value.name], {})
    if isinstance(value, Value):
        kwargs = {}
        if "_output_field" in value.__dict__:
            kwargs["output_field"] = value.__dict__["_output_field"]
        return _call("dorm.Value", [value.value], kwargs)
    if isinstance(value, CombinedExpression):
        return _call(
            "dorm.expressions.CombinedExpression", [value.lhs, value.connector, value.rhs], {}
        )
    if isinstance(value, Func):
        cls = type(value)
        path = _dorm_name(cls) or f"{cls.__module__}.{cls.__qualname__}"
        kwargs = dict(value.extra)
        if "_output_field" in value.__dict__:
            kwargs["output_field"] = value.__dict__["_output_field"]
        return _call(path, list(value.source_expressions), kwargs)
    return None


def _validator(value: Any) -> Result | None:
    from dorm import validators as v

    cls = type(value)
    path = f"dorm.validators.{cls.__name__}"
    if getattr(v, cls.__name__, None) is not cls:
        return None
    if isinstance(value, v._LimitValidator):
        kwargs = {}
        if "message" in value.__dict__:
            kwargs["message"] = value.message
        return _call(path, [value.limit_value], kwargs)
    if isinstance(value, v.RegexValidator):
        kwargs = {}
        for attr in ("regex", "message", "code", "inverse_match", "flags"):
            if attr in value.__dict__ and value.__dict__[attr] != getattr(cls, attr):
                kwargs[attr] = value.__dict__[attr]
        return _call(path, [], kwargs)
    return None


def _quoted(value: str | bytes) -> str:
    """repr() with double quotes where that needs no escaping (the style of the files)."""
    code = repr(value)
    prefix = "b" if isinstance(value, bytes) else ""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if code.startswith(prefix + "'") and '"' not in text and "'" not in text:
        return f'{prefix}"{code[len(prefix) + 1 : -1]}"'
    return code


def serialize(value: Any) -> Result:
    """``(code, imports)`` rebuilding ``value``; raises MigrationError when impossible."""
    # Plain values --------------------------------------------------------------------
    if isinstance(value, (str, bytes)) and not isinstance(value, enum.Enum):
        return _quoted(value), set()
    if value is None or (isinstance(value, (bool, int)) and not isinstance(value, enum.Enum)):
        return repr(value), set()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f'float("{value}")', set()
        return repr(value), set()
    if isinstance(value, decimal.Decimal):
        return f'decimal.Decimal("{value}")', {"import decimal"}
    if isinstance(value, enum.Enum):
        cls = type(value)
        code, imports = _qualified(cls, "enum")
        return f"{code}[{value.name!r}]", imports
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
            base = repr(value.replace(tzinfo=None))[:-1]
            return f"{base}, tzinfo=datetime.timezone.utc)", {"import datetime"}
        return repr(value), {"import datetime"}
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        return repr(value), {"import datetime"}
    if isinstance(value, uuid.UUID):
        return f"uuid.UUID({str(value)!r})", {"import uuid"}
    # Containers ----------------------------------------------------------------------
    if isinstance(value, list):
        return _sequence(value, "[", "]")
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return _sequence(value, "(", ")", single_comma=True)
    if isinstance(value, (set, frozenset)):
        if not value:
            return ("set()" if isinstance(value, set) else "frozenset()"), set()
        code, imports = _sequence(sorted(value, key=repr), "{", "}")
        return (code if isinstance(value, set) else f"frozenset({code})"), imports
    if isinstance(value, dict):
        imports = set()
        parts = []
        for key, item in value.items():
            k, ki = serialize(key)
            i, ii = serialize(item)
            parts.append(f"{k}: {i}")
            imports |= ki | ii
        return "{" + ", ".join(parts) + "}", imports
    # dorm objects --------------------------------------------------------------------
    from dorm.models.fields import Field

    if isinstance(value, Field):
        _name, path, args, kwargs = value.deconstruct()
        return _call(path, args, kwargs)
    expression = _expression(value)
    if expression is not None:
        return expression
    validator = _validator(value)
    if validator is not None:
        return validator
    deconstruct = getattr(value, "deconstruct", None)
    if callable(deconstruct) and not isinstance(value, type):
        result = deconstruct()
        if isinstance(result, tuple) and len(result) == 3 and isinstance(result[0], str):
            path, args, kwargs = result
            return _call(path, list(args), dict(kwargs))
    # Callables and types ---------------------------------------------------------------
    if isinstance(value, functools.partial):
        code, imports = _call("functools.partial", [value.func, *value.args], value.keywords)
        return code, imports
    if isinstance(value, type):
        if hasattr(value, "_meta"):
            return repr(value._meta.label), set()
        return _qualified(value, "class")
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return _qualified(value, "function")
    if isinstance(value, collections.abc.Callable):  # type: ignore[arg-type]
        raise MigrationError(
            f"Cannot serialize {value!r}: callables in migrations must be module-level "
            "functions or classes."
        )
    raise MigrationError(
        f"Cannot serialize {value!r} ({type(value).__name__}) into a migration. Give its class "
        "a deconstruct() method returning (import path, args, kwargs)."
    )


def field_signature(field: Any, app_label: str, model_name: str | None = None) -> str:
    """A comparable definition of an unbound field: its code, with relation targets
    normalized to lower-case ``app.model`` labels (``"self"`` too, given ``model_name``)."""
    _name, path, args, kwargs = field.deconstruct()
    for key in ("to", "through"):
        target = kwargs.get(key)
        if isinstance(target, str):
            if target == "self":
                if model_name is None:
                    continue
                target = model_name
            if "." not in target:
                target = f"{app_label}.{target}"
            kwargs[key] = target.lower()
    return _call(path, args, kwargs)[0]
