"""Provider API keys: validated, and never shown in a repr, a log line or an exception."""

from __future__ import annotations

import re

from .errors import InvalidApiKeyError

_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,1024}$")


class ApiKey:
    """A key whose every printable form is masked; ``reveal()`` is the one way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str | ApiKey) -> None:
        if isinstance(value, ApiKey):
            value = value.reveal()
        if not isinstance(value, str):
            raise InvalidApiKeyError(f"an API key must be a string, got {type(value).__name__}")
        if not _VALID_KEY.fullmatch(value):
            raise InvalidApiKeyError(
                "malformed API key: a key is 1 to 1024 printable ASCII characters with no spaces "
                "or line breaks (check for whitespace copied along with the key)"
            )
        self._value = value

    def reveal(self) -> str:
        return self._value

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of the key replaced by ``***``."""
        return text.replace(self._value, "***")

    def __repr__(self) -> str:
        return "ApiKey('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("API keys are not pickled")
