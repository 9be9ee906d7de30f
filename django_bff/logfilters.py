"""Logging filters that keep query strings out of third-party log lines.

In the data flow: outside it. Attached to third-party loggers at start-up, it
rewrites their records on the way out.

urllib3, which carries every upstream call of the proxy and (under requests)
every call of the back-channel, logs each request at DEBUG on
``urllib3.connectionpool`` with its path and query string
(``http://api.example.com:443 "GET /v1/orders?api_key=... HTTP/1.1" 200 512``),
and a warning on ``urllib3.connection`` with the URL when an answer's headers
fail to parse. A query string may carry secrets (keys, signed URLs, one-time
codes), so :class:`QueryStringFilter` removes it from those records before any
handler sees them. :class:`~django_bff.apps.DjangoBFFConfig` attaches it to
both loggers (:func:`install`) when Django starts.
"""

from __future__ import annotations

import logging

__all__ = ["QueryStringFilter", "install", "LOGGERS"]

#: The loggers :func:`install` attaches a :class:`QueryStringFilter` to.
LOGGERS = ("urllib3.connectionpool", "urllib3.connection")


def _without_query(value: str) -> str:
    """``value`` without its query string when it is a path or an absolute URL."""
    if "?" in value and (value.startswith("/") or "://" in value):
        return value.split("?", 1)[0]
    return value


class QueryStringFilter(logging.Filter):
    """Removes the query string from each path or URL among a record's arguments.

    The record is changed in place and always let through: the line keeps the
    method, host, path, status and length, and loses only the query.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_without_query(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and not record.args:
            record.msg = " ".join(_without_query(word) for word in record.msg.split(" "))
        return True


def install() -> None:
    """Attach a :class:`QueryStringFilter` to each of :data:`LOGGERS`, once."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryStringFilter) for f in logger.filters):
            logger.addFilter(QueryStringFilter())
