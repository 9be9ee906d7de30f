"""The database table of :class:`~django_bff.sessions.DatabaseSessionIndex`.

In the data flow: at the bottom, below the session index that reads and writes it.
"""

from __future__ import annotations

from django.db import models

__all__ = ["UserSession"]


class UserSession(models.Model):
    """One logged-in BFF session: who (``sub``), which provider session (``sid``), until when.

    The session key is a bearer credential: it is kept encrypted
    (``session_key``) and looked up by its SHA-256 digest (``key_digest``), so
    neither a database dump nor a listing shows a usable key.
    """

    sub = models.CharField(max_length=255, db_index=True)
    sid = models.CharField(max_length=255, db_index=True)
    #: The Django user's primary key (as text): the user's sessions end when it is deactivated,
    #: deleted or changes password.
    user = models.CharField(max_length=255, db_index=True, default="", blank=True)
    key_digest = models.CharField(max_length=64, unique=True)
    session_key = models.TextField()
    created = models.DateTimeField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "BFF user session"
        ordering = ["created"]

    def __str__(self) -> str:
        return f"{self.sub} sid={self.sid} session={self.key_digest[:12]}"
