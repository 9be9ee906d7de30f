"""``requests`` auth objects that attach the BFF's tokens to outgoing calls.

In the data flow: an entry point for a project's own code. Like a retriever does
for the proxy, it asks the token manager for the token; then ``requests`` sends
the call.

Reference: the ``HttpClient`` with a user-token handler. Use them from your own
views when you call an API yourself instead of through a proxied route::

    from django_bff.http import UserAccessTokenAuth

    def orders(request):
        auth = UserAccessTokenAuth(request)
        r = requests.get("https://api.example.com/orders", auth=auth)

The flow is written once, in :class:`RenewingTokenAuth`: attach the token; when
the API answers 401, renew the token once (``force_renewal``) and send the
request again, but only when its body can be sent twice (no body, bytes or
str; never a stream or a generator). When no token can be had,
:class:`~django_bff.exceptions.AccessTokenUnavailable` is raised before
anything is sent.

A DPoP-bound token (``access_token_type`` ``DPoP`` with its key) is sent as
the proxy sends it (:mod:`django_bff.proxy.dpop`): ``Authorization: DPoP``
and a fresh proof with ``ath`` on every request, renewed ones included; the
API's nonce remembered per origin in the shared cache
(:mod:`django_bff.dpop_nonces`) is in the first proof, a ``DPoP-Nonce`` in any
answer replaces it, and a ``use_dpop_nonce`` refusal is answered by one more
try with the new nonce when the body can be sent twice (a stream's refusal is
returned as it came). A bearer token never reads a nonce.
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from typing import Any

import requests
from django.http import HttpRequest
from requests.auth import AuthBase

from django_bff import dpop
from django_bff.dpop_nonces import nonce_for, origin_scope, remember_nonce
from django_bff.exceptions import AccessTokenUnavailable
from django_bff.token_manager import get_client_access_token, get_user_access_token
from django_bff.tokens import ClientToken, TokenResult, UserToken, UserTokenRequestParameters

__all__ = ["RenewingTokenAuth", "UserAccessTokenAuth", "ClientAccessTokenAuth"]

logger = logging.getLogger(__name__)

#: The requests sent again by the flow (a nonce retry or a renewed token): never handled twice.
_renewed: weakref.WeakSet[requests.PreparedRequest] = weakref.WeakSet()


def _scheme(token_type: str) -> str:
    return "Bearer" if token_type.lower() == "bearer" else token_type


def _is_dpop(token: UserToken | ClientToken) -> bool:
    return token.access_token_type.lower() == "dpop" and bool(token.dpop_jwk)


class RenewingTokenAuth(AuthBase):
    """Attach a token; on a 401, renew it once and retry. Subclasses provide :meth:`get_token`."""

    def get_token(self, force_renewal: bool) -> TokenResult:
        raise NotImplementedError("subclasses of RenewingTokenAuth must provide a get_token() method")

    def _token(self, force_renewal: bool) -> UserToken | ClientToken:
        result = self.get_token(force_renewal)
        if result.token is None:
            error = result.error.value if result.error else "no_token"
            raise AccessTokenUnavailable(error, transient=result.transient, retry_after=result.retry_after)
        return result.token

    @staticmethod
    def _attach(r: requests.PreparedRequest, token: UserToken | ClientToken, nonce: str | None) -> None:
        if _is_dpop(token):
            assert token.dpop_jwk is not None and r.method is not None and r.url is not None
            r.headers["Authorization"] = f"DPoP {token.access_token}"
            r.headers["DPoP"] = dpop.make_proof(token.dpop_jwk, r.method, r.url, token.access_token, nonce)
        else:
            r.headers["Authorization"] = f"{_scheme(token.access_token_type)} {token.access_token}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._token(False)
        nonce = nonce_for(origin_scope(str(r.url))) if _is_dpop(token) else None
        self._attach(r, token, nonce)

        def handle(response: requests.Response, **kwargs: Any) -> requests.Response:
            return self._handle_401(response, token, nonce, **kwargs)

        r.hooks.setdefault("response", []).append(handle)
        return r

    @staticmethod
    def _replayable(r: requests.PreparedRequest) -> bool:
        return r.body is None or isinstance(r.body, (bytes, str))

    @staticmethod
    def _learn(response: requests.Response, token: UserToken | ClientToken, sent: str | None) -> str | None:
        """Remember a DPoP call's new ``DPoP-Nonce`` (one not sent); the nonce to send next."""
        fresh = response.headers.get("DPoP-Nonce")
        if _is_dpop(token) and fresh and fresh != sent:
            remember_nonce(origin_scope(str(response.request.url)), fresh)
            return fresh
        return sent

    def _handle_401(
        self,
        response: requests.Response,
        token: UserToken | ClientToken | None = None,
        nonce: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        request = response.request
        if request in _renewed:
            return response
        token = token if token is not None else self._token(False)
        nonce_retried = renewed = False
        while True:
            nonce = self._learn(response, token, nonce)
            wanted = dpop.wants_nonce(response.status_code, response.headers) if _is_dpop(token) else None
            if response.status_code != 401 or (nonce_retried and renewed):
                return response
            if not self._replayable(request):
                logger.debug("401 on a streamed body: not retried")
                return response
            if wanted is not None and not nonce_retried:
                nonce_retried = True
                nonce = wanted
                logger.debug("use_dpop_nonce from %s: sending once more with the nonce", request.url)
            elif wanted is None and not renewed:
                renewed = True
                token = self._token(True)
                logger.debug("401 from %s: token renewed, sending once more", request.url)
            else:
                return response
            response = self._resend(response, token, nonce, **kwargs)

    def _resend(
        self, response: requests.Response, token: UserToken | ClientToken, nonce: str | None, **kwargs: Any
    ) -> requests.Response:
        retry = response.request.copy()
        _renewed.add(retry)
        self._attach(retry, token, nonce if _is_dpop(token) else None)
        _ = response.content  # read the 401 so the connection can be reused
        response.close()
        new = response.connection.send(retry, **kwargs)
        new.history = [*response.history, response]
        new.request = retry
        return new


class UserAccessTokenAuth(RenewingTokenAuth):
    """Attach the user's access token (``get_user_access_token``) of ``request``."""

    def __init__(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        self.request = request
        self.parameters = parameters or UserTokenRequestParameters()

    def get_token(self, force_renewal: bool) -> TokenResult:
        params = dataclasses.replace(self.parameters, force_renewal=True) if force_renewal else self.parameters
        return get_user_access_token(self.request, params)


class ClientAccessTokenAuth(RenewingTokenAuth):
    """Attach the client-credentials token of the client ``name`` (``get_client_access_token``).

    For app-level calls that act for nobody in particular::

        auth = ClientAccessTokenAuth("catalog")
        requests.get("https://catalog.example.com/items", auth=auth)
    """

    def __init__(self, name: str = "default", *, scope: str | None = None, resource: str | None = None) -> None:
        self.name = name
        self.scope = scope
        self.resource = resource

    def get_token(self, force_renewal: bool) -> TokenResult:
        return get_client_access_token(self.name, scope=self.scope, resource=self.resource, force_renewal=force_renewal)
