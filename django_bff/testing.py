"""Contract tests for token stores, to run against your own :class:`~django_bff.stores.UserTokenStore`.

In the data flow: outside it; your tests call a store through the contract.

Mix :class:`UserTokenStoreContract` into a pytest class (or a Django
``TestCase``) and provide :meth:`~UserTokenStoreContract.make_store`::

    import pytest
    from django_bff.testing import UserTokenStoreContract

    @pytest.mark.django_db(transaction=True)
    class TestMyStore(UserTokenStoreContract):
        def make_store(self):
            return MyTokenStore()

The requests it makes have a saved session (from ``SESSION_ENGINE``) and an
authenticated user; override :meth:`~UserTokenStoreContract.new_request` and
:meth:`~UserTokenStoreContract.finish_request` when your store needs more.
Override :meth:`~UserTokenStoreContract.raw_values` to also prove that your
storage never holds a token in clear text; until you do, that test is skipped
and says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from importlib import import_module
from typing import Any
from unittest import SkipTest

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import HttpRequest
from django.test import RequestFactory

from django_bff.stores import UserTokenStore
from django_bff.tokens import UserToken, UserTokenRequestParameters

__all__ = ["UserTokenStoreContract", "sample_token"]


def sample_token(n: int = 1, **overrides: Any) -> UserToken:
    """A token with every field set and values unique to ``n``."""
    values: dict[str, Any] = {
        "access_token": f"contract-access-token-{n}-AAAAAAAAAAAA",
        "access_token_type": "Bearer",
        "refresh_token": f"contract-refresh-token-{n}-RRRRRRRRRRRR",
        "expires_at": datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc) + timedelta(seconds=n),
        "scope": "openid email api",
        "identity_token": f"contract-id-token-{n}-IIIIIIIIIIII",
        "client_id": "bff",
        "dpop_jwk": None,
        "resource": None,
        "issued_at": datetime(2031, 1, 2, 2, 4, 5, tzinfo=timezone.utc),
    }
    values.update(overrides)
    return UserToken(**values)


class UserTokenStoreContract:
    """The behaviour every token store must have. Needs database access for the user and session."""

    # --- hooks ---------------------------------------------------------------
    def make_store(self) -> UserTokenStore:
        raise NotImplementedError("subclasses of UserTokenStoreContract must provide a make_store() method")

    def make_user(self, username: str = "contract-user") -> Any:
        from django.contrib.auth import get_user_model

        user, _ = get_user_model().objects.get_or_create(username=username)
        return user

    def new_request(self, session_key: str | None = None, user: Any = None) -> HttpRequest:
        """A request carrying the session ``session_key`` (a new saved session when None)."""
        request = RequestFactory().get("/")
        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(session_key)
        if session_key is None:
            request.session.cycle_key()  # gives a new session a key (and saves it where there is storage)
        request.user = user or self.make_user()
        return request

    def finish_request(self, request: HttpRequest) -> str | None:
        """What SessionMiddleware does at the end of a request: save the session.

        Returns the key the next request presents (with ``signed_cookies`` the
        key is the data, so it changes with every save).
        """
        request.session.save()
        return request.session.session_key

    def raw_values(self, request: HttpRequest) -> list[bytes] | None:
        """Everything your storage holds for this session, as bytes (None: not checked, and the test is skipped)."""
        return None

    # --- the contract ---------------------------------------------------------------
    def test_no_token_gives_none(self) -> None:
        store = self.make_store()
        assert store.get_token(self.new_request()) is None

    def test_round_trip_keeps_every_field(self) -> None:
        store = self.make_store()
        request = self.new_request()
        token = sample_token(1)
        store.store_token(request, token)
        key = self.finish_request(request)
        got = store.get_token(self.new_request(key, request.user))
        assert got == token

    def test_store_replaces_the_token(self) -> None:
        store = self.make_store()
        request = self.new_request()
        store.store_token(request, sample_token(1))
        key = self.finish_request(request)
        again = self.new_request(key, request.user)
        assert store.get_token(again) == sample_token(1)
        store.store_token(again, sample_token(2))
        key = self.finish_request(again)
        assert store.get_token(self.new_request(key, request.user)) == sample_token(2)

    def test_clear_removes_every_token(self) -> None:
        store = self.make_store()
        request = self.new_request()
        store.store_token(request, sample_token(1))
        store.store_token(
            request, sample_token(2, resource="urn:api2"), UserTokenRequestParameters(resource="urn:api2")
        )
        key = self.finish_request(request)
        again = self.new_request(key, request.user)
        store.clear_token(again)
        key = self.finish_request(again)
        third = self.new_request(key, request.user)
        assert store.get_token(third) is None
        assert store.get_token(third, UserTokenRequestParameters(resource="urn:api2")) is None

    def test_tokens_are_kept_per_resource(self) -> None:
        store = self.make_store()
        request = self.new_request()
        api2 = UserTokenRequestParameters(resource="urn:api2")
        store.store_token(request, sample_token(1))
        store.store_token(request, sample_token(2, resource="urn:api2"), api2)
        key = self.finish_request(request)
        again = self.new_request(key, request.user)
        assert store.get_token(again) == sample_token(1)
        assert store.get_token(again, api2) == sample_token(2, resource="urn:api2")
        assert store.get_token(again, UserTokenRequestParameters(resource="urn:other")) is None

    def test_sessions_do_not_share_tokens(self) -> None:
        store = self.make_store()
        first, second = self.new_request(), self.new_request(user=self.make_user("contract-other"))
        store.store_token(first, sample_token(1))
        store.store_token(second, sample_token(2))
        key1, key2 = self.finish_request(first), self.finish_request(second)
        assert store.get_token(self.new_request(key1, first.user)) == sample_token(1)
        assert store.get_token(self.new_request(key2, second.user)) == sample_token(2)

    def test_async_twins(self) -> None:
        store = self.make_store()
        request = self.new_request()
        async_to_sync(store.astore_token)(request, sample_token(3))
        key = self.finish_request(request)
        again = self.new_request(key, request.user)
        assert async_to_sync(store.aget_token)(again) == sample_token(3)
        async_to_sync(store.aclear_token)(again)
        key = self.finish_request(again)
        assert async_to_sync(store.aget_token)(self.new_request(key, request.user)) is None

    def test_the_session_alone_reaches_the_tokens(self) -> None:
        """``get_session_token``/``clear_session_tokens``: a session ended from outside any request of its own."""
        store = self.make_store()
        request = self.new_request()
        store.store_token(request, sample_token(5))
        key = self.finish_request(request)
        again = self.new_request(key, request.user)
        assert store.get_session_token(again.session) == sample_token(5)
        store.clear_session_tokens(again.session)
        key = self.finish_request(again)
        assert store.get_token(self.new_request(key, request.user)) is None

    def test_no_clear_text_at_rest(self) -> None:
        store = self.make_store()
        request = self.new_request()
        token = sample_token(4)
        store.store_token(request, token)
        self.finish_request(request)
        raw = self.raw_values(request)
        if raw is None:
            raise SkipTest(f"{type(self).__name__}.raw_values() is not overridden: nothing at rest to check")
        assert raw, "raw_values() returned nothing for a session holding tokens"
        blob = b"\n".join(raw)
        for secret in (token.access_token, token.refresh_token, token.identity_token):
            assert secret is not None and secret.encode() not in blob
