"""The keys django_bff reads and writes in ``request.session``, named once.

In the data flow: at the bottom, with the settings and the token values.

A login leaves in the session what later requests need: the provider's
session id and subject, the identity token (encrypted), when the session
expires, what the session index knows of it, and the id of the token record
(never a token, except with the ``signed_cookies`` engine). Every module that
touches one of these keys imports its name from here: the login hand-off
(:mod:`django_bff.handoff`), the session lifecycle (:mod:`django_bff.sessions`),
the token stores (:mod:`django_bff.stores`) and the endpoints
(:mod:`django_bff.views`). It imports nothing: it sits below all of them.

Django's own keys (``SESSION_KEY``, ``HASH_SESSION_KEY``,
``BACKEND_SESSION_KEY``) are imported from ``django.contrib.auth``; those of
mozilla-django-oidc that django_bff reads or writes are named at the end.
"""

from __future__ import annotations

__all__ = [
    "SESSION_SID_KEY",
    "SESSION_SUB_KEY",
    "SESSION_ID_TOKEN_KEY",
    "SESSION_DPOP_LOGIN_KEYS",
    "SESSION_EXPIRES_KEY",
    "SESSION_INDEXED_KEY",
    "SESSION_USER_INDEXED_KEY",
    "SESSION_REF_KEY",
    "SESSION_RECORD_KEY",
    "RECORD_FIELD",
    "OIDC_LOGIN_NEXT_KEY",
    "OIDC_STATES_KEY",
    "OIDC_STATE_RETURN_URL_FIELD",
    "OIDC_ID_TOKEN_EXPIRATION_KEY",
]

# --- written at login (django_bff.handoff) ----------------------------------------------------------

#: The session's id for /bff/logout?sid= and back-channel logout: the identity token's ``sid``, or one of ours.
SESSION_SID_KEY = "_bff_sid"
#: The user's subject at the provider.
SESSION_SUB_KEY = "_bff_sub"
#: The identity token, encrypted, for the end-session request's ``id_token_hint`` and ``/bff/user``.
SESSION_ID_TOKEN_KEY = "_bff_id_token"
#: DPoP: the key each login this browser started will bind its tokens to, encrypted, by ``state``
#: (written by ``/bff/login``, taken by the code exchange; :mod:`django_bff.handoff`).
SESSION_DPOP_LOGIN_KEYS = "_bff_dpop_login_keys"

# --- the session's life (django_bff.sessions) -------------------------------------------------------

#: When the session expires unless saved again (epoch seconds; kept by the middleware).
SESSION_EXPIRES_KEY = "_bff_expires_at"
#: The ``expires`` last written to the session index for this session (epoch seconds).
SESSION_INDEXED_KEY = "_bff_indexed_until"
#: The Django user the session index knows this session by (written at login).
SESSION_USER_INDEXED_KEY = "_bff_indexed_user"

# --- the tokens (django_bff.stores) ------------------------------------------------------------------

#: The id of the session's token record (never a token): written once, at the first store.
SESSION_REF_KEY = "_bff_token_ref"
#: With ``signed_cookies`` (:class:`~django_bff.stores.CookieTokenStore`): the encrypted record itself.
SESSION_RECORD_KEY = "_bff_token_record"
#: The one key of the session of its own that :class:`~django_bff.stores.SessionTokenStore` keeps a record in.
RECORD_FIELD = "bff_token_record"

# --- mozilla-django-oidc's, read or written by django_bff.views -----------------------------------------

#: Where the browser goes after the login (``/bff/login?returnUrl=``).
OIDC_LOGIN_NEXT_KEY = "oidc_login_next"
#: The logins this browser started, by ``state``.
OIDC_STATES_KEY = "oidc_states"
#: Ours, in a login's entry of ``oidc_states``: the ``returnUrl`` that ``/bff/login`` validated for it.
OIDC_STATE_RETURN_URL_FIELD = "bff_return_url"
#: When mozilla-django-oidc's ``SessionRefresh`` middleware would renew the identity token (epoch seconds).
OIDC_ID_TOKEN_EXPIRATION_KEY = "oidc_id_token_expiration"
