"""The HTML page of every report: rendered by Jinja2, which escapes every text it is given, with plotly.js kept once
per folder beside the pages (``plotly.min.js``), not inlined into each. Every report file is written whole or not at
all (``write_text``, ``write_table``): a full disk leaves the report that was there as it was."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
from markupsafe import Markup

from training.files import write_whole

PLOTLY_JS = "plotly.min.js"

PAGE = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ title }}</title>
<script src="{{ plotly_js }}"></script>
<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}</style>
</head><body>
<h1>{{ title }}</h1>
{% for figure in figures %}{{ figure }}
{% endfor %}{% for section in sections %}<h2>{{ section.heading }}</h2>
{% for line in section.lines %}<p>{{ line }}</p>
{% endfor %}{% if section.table is not none %}{{ section.table }}
{% endif %}{% if section.empty %}<p>(none)</p>
{% endif %}{% endfor %}</body></html>
""")


@dataclass(frozen=True)
class Section:
    """A heading, its paragraphs (plain text, escaped) and a table below them."""

    heading: str
    lines: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None


def readable_number(value: float) -> str:
    """-144.2, 0.08733, 2,308, 190,100: four significant digits below a thousand, whole numbers with separators above;
    nothing for a missing value."""
    if value != value:
        return ""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells for reading: floats by ``readable_number``, every other cell as written."""
    return frame.map(lambda value: readable_number(value) if isinstance(value, float) else value)


def write_text(path: Path, text: str) -> Path:
    return write_whole(path, text)


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as CSV or Parquet, by the file's suffix."""
    data = frame.to_parquet(index=False) if path.suffix == ".parquet" else frame.to_csv(index=False)
    return write_whole(path, data)


def write_page(path: Path, title: str, figures: list[go.Figure], sections: list[Section]) -> Path:
    """The page at ``path``; plotly.js beside it, written where it is missing or of another plotly version."""
    script = path.parent / PLOTLY_JS
    plotly_js = plotly.offline.get_plotlyjs()
    if not script.exists() or script.stat().st_size != len(plotly_js.encode()):
        write_text(script, plotly_js)
    return write_text(path, PAGE.render(
        title=title, plotly_js=PLOTLY_JS,
        figures=[Markup(pio.to_html(figure, full_html=False, include_plotlyjs=False)) for figure in figures],
        sections=[{"heading": section.heading, "lines": section.lines, "empty": section.table is not None and
                   section.table.empty, "table": None if section.table is None or section.table.empty else
                   Markup(readable(section.table).to_html(index=False))} for section in sections],
    ))  # fmt: skip
