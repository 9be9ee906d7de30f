"""The operations a token flow yields, and the two drivers that run it.

In the data flow: the machinery of the token manager: the other modules of the
package write flows, the entry points run them here.

A flow is written once, as a generator: it yields an operation and gets the
operation's result back (or its exception thrown in, for the flow to decide).
:class:`Call` calls a function; :class:`Wait` waits for a lock
(:meth:`django_bff.locks.CacheLock.take`), looking between tries for what its
holder produced with a flow of its own. :func:`run_sync` performs the
operations in the calling thread; :func:`run_async` awaits their async twins,
or runs the sync function in a thread, so the event loop never blocks while a
flow waits or calls the provider. Both therefore behave the same.

Flows are typed ``Flow[T]``, a ``Generator[Op, object, T]``, and ``yield from``
an operation gives its typed result::

    token = yield from call(store.get_token, store.aget_token, request, parameters)

The user flow (:mod:`.user`), the cached application tokens
(:mod:`.single_flight`, :mod:`.client`) and the entry points (the package)
are written on this module; :func:`storage_guarded` turns a cache or storage
outage anywhere in a flow into ``storage_unavailable``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Generic, ParamSpec, TypeAlias, TypeVar, cast

from asgiref.sync import sync_to_async

from django_bff.conf import bff_settings
from django_bff.faults import is_storage_error, storage_unavailable
from django_bff.locks import CacheLock, Polling, Waited
from django_bff.tokens import TokenError, TokenResult

__all__ = ["Call", "Wait", "Op", "Flow", "call", "network", "run_sync", "run_async", "storage_guarded"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
P = ParamSpec("P")


@dataclass(frozen=True)
class Call(Generic[T_co]):
    """Call ``sync()``; the async driver awaits ``asynchronous()`` instead, or runs ``sync`` in a thread."""

    sync: Callable[[], T_co]
    asynchronous: Callable[[], Awaitable[T_co]] | None = None
    #: For the async driver when there is no async twin: False for network calls,
    #: so they run in a worker thread of their own instead of the shared sync thread.
    thread_sensitive: bool = True

    def __iter__(self) -> Generator[Op, object, T_co]:
        result = yield self
        return cast(T_co, result)  # the drivers send back what this call returned


@dataclass(frozen=True)
class Wait(Generic[T_co]):
    """Take ``lock``, waiting at most ``seconds``; between tries, the flow ``check``
    looks for what the holder produced, and what it finds ends the wait."""

    lock: CacheLock
    seconds: float
    polling: Polling
    check: Callable[[], Flow[T_co | None]]

    def __iter__(self) -> Generator[Op, object, Waited | T_co]:
        result = yield self
        return cast("Waited | T_co", result)  # the drivers send back what the wait ended with

    def look(self) -> T_co | None:
        """``check``, run by the sync driver."""
        return run_sync(self.check())

    async def alook(self) -> T_co | None:
        """``check``, run by the async driver."""
        return await run_async(self.check())


Op: TypeAlias = "Call[object] | Wait[object]"
Flow: TypeAlias = Generator[Op, object, T]


def call(
    sync: Callable[P, T], asynchronous: Callable[P, Awaitable[T]] | None, /, *args: P.args, **kwargs: P.kwargs
) -> Call[T]:
    """``sync(*args, **kwargs)``; under the async driver ``await asynchronous(*args, **kwargs)``."""
    twin = None if asynchronous is None else functools.partial(asynchronous, *args, **kwargs)
    return Call(functools.partial(sync, *args, **kwargs), twin)


def network(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Call[T]:
    """A blocking network call: under the async driver, in a worker thread of its own."""
    return Call(functools.partial(func, *args, **kwargs), None, thread_sensitive=False)


def run_sync(flow: Flow[T]) -> T:
    """Run ``flow`` in the calling thread."""
    result: object = None
    error: Exception | None = None
    while True:
        try:
            op = flow.throw(error) if error is not None else flow.send(result)
        except StopIteration as stop:
            done: T = stop.value
            return done
        finally:
            # An exception leaving the flow must not keep this frame (and so itself) alive: the cycle
            # would hold what its traceback holds (an upstream socket) until the cyclic collector runs.
            error = None
        result = None
        try:
            if isinstance(op, Wait):
                result = op.lock.take(op.seconds, polling=op.polling, check=op.look)
            else:
                result = op.sync()
        except Exception as e:  # handed to the flow, which decides
            error = e


async def run_async(flow: Flow[T]) -> T:
    """Run ``flow`` without blocking the event loop."""
    result: object = None
    error: Exception | None = None
    while True:
        try:
            op = flow.throw(error) if error is not None else flow.send(result)
        except StopIteration as stop:
            done: T = stop.value
            return done
        finally:
            # An exception leaving the flow must not keep this frame (and so itself) alive: the cycle
            # would hold what its traceback holds (an upstream socket) until the cyclic collector runs.
            error = None
        result = None
        try:
            if isinstance(op, Wait):
                result = await op.lock.atake(op.seconds, polling=op.polling, check=op.alook)
            elif op.asynchronous is not None:
                result = await op.asynchronous()
            else:
                result = await sync_to_async(op.sync, thread_sensitive=op.thread_sensitive)()
        except Exception as e:  # handed to the flow, which decides
            error = e


def storage_guarded(flow: Flow[TokenResult], what: str) -> Flow[TokenResult]:
    """Run ``flow``; a cache or storage outage anywhere in it answers ``storage_unavailable``."""
    try:
        return (yield from flow)
    except Exception as e:
        if not is_storage_error(e):
            raise
        storage_unavailable(e, what)  # logs it
        return TokenResult(error=TokenError.STORAGE_UNAVAILABLE, retry_after=bff_settings.RETRY_AFTER)
