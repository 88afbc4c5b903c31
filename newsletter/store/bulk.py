"""Many rows in one statement: executemany on SQLite, ``unnest`` arrays on PostgreSQL.

With psycopg, SQLAlchemy's executemany of an INSERT becomes large multi-VALUES statements,
and psycopg parses every one of them again in Python (statements longer than its cache limit
are never cached): for 1,000 rows of 10 columns that parsing costs more than the insert. An
``INSERT ... SELECT unnest(:a), unnest(:b) ...`` is one short statement, parsed once, whose
columns travel as arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, bindparam, func, insert, select
from sqlalchemy.engine import CursorResult

SetFn = Callable[[Any], Mapping[str, Any]]
"""Given the dialect's insert statement, the ``ON CONFLICT DO UPDATE`` SET values."""


def _dialect_insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    return insert(table)


def _array_type(column: Column[Any]) -> Any:
    from sqlalchemy.dialects.postgresql import ARRAY

    return ARRAY(column.type)


def bulk_insert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str] | None = None,
    set_: SetFn | None = None,
    returning: Sequence[Column[Any]] = (),
) -> CursorResult[Any] | None:
    """Insert ``rows`` (all with the same keys); on a ``conflict`` of those columns do nothing,
    or update with ``set_``; return the ``returning`` columns of the rows written."""
    if not rows:
        return None
    names = list(rows[0])
    stmt = _dialect_insert(conn, table)
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        arrays = [
            func.unnest(
                bindparam(f"a_{n}", value=[r[n] for r in rows], type_=_array_type(table.c[n]))
            )
            for n in names
        ]
        stmt = stmt.from_select(names, select(*arrays))
    if conflict is not None:
        if set_ is None:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        else:
            stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=set_(stmt))
    if returning:
        stmt = stmt.returning(*returning)
    if postgres:
        return _execute_binary(conn, stmt)
    return conn.execute(stmt, list(rows))


def _execute_binary(conn: Connection, stmt: Any) -> CursorResult[Any]:
    """Run on psycopg with every parameter in binary format (``%(x)b``).

    psycopg dumps a text-format array element by element in Python (quoting and escaping
    each string); the binary format is dumped in C, about ten times faster for a batch.
    """
    compiled = stmt.compile(dialect=conn.dialect)
    sql = str(compiled)
    params = compiled.params
    for name in params:
        sql = sql.replace(f"%({name})s", f"%({name})b")
    return conn.exec_driver_sql(sql, params)
