"""``manage.py bff_sessions list|revoke|cleanup``: the server-side session index from the shell.

In the data flow: an entry point from the shell, over the session index and the
session's life (:mod:`django_bff.sessions`).

::

    manage.py bff_sessions list [--sub SUB] [--sid SID] [--json]
    manage.py bff_sessions revoke (--sub SUB | --sid SID) [--no-revoke-tokens]
    manage.py bff_sessions cleanup

``list`` prints one line per session (sub, sid, a digest of the session key,
created, expires), never the session key. ``revoke`` ends the sessions (refresh
token revoked at the provider, tokens cleared, session deleted) and prints how
many. ``cleanup`` drops the entries of sessions that no longer exist; run it
where you run ``clearsessions``.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_bff.sessions import cleanup_sessions, end_sessions, list_sessions


class Command(BaseCommand):
    help = "List, revoke or clean up BFF sessions (the server-side session index)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="List sessions, all or by --sub/--sid.")
        listing.add_argument("--sub", help="Only the sessions of this subject.")
        listing.add_argument("--sid", help="Only the session with this provider session id.")
        listing.add_argument("--json", action="store_true", help="One JSON object per line.")
        revoke = actions.add_parser("revoke", help="End the sessions of --sub or --sid.")
        revoke.add_argument("--sub", help="End every session of this subject.")
        revoke.add_argument("--sid", help="End the session with this provider session id.")
        revoke.add_argument(
            "--no-revoke-tokens",
            action="store_true",
            help="Do not revoke the refresh tokens at the provider (they are cleared either way).",
        )
        actions.add_parser("cleanup", help="Drop the entries of sessions that are gone.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            try:
                found = list_sessions(sub=options["sub"], sid=options["sid"])
            except NotImplementedError as e:
                raise CommandError(f"{e}: pass --sub or --sid.") from None
            for info in found:
                row = info.to_dict()
                if options["json"]:
                    self.stdout.write(json.dumps(row))
                else:
                    self.stdout.write(
                        f"{row['sub']}  sid={row['sid']}  session={row['session']}  "
                        f"created={row['created']}  expires={row['expires']}"
                    )
            if not options["json"]:
                self.stderr.write(f"{len(found)} session(s)")
        elif action == "revoke":
            if not options["sub"] and not options["sid"]:
                raise CommandError("revoke needs --sub or --sid.")
            count = end_sessions(sub=options["sub"], sid=options["sid"], revoke=not options["no_revoke_tokens"])
            self.stdout.write(f"Revoked {count} session(s).")
        else:
            self.stdout.write(f"Dropped {cleanup_sessions()} index entries of ended sessions.")
