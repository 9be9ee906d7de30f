"""The server-side session engines the record tests run on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.session_engines import ENGINES, engine_params


@pytest.fixture(params=engine_params(["db", "cache-redis", "cached_db"]))
def server_engine(request: Any, settings: Any) -> str:
    name = request.param
    if name == "cache-redis":
        request.getfixturevalue("redis_cache")
        settings.SESSION_ENGINE = ENGINES["cache"]
    else:
        settings.SESSION_ENGINE = ENGINES[name]
    return name
