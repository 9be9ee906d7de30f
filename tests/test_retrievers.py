from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.retrievers import (
    AccessTokenRetrievalContext,
    AccessTokenRetrievalError,
    AccessTokenRetriever,
    BearerTokenResult,
    DefaultAccessTokenRetriever,
    DPoPTokenResult,
    NoAccessTokenResult,
    pattern_retrievers,
    resolve_retriever_class,
    result_from_token,
    retriever_class_for,
)
from django_bff.tokens import TokenError, TokenResult, TokenType, UserToken


def test_results_from_tokens() -> None:
    assert result_from_token(TokenResult(token=UserToken("a"))) == BearerTokenResult("a")
    dpop = UserToken("a", access_token_type="DPoP", dpop_jwk='{"kty":"EC"}')
    assert result_from_token(TokenResult(token=dpop)) == DPoPTokenResult("a", '{"kty":"EC"}')
    assert result_from_token(TokenResult(error=TokenError.SESSION_EXPIRED)) == AccessTokenRetrievalError(
        "session_expired"
    )
    transient = result_from_token(TokenResult(error=TokenError.REFRESH_LOCK_TIMEOUT))
    assert transient == AccessTokenRetrievalError("refresh_lock_timeout", 503, 5)
    assert "a-secret-token" not in repr(BearerTokenResult("a-secret-token")) and "secret" not in repr(
        DPoPTokenResult("secret", "{}")
    )


def test_base_class_and_async_twin() -> None:
    context = AccessTokenRetrievalContext(request=None, local_path="/api/x", api_address="https://a/")  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="subclasses of AccessTokenRetriever"):
        AccessTokenRetriever().get_access_token(context)
    none = AccessTokenRetrievalContext(
        request=None, local_path="/", api_address="https://a/", token_type=TokenType.NONE
    )  # type: ignore[arg-type]
    assert async_to_sync(DefaultAccessTokenRetriever().aget_access_token)(none) == NoAccessTokenResult()


def test_resolution_and_patterns(settings: Any) -> None:
    assert resolve_retriever_class("django_bff.retrievers.DefaultAccessTokenRetriever") is DefaultAccessTokenRetriever
    with pytest.raises(BFFImproperlyConfigured, match="Could not import"):
        resolve_retriever_class("no.such.Thing")
    with pytest.raises(BFFImproperlyConfigured, match="not a subclass"):
        resolve_retriever_class(object)
    settings.BFF = {**settings.BFF, "ACCESS_TOKEN_RETRIEVERS": [{"PATTERN": "(", "RETRIEVER": "x"}]}
    with pytest.raises(BFFImproperlyConfigured, match="bad PATTERN"):
        pattern_retrievers()
    settings.BFF = {
        **settings.BFF,
        "ACCESS_TOKEN_RETRIEVERS": [{"PATTERN": "^/api/a/", "RETRIEVER": "tests.support.retrievers.RouteRetriever"}],
    }
    from tests.support.retrievers import RouteRetriever

    assert retriever_class_for(None, "/api/a/x") is RouteRetriever
    assert retriever_class_for(None, "/api/b/x") is DefaultAccessTokenRetriever
    assert retriever_class_for(DefaultAccessTokenRetriever, "/api/a/x") is DefaultAccessTokenRetriever


@pytest.mark.django_db
def test_the_default_retriever_gives_a_dpop_result_for_a_sessions_bound_token(user: Any) -> None:
    from tests.support.dpop_tokens import bound_token
    from tests.support.token_sessions import Session

    bound = bound_token()
    session = Session(user, bound.user_token())
    context = AccessTokenRetrievalContext(request=session.request(), local_path="/api/x", api_address="https://a/")
    assert DefaultAccessTokenRetriever().get_access_token(context) == DPoPTokenResult(
        bound.access_token, bound.private_jwk
    )


@pytest.mark.django_db
def test_an_exchanged_token_bound_to_a_key_it_carries_is_sent_with_proofs(user: Any, monkeypatch: Any) -> None:
    from django_bff import retrievers
    from django_bff.testing import sample_token
    from django_bff.tokens import ClientToken
    from tests.support.dpop_tokens import bound_token
    from tests.support.token_sessions import Session

    exchanged = bound_token("exchanged")

    def exchange(subject: str, data: dict[str, str], client: str = "default") -> TokenResult:
        return TokenResult(ClientToken(exchanged.access_token, "DPoP", dpop_jwk=exchanged.private_jwk))

    monkeypatch.setattr(retrievers, "exchange_token", exchange)
    session = Session(user, sample_token(1))
    context = AccessTokenRetrievalContext(request=session.request(), local_path="/api/x", api_address="https://a/")
    result = retrievers.TokenExchangeAccessTokenRetriever().get_access_token(context)
    assert result == DPoPTokenResult(exchanged.access_token, exchanged.private_jwk)
