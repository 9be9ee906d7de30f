"""Metrics and spans through OpenTelemetry, read back with the SDK's in-memory reader and exporter."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
import responses
from django.core.cache import caches
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from django_bff import telemetry
from django_bff.locks import CacheLock
from django_bff.token_manager import _client_cache_key, _encode_client_token, get_client_access_token
from django_bff.tokens import ClientToken, TokenError
from tests.support.urlconf import use_current_routes

TOKEN_URL = "http://127.0.0.1:9/token"


class Recorded:
    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.exporter = InMemorySpanExporter()
        self.tracers = TracerProvider()
        self.tracers.add_span_processor(SimpleSpanProcessor(self.exporter))

    def points(self) -> Counter[tuple[str, frozenset[tuple[str, Any]]]]:
        """(metric, attributes) -> the sum of a counter, or the count of a histogram."""
        found: Counter[tuple[str, frozenset[tuple[str, Any]]]] = Counter()
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        found[(metric.name, frozenset(point.attributes.items()))] += (
                            value if value is not None else point.count
                        )
        return found

    def value(self, name: str, **attributes: Any) -> int:
        """Summed over the points whose attributes include ``attributes`` (dots written as __)."""
        wanted = {k.replace("__", "."): v for k, v in attributes.items()}
        return sum(
            v
            for (metric, attrs), v in self.points().items()
            if metric == name and wanted.items() <= dict(attrs).items()
        )

    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def otel() -> Iterator[Recorded]:
    recorded = Recorded()
    telemetry.configure(meter_provider=recorded.meters, tracer_provider=recorded.tracers)
    try:
        yield recorded
    finally:
        telemetry.configure()
        recorded.meters.shutdown()
        recorded.tracers.shutdown()


def test_nothing_is_recorded_without_providers() -> None:
    telemetry.record("bff.token.refreshes", {"bff.outcome": "ok"})
    telemetry.observe("bff.token.request.duration", 0.1)
    headers = {"traceparent": "from-the-browser"}
    with telemetry.span("GET x") as span:
        span.set("a", 1)
        span.error("x")
        telemetry.inject(headers)
    assert headers == {"traceparent": "from-the-browser"}  # no recording span: nothing replaced
    assert telemetry.status_class(204) == "2xx" and telemetry.without_query("https://h/p?q=1") == "https://h/p"


# --- the token manager -----------------------------------------------------------------------------


@responses.activate
def test_client_tokens_cache_hits_misses_and_token_requests(otel: Recorded) -> None:
    responses.post(TOKEN_URL, json={"access_token": "app-AAAAAAAAAA", "expires_in": 300})
    for _ in range(3):
        assert get_client_access_token().error is None
    assert otel.value("bff.client_token.cache", bff__cache__result="miss") == 1
    assert otel.value("bff.client_token.cache", bff__cache__result="hit") == 2
    assert otel.value("bff.token.requests", bff__grant_type="client_credentials", bff__outcome="ok") == 1
    assert otel.value("bff.token.request.duration", bff__grant_type="client_credentials") == 1
    assert otel.value("bff.refresh_lock.wait.duration", bff__token__kind="client", bff__outcome="acquired") == 1
    [span] = otel.spans()
    assert span.name == "POST" and span.kind.name == "CLIENT"
    assert span.attributes["url.full"] == TOKEN_URL and span.attributes["http.response.status_code"] == 200
    assert span.attributes["bff.operation"] == "token request (client_credentials)"
    assert span.attributes["server.address"] == "127.0.0.1" and span.attributes["server.port"] == 9


@responses.activate
def test_single_flight_joins_and_lock_timeouts(otel: Recorded, settings: Any) -> None:
    key = _client_cache_key("default", None, None)
    lock = CacheLock(caches["default"], key + ":lock", 30)
    assert lock.acquire()

    def other_worker() -> None:
        token = ClientToken("other-AAAAAAAAAA", expires_at=datetime.now(timezone.utc) + timedelta(minutes=10))
        caches["default"].set(key, _encode_client_token(token), 300)
        lock.release()

    timer = threading.Timer(0.2, other_worker)
    timer.start()
    assert get_client_access_token().access_token == "other-AAAAAAAAAA"
    timer.join()
    assert otel.value("bff.single_flight.joins", bff__token__kind="client") == 1
    assert otel.value("bff.refresh_lock.wait.duration", bff__outcome="joined") == 1

    settings.BFF = {**settings.BFF, "REFRESH_LOCK_WAIT": 0.1}
    other = CacheLock(caches["default"], _client_cache_key("default", "s", None) + ":lock", 30)
    assert other.acquire()
    assert get_client_access_token(scope="s").error is TokenError.REFRESH_LOCK_TIMEOUT
    other.release()
    assert otel.value("bff.refresh_lock.timeouts", bff__token__kind="client") == 1
    assert otel.value("bff.refresh_lock.wait.duration", bff__outcome="timeout") == 1
    assert len(responses.calls) == 0


@responses.activate
def test_token_request_outcomes(otel: Recorded) -> None:
    responses.post(TOKEN_URL, status=500, json={"error": "server_error"})
    get_client_access_token()
    responses.replace(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})
    get_client_access_token()
    responses.replace(responses.POST, TOKEN_URL, body=requests.ReadTimeout("slow"))
    get_client_access_token()
    assert otel.value("bff.token.requests", bff__outcome="unavailable") == 1
    assert otel.value("bff.token.requests", bff__outcome="rejected") == 1
    assert otel.value("bff.token.requests", bff__outcome="in_doubt") == 1
    errors = [span.attributes.get("error.type") for span in otel.spans()]
    assert errors == ["500", "401", "in_doubt"]


# --- end to end: a login, a refresh and proxied calls ------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_login_a_refresh_and_proxied_calls(
    otel: Recorded, oidc: Any, bff_client: Any, settings: Any, leak_guard: Any
) -> None:
    import dataclasses

    from django_bff.signals import token_response_received
    from django_bff.stores import get_token_store
    from django_bff.testing import UserTokenStoreContract
    from django_bff.tokens import TokenType
    from tests.support.idp import API_RESOURCE
    from tests.support.login import browser_login
    from tests.support.resource_api import ResourceAPI

    issued: list[Any] = []
    token_response_received.connect(lambda sender, token, **kw: issued.append(token), weak=False, dispatch_uid="t")
    with ResourceAPI(oidc.jwks_uri, oidc.issuer, API_RESOURCE) as api:
        settings.BFF = {
            **settings.BFF,
            "REMOTE_APIS": [
                {"PREFIX": "api/orders/", "TARGET": api.url + "/v1/orders/", "TOKEN_TYPE": TokenType.USER},
                {"PREFIX": "api/catalog/", "TARGET": api.url + "/v1/catalog/", "TOKEN_TYPE": "client"},
            ],
            "ALLOW_INSECURE_UPSTREAMS": True,
        }
        use_current_routes(settings)
        browser_login(bff_client)
        token_response_received.disconnect(dispatch_uid="t")
        assert otel.value("bff.token.requests", bff__grant_type="authorization_code", bff__outcome="ok") == 1

        first = bff_client.get(
            "/api/orders/42?secret=q", HTTP_X_CSRF="1", HTTP_TRACEPARENT="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        )
        assert first.status_code == 200 and b"".join(first.streaming_content)

        # The token expires: the next call refreshes once.
        from django.conf import settings as django_settings
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(pk=bff_client.session["_auth_user_id"])
        request = UserTokenStoreContract().new_request(
            bff_client.cookies[django_settings.SESSION_COOKIE_NAME].value, user
        )
        token = get_token_store().get_token(request)
        get_token_store().store_token(
            request, dataclasses.replace(token, expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))
        )
        second = bff_client.get("/api/orders/43", HTTP_X_CSRF="1")
        assert second.status_code == 200 and b"".join(second.streaming_content)
        for _ in range(2):
            assert b"".join(bff_client.get("/api/catalog/", HTTP_X_CSRF="1").streaming_content)
        assert bff_client.get("/api/orders/1").status_code == 401  # no anti-forgery header

        seen = api.requests
    for event in issued:
        leak_guard.add_token(event)

    assert otel.value("bff.token.refreshes", bff__outcome="ok") == 1
    assert otel.value("bff.token.requests", bff__grant_type="refresh_token", bff__outcome="ok") == 1
    assert otel.value("bff.refresh_lock.wait.duration", bff__token__kind="user", bff__outcome="acquired") == 1
    assert otel.value("bff.client_token.cache", bff__cache__result="miss") == 1
    assert otel.value("bff.client_token.cache", bff__cache__result="hit") == 1
    assert (
        otel.value(
            "bff.proxy.requests", http__route="api/orders/", http__request__method="GET", bff__status_class="2xx"
        )
        == 2
    )
    assert otel.value("bff.proxy.requests", http__route="api/catalog/", bff__status_class="2xx") == 2
    assert otel.value("bff.proxy.requests", http__route="api/orders/", bff__status_class="4xx") == 1
    assert otel.value("http.client.request.duration", http__route="api/orders/", http__response__status_code=200) == 2
    assert otel.value("http.client.response.body.size", http__route="api/catalog/") == 2
    assert otel.value("http.client.request.body.size", server__address="127.0.0.1") == 4

    upstream_spans = [s for s in otel.spans() if s.name.startswith("GET api/")]
    assert [s.name for s in upstream_spans] == [
        "GET api/orders/",
        "GET api/orders/",
        "GET api/catalog/",
        "GET api/catalog/",
    ]
    # The API got the upstream span's context in traceparent, not the browser's.
    first_span = upstream_spans[0]
    context = first_span.get_span_context()
    traceparent = seen[0]["headers"]["traceparent"]
    assert traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert int(traceparent[-2:], 16) & 1  # sampled
    assert first_span.attributes["url.full"].endswith("/v1/orders/42")  # no query
    assert first_span.attributes["http.response.status_code"] == 200
    for span in otel.spans():
        text = repr(dict(span.attributes or {}))
        assert "secret=q" not in text and not any(t and t in text for t in (token.access_token, token.refresh_token))
