"""One-row INSERTs whose SQL is compiled once per model, for the hottest write of the platform.

``Model.save()`` builds and compiles its INSERT statement from scratch on every call: for an access-token
row (19 columns) that was a quarter of a client_credentials request's CPU (bench/README.md). The statement
text depends only on the model and the database, so ``insert_row`` compiles it with Django's own insert
compiler the first time and afterwards only prepares the values, with the fields' own ``pre_save`` and
``get_db_prep_save``, exactly as ``save()`` would. ``pre_save`` and ``post_save`` are sent as ``save()``
sends them, so receivers (metrics) see no difference. tests/oauth/test_db.py compares the rows both write.

Only for plain new rows: no custom ``save()`` logic runs, so callers fill in what such a method would.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import signals
from django.db.models.sql import InsertQuery

_statements: dict[tuple, tuple[str, list]] = {}


def _fields(model) -> list:
    meta = model._meta
    return [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]


def _statement(obj, using: str) -> tuple[str, list]:
    model, connection = type(obj), connections[using]
    key = (model, using)
    found = _statements.get(key)
    if found is None:
        fields = _fields(model)
        query = InsertQuery(model)
        query.insert_values(fields, [obj])
        compiler = query.get_compiler(using=using)
        compiler.returning_fields = model._meta.db_returning_fields
        [(sql, _)] = compiler.as_sql()
        if not connection.features.can_return_columns_from_insert:
            raise NotImplementedError(f"{connection.vendor} cannot return the new row's id from an INSERT")
        found = _statements[key] = (sql, fields)
    return found


def insert_row(obj, using: str = "default"):
    """INSERTs ``obj`` as a new row (its primary key and defaults filled in) and returns it."""
    model = type(obj)
    signals.pre_save.send(sender=model, instance=obj, raw=False, using=using, update_fields=None)
    sql, fields = _statement(obj, using)
    connection = connections[using]
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchone()
    for field, value in zip(model._meta.db_returning_fields, returned, strict=True):
        setattr(obj, field.attname, value)
    obj._state.adding, obj._state.db = False, using
    signals.post_save.send(sender=model, instance=obj, created=True, update_fields=None, raw=False, using=using)
    return obj
