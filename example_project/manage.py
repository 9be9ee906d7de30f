#!/usr/bin/env python
"""The django_bff demo: start it with ``bash scripts/demo`` from the repository root."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
