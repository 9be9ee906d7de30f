"""System checks of the named clients (``BFF["CLIENTS"]``) and the client assertion services."""

from __future__ import annotations

from typing import Any

import pytest

GOOD_ROUTE = {"PREFIX": "api/x/", "TARGET": "https://api.example.com/"}


def test_E025_clients_not_a_dict(bff: Any) -> None:
    assert "django_bff.E025" in bff(CLIENTS=["billing"])


@pytest.mark.parametrize(
    "clients",
    [
        {"billing": "id"},
        {"billing": {"CLIENT_SECRET": "s"}},
        {"billing": {"CLIENT_ID": "b", "CLIENT_SECRET": "s", "COLOUR": "red"}},
        {"billing": {"CLIENT_ID": "b", "CLIENT_SECRET": "s", "DPOP": "yes"}},
    ],
)
def test_E049_malformed_client(bff: Any, clients: Any) -> None:
    assert "django_bff.E049" in bff(CLIENTS=clients)


def test_a_client_may_opt_in_to_dpop(bff: Any) -> None:
    found = bff(CLIENTS={"billing": {"CLIENT_ID": "b", "CLIENT_SECRET": "s", "DPOP": True}})
    assert not [i for i in found if "E0" in i]


@pytest.mark.parametrize("key, value", [("ISSUER", "idp.example"), ("TOKEN_ENDPOINT", "/token")])
def test_E050_client_url_not_absolute(bff: Any, key: str, value: str) -> None:
    assert "django_bff.E050" in bff(CLIENTS={"billing": {"CLIENT_ID": "b", "CLIENT_SECRET": "s", key: value}})


def test_E026_unknown_auth_method(bff: Any) -> None:
    assert "django_bff.E026" in bff(CLIENTS={"b": {"CLIENT_ID": "b", "CLIENT_SECRET": "s", "AUTH_METHOD": "magic"}})


def test_E027_secret_method_without_secret(bff: Any) -> None:
    assert "django_bff.E027" in bff(CLIENTS={"b": {"CLIENT_ID": "b", "AUTH_METHOD": "client_secret_post"}})


def test_good_clients_and_routes_naming_them(bff: Any) -> None:
    clients = {"billing": {"CLIENT_ID": "b", "CLIENT_SECRET": "s", "ISSUER": "https://idp.example"}}
    routes = [{**GOOD_ROUTE, "TOKEN_TYPE": "client", "CLIENT": "billing"}]
    assert bff(CLIENTS=clients, REMOTE_APIS=routes) == ["django_bff.W005", "django_bff.W010"]


@pytest.mark.parametrize(
    "service",
    [
        "no.such.Service",
        {"BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService", "OPTIONS": {"KEY_FILE": "/no/such.pem"}},
        {"BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService", "OPTIONS": {"KEY": "not a pem"}},
    ],
)
def test_E028_unusable_assertion_service(bff: Any, service: Any) -> None:
    assert "django_bff.E028" in bff(CLIENT_ASSERTION_SERVICE=service)


def test_E029_private_key_jwt_client_without_a_service(bff: Any) -> None:
    assert "django_bff.E029" in bff(CLIENTS={"j": {"CLIENT_ID": "j", "AUTH_METHOD": "private_key_jwt"}})
