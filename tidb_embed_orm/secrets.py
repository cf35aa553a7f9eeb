"""Provider API keys: validated, and never shown in a repr, a log line or an exception."""

from __future__ import annotations

import re

from .exc import InvalidApiKeyError

_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,1024}$")
#: A run of this many characters of a key, found anywhere, is masked: servers echo keys truncated.
MIN_ECHOED_RUN = 8


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
        """The key itself: only for the one place that must send it (a SET or an Authorization header)."""
        return self._value

    def mask(self, text: str) -> str:
        """``text`` with the key, and every run of 8+ of its characters, replaced by ``***``.

        A server may quote the key back cut short ("can't be set to the value of 'hf_abc...'"),
        or only its middle: any long enough piece of it is masked, wherever it starts.
        """
        return mask_runs(text, self._value)

    def __repr__(self) -> str:
        return "ApiKey('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("API keys are not pickled")


def mask_runs(text: str, key: str) -> str:
    """``text`` with ``key``, and every run of 8+ of its characters, replaced by ``***`` (see ApiKey.mask)."""
    if not key:
        return text
    if len(key) < MIN_ECHOED_RUN:
        return text.replace(key, "***")
    out, i = [], 0
    while i < len(text):
        end = i + MIN_ECHOED_RUN
        if end <= len(text) and text[i:end] in key:
            while end < len(text) and text[i : end + 1] in key:
                end += 1
            out.append("***")
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def shown_url(url: str) -> str:
    """``url`` as it may be printed: credentials in its userinfo (``https://user:KEY@host``) become ``***``.

    A base URL is echoed by errors and reprs (which server was called); a password or token pasted
    into it must not travel along, as a key never does.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{slash}{path}"
