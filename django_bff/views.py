"""The BFF's own endpoints: ``/bff/login``, ``/bff/logout``, ``/bff/user``, ``/bff/backchannel``.

``/bff/login?returnUrl=/orders&prompt=none`` starts the OpenID Connect login
(authorization code with PKCE, state and nonce, through mozilla-django-oidc)
and, once the user is back, sends the browser to ``returnUrl``. ``returnUrl``
must be a local path, or an absolute URL on an origin of
``BFF["ALLOWED_RETURN_ORIGINS"]``; anything else answers 400
``{"error": "invalid_return_url"}``, so the login can never be used to send a
user to another site (an open redirect). ``prompt`` (``none``, ``login``,
``consent``, ``select_account``) passes through; ``prompt=none`` is the silent
login.

``/bff/logout``, ``/bff/user`` and ``/bff/backchannel`` are described on their
views below and in ``docs/endpoints.rst``; :class:`OIDCCallbackView` is the
callback to mount with mozilla-django-oidc's URLs (``OIDC_CALLBACK_CLASS``).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from django.contrib import auth
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, JsonResponse, QueryDict
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from mozilla_django_oidc.views import (  # type: ignore[import-untyped]  # ships no types
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from django_bff.antiforgery import check_antiforgery
from django_bff.backchannel import get_endpoint
from django_bff.clients import get_client
from django_bff.clock import clock
from django_bff.conf import bff_settings
from django_bff.exceptions import AntiforgeryRequired, BFFError, InvalidLogoutToken
from django_bff.faults import is_storage_error, storage_unavailable
from django_bff.handoff import CALLBACK_ATTR, session_identity_token, unverified_claims
from django_bff.logout_tokens import forget_jti, remember_jti, validate_logout_token
from django_bff.middleware import dont_slide, will_slide
from django_bff.responses import error_response, response_for
from django_bff.session_keys import (
    OIDC_ID_TOKEN_EXPIRATION_KEY,
    OIDC_LOGIN_NEXT_KEY,
    OIDC_STATES_KEY,
    SESSION_SID_KEY,
    SESSION_SUB_KEY,
)
from django_bff.sessions import cycle_session_key, end_sessions, session_expires_at
from django_bff.token_manager import revoke_refresh_token

__all__ = [
    "LoginView",
    "LogoutView",
    "UserView",
    "BackchannelLogoutView",
    "OIDCCallbackView",
    "DiagnosticsView",
    "diagnostics_enabled",
    "safe_return_url",
]

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.django_bff")

_PROMPTS = frozenset({"none", "login", "consent", "select_account"})
#: Printable ASCII only: control characters, whitespace and Unicode look-alikes are refused.
_PRINTABLE = re.compile(r"^[\x21-\x7e]*$")


def safe_return_url(value: str | None, request: HttpRequest) -> str | None:
    """``value`` when it is a safe place to send the browser after login, else None.

    Safe: a path on this site (``/...``, never ``//...`` or ``/\\...``), or an
    absolute ``https``/``http`` URL whose origin is in
    ``BFF["ALLOWED_RETURN_ORIGINS"]``. Empty means ``/``.
    """
    if value is None or value == "":
        return "/"
    if not _PRINTABLE.match(value) or "\\" in value or "%5c" in value.lower():
        return None
    parts = urlsplit(value)
    if not parts.scheme and not parts.netloc:
        local = value.startswith("/") and not value.startswith("//") and not parts.path.startswith("//")
        if local and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
            return value
        return None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    allowed = {str(o).rstrip("/").lower() for o in bff_settings.ALLOWED_RETURN_ORIGINS}
    if parts.scheme in ("https", "http") and not parts.username and not parts.password and origin in allowed:
        return value
    return None


class LoginView(OIDCAuthenticationRequestView):  # type: ignore[misc]  # an untyped base (Any)
    """``/bff/login``: validates ``returnUrl`` and ``prompt``, then mozilla-django-oidc's login request."""

    bff_endpoint = True

    def get(self, request: HttpRequest) -> HttpResponse:
        return_url = safe_return_url(request.GET.get("returnUrl"), request)
        if return_url is None:
            return error_response(400, "invalid_return_url")
        prompt = request.GET.get("prompt")
        if prompt is not None and prompt not in _PROMPTS:
            return error_response(400, "invalid_prompt")
        query = QueryDict(mutable=True)
        query[self.get_settings("OIDC_REDIRECT_FIELD_NAME", "next")] = return_url
        if prompt:
            query["prompt"] = prompt
        request.GET = query  # type: ignore[assignment]  # Django types request.GET as immutable
        response: HttpResponse = super().get(request)
        # mozilla-django-oidc checks "next" against the allowed hosts only; an allowed
        # absolute URL of another origin is what we validated, so keep it as is.
        request.session[OIDC_LOGIN_NEXT_KEY] = return_url
        return response

    def get_extra_params(self, request: HttpRequest) -> dict[str, Any]:
        params: dict[str, Any] = dict(super().get_extra_params(request))
        if request.GET.get("prompt"):
            params["prompt"] = request.GET["prompt"]
        return params


class OIDCCallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]  # an untyped base (Any)
    """mozilla-django-oidc's callback (``/oidc/callback/``), safe for a BFF. Mount it with::

        OIDC_CALLBACK_CLASS = "django_bff.views.OIDCCallbackView"

    Two differences (``django_bff.W018`` warns when another class is mounted):

    * An error answer (``?error=access_denied``) ends the session only when its
      ``state`` is one of a login this browser started. mozilla-django-oidc logs
      the user out on any error answer, so any page could log users out with a
      link to ``/oidc/callback/?error=x`` (logout CSRF). Such a request is logged
      to ``django.security.django_bff`` and sent to ``LOGIN_REDIRECT_URL_FAILURE``
      with the session untouched.
    * Every completed login goes through Django's ``login()``, which cycles the
      session key and the CSRF token, also when the same user logs in again
      (mozilla-django-oidc skips it then, keeping the key the session had).
    """

    bff_endpoint = True

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if request.GET.get("error"):
            state = request.GET.get("state")
            states = request.session.get(OIDC_STATES_KEY)
            if not (isinstance(state, str) and isinstance(states, dict) and state in states):
                security_logger.warning(
                    "OIDC callback with an error answer for no login of this browser's: session left as it is"
                )
                refused: HttpResponseBase = self.login_failure()
                return refused
        setattr(request, CALLBACK_ATTR, True)
        response: HttpResponseBase = super().get(request)
        return response

    def login_success(self) -> HttpResponseBase:
        current = getattr(self.request, "user", None)
        if current is not None and current.is_authenticated and current.pk == self.user.pk:
            # Django's login() cycles the key of an anonymous session and flushes another
            # user's, but keeps the key of the same user's: a new login gets a new key.
            cycle_session_key(self.request)
        auth.login(self.request, self.user)
        expiration = self.get_settings("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 60 * 15)
        self.request.session[OIDC_ID_TOKEN_EXPIRATION_KEY] = time.time() + expiration
        return HttpResponseRedirect(self.success_url)


class LogoutView(View):
    """``/bff/logout?sid=...&returnUrl=...``: end the session here and at the provider.

    A logged-in user must present the session's ``sid`` (given by ``/bff/user``
    as ``bff:logout_url``), so a third-party page cannot log users out: a wrong
    or missing one answers 400 ``{"error": "invalid_sid"}``. Then the refresh
    token is revoked (RFC 7009, best effort; ``BFF["REVOKE_REFRESH_TOKEN_ON_LOGOUT"]``),
    the tokens are cleared, the Django
    session is flushed, and the browser goes to the provider's end-session
    endpoint with ``id_token_hint`` and ``post_logout_redirect_uri`` (the
    absolute ``returnUrl``), or straight to ``returnUrl`` when the provider has
    none. An anonymous user goes straight to ``returnUrl``.
    """

    bff_endpoint = True
    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return_url = safe_return_url(request.GET.get("returnUrl"), request)
        if return_url is None:
            return error_response(400, "invalid_return_url")
        if not request.user.is_authenticated:
            return HttpResponseRedirect(return_url)
        expected = request.session.get(SESSION_SID_KEY)
        sid = request.GET.get("sid", "")
        if not isinstance(expected, str) or not constant_time_compare(sid, expected):
            security_logger.warning("logout refused: the sid does not match the session's")
            return error_response(400, "invalid_sid")
        if bff_settings.REVOKE_REFRESH_TOKEN_ON_LOGOUT:
            revoke_refresh_token(request)
        id_token = session_identity_token(request.session)
        try:
            end_session = get_endpoint("end_session_endpoint")
        except BFFError:
            end_session = None
        logout(request)  # clears the tokens (receivers) and flushes the session
        if not end_session:
            return HttpResponseRedirect(return_url)
        params = {"post_logout_redirect_uri": request.build_absolute_uri(return_url)}
        if id_token:
            params["id_token_hint"] = id_token
        else:
            params["client_id"] = get_client().client_id
        separator = "&" if urlsplit(end_session).query else "?"
        return HttpResponseRedirect(f"{end_session}{separator}{urlencode(params)}")


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


class UserView(View):
    """``/bff/user``: who is logged in, for the browser app.

    Needs the anti-forgery header (else 401
    ``{"error": "antiforgery_header_required"}``). Anonymous: 401
    ``{"error": "not_authenticated"}``, or ``200 null`` when
    ``BFF["ANONYMOUS_SESSION_RESPONSE"]`` is 200. Logged in: a JSON array of
    ``{"type": ..., "value": ...}``, the identity token's claims (filtered by
    ``BFF["USER_CLAIMS"]`` and ``BFF["USER_CLAIMS_EXCLUDED"]``; a list claim gives
    one entry per value), then ``bff:logout_url`` (``/bff/logout?sid=...``) and
    ``bff:session_expires_in`` (seconds). ``?slide=false`` answers without
    extending the session (with :class:`django_bff.middleware.SessionMiddleware`),
    so polling does not keep a session alive.

    Override :meth:`get_claims` in a subclass to shape the claims.
    """

    bff_endpoint = True
    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            check_antiforgery(request)
        except AntiforgeryRequired as e:
            return response_for(e)
        if request.GET.get("slide", "").lower() in ("false", "0", "no"):
            dont_slide(request)
        if not request.user.is_authenticated:
            if bff_settings.ANONYMOUS_SESSION_RESPONSE == 200:
                return _no_store(JsonResponse(None, safe=False))
            return error_response(401, "not_authenticated")
        items: list[dict[str, Any]] = []
        for name, value in self.get_claims(request).items():
            for one in value if isinstance(value, list) else [value]:
                items.append({"type": name, "value": one})
        sid = str(request.session.get(SESSION_SID_KEY, ""))
        namespace = request.resolver_match.namespace if request.resolver_match else "django_bff"
        logout_url = reverse(f"{namespace}:logout" if namespace else "logout")
        items.append({"type": "bff:logout_url", "value": f"{logout_url}?sid={quote(sid, safe='')}"})
        items.append({"type": "bff:session_expires_in", "value": self.session_expires_in(request)})
        return _no_store(JsonResponse(items, safe=False))

    def get_claims(self, request: HttpRequest) -> dict[str, Any]:
        """The claims to show: the identity token's, filtered by the settings."""
        # Verified at login; read again here, from our own encrypted copy.
        claims = unverified_claims(session_identity_token(request.session))
        if not claims and isinstance(request.session.get(SESSION_SUB_KEY), str):
            claims = {"sub": request.session[SESSION_SUB_KEY]}
        wanted = bff_settings.USER_CLAIMS
        excluded = set(bff_settings.USER_CLAIMS_EXCLUDED or ())
        return {
            name: value for name, value in claims.items() if (wanted is None or name in wanted) and name not in excluded
        }

    @staticmethod
    def session_expires_in(request: HttpRequest) -> int:
        """Seconds until the session expires, counting the save this response may make."""
        if will_slide(request):
            return int(request.session.get_expiry_age())
        return max(0, int(session_expires_at(request.session) - clock.time()))


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
        return _no_store(HttpResponse(status=200))


def diagnostics_enabled() -> bool:
    """Whether ``/bff/diagnostics`` answers: ``BFF["DIAGNOSTICS"]``, or ``DEBUG`` when it is None."""
    from django.conf import settings

    value = bff_settings.DIAGNOSTICS
    return bool(settings.DEBUG if value is None else value)


def _moment(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _describe(token: Any, refresh_before: float) -> dict[str, Any]:
    """What a token is, never what it holds: expiry, scope, resource, type, DPoP thumbprint."""
    from django_bff.dpop import jwk_thumbprint

    expires_in = token.expires_in()
    described: dict[str, Any] = {
        "token_type": token.access_token_type,
        "scope": token.scope,
        "expires_at": _moment(token.expires_at),
        "expires_in": None if expires_in is None else int(expires_in),
        "issued_at": _moment(getattr(token, "issued_at", None)),
        "refresh_window": token.refresh_window(refresh_before),
        "needs_refresh": token.needs_refresh(refresh_before),
        "dpop_jkt": None,
    }
    if getattr(token, "dpop_jwk", None):
        try:
            described["dpop_jkt"] = jwk_thumbprint(token.dpop_jwk)
        except (ValueError, KeyError, TypeError):
            described["dpop_jkt"] = "unreadable"
    if hasattr(token, "refresh_token"):
        described.update(
            resource=token.resource,
            client_id=token.client_id,
            has_refresh_token=bool(token.refresh_token),
            has_identity_token=bool(token.identity_token),
        )
    return described


class DiagnosticsView(View):
    """``/bff/diagnostics``: what the BFF holds for this session, for developers. Never a token value.

    Answers only under ``DEBUG``, or with ``BFF["DIAGNOSTICS"] = True``; a plain
    404 otherwise (``BFF["DIAGNOSTICS"] = False`` turns it off under ``DEBUG``
    too, and ``manage.py check --deploy`` reports it on without ``DEBUG``:
    ``django_bff.E040``). The JSON names, for the session's tokens (its own,
    then per resource and scope) and for the cached client-credentials token of
    every client: the token type, scope, resource, expiry, when it was
    requested, its refresh window, whether there is a refresh or identity
    token, and the DPoP key's thumbprint (``jkt``); and how long the session's
    refresh token stays in doubt, if it does. ``Cache-Control: no-store``.
    """

    bff_endpoint = True
    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        from django.core.cache import caches
        from django.http import Http404

        from django_bff.clients import client_names, get_client
        from django_bff.stores import get_token_store
        from django_bff.token_manager import (
            _client_cache_key,
            _decode_client_token,
            _in_doubt_for,
            _in_doubt_key,
        )

        if not diagnostics_enabled():
            raise Http404("diagnostics are off")
        before = bff_settings.refresh_before_expiration
        authenticated = bool(request.user.is_authenticated)
        data: dict[str, Any] = {
            "authenticated": authenticated,
            "sid": request.session.get(SESSION_SID_KEY) if authenticated else None,
            "session_expires_in": UserView.session_expires_in(request) if authenticated else None,
            "user_tokens": [],
            "refresh_token_in_doubt_for": None,
            "client_tokens": {},
        }
        if authenticated:
            store = get_token_store()
            lister = getattr(store, "stored_tokens", None)
            tokens = lister(request) if lister is not None else [t for t in [store.get_token(request)] if t]
            data["user_tokens"] = [_describe(token, before) for token in tokens]
            grant = next((t for t in tokens if t.refresh_token), None)
            if grant is not None:
                data["refresh_token_in_doubt_for"] = _in_doubt_for(_in_doubt_key(grant))
        cache = caches[bff_settings.CACHE]
        for name in client_names():
            client = get_client(name)
            cached = _decode_client_token(cache.get(_client_cache_key(name, client.scope, client.resource)))
            data["client_tokens"][name] = None if cached is None else _describe(cached, before)
        return _no_store(JsonResponse(data))
