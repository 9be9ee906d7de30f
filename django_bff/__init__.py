"""django_bff: the Backend-for-Frontend pattern for Django."""

__version__ = "0.1.0.dev0"
