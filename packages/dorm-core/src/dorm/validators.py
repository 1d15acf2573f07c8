"""Validators run by ``Field.clean`` / ``Model.full_clean``."""

from __future__ import annotations

import decimal
import re
from typing import Any
from urllib.parse import urlsplit

from dorm.exceptions import ValidationError


class RegexValidator:
    regex = ""
    message = "Enter a valid value."
    code = "invalid"
    inverse_match = False
    flags = 0

    def __init__(
        self,
        regex: str | None = None,
        message: str | None = None,
        code: str | None = None,
        inverse_match: bool | None = None,
        flags: int | None = None,
    ) -> None:
        if regex is not None:
            self.regex = regex
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if inverse_match is not None:
            self.inverse_match = inverse_match
        if flags is not None:
            self.flags = flags
        self._compiled = re.compile(self.regex, self.flags)

    def __call__(self, value: Any) -> None:
        matched = bool(self._compiled.search(str(value)))
        if matched == self.inverse_match:
            raise ValidationError(self.message, code=self.code, params={"value": value})

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RegexValidator)
            and self.regex == other.regex
            and self.message == other.message
            and self.inverse_match == other.inverse_match
        )

    def __hash__(self) -> int:
        return hash((self.regex, self.message))


class EmailValidator(RegexValidator):
    regex = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    message = "Enter a valid email address."


class URLValidator:
    message = "Enter a valid URL."
    schemes = ("http", "https", "ftp", "ftps")

    def __call__(self, value: Any) -> None:
        try:
            parts = urlsplit(str(value))
        except ValueError:
            raise ValidationError(self.message, code="invalid") from None
        if parts.scheme.lower() not in self.schemes or not parts.netloc or " " in str(value):
            raise ValidationError(self.message, code="invalid", params={"value": value})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URLValidator)

    def __hash__(self) -> int:
        return hash(URLValidator)


validate_email = EmailValidator()
validate_slug = RegexValidator(
    r"^[-a-zA-Z0-9_]+\Z",
    "Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.",
)


class _LimitValidator:
    message = ""
    code = ""

    def __init__(self, limit_value: Any, message: str | None = None) -> None:
        self.limit_value = limit_value
        if message is not None:
            self.message = message

    def compare(self, value: Any, limit: Any) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement compare().")

    def clean(self, value: Any) -> Any:
        return value

    def __call__(self, value: Any) -> None:
        cleaned = self.clean(value)
        if self.compare(cleaned, self.limit_value):
            raise ValidationError(
                self.message,
                code=self.code,
                params={"limit_value": self.limit_value, "show_value": cleaned, "value": value},
            )

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.limit_value == other.limit_value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.limit_value))


class MaxValueValidator(_LimitValidator):
    message = "Ensure this value is less than or equal to %(limit_value)s."
    code = "max_value"

    def compare(self, value: Any, limit: Any) -> bool:
        return bool(value > limit)


class MinValueValidator(_LimitValidator):
    message = "Ensure this value is greater than or equal to %(limit_value)s."
    code = "min_value"

    def compare(self, value: Any, limit: Any) -> bool:
        return bool(value < limit)


class MaxLengthValidator(_LimitValidator):
    message = "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d)."
    code = "max_length"

    def compare(self, value: Any, limit: Any) -> bool:
        return bool(value > limit)

    def clean(self, value: Any) -> Any:
        return len(value)


class MinLengthValidator(_LimitValidator):
    message = "Ensure this value has at least %(limit_value)d characters (it has %(show_value)d)."
    code = "min_length"

    def compare(self, value: Any, limit: Any) -> bool:
        return bool(value < limit)

    def clean(self, value: Any) -> Any:
        return len(value)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


class DecimalValidator:
    def __init__(self, max_digits: int | None, decimal_places: int | None) -> None:
        self.max_digits = max_digits
        self.decimal_places = decimal_places

    def __call__(self, value: decimal.Decimal) -> None:
        if not value.is_finite():
            raise ValidationError("Enter a number.", code="invalid")
        _sign, digit_tuple, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        if exponent >= 0:
            digits = len(digit_tuple) + exponent
            decimals = 0
        else:
            if abs(exponent) > len(digit_tuple):
                digits = decimals = abs(exponent)
            else:
                digits = len(digit_tuple)
                decimals = abs(exponent)
        whole = digits - decimals
        if self.max_digits is not None and digits > self.max_digits:
            raise ValidationError(
                f"Ensure that there are no more than {self.max_digits} "
                f"{_plural(self.max_digits, 'digit')} in total.",
                code="max_digits",
            )
        if self.decimal_places is not None and decimals > self.decimal_places:
            raise ValidationError(
                f"Ensure that there are no more than {self.decimal_places} "
                f"{_plural(self.decimal_places, 'decimal place')}.",
                code="max_decimal_places",
            )
        if (
            self.max_digits is not None
            and self.decimal_places is not None
            and whole > (self.max_digits - self.decimal_places)
        ):
            whole_max = self.max_digits - self.decimal_places
            raise ValidationError(
                f"Ensure that there are no more than {whole_max} "
                f"{_plural(whole_max, 'digit')} before the decimal point.",
                code="max_whole_digits",
            )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DecimalValidator)
            and self.max_digits == other.max_digits
            and self.decimal_places == other.decimal_places
        )

    def __hash__(self) -> int:
        return hash((self.max_digits, self.decimal_places))
