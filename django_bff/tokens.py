"""Token data: plain, immutable values and expiry maths. No I/O happens here.

In the data flow: at the bottom. The values every layer passes to the next.

These map onto the reference page's types: :class:`UserToken` is Duende's
``UserToken``, :class:`UserTokenRequestParameters` its
``UserTokenRequestParameters``, :class:`TokenType` its ``TokenType``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "UserToken",
    "ClientToken",
    "UserTokenRequestParameters",
    "TokenType",
    "TokenResult",
    "TokenError",
    "expires_at_from_response",
]


def _now() -> datetime:
    from django_bff.clock import clock

    return clock.now()


def expires_at_from_response(response: Mapping[str, Any], now: datetime | None = None) -> datetime | None:
    """Turn a token response's relative ``expires_in`` into an absolute, aware UTC time.

    Returns ``None`` (unknown) when ``expires_in`` is missing or not a number.
    """
    expires_in = response.get("expires_in")
    if isinstance(expires_in, bool) or expires_in is None:
        return None
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return (now or _now()) + timedelta(seconds=seconds)


class _TokenMixin:
    access_token: str
    expires_at: datetime | None
    issued_at: datetime | None

    def expires_in(self, now: datetime | None = None) -> float | None:
        """Seconds until expiry (negative once expired), ``None`` when unknown."""
        if self.expires_at is None:
            return None
        return (self.expires_at - (now or _now())).total_seconds()

    def lifetime(self) -> float | None:
        """Seconds from when the token was requested to its expiry, ``None`` when unknown."""
        if self.expires_at is None or self.issued_at is None:
            return None
        return (self.expires_at - self.issued_at).total_seconds()

    def refresh_window(self, refresh_before: float) -> float:
        """How long before expiry this token is renewed: ``refresh_before``, at most half its lifetime.

        A token that lives shorter than the window (30-second tokens against the
        60-second default) would otherwise be renewed on every call.
        """
        lifetime = self.lifetime()
        if lifetime is not None and lifetime > 0:
            return min(refresh_before, lifetime / 2)
        return refresh_before

    def needs_refresh(self, refresh_before: float, now: datetime | None = None) -> bool:
        """True when the token expires within its :meth:`refresh_window` of ``refresh_before`` seconds.

        A token with unknown expiry never needs a proactive refresh; a 401 from the
        API is what renews it (see :class:`django_bff.http.UserAccessTokenAuth`).
        """
        remaining = self.expires_in(now)
        return remaining is not None and remaining <= self.refresh_window(refresh_before)

    def __repr__(self) -> str:
        # Never print token values, not even in a debugger or a traceback.
        return f"<{type(self).__name__} expires_at={self.expires_at!r}>"


@dataclass(frozen=True, repr=False)
class UserToken(_TokenMixin):
    """The tokens of one user session (reference: ``UserToken``)."""

    access_token: str
    access_token_type: str = "Bearer"
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scope: str | None = None
    identity_token: str | None = None
    client_id: str | None = None
    dpop_jwk: str | None = None
    resource: str | None = None
    #: When the token request was sent (``expires_in`` counts from about then).
    issued_at: datetime | None = None

    @classmethod
    def from_token_response(
        cls,
        response: Mapping[str, Any],
        *,
        previous: UserToken | None = None,
        client_id: str | None = None,
        resource: str | None = None,
        now: datetime | None = None,
    ) -> UserToken:
        """Build a token from an OAuth token response.

        With ``previous`` (a refresh), values the response leaves out are kept: the
        refresh token (a server that does not rotate sends none), the identity
        token, the scope. ``now`` is when the request was *sent*: the provider
        counts ``expires_in`` from when it handled the request, so counting from
        when the answer arrived would make a slow answer look fresher than it is.
        """
        now = now or _now()
        access_token = response.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("token response has no access_token")
        refresh_token = response.get("refresh_token") or (previous.refresh_token if previous else None)
        return cls(
            access_token=access_token,
            access_token_type=str(response.get("token_type") or "Bearer"),
            refresh_token=refresh_token,
            expires_at=expires_at_from_response(response, now),
            scope=response.get("scope") or (previous.scope if previous else None),
            identity_token=response.get("id_token") or (previous.identity_token if previous else None),
            client_id=client_id or (previous.client_id if previous else None),
            dpop_jwk=previous.dpop_jwk if previous else None,
            resource=resource if resource is not None else (previous.resource if previous else None),
            issued_at=now,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("expires_at", "issued_at"):
            moment = getattr(self, name)
            data[name] = moment.timestamp() if moment else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserToken:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for name in ("expires_at", "issued_at"):
            moment = values.get(name)
            values[name] = datetime.fromtimestamp(moment, timezone.utc) if moment is not None else None
        return cls(**values)


@dataclass(frozen=True, repr=False)
class ClientToken(_TokenMixin):
    """An application token from the client-credentials grant."""

    access_token: str
    access_token_type: str = "Bearer"
    expires_at: datetime | None = None
    scope: str | None = None
    dpop_jwk: str | None = None
    #: When the token request was sent.
    issued_at: datetime | None = None


@dataclass(frozen=True)
class UserTokenRequestParameters:
    """Extra parameters for a user-token request (reference: ``UserTokenRequestParameters``).

    ``force_renewal`` refreshes even a fresh token. ``scope`` and ``resource`` ask
    the token service for a narrower token, obtained with the session's refresh
    token; such tokens are stored per ``resource`` and ``scope``.
    ``context`` holds extra form parameters sent with the refresh request.
    """

    force_renewal: bool = False
    scope: str | None = None
    resource: str | None = None
    assertion: str | None = field(default=None, repr=False)
    context: Mapping[str, str] = field(default_factory=dict)


class TokenType(enum.StrEnum):
    """Which token a remote API route needs (reference: ``TokenType``)."""

    USER = "user"
    CLIENT = "client"
    USER_OR_CLIENT = "user_or_client"
    NONE = "none"


class TokenError(enum.StrEnum):
    """Why a token could not be had. The values are stable, documented codes."""

    NOT_AUTHENTICATED = "not_authenticated"
    NO_TOKEN = "no_token"
    SESSION_EXPIRED = "session_expired"
    TOKEN_SERVICE_UNAVAILABLE = "token_service_unavailable"
    TOKEN_SERVICE_ERROR = "token_service_error"
    REFRESH_LOCK_TIMEOUT = "refresh_lock_timeout"
    STORAGE_UNAVAILABLE = "storage_unavailable"

    @property
    def transient(self) -> bool:
        return self in (
            TokenError.TOKEN_SERVICE_UNAVAILABLE,
            TokenError.REFRESH_LOCK_TIMEOUT,
            TokenError.STORAGE_UNAVAILABLE,
        )


_TRANSIENT = frozenset(
    {TokenError.TOKEN_SERVICE_UNAVAILABLE, TokenError.REFRESH_LOCK_TIMEOUT, TokenError.STORAGE_UNAVAILABLE}
)


@dataclass(frozen=True)
class TokenResult:
    """What :func:`django_bff.token_manager.get_user_access_token` answers.

    Either ``token`` is set, or ``error`` says why not. Protocol problems are
    results, never exceptions.
    """

    token: UserToken | ClientToken | None = None
    error: TokenError | None = None
    retry_after: int | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None

    @property
    def transient(self) -> bool:
        return self.error is not None and self.error.transient

    @property
    def access_token(self) -> str | None:
        return self.token.access_token if self.token else None

    def __bool__(self) -> bool:
        return self.token is not None
