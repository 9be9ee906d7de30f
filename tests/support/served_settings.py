"""Settings for a server that a test starts with BFF values of its own.

``tests.settings``, with the JSON object in the environment variable
``BFF_TEST_SETTINGS`` merged over its ``BFF``. Start a server with it through
:func:`tests.support.servers.serve`::

    serve("uvicorn", env={**served_with({"PROXY_READ_TIMEOUT": 60}), "BFF_TEST_UPSTREAM": url})
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests import settings as _base

globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

BFF = {**_base.BFF, **json.loads(os.environ.get("BFF_TEST_SETTINGS") or "{}")}


def served_with(bff: dict[str, Any]) -> dict[str, str]:
    """The environment that makes a served process use these settings, with ``bff`` merged over BFF."""
    return {"DJANGO_SETTINGS_MODULE": "tests.support.served_settings", "BFF_TEST_SETTINGS": json.dumps(bff)}
