"""What each step of a proxied request costs on its own: one thread, no load, no gunicorn.

Run by ``run.py --profile`` under the benchmark settings, with the servers up::

    python -m benchmarks.project.components SESSION_KEY

Prints one JSON object: for each step, the median and mean microseconds over
``N`` calls (after a warm-up). Together with the phase timers (the same steps
measured inside gunicorn under load) this says what the BFF path pays for.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

N = 2000
WARMUP = 200


def measure(func: Callable[[], Any], n: int = N) -> dict[str, float]:
    for _ in range(WARMUP):
        func()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return {"p50_us": round(1e6 * statistics.median(times), 1), "mean_us": round(1e6 * statistics.fmean(times), 1)}


def main(session_key: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.project.settings")
    import django

    django.setup()

    from importlib import import_module

    import urllib3
    from django.conf import settings
    from django.contrib.auth import get_user, get_user_model
    from django.db import connection
    from django.test import RequestFactory
    from django.utils.functional import SimpleLazyObject

    from benchmarks.project.wsgi import application
    from django_bff import crypto
    from django_bff.proxy import _response_chunks, get_proxy_session
    from django_bff.stores import SESSION_REF_KEY, get_token_store
    from django_bff.token_manager import get_user_access_token

    session_store = import_module(settings.SESSION_ENGINE).SessionStore
    store = get_token_store()
    upstream = f"{settings.UPSTREAM}/data?work_ms=0"

    def new_request() -> Any:
        request = RequestFactory().get("/")
        request.session = session_store(session_key)
        request.user = SimpleLazyObject(lambda: get_user(request))
        return request

    def user_per_request_connection() -> None:
        assert get_user(new_request()).is_authenticated
        connection.close()  # what CONN_MAX_AGE = 0 does at the end of every request

    def user_persistent_connection() -> None:
        assert get_user(new_request()).is_authenticated

    user_pk = get_user(new_request()).pk

    def token_work_per_request_connection() -> None:
        assert get_user_access_token(new_request()).token is not None
        connection.close()

    loaded = new_request()
    assert loaded.user.is_authenticated
    ref = loaded.session[SESSION_REF_KEY]
    blob = store.read_record(ref)["tokens"][""]

    session = get_proxy_session()

    def via_proxy_session() -> None:
        response = session.request(
            "GET", upstream, headers={"Authorization": "Bearer x"}, stream=True, allow_redirects=False, timeout=(5, 30)
        )
        assert len(b"".join(_response_chunks(response, 65536))) == 1024

    pool = urllib3.PoolManager()

    def via_urllib3() -> None:
        response = pool.urlopen("GET", upstream, redirect=False, preload_content=False, decode_content=False)
        assert len(response.data) == 1024

    def wsgi(path: str) -> Callable[[], None]:
        def call() -> None:
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": path,
                "QUERY_STRING": "work_ms=0",
                "RAW_URI": f"{path}?work_ms=0",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "80",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": "127.0.0.1",
                "HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={session_key}",
                "HTTP_X_CSRF": "1",
                "REMOTE_ADDR": "127.0.0.1",
                "wsgi.input": io.BytesIO(b""),
                "wsgi.errors": sys.stderr,
                "wsgi.url_scheme": "http",
            }
            status: list[str] = []
            body = application(environ, lambda s, h, e=None: status.append(s))
            data = b"".join(body)
            body.close()
            assert status[0].startswith("200") and len(data) == 1024, status

        return call

    steps: dict[str, Callable[[], Any]] = {
        "session load (Redis GET + unpickle)": lambda: session_store(session_key).load(),
        "request.user, new sqlite connection (CONN_MAX_AGE=0)": user_per_request_connection,
        "request.user, persistent sqlite connection": user_persistent_connection,
        "  of which the user query (ORM + sqlite)": lambda: get_user_model().objects.get(pk=user_pk),
        "token store get_token (Redis GET + decrypt)": lambda: store.get_token(loaded),
        "  of which the decryption (Fernet)": lambda: crypto.decrypt(blob),
        "get_user_access_token on a fresh request (all token work)": token_work_per_request_connection,
        "upstream GET via django_bff's requests session": via_proxy_session,
        "upstream GET via a urllib3 PoolManager (as revproxy)": via_urllib3,
        "whole request in-process: /bff/": wsgi("/bff/data"),
        "whole request in-process: /revproxy/": wsgi("/revproxy/data"),
    }
    results = {name: measure(func, 1000 if name.startswith("whole") else N) for name, func in steps.items()}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
