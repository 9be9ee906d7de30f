"""The recording upstream API the proxy's tests send to: one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.upstream import Upstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server
