"""Bring-your-own-key: ``configure_provider(engine, "huggingface", key)``.

On TiDB Cloud this runs ``SET @@GLOBAL.TIDB_EXP_EMBED_<PROVIDER>_API_KEY = %s`` with the key as
a bound parameter, through the raw DBAPI cursor so that SQLAlchemy's echo and logging never see
it; a server error is re-raised with the key masked. On engines that embed on the client (the
embedded engine), the key is kept in the client, tied to that engine, for the embedders to use.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import Dialect

from .base_urls import check_url
from .catalog import PROVIDER_KEY_VARIABLES
from .embedding_mode import mode_of
from .exc import ProviderKeyError, UnknownProviderError
from .secrets import ApiKey

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@dataclass(frozen=True)
class ProviderCredentials:
    """A provider key kept in the client, and the endpoint to call (None: the provider's own).

    ``key`` is None where only a base URL was set (``SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_BASE``
    before the key, or a keyless OpenAI-compatible server on this machine).
    """

    key: ApiKey | None
    base_url: str | None = None


#: The one provider whose endpoint TiDB lets you change.
OPENAI_API_BASE_VARIABLE = "TIDB_EXP_EMBED_OPENAI_API_BASE"
_CLIENT_KEYS: weakref.WeakKeyDictionary[Dialect, dict[str, ProviderCredentials]] = weakref.WeakKeyDictionary()


def check_provider(provider: str) -> str:
    """Refuse a provider TiDB does not know, naming the ones it does."""
    if provider not in PROVIDER_KEY_VARIABLES:
        raise UnknownProviderError(
            f"unknown embedding provider {provider!r}; known providers: {', '.join(sorted(PROVIDER_KEY_VARIABLES))}"
        )
    if PROVIDER_KEY_VARIABLES[provider] is None:
        raise UnknownProviderError(f"provider {provider!r} is hosted by TiDB Cloud and takes no API key")
    return provider


@overload
def configure_provider(
    bind: Engine | Connection, provider: str, api_key: str | ApiKey, *, base_url: str | None = None
) -> None: ...


@overload
def configure_provider(
    bind: AsyncEngine | AsyncConnection, provider: str, api_key: str | ApiKey, *, base_url: str | None = None
) -> Awaitable[None]: ...


def configure_provider(
    bind: Engine | Connection | AsyncEngine | AsyncConnection,
    provider: str,
    api_key: str | ApiKey,
    *,
    base_url: str | None = None,
) -> Any:
    """Give ``provider`` its API key for the database behind ``bind``.

    ``base_url`` points client-side embedding at another endpoint (a dedicated Inference Endpoint,
    a proxy, a test server); TiDB itself only has such a setting for OpenAI.

    With an ``AsyncEngine`` or ``AsyncConnection``, ``await`` the result: on TiDB it runs the
    ``SET`` on the event loop like any other statement. Bad input raises before anything is awaited.
    """
    check_provider(provider)
    key = ApiKey(api_key)
    sync_engine = getattr(bind, "sync_engine", None)  # AsyncEngine / AsyncConnection
    dialect = bind.dialect if sync_engine is None else sync_engine.dialect
    if uses_client_embedding(dialect):
        store_client_key(dialect, provider, key, base_url)
        return None if sync_engine is None else _Done()
    if base_url is not None and provider != "openai":  # refuse before anything is set
        raise ProviderKeyError(f"TiDB has no base URL setting for {provider!r} (only for 'openai')")
    if sync_engine is not None:
        return _set_keys_async(bind, provider, key, base_url)
    with _connection(bind) as conn:  # type: ignore[arg-type]
        _set_keys(conn, provider, key, base_url)
    return None


def _set_keys(conn: Connection, provider: str, key: ApiKey, base_url: str | None) -> None:
    set_global(conn, PROVIDER_KEY_VARIABLES[provider], key, f"the {provider} API key")
    if base_url is not None:
        set_global(conn, OPENAI_API_BASE_VARIABLE, base_url, "the OpenAI base URL")


async def _set_keys_async(bind: Any, provider: str, key: ApiKey, base_url: str | None) -> None:
    if hasattr(bind, "run_sync"):  # AsyncConnection
        await bind.run_sync(_set_keys, provider, key, base_url)
        return
    async with bind.connect() as conn:
        await conn.run_sync(_set_keys, provider, key, base_url)


class _Done:
    """What ``await configure_provider(async_engine, ...)`` waits for when the key stays in the client."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


def uses_client_embedding(dialect: Dialect) -> bool:
    """True where the library, not the database, calls the embedding provider."""
    return mode_of(dialect).keys_in_client


def set_global(conn: Connection, variable: str | None, value: str | ApiKey, what: str) -> None:
    """``SET @@GLOBAL.<variable> = <bound value>`` through the raw DBAPI cursor, out of SQLAlchemy's logs.

    An ApiKey is masked in the error, since the driver's message may quote the value back.
    """
    secret = value if isinstance(value, ApiKey) else None
    placeholder = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    refused: str | None = None
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"SET @@GLOBAL.{variable} = {placeholder}", (secret.reveal() if secret else value,))
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        refused = secret.mask(message) if secret else message
    finally:
        cursor.close()
    if refused is not None:
        # Raised here, out of the except block: the driver's error (its args hold the statement's
        # parameters, the key) must not travel along as __context__ or __cause__.
        raise ProviderKeyError(
            f"the database refused {what} ({refused}); "
            "check that this is a TiDB Cloud Starter cluster and that the user may SET GLOBAL variables"
        )


def store_client_key(dialect: Dialect, provider: str, key: ApiKey, base_url: str | None = None) -> None:
    """Keep ``key`` (and ``base_url`` when given) for ``provider``; a base set earlier stays, as on TiDB."""
    if base_url is not None:
        base_url = _checked_base(provider, base_url, sends_key=True)
    keys = _CLIENT_KEYS.setdefault(dialect, {})
    previous = keys.get(provider)
    if base_url is None and previous is not None:
        base_url = previous.base_url
    keys[provider] = ProviderCredentials(key, base_url)
    _forget_embedders(dialect, provider)


def store_client_base(dialect: Dialect, provider: str, base_url: str) -> None:
    """``SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_BASE = '...'`` on an engine embedding on the client ('' resets it)."""
    base = _checked_base(provider, base_url, sends_key=False) if base_url.strip() else None
    keys = _CLIENT_KEYS.setdefault(dialect, {})
    previous = keys.get(provider)
    keys[provider] = ProviderCredentials(previous.key if previous else None, base)
    _forget_embedders(dialect, provider)


def _checked_base(provider: str, base_url: str, *, sends_key: bool) -> str:
    return check_url(
        f"the {provider} base URL", base_url, sends_key=sends_key, error=ProviderKeyError,
        example="https://api.openai.com/v1",
    )


def _forget_embedders(dialect: Dialect, provider: str) -> None:
    """Embedders made with the old key or base, and vectors from the old endpoint, are dropped."""
    service = getattr(dialect, "embedding_service", None)
    if service is not None:
        service.forget_provider(provider)


def client_credentials(dialect: Dialect, provider: str) -> ProviderCredentials | None:
    """What ``configure_provider`` left for ``provider`` on an engine that embeds on the client."""
    return _CLIENT_KEYS.get(dialect, {}).get(provider)


def client_key(dialect: Dialect, provider: str) -> ApiKey | None:
    """The key kept for client-side embedding on engines of ``dialect`` for ``provider``, if any."""
    credentials = client_credentials(dialect, provider)
    return None if credentials is None else credentials.key


@contextmanager
def _connection(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


