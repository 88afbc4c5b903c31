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
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        key = (
            table.name,
            tuple(names),
            tuple(conflict) if conflict is not None else None,
            set_ is not None,
            tuple(str(c) for c in returning),
        )
        sql = _PG_SQL.get(key)
        if sql is None:
            sql = _PG_SQL[key] = _pg_sql(conn, table, names, conflict, set_, returning)
        return conn.exec_driver_sql(sql, {f"a_{n}": [r[n] for r in rows] for n in names})
    if conn.dialect.name == "sqlite" and not returning:
        _sqlite_executemany(conn, table, names, conflict, set_, rows)
        return None
    stmt = _dialect_insert(conn, table)
    if conflict is not None:
        if set_ is None:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        else:
            stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=set_(stmt))
    if returning:
        stmt = stmt.returning(*returning)
    return conn.execute(stmt, list(rows))


_SQLITE_SQL: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}


def _sqlite_executemany(
    conn: Connection,
    table: Table,
    names: list[str],
    conflict: Sequence[str] | None,
    set_: SetFn | None,
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """sqlite3's own executemany with plain tuples: SQLAlchemy's per-row parameter handling
    costs more than the insert. Values go through each column type's bind processor, so
    they are stored exactly as SQLAlchemy would store them."""
    key = (
        table.name,
        tuple(names),
        tuple(conflict) if conflict is not None else None,
        set_ is None,
    )
    cached = _SQLITE_SQL.get(key)
    if cached is None:
        from sqlalchemy.dialects import sqlite

        stmt = sqlite.insert(table).values({n: bindparam(n) for n in names})
        if conflict is not None:
            if set_ is None:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
            else:
                stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=set_(stmt))
        compiled = stmt.compile(dialect=conn.dialect)
        order = compiled.positiontup or []
        assert sorted(order) == sorted(names), "every parameter is a column value"
        processors = [table.c[n].type.bind_processor(conn.dialect) for n in order]
        cached = _SQLITE_SQL[key] = (str(compiled), [order, processors])
    sql, (order, processors) = cached
    params = [
        tuple(
            proc(row[n]) if proc is not None else row[n]
            for n, proc in zip(order, processors, strict=True)
        )
        for row in rows
    ]
    conn.exec_driver_sql(sql, params)


# The SQL text of each PostgreSQL bulk statement depends only on its shape, never on the
# values, so it is built once per process (one set_ per table: the callers keep it so).
_PG_SQL: dict[tuple[Any, ...], str] = {}


def _pg_sql(
    conn: Connection,
    table: Table,
    names: list[str],
    conflict: Sequence[str] | None,
    set_: SetFn | None,
    returning: Sequence[Column[Any]],
) -> str:
    stmt = _dialect_insert(conn, table)
    arrays = [
        func.unnest(bindparam(f"a_{n}", value=[], type_=_array_type(table.c[n]))) for n in names
    ]
    stmt = stmt.from_select(names, select(*arrays))
    if conflict is not None:
        if set_ is None:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        else:
            stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=set_(stmt))
    if returning:
        stmt = stmt.returning(*returning)
    sql = str(stmt.compile(dialect=conn.dialect))
    # Binary parameters: psycopg dumps a text-format array element by element in Python
    # (quoting and escaping each string); binary arrays are dumped in C, ~10x faster.
    for n in names:
        sql = sql.replace(f"%(a_{n})s", f"%(a_{n})b")
    return sql
