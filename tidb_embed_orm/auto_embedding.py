"""``AutoEmbeddingVector``: a VECTOR column that TiDB fills from a text column with EMBED_TEXT."""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from typing import Any, NoReturn

from sqlalchemy import Column, Computed, String, bindparam, event
from sqlalchemy.sql.base import SchemaEventTarget
from sqlalchemy.sql.elements import ColumnElement

from .functions import EMBED_DISTANCES, EmbedText, SourceColumnRef
from .models import EmbeddingModel, resolve_dim
from .options import search_options_json, stored_options_json
from .vector import Vector


class FrozenOptions(dict):  # type: ignore[type-arg]
    """EMBED_TEXT's JSON options: a read-only, hashable dict (types must be cacheable)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("AutoEmbeddingVector options are read-only; declare a new type instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self.to_json())

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, separators=(",", ":"))


def _frozen_options(model: EmbeddingModel | None, dim: int, options: Mapping[str, Any] | None) -> FrozenOptions | None:
    merged: dict[str, Any] = {}
    if model is not None and dim != model.dim and model.dim_option:
        merged[model.dim_option] = dim
    if options:
        if not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict of EMBED_TEXT JSON options, got {type(options).__name__}")
        try:
            json.dumps(dict(options))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"options must be JSON-serialisable: {exc}") from None
        merged.update(options)
    return FrozenOptions(merged) if merged else None


class AutoEmbeddingVector(Vector, SchemaEventTarget):
    """``VECTOR(N) GENERATED ALWAYS AS (EMBED_TEXT('model', `source`[, 'options'])) STORED``.

    The dimension comes from the model registry (an explicit ``dim`` is checked against it).
    Attaching the type to a column makes the column computed, so the ORM and Core never write it.
    """

    cache_ok = True

    def __init__(
        self,
        model: str,
        source: str,
        *,
        dim: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        resolved_dim, entry = resolve_dim(model, dim)
        if not isinstance(source, str) or not source:
            raise TypeError(f"source must be the name of the text column to embed, got {source!r}")
        super().__init__(resolved_dim)
        self.model = model
        self.source = source
        self.options = _frozen_options(entry, resolved_dim, options)

    def adapt(self, cls: type[Any], **kw: Any) -> Any:
        # SQLAlchemy's generic copy only sees positional __init__ arguments; dim and options matter.
        if isinstance(cls, type) and issubclass(cls, AutoEmbeddingVector):
            return cls(self.model, self.source, dim=self.dim, options=self.options)
        return super().adapt(cls, **kw)

    def copy(self, **kw: Any) -> AutoEmbeddingVector:
        return self.adapt(self.__class__)  # type: ignore[no-any-return]

    @property
    def _static_cache_key(self) -> tuple[Any, ...]:  # type: ignore[override]
        return (self.__class__, self.model, self.source, self.dim, self.options_json)

    @property
    def options_json(self) -> str | None:
        """The options as declared (``@search`` keys included): the text of the generation expression."""
        return None if self.options is None else self.options.to_json()

    @property
    def stored_options_json(self) -> str | None:
        """The options a stored text is embedded with (``k@search`` keys dropped, as on TiDB)."""
        return stored_options_json(self.options_json)

    @property
    def search_options_json(self) -> str | None:
        """The options a query text is embedded with (``k@search`` replaces ``k``, as on TiDB)."""
        return search_options_json(self.options_json)

    def embed_text_expression(self, text: ColumnElement[Any]) -> EmbedText:
        return EmbedText(self.model, text, self.options_json)

    def embed_query_expression(self, text: ColumnElement[Any]) -> EmbedText:
        """EMBED_TEXT for a query text, as TiDB rewrites VEC_EMBED_*: the search options."""
        return EmbedText(self.model, text, self.search_options_json)

    def generation_expression(self) -> EmbedText:
        return self.embed_text_expression(SourceColumnRef(self.source))

    def _set_parent(self, parent: SchemaEventTarget, **kw: Any) -> None:
        if not isinstance(parent, Column):
            return
        if parent.computed is None:
            Computed(self.generation_expression(), persisted=True)._set_parent_with_dispatch(parent)
            # Column.__init__ assigns server_default after the type is set: attach again once the
            # column joins its table, so the ORM and Core see a server-generated column.
            event.listen(parent, "after_parent_attach", _reattach_computed)

    def text_distance(self, column: ColumnElement[Any], metric: str, text: str) -> ColumnElement[float]:
        return EMBED_DISTANCES[metric](column, bindparam(None, text, type_=String()))

    def __repr__(self) -> str:
        args = [repr(self.model), f"source={self.source!r}"]
        if self.options:
            args.append(f"options={dict(self.options)!r}")
        return f"AutoEmbeddingVector({', '.join(args)})"


def _reattach_computed(column: Column[Any], table: Any) -> None:
    if column.computed is not None and column.server_default is None:
        column.computed._set_parent(column)
    _TABLES.setdefault(str(table.name).lower(), weakref.WeakSet()).add(table)


#: Tables with an auto-embedding column, by lower-case name (raw SQL on them is checked in client mode).
_TABLES: dict[str, weakref.WeakSet[Any]] = {}


def tables_named(name: str) -> list[Any]:
    """The declared tables called ``name`` that have an auto-embedding column."""
    return list(_TABLES.get(name.lower(), ()))


def auto_embedding_columns(table: Any) -> list[tuple[Column[Any], Column[Any]]]:
    """Each auto-embedding column of ``table`` with its source column (``[]`` for non-tables)."""
    columns = getattr(table, "c", None)
    if columns is None:
        return []
    return [
        (column, columns[column.type.source])
        for column in columns
        if isinstance(column.type, AutoEmbeddingVector) and column.type.source in columns
    ]
