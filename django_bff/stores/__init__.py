"""User token stores (reference: ``IUserTokenStore``): the package, and the store the settings name.

In the data flow: below the token manager and the session lifecycle, above the
settings and the codecs; :func:`get_token_store` gives the configured store.

Choose one with ``BFF["USER_TOKEN_STORE"] = {"BACKEND": dotted_path, "OPTIONS": {...}}``.

:class:`SessionTokenStore` (the default) keeps tokens in Django's session
storage, :class:`CacheTokenStore` in a Django cache (django-redis in
production). Both keep the tokens in a *record* of their own, encrypted, and put
only the record's random id in ``request.session``. That id is written once, at
login, and never changes, so a request that loaded the session before another
request refreshed the tokens can save its session afterwards without writing old
tokens back: Django saves the session dict whole, but the dict holds no tokens.
Writes to the record are compare-and-set: a request whose view of the record is
older than the stored one gets :class:`~django_bff.exceptions.TokenStoreConflict`
instead of overwriting newer tokens.

The tokens a refresh brings are written at once, for good, even inside a
transaction (``ATOMIC_REQUESTS``): the provider has already rotated the refresh
token, so the new one must be visible to every other worker as soon as the
refresh lock is released, and must survive the view's transaction being rolled
back. :class:`SessionTokenStore` with a database session engine therefore
writes from a connection of its own when the request's connection is inside a
transaction.

With the ``signed_cookies`` session engine there is no server-side storage:
:class:`SessionTokenStore` then hands every call to :class:`CookieTokenStore`,
which keeps the (encrypted) record in the cookie itself, and a system check
warns that concurrent refreshes cannot be made safe there
(``django_bff.W001``).

Code that ends a session from outside any request of its own (back-channel
logout, ``manage.py bff_sessions``) reaches its tokens through
:meth:`UserTokenStore.get_session_token` and
:meth:`UserTokenStore.clear_session_tokens`, which take the session.
"""

from __future__ import annotations

from django_bff.conf import load_backend, per_settings
from django_bff.exceptions import InvalidTokenStore

# Still importable from here, where they were named first (see django_bff.session_keys).
from django_bff.session_keys import SESSION_RECORD_KEY as SESSION_RECORD_KEY
from django_bff.session_keys import SESSION_REF_KEY as SESSION_REF_KEY
from django_bff.stores.base import UserTokenStore
from django_bff.stores.cache import CacheTokenStore
from django_bff.stores.record import RecordTokenStore
from django_bff.stores.session import CookieTokenStore, SessionTokenStore

__all__ = [
    "UserTokenStore",
    "RecordTokenStore",
    "SessionTokenStore",
    "CookieTokenStore",
    "CacheTokenStore",
    "get_token_store",
]


@per_settings
def get_token_store() -> UserTokenStore:
    """The store configured by ``BFF["USER_TOKEN_STORE"]`` (made once per settings)."""
    return load_backend("USER_TOKEN_STORE", UserTokenStore, InvalidTokenStore)
