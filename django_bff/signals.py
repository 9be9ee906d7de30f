"""Signals sent by django_bff.

In the data flow: sent by the login hand-off and the token manager; receivers
run in the request that logged in or refreshed.

``token_response_received(sender, request, user, token_response, token)``
    After a successful login, once Django's ``login()`` has cycled the session
    key. ``token_response`` is the whole token-endpoint answer (a dict),
    ``token`` the :class:`~django_bff.tokens.UserToken` made from it. Sent whether
    or not ``BFF["SAVE_TOKENS"]`` is on: with it off, this is where you store
    tokens yourself (the reference page's "turn off SaveTokens and handle the
    events").

``token_refreshed(sender, request, token, previous)``
    After a refresh was stored.

``token_refresh_failed(sender, request, error, transient)``
    A refresh failed. ``error`` is a :class:`~django_bff.tokens.TokenError`.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["token_response_received", "token_refreshed", "token_refresh_failed"]

token_response_received = Signal()
token_refreshed = Signal()
token_refresh_failed = Signal()
