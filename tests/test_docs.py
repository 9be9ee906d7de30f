"""The documentation in ``docs/`` covers what the code has, and only that.

* every public name (``__all__`` of every module) is mentioned somewhere;
* every setting of ``conf.DEFAULTS`` has a section in ``settings.rst``, with a
  ``.. _setting-KEY:`` target, ``:Type:`` and ``:Default:``, and the dict at the
  top of that page is exactly ``DEFAULTS``; each section's type, default, check
  ids and first sentence are those of the setting's declaration
  (:mod:`django_bff.conf.declared`);
* ``checks.rst`` documents exactly the check ids the code emits, and no page
  names an id that does not exist;
* every ``BFF["KEY"]`` and every dotted ``django_bff.`` path the pages mention
  exists;
* every page is in the table of contents;
* the quickstart's settings and ``urls.py`` work as written, at the end of a
  ``startproject`` project; every page shows the same browser script, logs in
  with ``/bff/login`` and names the secret's variable ``OIDC_RP_CLIENT_SECRET``;
* ``docs/_static/bff-sequence.svg`` is what ``docs/diagrams/sequence.py`` draws.

The text is read as rst source: a name that only autodoc would render does not
count, so each one gets a sentence of its own in the pages.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import os
import pkgutil
import re
import runpy
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

import django_bff
from django_bff.conf import DEFAULTS, REMOVED_SETTINGS
from django_bff.conf.declared import GROUPS, SETTINGS, settings_of
from django_bff.conf.setting import Setting
from django_bff.tokens import TokenType
from tests.support import quickstart

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = ROOT / "django_bff"
CHECK_ID = re.compile(r"\b[EW]\d{3}\b")


@cache
def pages() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.rst"))}


@cache
def all_text() -> str:
    return "\n".join(pages().values())


#: Packages in Django's own layouts, holding no public names.
_DJANGO_LAYOUTS = {"django_bff.management", "django_bff.migrations"}


def modules() -> list[str]:
    """Every module of the package, those of a module grown into a package (and that package) included."""
    found = []
    for m in pkgutil.iter_modules(django_bff.__path__, "django_bff."):
        if m.name in _DJANGO_LAYOUTS:
            continue
        found.append(m.name)
        if m.ispkg:
            package = importlib.import_module(m.name)
            found += [s.name for s in pkgutil.iter_modules(package.__path__, f"{m.name}.")]
    return sorted(found)


def public_names() -> list[tuple[str, str]]:
    return [(module, name) for module in modules() for name in getattr(importlib.import_module(module), "__all__", [])]


def as_word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")


# (a) public names ---------------------------------------------------------------------------


def test_there_are_public_names_to_check() -> None:
    assert len(public_names()) > 100


@pytest.mark.parametrize(("module", "name"), public_names())
def test_every_public_name_is_documented(module: str, name: str) -> None:
    assert as_word(name).search(all_text()), f"{module}.{name} (in __all__) is not mentioned in docs/*.rst"


# (b) settings -------------------------------------------------------------------------------


def settings_sections() -> dict[str, str]:
    """``KEY`` -> the text from its ``.. _setting-KEY:`` target to the next target or heading."""
    text = pages()["settings"]
    starts = [(m.group(1), m.end()) for m in re.finditer(r"^\.\. _setting-([A-Z0-9_]+):\s*$", text, re.M)]
    sections = {}
    for key, start in starts:
        rest = text[start:]
        # The section's own heading comes first; it ends at the next target or section heading.
        end = re.search(r"^\.\. _[\w-]+:\s*$|^[^\n]+\n[-=]{3,}\s*$", rest, re.M)
        sections[key] = rest[: end.start()] if end else rest
    return sections


def defaults_block() -> dict[str, object]:
    """The ``BFF = {...}`` code block at the top of settings.rst, evaluated."""
    text = pages()["settings"]
    match = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    assert match, "settings.rst has no python code block"
    source = "\n".join(line[4:] for line in match.group(1).splitlines())
    tree = ast.parse(source)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign), "the first block must be BFF = {...}"
    assert isinstance(tree.body[0].value, ast.Dict)
    code = compile(ast.Expression(tree.body[0].value), "settings.rst", "eval")
    value = eval(code, {"__builtins__": {}})  # our own docs; literals and arithmetic only
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_setting_has_a_section_with_type_default_and_checks(key: str) -> None:
    sections = settings_sections()
    assert key in sections, f"settings.rst has no '.. _setting-{key}:' target"
    section = sections[key]
    heading = re.match(r"\s*``([A-Z0-9_]+)``\n~{3,}\n", section)
    assert heading and heading.group(1) == key, f"'.. _setting-{key}:' is not followed by the heading ``{key}``"
    assert re.search(r"^:Type: \S", section, re.M), f"settings.rst: {key} has no :Type: line"
    assert re.search(r"^:Default: \S", section, re.M), f"settings.rst: {key} has no :Default: line"
    assert re.search(r"^:Checks: ``django_bff\.[EW]\d{3}``", section, re.M), f"settings.rst: {key} names no check"


def field(section: str, name: str) -> str:
    """A field (``:Type:``, ``:Default:``, ``:Checks:``) of a setting's section, its lines joined."""
    match = re.search(rf"^:{name}: (.*(?:\n   .*)*)", section, re.M)
    assert match, f"no :{name}: field"
    return " ".join(line.strip() for line in match.group(1).split("\n"))


def first_paragraph(section: str) -> str:
    """The section's text after its heading and fields, its first paragraph's lines joined."""
    for paragraph in re.split(r"\n\n", section.strip()):
        paragraph = paragraph.strip()
        if paragraph.startswith(":") or re.match(r"``[A-Z0-9_]+``\n~", paragraph):
            continue
        return " ".join(line.strip() for line in paragraph.split("\n"))
    return ""


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_the_settings_page_says_what_the_declaration_says(setting: Setting[object]) -> None:
    """Type, default, check ids and doc line of a section are those of the setting's one declaration."""
    section = settings_sections()[setting.name]
    assert field(section, "Type") == setting.type_doc
    default = field(section, "Default")
    if setting.default_doc:
        assert default == setting.default_doc
    else:
        assert default.startswith("``") and default.endswith("``")
        assert ast.literal_eval(default[2:-2]) == setting.default
    assert set(re.findall(r"django_bff\.[EW]\d{3}", field(section, "Checks"))) == set(setting.check_ids)
    assert first_paragraph(section).startswith(setting.doc)


def test_settings_page_documents_no_setting_that_does_not_exist() -> None:
    assert set(settings_sections()) <= set(DEFAULTS)


def test_the_dict_at_the_top_of_settings_is_defaults() -> None:
    block = defaults_block()
    assert set(block) == set(DEFAULTS), (
        f"missing from the block: {sorted(set(DEFAULTS) - set(block))}; "
        f"not settings: {sorted(set(block) - set(DEFAULTS))}"
    )
    for key, value in DEFAULTS.items():
        assert block[key] == value, f"settings.rst shows {key} = {block[key]!r}; the default is {value!r}"


def test_every_bff_key_the_docs_mention_exists() -> None:
    mentioned = set(re.findall(r'BFF\["([A-Z0-9_]+)"\]', all_text())) - {"KEY"}  # checks.rst: BFF["KEY"]
    assert "REMOTE_APIS" in mentioned, "the pattern finds nothing"
    assert mentioned - set(DEFAULTS) - set(REMOVED_SETTINGS) == set()


# (c) system checks --------------------------------------------------------------------------


@cache
def emitted_ids() -> set[str]:
    """The ids the code can report: every ``django_bff.E0NN``/``W0NN`` literal in the package.

    Ids are written whole (``tests/checks/test_checks.py`` holds the code to it): the
    checks package, the declarations of :mod:`django_bff.conf.declared`, the
    parsers of the structured settings and the ``check()`` methods of stores.
    """
    found: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        found |= set(re.findall(r"""["']django_bff\.([EW]\d{3})["']""", path.read_text(encoding="utf-8")))
    return found


@cache
def documented_ids() -> set[str]:
    return set(re.findall(r"^\.\. _([EW]\d{3}):\s*$", pages()["checks"], re.M))


def test_the_id_collection_finds_the_checks() -> None:
    ids = emitted_ids()
    assert {"E001", "E014", "E016", "E024", "W001", "W007", "W009", "W016"} <= ids
    assert len(ids) > 40


@pytest.mark.parametrize("check_id", sorted(emitted_ids()))
def test_every_emitted_check_is_documented(check_id: str) -> None:
    assert check_id in documented_ids(), f"checks.rst has no '.. _{check_id}:' target"
    text = pages()["checks"]
    assert re.search(rf"^\.\. _{check_id}:\s*\n\n``django_bff\.{check_id}``: \S", text, re.M), (
        f"checks.rst: the target {check_id} is not followed by ``django_bff.{check_id}``: <message>"
    )


def test_checks_page_documents_no_id_the_code_does_not_emit() -> None:
    assert documented_ids() - emitted_ids() == set()


def test_no_page_names_a_check_that_does_not_exist() -> None:
    named = set(re.findall(r"django_bff\.([EW]\d{3})\b", all_text()))
    assert named - emitted_ids() == set()


# dotted paths -------------------------------------------------------------------------------


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            target: object = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                target = getattr(target, attribute)
        except AttributeError:
            return False
        return True
    return False


def test_every_dotted_django_bff_path_exists() -> None:
    dotted = set(re.findall(r"(?<![\w.])django_bff(?:\.[A-Za-z_]\w*)+", all_text()))
    dotted = {d for d in dotted if not CHECK_ID.fullmatch(d.rsplit(".", 1)[-1])}
    assert "django_bff.auth.BFFAuthenticationBackend" in dotted
    assert sorted(d for d in dotted if not resolves(d)) == []


# (d) the table of contents ------------------------------------------------------------------


def toctree_entries() -> list[str]:
    text = pages()["index"]
    entries: list[str] = []
    for block in re.finditer(r"^\.\. toctree::\n((?:[ \t]+.*\n|\n)*)", text, re.M):
        for line in block.group(1).splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                entries.append(line)
    return entries


def test_every_page_is_in_the_toctree() -> None:
    entries = toctree_entries()
    assert len(entries) == len(set(entries)), "a page is listed twice"
    assert set(pages()) - {"index"} == set(entries)


def toctrees() -> dict[str, list[str]]:
    """The index's toctrees: caption -> pages, in order."""
    found: dict[str, list[str]] = {}
    for block in re.finditer(r"^\.\. toctree::\n((?:[ \t]+.*\n|\n)*)", pages()["index"], re.M):
        caption = re.search(r"^\s+:caption: (.+)$", block.group(1), re.M)
        assert caption, "every toctree of the index has a caption"
        lines = [line.strip() for line in block.group(1).splitlines()]
        found[caption.group(1)] = [line for line in lines if line and not line.startswith(":")]
    return found


def test_the_index_is_organised_as_django_users_know() -> None:
    """Getting started, topics, how-to guides, reference: each section holds the pages of its kind."""
    sections = toctrees()
    assert list(sections) == ["Getting started", "Topics", "How-to guides", "Reference"]
    assert sections["Getting started"][:3] == ["quickstart", "installation", "concepts"]
    assert "duende" in sections["Getting started"]
    assert {"token-management", "token-storage", "proxy", "retrievers", "security"} <= set(sections["Topics"])
    assert {"deployment", "migration"} <= set(sections["How-to guides"])
    assert {"settings", "checks", "endpoints", "api", "changelog"} <= set(sections["Reference"])
    assert sections["Reference"][-1] == "changelog"


def test_the_index_explains_django_bff_in_its_own_words() -> None:
    """Duende.BFF has a page of its own (duende.rst); the index names it once, to point there."""
    index = pages()["index"]
    assert index.count("Duende") == 1 and ":doc:`duende`" in index
    for name in ("MapRemoteBffApiEndpoint", "IAccessTokenRetriever", "IUserTokenStore", "Token Management"):
        assert name not in index


# the quickstart's configuration -----------------------------------------------------------


def test_the_quickstart_applied_to_a_startproject_project_passes_the_checks(tmp_path: Path) -> None:
    """Its settings go at the end of startproject's: the admin's apps and middleware stay (no admin.E4xx)."""
    project = quickstart.make_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["OIDC_RP_CLIENT_SECRET"] = "not-a-real-secret"
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # A development project keeps the local-memory cache (W005); DEBUG is on, so no W010.
    assert re.findall(r"\(([\w.]+\.[EW]\d+)\)", done.stdout + done.stderr) == ["django_bff.W005"], done.stderr
    # The page at /, the admin, and the two ways to declare a route.
    resolved = (
        "import json; from django.urls import resolve; "
        "routes = [resolve(p) for p in ('/', '/admin/', '/api/catalog/items/7', '/api/orders/42')]; "
        "print(json.dumps([getattr(r.func, 'view_class', r.func).__name__ for r in routes] + "
        "[routes[2].kwargs, str(routes[2].func.view_initkwargs['token_type'].value)]))"
    )
    served = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", resolved],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 0, served.stderr
    page, admin, catalog, orders, kwargs, token_type = json.loads(served.stdout.splitlines()[-1])
    assert (page, admin, catalog, orders) == ("TemplateView", "index", "RemoteAPIView", "RemoteAPIView")
    assert kwargs == {"path": "items/7"} and token_type == TokenType.CLIENT.value


def test_every_page_has_the_same_browser_script() -> None:
    """The one bff() of the quickstart, word for word, wherever a page shows how a browser app calls the BFF."""
    script = quickstart.quickstart(quickstart.SCRIPT)
    copies = quickstart.browser_script_pages()
    assert {"quickstart", "proxy", "migration"} <= set(copies)
    assert {name for name, text in copies.items() if text != script} == set()
    readme = re.findall(r"^```javascript\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    assert script in readme
    # No other page logs in again on any 401.
    for path in quickstart.READER_PAGES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"status === 401\)\s*(login\(\)|\{\s*\n\s*//[^\n]*\n\s*window\.location)", text), path.name


def test_the_script_logs_in_only_on_the_bffs_own_answers() -> None:
    script = quickstart.quickstart(quickstart.SCRIPT)
    assert '"X-CSRF": "1"' in script
    assert 'body.error === "not_authenticated" || body.error === "session_expired"' in script
    assert script.count("login();") == 1


#: The migration guide's "before" shows mozilla-django-oidc's own login link, to be replaced.
_OLD_LOGIN_ALLOWED = {"migration.rst": 2}


def test_the_pages_log_in_with_bff_login() -> None:
    found = {}
    for path in quickstart.READER_PAGES:
        count = path.read_text(encoding="utf-8").count("/oidc/authenticate/?next=")
        if count:
            found[path.name] = count
    assert found == _OLD_LOGIN_ALLOWED, "log in with /bff/login?returnUrl=..."
    assert "/bff/login?returnUrl=" in quickstart.page("quickstart")


def test_the_pages_name_the_client_secret_variable_after_the_setting() -> None:
    for path in quickstart.READER_PAGES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bOIDC_CLIENT_SECRET\b", text), path.name
        for name in re.findall(r"OIDC_RP_CLIENT_SECRET = os\.environ\[\"(\w+)\"\]", text):
            assert name == "OIDC_RP_CLIENT_SECRET", path.name
        for name in re.findall(r"export (\w*SECRET\w*)=", text):
            assert name == "OIDC_RP_CLIENT_SECRET", path.name


# the sequence diagram -----------------------------------------------------------------------


def test_the_committed_sequence_diagram_is_what_the_script_draws() -> None:
    sequence = runpy.run_path(str(DOCS / "diagrams" / "sequence.py"), run_name="bff_sequence_diagram")
    drawn = sequence["draw"]()
    committed = (DOCS / "_static" / "bff-sequence.svg").read_text(encoding="utf-8")
    assert committed == drawn, "run: python docs/diagrams/sequence.py"
    assert 'width="900"' in drawn
    assert "bff-sequence.svg" in pages()["concepts"]


# the docs extra -----------------------------------------------------------------------------

#: Imported when installed, skipped when not: the docs build without them, and say so.
_OPTIONAL_IMPORTS = {
    "opentelemetry",  # django_bff.telemetry is a no-op without an OpenTelemetry API
    "backports",  # urllib3 looks for backports.zstd; whichever namespace package answers is not needed
    "click",  # httpx loads its command line (httpx[cli]) when click and rich happen to be installed
    "rich",
}

_LOADED_BY_AUTODOC = """
import importlib, json, os, sys
before = set(sys.modules)
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted({m.split(".")[0] for m in set(sys.modules) - before})))
"""


def requirement_closure(distribution: str, extras: set[str]) -> set[str]:
    """The normalised names of what ``pip install distribution[extras]`` installs."""
    from packaging.requirements import Requirement  # Sphinx's dependency, so there with the docs extra
    from packaging.utils import canonicalize_name

    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(distribution, frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in seen:
            continue
        seen.add((canonicalize_name(name), wanted))
        for line in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": extra}) for extra in wanted or {""}):
                continue
            todo.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def test_the_docs_extra_installs_everything_autodoc_imports() -> None:
    """``pip install -e ".[docs]"`` alone builds the API reference: every module it documents imports.

    Without it autodoc leaves a section empty with a warning, which ``-W`` turns into a failed
    build (django_bff.drf once did without djangorestframework). The modules are imported in a
    fresh interpreter, as conf.py does, and each package they load must come from django-bff's
    requirements or its ``docs`` extra.
    """
    documented = re.findall(r"^\s*\.\. automodule:: ([\w.]+)", all_text(), re.M)
    assert "django_bff.drf" in documented
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_AUTODOC, *documented],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    from packaging.utils import canonicalize_name

    installed = requirement_closure("django-bff", {"docs"})
    distributions = importlib.metadata.packages_distributions()
    missing = {
        top: distributions[top]
        for top in json.loads(done.stdout)
        if top in distributions
        and top not in _OPTIONAL_IMPORTS
        and not {canonicalize_name(d) for d in distributions[top]} & installed
    }
    assert missing == {}, "add these to the docs extra in setup.cfg"
    assert {"djangorestframework", "furo", "sphinx"} <= installed


# the settings page's sections ---------------------------------------------------------------


def settings_page_groups() -> list[tuple[str, list[str]]]:
    """``(heading, [KEY, ...])`` for each ``---`` section of settings.rst that documents settings."""
    text = pages()["settings"]
    found: list[tuple[str, list[str]]] = []
    for match in re.finditer(r"^([^\n]+)\n-{3,}\n(.*?)(?=^[^\n]+\n-{3,}\n|\Z)", text, re.M | re.S):
        keys = re.findall(r"^\.\. _setting-([A-Z0-9_]+):\s*$", match.group(2), re.M)
        if keys:
            found.append((match.group(1), keys))
    return found


def test_each_setting_is_in_the_section_of_its_group() -> None:
    """A group's title (django_bff.conf.declared.GROUPS) is its section, holding its settings in order."""
    declared = [(title, [s.name for s in settings_of(group)]) for title, group in GROUPS]
    assert settings_page_groups() == declared


def test_the_dict_at_the_top_of_settings_is_grouped_as_declared() -> None:
    text = pages()["settings"]
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    assert block
    shown: list[tuple[str, list[str]]] = []
    for line in block.group(1).splitlines():
        if comment := re.fullmatch(r" {8}# (.+)", line):
            shown.append((comment.group(1), []))
        elif key := re.match(r' {8}"([A-Z0-9_]+)":', line):
            shown[-1][1].append(key.group(1))
    assert shown == [(title, [s.name for s in settings_of(group)]) for title, group in GROUPS]


# coming from Duende.BFF ---------------------------------------------------------------------

#: The names of Duende's "Token Management" page (and of the Duende.BFF API around it) that its
#: users search for; duende.rst gives each its django_bff counterpart.
DUENDE_NAMES = (
    "AddBff",
    "AddHttpClient",
    "AccessTokenManagementDefaults.BackChannelHttpClientName",
    "IClientAssertionService",
    "SaveTokens",
    "Duende.AccessTokenManagement.IUserTokenStore",
    "IUserTokenStore",
    "StoreTokenAsync",
    "GetTokenAsync",
    "ClearTokenAsync",
    "ClaimsPrincipal",
    "UserToken",
    "UserTokenRequestParameters",
    "IAccessTokenRetriever",
    "GetAccessToken",
    "DefaultAccessTokenRetriever",
    "AccessTokenRetrievalContext",
    "AccessTokenResult",
    "BearerTokenResult",
    "DPoPTokenResult",
    "NoAccessTokenResult",
    "AccessTokenRetrievalError",
    "MapRemoteBffApiEndpoint",
    "RequireAccessToken",
    "WithAccessTokenRetriever",
    "ImpersonationAccessTokenRetriever",
    "TokenType.User",
    "TokenType.Client",
    "TokenType.UserOrClient",
    "GetUserAccessTokenAsync",
    "GetClientAccessTokenAsync",
    "RevokeRefreshTokenAsync",
    "RefreshBeforeExpiration",
    "AddUserAccessTokenHandler",
    "AsBffApiEndpoint",
    "MapBffManagementEndpoints",
    "AddServerSideSessions",
)

#: Duende's page, section by section, and the page here that covers each.
DUENDE_SECTIONS = {
    "Token service communication": "backchannel",
    "client assertions": "client-assertions",
    "Custom Token Storage": "token-storage",
    "Per-route Customized Token Retrieval": "retrievers",
}


@pytest.mark.parametrize("name", DUENDE_NAMES)
def test_the_duende_page_maps_every_reference_name(name: str) -> None:
    assert as_word(name).search(pages()["duende"]), f"duende.rst does not name {name}"


def test_the_duende_page_says_which_page_covers_each_section() -> None:
    text = pages()["duende"]
    table = text[text.index("section by section") : text.index("The names\n")]
    rows = re.split(r"^   \* - ", table, flags=re.M)
    for section, page in DUENDE_SECTIONS.items():
        row = next((r for r in rows if section in r), None)
        assert row, f"duende.rst: no row for Duende's section {section!r}"
        assert f":doc:`{page}`" in row, f"duende.rst: {section!r} should point to {page}.rst"


# code blocks fit the column -----------------------------------------------------------------

#: The longest line a code block may have, in characters. Furo's column is 46em (736 px at its
#: 16 px font); a block's padding leaves 708 px, and code is set at 81.25% (13 px), where a
#: monospace character is 0.6em wide (7.8 px): 90 characters fit, 88 leave room for wider fonts.
#: Each level a block is nested (a list item, a directive's content, an autodoc member) takes
#: the indentation it has in the source. Chromium at 1366 px shows the same limit.
CODE_COLUMN = 88

_CODE_DIRECTIVE = re.compile(r"^( *)\.\. (?:code-block|code|sourcecode|parsed-literal)::")
_ANY_DIRECTIVE = re.compile(r"^ *\.\. [\w:-]+::")
_BULLET = re.compile(r"(?:[*+-]|\d+\.|#\.) +")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def code_blocks(text: str) -> list[tuple[int, int, list[str]]]:
    """``(line number, nesting, lines)`` of each code directive and ``::`` literal block in rst."""
    lines = text.split("\n")
    found = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _CODE_DIRECTIVE.match(line)
        if directive:
            nesting = len(directive.group(1))
        elif line.rstrip().endswith("::") and not _ANY_DIRECTIVE.match(line) and not line.lstrip().startswith(".."):
            bullet = _BULLET.match(line.lstrip())
            nesting = _indent(line) + (bullet.end() if bullet else 0)
        else:
            i += 1
            continue
        start = i
        i += 1
        while directive and i < len(lines) and lines[i].strip().startswith(":") and _indent(lines[i]) > nesting:
            i += 1  # the directive's options
        block = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > nesting):
            block.append(lines[i])
            i += 1
        body = [b for b in block if b.strip()]
        if body:
            inner = min(_indent(b) for b in body)
            found.append((start + 1, nesting, [b[inner:] for b in body]))
    return found


def test_the_code_block_finder_finds_blocks() -> None:
    text = ".. code-block:: python\n   :caption: x\n\n    a = 1\n\n* item::\n\n      b\n\nText\n"
    assert code_blocks(text) == [(1, 0, ["a = 1"]), (6, 2, ["b"])]
    assert len(code_blocks(pages()["settings"])) >= 3


def docstrings(module: str) -> list[tuple[str, int, str]]:
    """``(where, nesting, docstring)`` of a module, its classes, functions and methods, as autodoc shows them."""
    path = Path(importlib.import_module(module).__file__ or "")
    found = []

    def visit(node: ast.AST, name: str, depth: int) -> None:
        doc = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
        if doc:
            found.append((f"{path.relative_to(ROOT)}: {name}", 4 * depth, doc))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name, depth + 1)

    visit(ast.parse(path.read_text(encoding="utf-8")), module, 0)
    return found


def too_wide(blocks: list[tuple[int, int, list[str]]], where: str, nesting: int = 0) -> list[str]:
    return [
        f"{where}:{start}: {len(line)} + {nested + nesting} > {CODE_COLUMN}: {line[:60]}..."
        for start, nested, lines in blocks
        for line in lines
        if len(line) + nested + nesting > CODE_COLUMN
    ]


def test_every_code_block_of_the_pages_fits_the_column() -> None:
    wide = [line for name, text in pages().items() for line in too_wide(code_blocks(text), f"{name}.rst")]
    assert wide == [], "\n".join(wide)


def test_every_code_block_autodoc_shows_fits_the_column() -> None:
    documented = sorted(set(re.findall(r"^\s*\.\. automodule:: ([\w.]+)", all_text(), re.M)))
    wide = []
    for module in documented:
        for where, nesting, doc in docstrings(module):
            wide += too_wide(code_blocks(doc), where, nesting)
    assert wide == [], "\n".join(wide)
