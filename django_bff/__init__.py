"""django_bff: the Backend-for-Frontend pattern for Django.

In the data flow: nowhere. The package root holds ``__version__`` only and
imports nothing from Django, so tools can read the version without settings.
"""

__version__ = "0.1.0.dev0"
