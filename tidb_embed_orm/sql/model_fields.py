"""Vector columns under a ``list[float]`` annotation on pydantic models (SQLModel tables, as pytidb users
write them)::

    class Chunk(SQLModel, table=True):
        id: int = Field(primary_key=True)
        text: str
        embedding: list[float] | None = Field(sa_column=Column(AutoEmbeddingVector(MINILM, source="text")))

A vector column hands back numpy arrays, which pydantic cannot serialise under ``list[float]``
(``model_dump_json()``: "Unable to serialize unknown type: numpy.ndarray"), and pydantic checks a
``list[float]`` for floats only, so a wrong length or a NaN surfaced at flush. When such a class is
mapped, this module gives that one column a copy of its type that reads lists, and the field a
validator that checks length (the column's dimension) and finiteness, so ``model_validate`` refuses
what TiDB would. Fields annotated ``VectorValue`` (``tidb_embed_orm.sqlmodel``) keep numpy arrays.

It listens to SQLAlchemy's ``instrument_class`` mapper event, installed the first time a vector type
is attached to a column (nothing is installed by importing the library), and touches only vector
columns whose pydantic field is annotated as a list of floats.
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import Mapper

from .. import codec

_installed = False


def watch_mapped_classes() -> None:
    """Install the mapper listener once (called when a vector type joins a column)."""
    global _installed
    if not _installed:
        event.listen(Mapper, "instrument_class", _adopt_list_fields)
        _installed = True


def _is_float_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(members) == 1 and _is_float_list(members[0])
    return typing.get_origin(annotation) in (list, typing.List) and typing.get_args(annotation) in ((float,), ())  # noqa: UP006


def _adopt_list_fields(mapper: Mapper[Any], cls: type) -> None:
    fields = getattr(cls, "__pydantic_fields__", None)
    table = mapper.local_table
    if not isinstance(fields, dict) or not isinstance(table, Table):
        return
    changed = False
    for column in table.columns:
        field = fields.get(column.key)
        if not hasattr(column.type, "reads_lists") or field is None or not _is_float_list(field.annotation):
            continue
        listed = copy.copy(column.type)
        listed.reads_lists = True
        column.type = listed
        field.metadata.append(_validator(listed.dim))
        changed = True
    if changed:
        cls.model_rebuild(force=True)  # type: ignore[attr-defined]


def _validator(dim: int | None) -> Any:
    from pydantic import AfterValidator

    def check(value: Any) -> Any:
        if value is not None:
            codec.to_array(value, dim)  # DimensionError / VectorValueError are ValueErrors: a ValidationError
        return value

    return AfterValidator(check)


__all__ = ["watch_mapped_classes"]
