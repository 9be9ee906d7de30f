"""Builds the sdist and the wheel, checks them, installs the wheel in a fresh virtualenv and smoke-tests it.

    .venv/bin/python scripts/check_package.py          # bash scripts/test runs it after pytest
    .venv/bin/python scripts/check_package.py --keep   # keep the temporary directory, to look inside

What the tests of the checkout cannot see: a file the installed package needs
but the wheel leaves out (a template, a migration, ``py.typed``). In a temporary
directory it

1. builds the sdist and, from it, the wheel (``python -m build``: an isolated PEP 517 build);
2. checks their metadata with ``twine check --strict`` (what an index would refuse, and a README
   that would not render);
3. compares the wheel's files with what the source tree holds under ``django_bff/`` (every file
   git knows there, bytecode aside; not a hand-kept list), checks that the sdist holds the same
   package and no ``tests/`` or ``example_project/``, and that both carry the source's version;
4. makes a fresh virtualenv, installs the wheel there with its dependencies (and the runtime
   extras, so that every module imports) from the package index, and runs this file again in it
   (``--smoke``) with the temporary directory as working directory and ``python -I``, so the
   checkout cannot be imported: every module imports, a minimal Django project configured
   in-process passes ``check``, ``migrate`` on SQLite applies every shipped migration,
   ``makemigrations --check`` finds nothing missing, ``/bff/user`` answers, ``py.typed`` is
   installed and ``django_bff.__version__`` is the installed metadata's version.

Exits non-zero on the first failing step (the smoke test reports all its failures). Needs
``build`` and ``twine`` in the Python that runs it (the ``dev`` extra has them) and the package
index for the build backend and the wheel's dependencies. Only the standard library is imported
at the top: the ``--smoke`` half runs in the fresh virtualenv.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import fnmatch
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "django_bff"
DISTRIBUTION = "django-bff"
#: The extras that add runtime features (not tools): installed for the smoke test, so every module imports.
RUNTIME_EXTRAS = ("drf", "otel", "redis")
#: Top-level directories of the checkout that no distribution may ship.
NOT_SHIPPED = ("tests", "example_project")
#: What an sdist holds besides the package (setuptools writes PKG-INFO and the egg-info).
SDIST_EXTRAS = ("LICENSE", "MANIFEST.in", "PKG-INFO", "README.md", "pyproject.toml", "setup.cfg")
BYTECODE = ("__pycache__",)


# --- What the package needs, from the source tree ---------------------------------------------


def package_files(root: Path = ROOT) -> set[str]:
    """Every file of the package, as ``django_bff/...`` paths: what git tracks or would track, bytecode aside.

    Without git (an unpacked sdist), every file under ``django_bff/`` that is not bytecode.
    """
    names: list[str]
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", PACKAGE],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        names = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        names = [path.relative_to(root).as_posix() for path in (root / PACKAGE).rglob("*") if path.is_file()]
    return {
        name
        for name in names
        if (root / name).is_file() and not set(PurePosixPath(name).parts) & set(BYTECODE) and not name.endswith(".pyc")
    }


def modules(files: set[str]) -> list[str]:
    """The dotted names of the package's modules among ``files``."""
    found = []
    for name in sorted(files):
        path = PurePosixPath(name)
        if path.suffix != ".py":
            continue
        parts = path.with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def package_data_patterns(setup_cfg: Path = ROOT / "setup.cfg") -> list[str]:
    """``[options.package_data]`` of ``setup.cfg`` as ``django_bff/...`` glob patterns."""
    config = configparser.ConfigParser()
    config.read(setup_cfg)
    patterns = []
    if config.has_section("options.package_data"):
        for package, value in config.items("options.package_data"):
            prefix = "" if package in ("", "*") else package.replace(".", "/") + "/"
            patterns += [prefix + pattern.strip() for pattern in value.replace(",", "\n").split() if pattern.strip()]
    return patterns


def undeclared_data(files: set[str], patterns: list[str]) -> list[str]:
    """The package's files that are not Python and that no ``package_data`` pattern ships."""
    return sorted(
        name
        for name in files
        if not name.endswith(".py") and not any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    )


def source_version(root: Path = ROOT) -> str:
    """``django_bff.__version__``, read from the source without importing it."""
    tree = ast.parse((root / PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise LookupError("django_bff/__init__.py sets no __version__")


# --- What the distributions hold ----------------------------------------------------------------


def wheel_problems(names: list[str], expected: set[str]) -> list[str]:
    """What is wrong with a wheel holding ``names``, given the package's ``expected`` files."""
    problems = []
    shipped = {name for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    problems += [f"the wheel lacks {name}" for name in sorted(expected - shipped)]
    problems += [f"the wheel ships {name}, which the source tree does not have" for name in sorted(shipped - expected)]
    if not any(name.endswith(".dist-info/METADATA") for name in names):
        problems.append("the wheel has no METADATA")
    return problems


def sdist_problems(names: list[str], expected: set[str]) -> list[str]:
    """What is wrong with an sdist holding ``names`` (with their ``name-version/`` prefix)."""
    problems = []
    inside = {name.split("/", 1)[1] for name in names if "/" in name and not name.endswith("/")}
    problems += [f"the sdist lacks {name}" for name in sorted((expected | set(SDIST_EXTRAS)) - inside)]
    problems += [f"the sdist ships {name}" for name in sorted(inside) if name.split("/", 1)[0] in NOT_SHIPPED]
    stray = {
        name
        for name in inside - expected - set(SDIST_EXTRAS)
        if name.split("/", 1)[0] not in NOT_SHIPPED and ".egg-info/" not in name
    }
    problems += [f"the sdist ships {name}, which is not part of the package" for name in sorted(stray)]
    return problems


def metadata_version(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        for line in archive.read(metadata).decode().splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    raise LookupError(f"{wheel.name} has no Version in its METADATA")


# --- The steps ------------------------------------------------------------------------------------


class Failed(Exception):
    pass


def step(title: str) -> None:
    print(f"==> package: {title}", flush=True)


def run(*command: str | Path, cwd: Path | None = None) -> None:
    """Run ``command``; on failure, show its output and stop."""
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        raise Failed(f"{' '.join(str(part) for part in command)} exited with {done.returncode}")


def check(tmp: Path) -> None:
    expected = package_files()
    version = source_version()
    undeclared = undeclared_data(expected, package_data_patterns())
    if undeclared:
        raise Failed("not in setup.cfg's [options.package_data]: " + ", ".join(undeclared))

    step("python -m build (the sdist, then the wheel from it)")
    dist = tmp / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    [sdist] = dist.glob("*.tar.gz")
    [wheel] = dist.glob("*.whl")

    step(f"twine check --strict {sdist.name} {wheel.name}")
    run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)

    step("the files and versions of the wheel and the sdist")
    with zipfile.ZipFile(wheel) as archive:
        problems = wheel_problems(archive.namelist(), expected)
    with tarfile.open(sdist) as archive:
        problems += sdist_problems([member.name for member in archive.getmembers() if member.isfile()], expected)
    if metadata_version(wheel) != version:
        problems.append(f"the wheel's version is {metadata_version(wheel)}, the source's {version}")
    if problems:
        raise Failed("; ".join(problems))

    step("a fresh virtualenv with the wheel and its dependencies")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    requirement = f"{DISTRIBUTION}[{','.join(RUNTIME_EXTRAS)}] @ {wheel.as_uri()}"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement)

    step("smoke test of the installed package, outside the checkout")
    work = tmp / "work"
    work.mkdir()
    smoke = [python, "-I", Path(__file__).resolve(), "--smoke", version, json.dumps(modules(expected))]
    if subprocess.run([str(part) for part in smoke], cwd=work).returncode != 0:
        raise Failed("the smoke test of the installed wheel failed")


# --- The smoke test, in the fresh virtualenv ------------------------------------------------------


def smoke(version: str, expected_modules: list[str]) -> list[str]:
    """Exercise the installed package; returns what failed."""
    import importlib
    import importlib.metadata
    import importlib.resources
    import sysconfig
    import types

    failures: list[str] = []
    work = Path.cwd()

    import django_bff

    installed_at = Path(django_bff.__file__).resolve().parent
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    if installed_at.parent != site_packages:
        return [f"django_bff imports from {installed_at}, not from {site_packages}"]
    if ROOT in [Path(entry or ".").resolve() for entry in sys.path]:
        failures.append(f"the checkout {ROOT} is on sys.path")

    meta = importlib.metadata.version(DISTRIBUTION)
    if not (django_bff.__version__ == meta == version):
        failures.append(f"__version__ {django_bff.__version__}, metadata {meta}, source {version}")
    if not importlib.resources.files(PACKAGE).joinpath("py.typed").is_file():
        failures.append("py.typed is not installed")

    import django
    from django.conf import settings

    urls = types.ModuleType("smoke_urls")
    sys.modules[urls.__name__] = urls
    settings.configure(
        DEBUG=False,
        SECRET_KEY="smoke-test-" + "x" * 50,
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        ROOT_URLCONF=urls.__name__,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "mozilla_django_oidc",
            PACKAGE,
        ],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django_bff.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(work / "smoke.sqlite3")}},
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_NAME="__Host-sessionid",
        # The local-memory cache: enough for one process, which is what W005 says.
        SILENCED_SYSTEM_CHECKS=["django_bff.W005"],
        AUTHENTICATION_BACKENDS=["django_bff.auth.BFFAuthenticationBackend"],
        OIDC_RP_CLIENT_ID="bff",
        OIDC_RP_CLIENT_SECRET="bff-secret",
        OIDC_RP_SIGN_ALGO="RS256",
        OIDC_USE_PKCE=True,
        OIDC_CALLBACK_CLASS="django_bff.views.OIDCCallbackView",
        OIDC_OP_AUTHORIZATION_ENDPOINT="https://idp.example.com/authorize",
        BFF={
            "AUTHORITY": "https://idp.example.com",
            "REMOTE_APIS": [{"PREFIX": "api/orders/", "TARGET": "https://orders.example.com/", "TOKEN_TYPE": "user"}],
        },
    )
    django.setup()

    from django.urls import include, path

    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("oidc/", include("mozilla_django_oidc.urls")),
        path("", include("django_bff.urls")),
    ]

    for name in expected_modules:
        try:
            importlib.import_module(name)
        except Exception as e:
            failures.append(f"import {name}: {type(e).__name__}: {e}")

    from django.core.management import call_command
    from django.db.migrations.recorder import MigrationRecorder
    from django.test import Client

    commands: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
        ("check", ("check",), {}),
        ("migrate", ("migrate",), {"verbosity": 0}),
        ("makemigrations --check", ("makemigrations", PACKAGE), {"check": True, "dry_run": True, "verbosity": 0}),
    ]
    for title, arguments, options in commands:
        try:
            call_command(*arguments, **options)
        except BaseException as e:  # SystemExit from makemigrations --check
            failures.append(f"{title}: {type(e).__name__}: {e}")

    shipped = {name.rsplit(".", 1)[1] for name in expected_modules if name.startswith(f"{PACKAGE}.migrations.")}
    applied = set(MigrationRecorder.Migration.objects.filter(app=PACKAGE).values_list("name", flat=True))
    if not shipped or applied != shipped:
        failures.append(f"migrations applied {sorted(applied)}, shipped {sorted(shipped)}")

    answer = Client().get("/bff/user", headers={"X-CSRF": "1"})
    if answer.status_code != 401:
        failures.append(f"GET /bff/user answered {answer.status_code}, not 401")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--smoke", nargs=2, metavar=("VERSION", "MODULES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        failures = smoke(args.smoke[0], json.loads(args.smoke[1]))
        for failure in failures:
            print(f"smoke test: {failure}", file=sys.stderr)
        print("smoke test: " + ("FAILED" if failures else "ok, the installed wheel works"), flush=True)
        return 1 if failures else 0

    tmp = Path(tempfile.mkdtemp(prefix="django-bff-package-"))
    try:
        check(tmp)
    except Failed as e:
        print(f"package check FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
