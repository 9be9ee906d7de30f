"""Draw ``docs/_static/bff-sequence.svg``: a login and an API call through django_bff.

Run it from anywhere after changing the diagram, and commit the SVG with it::

    python docs/diagrams/sequence.py

Standard library only. The layout is computed, not drawn by hand: every text
gets an estimated box (generous character widths, so that the widest common
sans-serif font still fits), and the script refuses to write a diagram in which
a label is wider than its arrow, two texts overlap, or something leaves the
canvas. ``tests/test_docs.py`` checks that the committed SVG is what this
script draws.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from svg import Diagram, text_width  # noqa: E402  (beside this script, which is run as a file)

OUTPUT = Path(__file__).resolve().parent.parent / "_static" / "bff-sequence.svg"

WIDTH = 900
MARGIN = 10
SIZE = 13  # message labels
HEAD = 12  # party names
SMALL = 11  # notes, subtitles, frame labels
LINE = 16  # distance between two lines of a label
ROW_GAP = 12  # free space above each message's label

#: (key, name, subtitle, x of the lifeline)
PARTIES = [
    ("browser", "Browser", "session cookie only", 85),
    ("bff", "Django BFF", "django_bff", 285),
    ("store", "Token store", "and the Redis lock", 475),
    ("idp", "Identity provider", "OpenID Connect", 650),
    ("api", "Remote API", "checks the token", 810),
]
X = {key: x for key, _, _, x in PARTIES}
HEADER_WIDTH = 150
HEADER_HEIGHT = 42

# The story. ("section", title) starts a band; ("msg", from, to, lines, reply)
# draws an arrow (reply: dashed); ("note", party, text) a box on a lifeline;
# ("frame", title, first party, last party) ... ("end",) a box around messages.
STEPS: list[tuple[object, ...]] = [
    ("section", "Login (once per session)"),
    ("msg", "browser", "bff", ["GET /bff/login", "?returnUrl=/orders"], False),
    ("msg", "bff", "browser", ["302 to the provider", "(PKCE, state, nonce)"], True),
    ("msg", "browser", "idp", ["GET /authorize ... ; the user signs in"], False),
    ("msg", "idp", "browser", ["302 /oidc/callback/?code=...&state=..."], True),
    ("msg", "browser", "bff", ["GET /oidc/callback/", "?code=...&state=..."], False),
    ("msg", "bff", "idp", ["POST /token: code + PKCE verifier", "(back-channel session)"], False),
    ("msg", "idp", "bff", ["access, refresh and identity tokens"], True),
    ("msg", "bff", "store", ["save the tokens,", "encrypted"], False),
    ("msg", "bff", "browser", ["302 /orders", "Set-Cookie: sessionid", "(HttpOnly, Secure)"], True),
    ("section", "An API call (every time)"),
    ("msg", "browser", "bff", ["GET /api/orders/42", "Cookie, X-CSRF: 1"], False),
    ("note", "bff", "X-CSRF: 1 checked first"),
    ("msg", "bff", "store", ["read the tokens", "of this session"], False),
    ("msg", "store", "bff", ["token, expires_at"], True),
    ("frame", "only when it expires within 60 s", "bff", "idp"),
    ("msg", "bff", "store", ["take the lock", "(Redis, per session),", "read the store again"], False),
    ("msg", "bff", "idp", ["POST /token: grant_type=refresh_token"], False),
    ("msg", "idp", "bff", ["new access token, rotated refresh token"], True),
    ("msg", "bff", "store", ["save the tokens,", "release the lock"], False),
    ("end",),
    ("msg", "bff", "api", ["GET /v1/orders/42", "Authorization: Bearer <access token>"], False),
    ("msg", "api", "bff", ["200 JSON, streamed"], True),
    ("msg", "bff", "browser", ["200 JSON", "(no token)"], True),
]

COLORS = {
    "ink": "#1f2328",
    "muted": "#57606a",
    "line": "#8c959f",
    "header": "#ddf4ff",
    "header_edge": "#54aeff",
    "section": "#f6f8fa",
    "note": "#fff8c5",
    "note_edge": "#d4a72c",
    "frame": "#8250df",
}


def draw() -> str:
    d = Diagram()
    top = MARGIN
    for _, name, subtitle, x in PARTIES:
        d.rect(x - HEADER_WIDTH / 2, top, HEADER_WIDTH, HEADER_HEIGHT, COLORS["header"], COLORS["header_edge"], rx="6")
        for box in (
            d.text(x, top + 18, name, HEAD, **{"font-weight": "bold", "fill": COLORS["ink"]}),
            d.text(x, top + 34, subtitle, SMALL, fill=COLORS["muted"]),
        ):
            if box.x1 - box.x0 > HEADER_WIDTH - 8:
                d.problems.append(f"header text {box.what!r} is wider than its box")
    for (_, left, _, a), (_, right, _, b) in zip(PARTIES, PARTIES[1:], strict=False):
        if b - a < HEADER_WIDTH + 4:
            d.problems.append(f"the headers of {left!r} and {right!r} overlap")
    if PARTIES[0][3] - HEADER_WIDTH / 2 < MARGIN or PARTIES[-1][3] + HEADER_WIDTH / 2 > WIDTH - MARGIN:
        d.problems.append("a header leaves the canvas")
    y = top + HEADER_HEIGHT + 10

    body: list[str] = []  # drawn after the lifelines, so that labels cover them
    lifelines_from = y - 10
    frame: tuple[str, str, str, float] | None = None
    number = 0
    d.parts, saved = body, d.parts
    for step in STEPS:
        kind = step[0]
        if kind == "section":
            title = str(step[1])
            y += 8
            d.rect(MARGIN, y, WIDTH - 2 * MARGIN, 24, COLORS["section"], "#d0d7de")
            d.text(MARGIN + 10, y + 16, title, SIZE, anchor="start", fill=COLORS["ink"], **{"font-weight": "bold"})
            y += 24 + 4
        elif kind == "note":
            party, value = str(step[1]), str(step[2])
            width = text_width(value, SMALL) + 16
            y += 8
            d.rect(X[party] - width / 2, y, width, 22, COLORS["note"], COLORS["note_edge"], rx="3")
            d.text(X[party], y + 15, value, SMALL, fill=COLORS["ink"])
            y += 22
        elif kind == "frame":
            title, first, last = str(step[1]), str(step[2]), str(step[3])
            y += 10
            frame = (title, first, last, y)
            y += 24
        elif kind == "end":
            assert frame is not None
            title, first, last, y0 = frame
            y += 8
            x0, x1 = X[first] - 70, X[last] + 70
            d.rect(x0, y0, x1 - x0, y - y0, "none", COLORS["frame"], stroke_width="1.2", rx="4")
            tab = text_width(title, SMALL) + 14
            d.parts.append(
                f'<path d="M{x0:g},{y0:g} h{tab:g} v12 l-8,8 h{-(tab - 8):g} z" fill="#fbefff" '
                f'stroke="{COLORS["frame"]}" stroke-width="1.2"/>'
            )
            d.text(x0 + 7, y0 + 15, title, SMALL, anchor="start", fill=COLORS["frame"])
            frame = None
        else:
            _, source, target, lines, reply = step
            assert isinstance(lines, list)
            number += 1
            x0, x1 = X[str(source)], X[str(target)]
            direction = 1 if x1 > x0 else -1
            labels = [f"{number}. {lines[0]}", *lines[1:]]
            y += ROW_GAP + LINE * len(labels)
            arrow_y = y
            room = abs(x1 - x0) - 14
            middle = (x0 + x1) / 2
            for i, label in enumerate(labels):
                baseline = arrow_y - 6 - LINE * (len(labels) - 1 - i)
                width = text_width(label, SIZE)
                if width > room:
                    d.problems.append(f"label {label!r} ({width:.0f}px) is wider than its arrow ({room:.0f}px)")
                # A white background, so that lifelines the arrow crosses do not run through the text.
                d.rect(middle - width / 2 - 2, baseline - SIZE + 1, width + 4, SIZE + 3, "#ffffff")
                d.text(middle, baseline, label, SIZE, fill=COLORS["ink"])
            end = x1 - 2 * direction
            d.line(x0, arrow_y, end - 8 * direction, arrow_y, COLORS["ink"], dashed=bool(reply))
            d.arrowhead(end, arrow_y, direction)
            y += 4
    d.parts = saved
    bottom = y + 18
    for _, _, _, x in PARTIES:
        d.line(x, lifelines_from, x, bottom, COLORS["line"], dashed=True)
    d.parts.extend(body)
    height = bottom + MARGIN

    return d.finish(
        WIDTH,
        height,
        "Sequence diagram: a login through django_bff, then an API call whose access token is refreshed "
        "under a lock and sent to the remote API as a Bearer token.",
    )


def main() -> int:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(draw(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
