"""Keeps the ``integration`` marker true: only a test marked ``integration`` may start a real part.

``pytest -m "not integration"`` promises a run with neither Redis, PostgreSQL,
Node (the test identity provider) nor a browser. The conftest marks every test
that uses a fixture starting one (``REAL_PARTS``), and says before each test
whether it is marked; every starter of a real part, and every use of the
suite's shared Redis and provider, calls :func:`require`, so a test that reaches
one another way (``request.getfixturevalue``, a module's own fixture) without the
marker fails in every run, not only on a machine without Redis.
"""

from __future__ import annotations

#: The test being set up or run is marked ``integration`` (True outside pytest).
allowed = True
#: Its node id, for the message.
current = ""


def require(what: str) -> None:
    """Refuse to start ``what`` for a test that is not marked ``integration``."""
    if not allowed:
        raise RuntimeError(
            f"{current} starts {what} but is not marked integration: add pytest.mark.integration "
            '(on the test, its module, or the parameter that needs it) so that pytest -m "not integration" '
            "runs without it"
        )
