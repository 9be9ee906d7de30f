"""``/bff/backchannel``: the provider ends sessions by ``sub`` or ``sid`` (back-channel logout).

In the data flow: an entry point for the provider; the token is validated by
:mod:`django_bff.logout_tokens`, the sessions ended by :mod:`django_bff.sessions`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from django_bff.exceptions import InvalidLogoutToken
from django_bff.faults import is_storage_error, storage_unavailable
from django_bff.logout_tokens import forget_jti, remember_jti, validate_logout_token
from django_bff.responses import error_response, no_store, response_for
from django_bff.sessions import end_sessions

__all__ = ["BackchannelLogoutView"]

#: The endpoints share the logger they had as one module.
logger = logging.getLogger("django_bff.views")
security_logger = logging.getLogger("django.security.django_bff")


def _forget_jti_quietly(claims: dict[str, Any]) -> None:
    try:
        forget_jti(claims)
    except Exception as e:
        if not is_storage_error(e):
            raise
        logger.warning("could not forget a logout token's jti (%s); the provider's retry is refused", type(e).__name__)


@method_decorator(csrf_exempt, name="dispatch")
class BackchannelLogoutView(View):
    """``/bff/backchannel``: OpenID Connect Back-Channel Logout 1.0.

    The provider POSTs ``logout_token`` (form-encoded). A token that passes every
    rule of :mod:`django_bff.logout_tokens` ends the matching sessions (the one
    ``sid``, or all of ``sub``) through the session index, wherever they live:
    200 with ``Cache-Control: no-store``. Anything invalid answers 400
    ``{"error": "invalid_logout_token"}``; a valid token whose sessions could not
    be ended 400 ``{"error": "logout_failed"}``, and its ``jti`` is forgotten so the
    provider may retry. When the cache (the ``jti`` cache) or the session storage
    cannot be reached: 503 ``{"error": "storage_unavailable"}`` with
    ``Retry-After``; a logout token is never accepted without its ``jti`` check.
    CSRF-exempt: the signed token is the proof, and the caller is the provider,
    not a browser.
    """

    bff_endpoint = True
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.content_type != "application/x-www-form-urlencoded":
            security_logger.warning("back-channel logout refused: not a form post")
            return error_response(400, "invalid_logout_token")
        token = request.POST.get("logout_token", "")
        try:
            claims = validate_logout_token(token)
            remember_jti(claims)
        except InvalidLogoutToken as e:
            security_logger.warning("back-channel logout refused: %s", e)
            return response_for(e)
        except Exception as e:
            if not is_storage_error(e):
                raise
            # The jti cache is down: refuse (the provider retries) rather than risk a replay.
            return response_for(storage_unavailable(e, "back-channel logout (jti cache)"))
        try:
            ended = end_sessions(sub=claims.get("sub"), sid=claims.get("sid"))
        except Exception as e:
            _forget_jti_quietly(claims)
            if is_storage_error(e):
                return response_for(storage_unavailable(e, "back-channel logout (ending sessions)"))
            logger.exception("back-channel logout: the sessions could not be ended")
            return error_response(400, "logout_failed")
        logger.info("back-channel logout ended %d session(s)", ended)
        return no_store(HttpResponse(status=200))
