"""One writer at a time under a case's imaging assets: `case_assets_lock(case_id)`.

Two jobs may convert the same series of a case at the same moment (a curator uploads it twice, an S3
event and an admin upload cross). Conversion may run in parallel, but what comes after must not:
picking the study, storing under its prefix, recording rows and pruning unreferenced files. Without
the lock both jobs see no study for the series and each creates one (two studies of one series), or one
job's prune deletes a mesh the other has stored but not yet recorded.

Where the database offers advisory locks (PostgreSQL; `hpb.database.capabilities` says) the lock is
a session-level advisory lock on the worker's own connection, taken outside any transaction: no row
stays locked while files go to S3, other cases are not held up, and a worker that dies releases it
with its connection. (Session-level locks need a session per client: not PgBouncer in transaction
mode.) Elsewhere (the SQLite
demo, where tasks run inside the web process) a process-wide lock per case stands in.

The lock is re-entrant within a thread, so a failure path that prunes while the success path holds it
does not deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

from hpb.database import capabilities

# First key of the two-key advisory lock: the ASCII of "HPBi", so our locks never meet another app's.
ADVISORY_NAMESPACE = 0x48504269
_INT4 = 2**31

_held = threading.local()
_local_locks: dict[int, threading.RLock] = {}
_local_locks_guard = threading.Lock()


@contextmanager
def case_assets_lock(case_id: int) -> Iterator[None]:
    """Hold the case's imaging-assets lock for the block (waits for another holder to finish)."""
    depth: dict[int, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(case_id):
        depth[case_id] += 1
        try:
            yield
        finally:
            depth[case_id] -= 1
        return
    with _acquired(case_id):
        depth[case_id] = 1
        try:
            yield
        finally:
            depth.pop(case_id, None)


@contextmanager
def _acquired(case_id: int) -> Iterator[None]:
    if not capabilities().advisory_locks:
        with _local_lock(case_id):
            yield
        return
    # Wrapping ids into int4 can only make two cases share a lock (they wait for each other), never
    # let two holders of one case in.
    key = case_id % _INT4
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, key])
    try:
        yield
    finally:
        _release(key)


def _release(key: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_NAMESPACE, key])
    except DatabaseError:
        # A broken connection or an aborted transaction: closing the session is what releases the
        # lock then (a connection that broke already took its session, and the lock, with it).
        connection.close()


def _local_lock(case_id: int) -> threading.RLock:
    with _local_locks_guard:
        return _local_locks.setdefault(case_id, threading.RLock())
