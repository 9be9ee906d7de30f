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
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from typing import Any

import requests
from django.http import HttpRequest
from requests.auth import AuthBase

from django_bff.exceptions import AccessTokenUnavailable
from django_bff.token_manager import get_client_access_token, get_user_access_token
from django_bff.tokens import TokenResult, UserTokenRequestParameters

__all__ = ["RenewingTokenAuth", "UserAccessTokenAuth", "ClientAccessTokenAuth"]

logger = logging.getLogger(__name__)

#: The requests sent again with a renewed token: never renewed twice.
_renewed: weakref.WeakSet[requests.PreparedRequest] = weakref.WeakSet()


def _scheme(token_type: str) -> str:
    return "Bearer" if token_type.lower() == "bearer" else token_type


class RenewingTokenAuth(AuthBase):
    """Attach a token; on a 401, renew it once and retry. Subclasses provide :meth:`get_token`."""

    def get_token(self, force_renewal: bool) -> TokenResult:
        raise NotImplementedError("subclasses of RenewingTokenAuth must provide a get_token() method")

    def _authorization(self, force_renewal: bool) -> str:
        result = self.get_token(force_renewal)
        if result.token is None:
            error = result.error.value if result.error else "no_token"
            raise AccessTokenUnavailable(error, transient=result.transient, retry_after=result.retry_after)
        return f"{_scheme(result.token.access_token_type)} {result.token.access_token}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self._authorization(False)
        r.hooks.setdefault("response", []).append(self._handle_401)
        return r

    @staticmethod
    def _replayable(r: requests.PreparedRequest) -> bool:
        return r.body is None or isinstance(r.body, (bytes, str))

    def _handle_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or request in _renewed:
            return response
        if not self._replayable(request):
            logger.debug("401 on a streamed body: not retried")
            return response
        retry = request.copy()
        _renewed.add(retry)
        retry.headers["Authorization"] = self._authorization(True)
        _ = response.content  # read the 401 so the connection can be reused
        response.close()
        logger.debug("401 from %s: token renewed, sending once more", request.url)
        new = response.connection.send(retry, **kwargs)
        new.history.append(response)
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
