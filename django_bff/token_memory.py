"""The worker's memory of user tokens: a token that needs no refresh, kept a few seconds per session.

In the data flow: below the stores, the session lifecycle and the token manager,
which all reach it. The token manager (:mod:`django_bff.token_manager`)
remembers the token it read from the store and recalls it on the next call of
the same session, for ``BFF["TOKEN_MEMORY_TTL"]`` seconds (0: never), so that
most proxied calls read only the session. Whatever changes a session's tokens
in this worker forgets them here at once (:func:`forget_session_tokens`): a
store's write or clear (:mod:`django_bff.stores`), a logout
(:mod:`django_bff.receivers`), a session ended from outside
(:mod:`django_bff.sessions`). Another worker's change is seen within the TTL.

The memory holds at most ``_MEMORY_SIZE`` entries, the least recently used
going first, and is emptied when the ``BFF`` setting changes. It does no I/O.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from django_bff.clock import clock
from django_bff.conf import bff_settings, on_reload
from django_bff.tokens import UserToken, UserTokenRequestParameters

__all__ = ["memory_key", "recall", "remember", "forget_session_tokens", "forget_all"]

#: An entry's key: the session key, and the resource and scope the token is for.
MemoryKey = tuple[str, str]

_MEMORY_SIZE = 10000
_memory: OrderedDict[MemoryKey, tuple[UserToken, float]] = OrderedDict()
_memory_lock = threading.Lock()


def memory_key(session_key: str | None, parameters: UserTokenRequestParameters) -> MemoryKey | None:
    """Where the worker keeps a session's token: by session key and resource (None: it does not)."""
    if bff_settings.TOKEN_MEMORY_TTL <= 0:
        return None
    if not session_key:
        return None  # signed_cookies, or no session yet
    return (session_key, f"{parameters.resource or ''}\x00{parameters.scope or ''}")


def recall(key: MemoryKey | None) -> UserToken | None:
    """The token kept under ``key``, unless it was kept longer than ``BFF["TOKEN_MEMORY_TTL"]`` ago."""
    if key is None:
        return None
    with _memory_lock:
        entry = _memory.get(key)
        if entry is None:
            return None
        if clock.time() - entry[1] > bff_settings.TOKEN_MEMORY_TTL:
            del _memory[key]
            return None
        _memory.move_to_end(key)
        return entry[0]


def remember(key: MemoryKey | None, token: UserToken) -> None:
    """Keep ``token`` under ``key`` from now on (nothing when ``key`` is None)."""
    if key is None:
        return
    with _memory_lock:
        _memory[key] = (token, clock.time())
        _memory.move_to_end(key)
        while len(_memory) > _MEMORY_SIZE:
            _memory.popitem(last=False)


def forget_session_tokens(session_key: str | None) -> None:
    """Drop what this worker keeps in memory for the session ``session_key`` (every resource)."""
    if not session_key:
        return
    with _memory_lock:
        for key in [k for k in _memory if k[0] == session_key]:
            del _memory[key]


@on_reload
def forget_all() -> None:
    """Empty the memory (the ``BFF`` setting changed)."""
    with _memory_lock:
        _memory.clear()
