"""Every public name of the package, and each public method of its classes, has a docstring.

The API reference (docs/reference.md) is generated from them; a name without one would be an empty
entry there. A method overriding SQLAlchemy's (``bind_processor``, ``adapt``) may keep the docstring
of the method it overrides.
"""

from __future__ import annotations

import inspect

import pytest

import tidb_embed_orm
import tidb_embed_orm.alembic.operations
import tidb_embed_orm.sqlmodel

MODULES = [tidb_embed_orm, tidb_embed_orm.sqlmodel]


def public_objects():
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if name.startswith("__") or not (inspect.isclass(obj) or callable(obj)):
                continue
            yield f"{module.__name__}.{name}", obj


def missing_docstrings(qualname, obj):
    missing = []
    own = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if not (own or "").strip():
        missing.append(qualname)
    if inspect.isclass(obj):
        for key, value in vars(obj).items():
            if key.startswith("_"):
                continue
            if isinstance(value, property):
                function = value.fget
            elif isinstance(value, (classmethod, staticmethod)):
                function = value.__func__
            else:
                function = value
            if inspect.isfunction(function) and not (inspect.getdoc(getattr(obj, key)) or "").strip():
                missing.append(f"{qualname}.{key}")
    return missing


def test_every_public_name_is_checked():
    names = {name for name, _ in public_objects()}
    assert "tidb_embed_orm.AutoEmbeddingVector" in names and "tidb_embed_orm.sqlmodel.vector_field" in names
    assert len(names) > 50


@pytest.mark.parametrize("qualname, obj", list(public_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_name_has_a_docstring(qualname, obj):
    assert missing_docstrings(qualname, obj) == []


def test_alembic_operations_have_docstrings():
    import tidb_embed_orm.alembic.fulltext

    operations = [(f"{module.__name__}.{name}", cls)
                  for module in (tidb_embed_orm.alembic.operations, tidb_embed_orm.alembic.fulltext)
                  for name, cls in vars(module).items()
                  if inspect.isclass(cls) and name.endswith("Op") and cls.__module__ == module.__name__]
    assert len(operations) >= 7
    assert [m for name, cls in operations for m in missing_docstrings(name, cls)] == []


def test_version_comes_from_the_package():
    assert isinstance(tidb_embed_orm.__version__, str) and tidb_embed_orm.__version__[0].isdigit()


def test_version_is_the_distributions():
    from importlib.metadata import version

    assert tidb_embed_orm.__version__ == version("tidb-embed-orm")
