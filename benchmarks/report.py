"""Render ``benchmarks/results/b1.json``: an SVG chart (no dependencies) and tables.

    .venv/bin/python benchmarks/report.py                      # tables (Markdown and reST) on stdout
    .venv/bin/python benchmarks/report.py --svg docs/benchmarks-b1.svg

``run.py`` calls :func:`write_svg` itself and writes ``benchmarks/results/b1.svg``.
"""

from __future__ import annotations

import argparse
import json
import math
from html import escape
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PATHS = ("direct", "null", "null-session", "revproxy", "revproxy-session", "bff")
LABELS = {
    "direct": "direct",
    "null": "null view (N)",
    "null-session": "null view + session (NS)",
    "revproxy": "django-revproxy (R)",
    "revproxy-session": "revproxy + session token (RS)",
    "bff": "django_bff",
}
COLORS = {
    "direct": "#8c8c8c",
    "null": "#c7c7c7",
    "null-session": "#9a9a9a",
    "revproxy": "#f0b46a",
    "revproxy-session": "#d06d1c",
    "bff": "#2a7ab9",
}


def _configs(data: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(r.get("config", "production") for r in data["summary"]))


def _rows(data: dict[str, Any], config: str) -> dict[tuple[int, str], dict[str, Any]]:
    return {(r["work_ms"], r["path"]): r for r in data["summary"] if r.get("config", "production") == config}


def _paths(data: dict[str, Any]) -> list[str]:
    present = {r["path"] for r in data["summary"]}
    return [p for p in PATHS if p in present]


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``raw``."""
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def _panel(
    x0: float,
    y0: float,
    width: float,
    height: float,
    title: str,
    works: list[int],
    values: dict[tuple[int, str], tuple[float, float | None]],
    unit: str,
    decimals: int,
) -> list[str]:
    """One grouped bar panel: a bar per path per work time; the optional second value is a whisker."""
    highest = max((hi if hi is not None else v) for v, hi in values.values()) * 1.08 or 1.0
    step = _nice_step(highest / 5)
    steps = math.ceil(highest / step)
    top = step * steps
    out = [
        f'<text x="{x0 + width / 2:.1f}" y="{y0 - 12:.1f}" text-anchor="middle" font-weight="bold">'
        f"{escape(title)}</text>"
    ]
    # axis and grid
    tick_decimals = 0 if step >= 1 else 1
    for i in range(steps + 1):
        value = step * i
        y = y0 + height - height * i / steps
        out.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x0 + width:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(
            f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value:.{tick_decimals}f}</text>'
        )
    out.append(
        f'<text x="{x0 - 42:.1f}" y="{y0 + height / 2:.1f}" text-anchor="middle" font-size="11" '
        f'transform="rotate(-90 {x0 - 42:.1f} {y0 + height / 2:.1f})">{escape(unit)}</text>'
    )
    paths = sorted({p for _, p in values}, key=PATHS.index)
    group_w = width / len(works)
    bar_w = group_w / (len(paths) + 1.5)
    for g, work in enumerate(works):
        gx = x0 + g * group_w + bar_w * 0.75
        for i, path in enumerate(paths):
            value, whisker = values[(work, path)]
            bx = gx + i * bar_w
            bh = height * value / top
            by = y0 + height - bh
            out.append(
                f'<rect x="{bx + 2:.1f}" y="{by:.1f}" width="{bar_w - 4:.1f}" height="{bh:.1f}" fill="{COLORS[path]}"/>'
            )
            label_y = by - 4
            if whisker is not None:
                wy = y0 + height - height * whisker / top
                cx = bx + bar_w / 2
                out.append(f'<line x1="{cx:.1f}" y1="{by:.1f}" x2="{cx:.1f}" y2="{wy:.1f}" stroke="#333"/>')
                out.append(f'<line x1="{cx - 6:.1f}" y1="{wy:.1f}" x2="{cx + 6:.1f}" y2="{wy:.1f}" stroke="#333"/>')
                out.append(
                    f'<text x="{cx:.1f}" y="{wy - 4:.1f}" text-anchor="middle" font-size="10" '
                    f'fill="#333">{whisker:.{decimals}f}</text>'
                )
                if bh > 18:
                    label_y, fill = by + 13, "#fff"
                else:  # a short bar: its label goes left of the whisker
                    out.append(
                        f'<text x="{cx - 4:.1f}" y="{by - 4:.1f}" text-anchor="end" font-size="10">'
                        f"{value:.{decimals}f}</text>"
                    )
                    continue
            else:
                fill = "#000"
            out.append(
                f'<text x="{bx + bar_w / 2:.1f}" y="{label_y:.1f}" text-anchor="middle" font-size="10" '
                f'fill="{fill}">{value:.{decimals}f}</text>'
            )
        out.append(
            f'<text x="{x0 + g * group_w + group_w / 2:.1f}" y="{y0 + height + 18:.1f}" '
            f'text-anchor="middle" font-size="12">upstream work {work} ms</text>'
        )
    out.append(
        f'<line x1="{x0:.1f}" y1="{y0 + height:.1f}" x2="{x0 + width:.1f}" y2="{y0 + height:.1f}" stroke="#333"/>'
    )
    return out


def write_svg(data: dict[str, Any], path: Path) -> None:
    works = list(data["method"]["work_ms"])
    paths = _paths(data)
    configs = _configs(data)
    m = data["method"]
    width, row_h = 1000, 360
    height = 60 + row_h * len(configs) + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
        f"B1 proxy overhead: GET 1 KiB, {m['requests']} requests, {m['concurrency']} concurrent, "
        f"median of {m['repeats']}</text>",
    ]
    for n, config in enumerate(configs):
        rows = _rows(data, config)
        latency = {(w, p): (rows[(w, p)]["p50_ms"], rows[(w, p)]["p99_ms"]) for w in works for p in paths}
        rps = {(w, p): (rows[(w, p)]["rps"], None) for w in works for p in paths}
        y0 = 80 + n * row_h
        described = m.get("configs", {}).get(config, "")
        parts += _panel(70, y0, 400, 250, f"{config}: latency, bar p50, whisker p99 (ms)", works, latency, "ms", 1)
        parts += _panel(570, y0, 400, 250, f"{config}: throughput (requests/s)", works, rps, "req/s", 0)
        if described:
            parts.append(
                f'<text x="{width / 2}" y="{y0 + 300}" text-anchor="middle" font-size="11" fill="#555">'
                f"{escape(config)}: {escape(described)}</text>"
            )
    lx = 30
    for name in paths:
        parts.append(f'<rect x="{lx}" y="{height - 30}" width="14" height="14" fill="{COLORS[name]}"/>')
        parts.append(f'<text x="{lx + 20}" y="{height - 19}" font-size="11">{escape(LABELS[name])}</text>')
        lx += 165
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def table_rows(data: dict[str, Any]) -> list[list[str]]:
    out = []
    for config in _configs(data):
        rows = _rows(data, config)
        for work in data["method"]["work_ms"]:
            for path in _paths(data):
                r = rows[(work, path)]
                out.append(
                    [
                        config,
                        f"{work} ms",
                        LABELS[path],
                        f"{r['p50_ms']:.2f}",
                        f"{r['p99_ms']:.2f}",
                        f"{r['rps']:.0f}",
                        "1.00" if path == "direct" else f"{r['p50_vs_direct']:.2f}",
                        "1.00" if path == "direct" else f"{r['p99_vs_direct']:.2f}",
                        "" if path == "direct" else f"{r['django_cpu_ms_per_request']:.2f}",
                    ]
                )
    return out


HEADER = [
    "config",
    "upstream work",
    "path",
    "p50 (ms)",
    "p99 (ms)",
    "req/s",
    "p50 / direct",
    "p99 / direct",
    "Django CPU (ms/call)",
]


def markdown_table(data: dict[str, Any]) -> str:
    align = "|" + "|".join("---:" if i > 2 else "---" for i in range(len(HEADER))) + "|"
    lines = ["| " + " | ".join(HEADER) + " |", align]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(data)]
    return "\n".join(lines)


def rst_table(data: dict[str, Any]) -> str:
    body = table_rows(data)
    widths = [max(len(HEADER[i]), *(len(r[i]) for r in body)) for i in range(len(HEADER))]
    rule = "  ".join("=" * w for w in widths)
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([rule, fmt(HEADER), rule, *(fmt(r) for r in body), rule])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="?", type=Path, default=HERE / "results" / "b1.json")
    parser.add_argument("--svg", type=Path, help="write the chart here")
    args = parser.parse_args()
    data = json.loads(args.json.read_text())
    if args.svg:
        write_svg(data, args.svg)
        print(f"wrote {args.svg}")
    print(markdown_table(data))
    print()
    print(rst_table(data))
    print()
    for name, value in data.get("aims", {}).items():
        print(f"{'MET    ' if value['met'] else 'NOT MET'} {name}: {value}")


if __name__ == "__main__":
    main()
