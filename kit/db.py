"""Statements of the hot paths with their SQL compiled once: one-row INSERTs (``insert_row``), single-row
SELECTs (``select_one``) and DELETEs (``delete_where``), bound on the server on PostgreSQL
(``statement_cursor``). Used by the token paths (oauth) and the audit event (audit.record).

``Model.save()`` builds and compiles its INSERT statement from scratch on every call: for an access-token
row (19 columns) that was a quarter of a client_credentials request's CPU (bench/README.md). The statement
text depends only on the model and the database, so ``insert_row`` compiles it with Django's own insert
compiler the first time and afterwards only prepares the values, with the fields' own ``pre_save`` and
``get_db_prep_save``, exactly as ``save()`` would. ``pre_save`` and ``post_save`` are sent as ``save()``
sends them, so receivers (metrics) see no difference. tests/oauth/test_db.py compares the rows both write.

Only for plain new rows: no custom ``save()`` logic runs, so callers fill in what such a method would.

``select_one`` and ``delete_where`` do the same for a lookup and a DELETE: the queryset is compiled the
first time with the request's values, each parameter of the SQL is traced back to one of those values, and
later calls only put the new values in their places (on PostgreSQL, where parameters are the Python values
themselves; elsewhere the queryset simply runs). On PostgreSQL all of them execute through a psycopg cursor
that binds parameters on the server (Django's default cursor formats them into the SQL text in Python), so
psycopg prepares each statement once per connection after a few executions; the cursor is wrapped as Django
wraps its own, so query counting, execute wrappers and error translation see no difference.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import signals
from django.db.models.sql import DeleteQuery, InsertQuery

_statements: dict[tuple, tuple[str, list]] = {}
_selects: dict[tuple, tuple] = {}
_deletes: dict[tuple, tuple[str, list[int]]] = {}


def statement_cursor(connection):
    """A cursor binding parameters on the server where the database allows it (psycopg 3, PostgreSQL),
    else Django's own; opened as Django opens its cursors (health check, connect, error translation)."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))


def _traced(key, params, values: tuple) -> list[int]:
    """Where each of ``params`` is in ``values``: every parameter of a compiled statement must be one of
    the values it was compiled with (distinct from each other), so a later call knows where its go."""
    if len(set(map(repr, values))) != len(values):
        raise ValueError("compile a statement with distinct values: each parameter must be traceable")
    positions = []
    for param in params:
        matches = [i for i, value in enumerate(values) if type(value) is type(param) and value == param]
        if len(matches) != 1:
            raise ValueError(f"parameter {param!r} of {key} is not one of the values it was compiled with")
        positions.append(matches[0])
    return positions


def select_one(key, queryset_of, values: tuple, using: str = "default") -> tuple | None:
    """The first row of ``queryset_of(*values)`` (a ``values_list`` queryset), its SQL compiled once per
    ``key`` and its columns converted as the queryset would convert them (JSON, and SQLite's types)."""
    if connections[using].vendor != "postgresql":  # parameters are prepared per backend (SQLite: text)
        return next(iter(queryset_of(*values)), None)
    found = _selects.get((key, using))
    if found is None:
        compiler = queryset_of(*values).query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        converters = compiler.get_converters([column for column, _, _ in compiler.select])
        found = _selects[(key, using)] = (sql, _traced(key, params, values), converters)
    sql, positions, converters = found
    connection = connections[using]
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, [values[i] for i in positions])
        row = cursor.fetchone()
    if row is None or not converters:
        return row
    row = list(row)
    for index, (functions, expression) in converters.items():
        for convert in functions:
            row[index] = convert(row[index], expression, connection)
    return tuple(row)


def delete_where(key, queryset_of, values: tuple, using: str = "default") -> int:
    """DELETEs the rows of ``queryset_of(*values)`` with the SQL compiled once; the number deleted. No
    signals and no cascade: only for rows nothing references and no receiver watches (callers say so)."""
    if connections[using].vendor != "postgresql":
        return queryset_of(*values)._raw_delete(using)
    found = _deletes.get((key, using))
    if found is None:
        query = queryset_of(*values).query.clone()
        query.__class__ = DeleteQuery
        sql, params = query.get_compiler(using=using).as_sql()
        found = _deletes[(key, using)] = (sql, _traced(key, params, values))
    sql, positions = found
    with statement_cursor(connections[using]) as cursor:
        cursor.execute(sql, [values[i] for i in positions])
        return cursor.rowcount


def instances_from_row(row: tuple, *models) -> list:
    """Model instances from a row of ``model_columns(*models)``, as the ORM would load them."""
    found, start = [], 0
    for model in models:
        names = [f.attname for f in model._meta.concrete_fields]
        found.append(model.from_db("default", names, row[start:start + len(names)]))
        start += len(names)
    return found


def model_columns(model, *related: str) -> list[str]:
    """The ``values_list`` names of ``model``'s columns and, for each name in ``related`` (a foreign key),
    the related model's columns after them: one row loads them all (``instances_from_row``)."""
    names = [f.attname for f in model._meta.concrete_fields]
    for name in related:
        target = model._meta.get_field(name).related_model
        names += [f"{name}__{f.attname}" for f in target._meta.concrete_fields]
    return names


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
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchone()
    for field, value in zip(model._meta.db_returning_fields, returned, strict=True):
        setattr(obj, field.attname, value)
    obj._state.adding, obj._state.db = False, using
    signals.post_save.send(sender=model, instance=obj, created=True, update_fields=None, raw=False, using=using)
    return obj
