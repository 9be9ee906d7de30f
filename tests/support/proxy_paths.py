"""What the proxy's path tests expect of each attack: the outcomes and the check of each."""

from __future__ import annotations

import json
import unicodedata
from urllib.parse import unquote

from tests.support.upstream import Upstream

__all__ = ["REFUSED", "FORWARDED", "NOT_ROUTED", "SERVER_REJECTED", "has_dot_segment", "assert_outcome"]

REFUSED = "refused"
FORWARDED = "forwarded"
NOT_ROUTED = "not_routed"
SERVER_REJECTED = "server_rejected"

#: Every decoded form that some server reads as "current/parent directory".
_DOT_FORMS = {".", ".."}


def has_dot_segment(raw_path: str) -> bool:
    """Whether any segment of an upstream path reads as ``.``/``..`` (decoded, NFKC, before ``;``)."""
    for segment in raw_path.split("/"):
        decoded = unicodedata.normalize("NFKC", unquote(segment).split(";", 1)[0])
        if decoded in _DOT_FORMS or (decoded and decoded.strip(".") == ""):
            return True
    return False


def assert_outcome(
    status: int, body: bytes, upstream: Upstream, outcome: str, forwarded: str | None, target_path: str
) -> None:
    received = list(upstream.requests)
    if outcome == REFUSED:
        assert status == 400, (status, body[:200])
        assert json.loads(body) == {"error": "invalid_path"}
        assert received == [], "a refused request reached the upstream"
    elif outcome == NOT_ROUTED:
        assert status == 404, (status, body[:200])
        assert received == [], "an unrouted request reached the upstream"
    elif outcome == SERVER_REJECTED:
        # The server's own parser refused the request line (raw control
        # characters, raw spaces, raw non-ASCII): the proxy never ran.
        assert not 200 <= status < 300, status
        assert b"invalid_path" not in body, "expected the server's refusal, got the proxy's"
        assert received == [], "a request the server refused reached the upstream"
    else:
        assert outcome == FORWARDED
        assert status == 200, (status, body[:200])
        assert len(received) == 1, received
        for request in received:
            assert request["raw_path"].startswith(target_path), request["raw_path"]
            assert not has_dot_segment(request["raw_path"]), request["raw_path"]
        assert received[0]["raw_path"] == forwarded
