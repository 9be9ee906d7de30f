"""The record of the shipped stores: lost updates refused (compare-and-set), a reference in the session, tampering."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.exceptions import TokenStoreConflict
from django_bff.stores import (
    SESSION_RECORD_KEY,
    SESSION_REF_KEY,
    CacheTokenStore,
    SessionTokenStore,
)
from django_bff.testing import UserTokenStoreContract, sample_token
from django_bff.tokens import UserTokenRequestParameters
from tests.support.session_engines import ENGINES


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store_class", [SessionTokenStore, CacheTokenStore])
def test_a_stale_session_save_does_not_write_old_tokens_back(server_engine: str, store_class: type, user: Any) -> None:
    contract = UserTokenStoreContract()
    store = store_class()
    login = contract.new_request(user=user)
    store.store_token(login, sample_token(1))
    key = contract.finish_request(login)

    # Request A loads the session (as every authenticated request does) ...
    slow = contract.new_request(key, user)
    assert slow.session[SESSION_REF_KEY]
    assert store.get_token(slow) == sample_token(1)
    # ... request B refreshes and finishes first ...
    fast = contract.new_request(key, user)
    assert store.get_token(fast) == sample_token(1)
    store.store_token(fast, sample_token(2))
    contract.finish_request(fast)
    # ... then A changes something else and saves its whole, older session dict.
    slow.session["cart"] = ["book"]
    contract.finish_request(slow)

    after = contract.new_request(key, user)
    assert after.session["cart"] == ["book"]
    assert store.get_token(after) == sample_token(2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store_class", [SessionTokenStore, CacheTokenStore])
def test_compare_and_set_refuses_a_write_based_on_old_tokens(server_engine: str, store_class: type, user: Any) -> None:
    contract = UserTokenStoreContract()
    store = store_class()
    login = contract.new_request(user=user)
    store.store_token(login, sample_token(1))
    key = contract.finish_request(login)
    a, b = contract.new_request(key, user), contract.new_request(key, user)
    assert store.get_token(a) == store.get_token(b) == sample_token(1)
    store.store_token(b, sample_token(2))
    with pytest.raises(TokenStoreConflict):
        store.store_token(a, sample_token(3))
    assert store.get_token(contract.new_request(key, user)) == sample_token(2)
    # Having read the newer record, A may write.
    assert store.get_token(a) == sample_token(2)
    store.store_token(a, sample_token(3))
    assert store.get_token(contract.new_request(key, user)) == sample_token(3)


@pytest.mark.database
@pytest.mark.django_db(transaction=True)
def test_session_holds_only_a_reference(settings: Any, user: Any) -> None:
    contract = UserTokenStoreContract()
    request = contract.new_request(user=user)
    SessionTokenStore().store_token(request, sample_token(1))
    contract.finish_request(request)
    assert set(request.session.keys()) == {SESSION_REF_KEY}
    assert len(request.session[SESSION_REF_KEY]) == 32


@pytest.mark.django_db(transaction=True)
def test_signed_cookies_keep_the_encrypted_record_in_the_cookie(settings: Any, user: Any) -> None:
    settings.SESSION_ENGINE = ENGINES["signed_cookies"]
    contract = UserTokenStoreContract()
    request = contract.new_request(user=user)
    SessionTokenStore().store_token(request, sample_token(1))
    assert SESSION_REF_KEY not in request.session
    record = request.session[SESSION_RECORD_KEY]
    assert record["v"] == 1 and record["tokens"][""].startswith("f:")


@pytest.mark.database
@pytest.mark.django_db(transaction=True)
def test_tampered_record_reads_as_no_token(user: Any, leak_guard: Any) -> None:
    contract = UserTokenStoreContract()
    store = SessionTokenStore()
    request = contract.new_request(user=user)
    store.store_token(request, sample_token(1))
    key = contract.finish_request(request)
    ref = request.session[SESSION_REF_KEY]
    record = store.read_record(ref)
    assert record is not None
    record["tokens"][""] = record["tokens"][""][:-4] + "AAAA"
    store.write_record(ref, record, 60, exists=True)
    assert store.get_token(contract.new_request(key, user)) is None
    assert any(r.name == "django.security.django_bff" for r in leak_guard.records)


@pytest.mark.database
@pytest.mark.django_db(transaction=True)
def test_undecodable_record_reads_as_no_token(user: Any) -> None:
    contract = UserTokenStoreContract()
    store = SessionTokenStore()
    request = contract.new_request(user=user)
    store.store_token(request, sample_token(1))
    key = contract.finish_request(request)
    ref = request.session[SESSION_REF_KEY]
    from django_bff import crypto

    store.write_record(ref, {"v": 9, "tokens": {"": crypto.encrypt(b"not json")}, "versions": {}}, 60, exists=True)
    assert store.get_token(contract.new_request(key, user)) is None
    store.write_record(ref, {"v": "x"}, 60, exists=True)
    assert store.get_token(contract.new_request(key, user)) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store_class", [SessionTokenStore, CacheTokenStore])
def test_compare_and_set_is_per_resource(server_engine: str, store_class: type, user: Any) -> None:
    contract = UserTokenStoreContract()
    store = store_class()
    api2 = UserTokenRequestParameters(resource="urn:api2")
    login = contract.new_request(user=user)
    store.store_token(login, sample_token(1))
    store.store_token(login, sample_token(2), api2)
    key = contract.finish_request(login)
    a, b = contract.new_request(key, user), contract.new_request(key, user)
    assert store.get_token(a) == sample_token(1)
    assert store.get_token(b, api2) == sample_token(2)
    # Two refreshes of different resources at the same moment: both land.
    store.store_token(b, sample_token(4), api2)
    store.store_token(a, sample_token(3))
    after = contract.new_request(key, user)
    assert store.get_token(after) == sample_token(3) and store.get_token(after, api2) == sample_token(4)
