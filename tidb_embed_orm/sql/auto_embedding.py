"""``AutoEmbeddingVector``: a VECTOR column that TiDB fills from a text column with EMBED_TEXT."""

from __future__ import annotations

import difflib
import json
import math
import weakref
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Column, Computed, String, Table, bindparam, event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql.base import SchemaEventTarget
from sqlalchemy.sql.compiler import DDLCompiler
from sqlalchemy.sql.elements import ColumnElement

from ..catalog import (
    SIZE_OPTION_KEYS,
    EmbeddingModel,
    get_model_or_none,
    normalize_model_name,
    parse_model_name,
    requested_sizes,
    resolve_dim,
)
from ..exc import DimensionError, InvalidOptionsError, SourceColumnError
from ..options import EmbedOptions, ProviderOptions, json_of
from .elements import EMBED_DISTANCES, EmbedText, SourceColumnRef
from .provider_options import check_provider_options, with_provider_defaults
from .vector import Vector

#: EMBED_TEXT option keys that ask a provider for another output size (the registry's dim_option values).
DIMENSION_OPTION_KEYS = SIZE_OPTION_KEYS


def normalized_options(options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``options`` as the JSON object EMBED_TEXT stores: string keys, finite numbers, JSON values only.

    Returned as ``json.loads(json.dumps(options))``, so what is compared, cached and reflected back is
    exactly what the database keeps (tuples become lists).
    """
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise InvalidOptionsError(
            f"options must be a dict of EMBED_TEXT JSON options (a JSON object), got {type(options).__name__}"
        )
    _check_json(options, "options")
    return json.loads(json.dumps(dict(options), allow_nan=False))  # type: ignore[no-any-return]


def _check_json(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidOptionsError(
                    f"{path} has the key {key!r} ({type(key).__name__}): JSON object keys must be strings"
                )
            _check_encodable(key, f"a key of {path}")
            _check_json(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
    elif isinstance(value, str):
        _check_encodable(value, path)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidOptionsError(f"{path} is {value!r}: JSON numbers must be finite (no NaN or Infinity)")
    elif value is not None and not isinstance(value, (str, int, bool)):
        raise InvalidOptionsError(
            f"{path} is a {type(value).__name__}: options must be JSON values "
            "(dict with string keys, list, str, int, finite float, bool, None)"
        )


def _check_encodable(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidOptionsError(
            f"{path} holds a lone surrogate ({text!r}): it is not text a database can store (not valid UTF-8)"
        ) from None


def _dimension_in_options(
    model: str, entry: EmbeddingModel | None, dim: int | None, options: dict[str, Any] | None
) -> int | None:
    """The column dimension, reconciled with a size asked for in ``options`` (or a refusal).

    Sizes are found at the top level (``dimensions``, ``output_dimension``, ``output_dimensionality``)
    and nested where a provider's docs put them (Gemini's ``embedding_config.output_dimensionality``).
    """
    for key, value in requested_sizes(entry, options):
        if isinstance(value, bool) or not isinstance(value, int):
            raise DimensionError(f"options[{key!r}] must be an int number of dimensions, got {value!r}")
        if entry is not None and key not in entry.dim_paths:
            if value == (dim if dim is not None else entry.dim):
                continue  # says what the column has anyway
            expected = f"use the {entry.dim_option!r} option or dim=N" if entry.dim_option else "its size is fixed"
            raise DimensionError(
                f"options[{key!r}]={value} asks {model!r} for another size, but that model does not take "
                f"{key!r} ({expected}): the column would be VECTOR({dim or entry.dim}) holding other vectors"
            )
        if dim is None:
            if entry is None:
                continue  # resolve_dim says that an unregistered model needs dim=N
            dim = value  # the size the options ask for becomes the column's, checked by resolve_dim
        elif dim != value:
            raise DimensionError(
                f"options[{key!r}]={value} contradicts the column's dimension {dim}: the column would be "
                f"VECTOR({dim}) and store {value}-dimensional vectors; pass dim={value} or drop the option"
            )
    return dim


def _frozen_options(model: EmbeddingModel | None, dim: int, options: dict[str, Any] | None) -> EmbedOptions | None:
    merged: dict[str, Any] = {}
    if model is not None and dim != model.dim and model.dim_option and not requested_sizes(model, options):
        merged[model.dim_option] = dim
    if options:
        merged.update(options)
    return EmbedOptions(merged) if merged else None


class AutoEmbeddingVector(Vector, SchemaEventTarget):
    """``VECTOR(N) GENERATED ALWAYS AS (EMBED_TEXT('model', `source`[, 'options'])) STORED``.

    The dimension comes from the model registry (an explicit ``dim`` is checked against it).
    Attaching the type to a column makes the column computed, so the ORM and Core never write it.
    """

    cache_ok = True
    #: True for a type read back from a database: a broken table there must stay inspectable.
    from_database = False

    def __init__(
        self,
        model: str,
        source: str,
        *,
        dim: int | None = None,
        options: Mapping[str, Any] | None = None,
        provider_defaults: bool = True,
    ) -> None:
        """``provider_defaults=False`` keeps the options exactly as given (a type read back from a database).

        Otherwise the options the provider's docs say a column needs are added when absent
        (Cohere's ``input_type`` / ``input_type@search``, Jina's ``task``, Gemini's ``task_type``,
        NIM's ``input_type``), and options a provider is known to reject or ignore are refused or
        warned about here, at declaration (see ``sql/provider_options.py``).
        """
        if not isinstance(source, str) or not source:
            raise TypeError(f"source must be the name of the text column to embed, got {source!r}")
        model = normalize_model_name(model)
        parse_model_name(model)
        plain_options = normalized_options(options)
        if provider_defaults:
            check_provider_options(model, plain_options)
            plain_options = with_provider_defaults(model, plain_options)
        dim = _dimension_in_options(model, get_model_or_none(model), dim, plain_options)
        resolved_dim, entry = resolve_dim(model, dim)
        super().__init__(resolved_dim)
        self.model = model
        self.source = source
        self.options = _frozen_options(entry, resolved_dim, plain_options)

    def adapt(self, cls: type[Any], **kw: Any) -> Any:
        # SQLAlchemy's generic copy only sees positional __init__ arguments; dim and options matter.
        if isinstance(cls, type) and issubclass(cls, AutoEmbeddingVector):
            adapted = cls(self.model, self.source, dim=self.dim, options=self.options, provider_defaults=False)
            adapted.reads_lists = self.reads_lists
            return adapted
        return super().adapt(cls, **kw)

    def copy(self, **kw: Any) -> AutoEmbeddingVector:
        """A copy with the same model, source, dimension and options."""
        return self.adapt(self.__class__)  # type: ignore[no-any-return]

    @property
    def _static_cache_key(self) -> tuple[Any, ...]:  # type: ignore[override]
        return (self.__class__, self.model, self.source, self.dim, self.options_json)

    @property
    def options_json(self) -> str | None:
        """The options as declared (``@search`` keys included): the text of the generation expression."""
        return None if self.options is None else self.options.json

    def stored_options(self) -> ProviderOptions | None:
        """What a provider is given with this column's stored texts (``k@search`` keys dropped, as on TiDB)."""
        return None if self.options is None else self.options.stored()

    def search_options(self) -> ProviderOptions | None:
        """What a provider is given with a query text for this column (``k@search`` replaces ``k``, as on TiDB)."""
        return None if self.options is None else self.options.search()

    def embed_query_expression(self, text: ColumnElement[Any]) -> EmbedText:
        """EMBED_TEXT of a query text, as TiDB rewrites VEC_EMBED_*: the column's search options.

        The one way to build a query's EMBED_TEXT (scan, vector index and hybrid search alike).
        """
        return EmbedText(self.model, text, json_of(self.search_options()))

    def generation_expression(self) -> EmbedText:
        """``EMBED_TEXT('model', `source`[, 'options'])``: the column's generated-column expression."""
        return EmbedText(self.model, SourceColumnRef(self.source), self.options_json)

    def _set_parent(self, parent: SchemaEventTarget, **kw: Any) -> None:
        super()._set_parent(parent, **kw)
        if not isinstance(parent, Column):
            return
        if parent.computed is None:
            Computed(self.generation_expression(), persisted=True)._set_parent_with_dispatch(parent)
            # Column.__init__ assigns server_default after the type is set: attach again once the
            # column joins its table, so the ORM and Core see a server-generated column.
            event.listen(parent, "after_parent_attach", _reattach_computed)

    def text_distance(self, column: ColumnElement[Any], metric: str, text: str) -> ColumnElement[float]:
        """``VEC_EMBED_<METRIC>_DISTANCE(column, text)``: TiDB embeds the bound text with the column's model."""
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


def declared_table_names() -> list[str]:
    """The lower-case names of the declared tables that have an auto-embedding column."""
    return [name for name, tables in list(_TABLES.items()) if len(tables)]


def tables_named(name: str) -> list[Any]:
    """The declared tables called ``name`` that have an auto-embedding column."""
    return list(_TABLES.get(name.lower(), ()))


def source_column(table: Any, source: str) -> Column[Any] | None:
    """The column of ``table`` whose database name is ``source`` (``source`` is never a key or attribute)."""
    return next((column for column in table.c if column.name == source), None)


def check_source(column: Column[Any], table: Any) -> Column[Any]:
    """The source column of auto-embedding ``column`` in ``table``, or SourceColumnError saying how to fix it."""
    source = cast(AutoEmbeddingVector, column.type).source
    found = source_column(table, source)
    if found is not None:
        return found
    names = [c.name for c in table.c if c is not column]
    message = (
        f"{table.name}.{column.name} is AutoEmbeddingVector(source={source!r}), but table {table.name!r} has no "
        f"column named {source!r} (its columns: {', '.join(names) or 'none'}). `source` is the name of the text "
        "column in the database (the first argument of Column()/mapped_column()), not an ORM attribute name"
    )
    keyed = next((c for c in table.c if c.key == source and c.name != source), None)
    if keyed is not None:
        message += f"; {source!r} is the key of the column named {keyed.name!r}: write source={keyed.name!r}"
    else:
        close = difflib.get_close_matches(source, names, n=1)
        if close:
            message += f"; did you mean source={close[0]!r}?"
    raise SourceColumnError(message)


def _is_fragment(table: Any) -> bool:
    """A Table holding only auto-embedding columns: Alembic's stand-in for ALTER TABLE ... ADD COLUMN."""
    return all(isinstance(c.type, AutoEmbeddingVector) for c in table.c)


def auto_embedding_columns(table: Any) -> list[tuple[Column[Any], Column[Any]]]:
    """Each auto-embedding column of ``table`` with its source column (``[]`` for non-tables).

    A source that names no column is an error (SourceColumnError), never a column left unfilled.
    """
    columns = getattr(table, "c", None)
    if columns is None or _is_fragment(table):
        return []
    return [(column, check_source(column, table)) for column in columns if isinstance(column.type, AutoEmbeddingVector)]


@event.listens_for(Table, "after_parent_attach")
def _check_complete_table(table: Table, metadata: Any) -> None:
    # Fired once the Table and all its columns exist (declarative classes included): the earliest
    # moment a source can be known to be missing, since columns may be declared in any order.
    if not _is_fragment(table):
        for column in table.c:
            if isinstance(column.type, AutoEmbeddingVector) and not column.type.from_database:
                check_source(column, table)


@compiles(CreateColumn)
def _compile_create_column(element: CreateColumn, compiler: DDLCompiler, **kw: Any) -> str:
    """CREATE TABLE on every dialect: a source that names no column never reaches a database."""
    column = element.element
    if isinstance(column.type, AutoEmbeddingVector) and column.table is not None:
        check_source(column, column.table)
    return compiler.visit_create_column(element, **kw)  # type: ignore[no-any-return]
