"""A small report document (key figures, tables, PNG plots) written as metrics.json, report.md and report.html."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoclassify.io.atomic import write_atomic


@dataclass
class Table:
    """A titled table: column names and rows of cell values (formatted by `fmt`)."""

    title: str
    header: list[str]
    rows: list[list[Any]]


@dataclass
class Report:
    """A report's content: title, key figures (name, value), tables and plots already saved as PNG files."""

    title: str
    summary: list[tuple[str, Any]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (caption, PNG file name in the report folder)


def fmt(value: Any) -> str:
    """Table cell text: floats with 4 decimals (whole, with thousands separators, from 1000), an em dash for None."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown (pipe) table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: Report) -> str:
    """The report as Markdown (report.md), plots linked by file name."""
    parts = [f"# {report.title}", ""]
    parts += [f"- **{key}**: {fmt(value)}" for key, value in report.summary]
    for table in report.tables:
        parts += ["", f"## {table.title}", "", markdown_table(table.header, table.rows)]
    if report.images:
        parts += ["", "## Plots"]
        parts += [f"\n### {caption}\n\n![{caption}]({name})" for caption, name in report.images]
    return "\n".join(parts) + "\n"


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in table.rows)
    return f"<h2>{html.escape(table.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
         "th{background:#f2f2f2}figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}"
         "img{max-width:100%}")


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page (report.html) except for the plots, linked by file name."""
    summary = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(fmt(v))}</li>" for k, v in report.summary)
    tables = "".join(_html_table(t) for t in report.tables)
    figures = "".join(f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                      f"<figcaption>{html.escape(caption)}</figcaption></figure>" for caption, name in report.images)
    title = html.escape(report.title)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head>"
            f"<body><h1>{title}</h1><ul>{summary}</ul>{tables}<h2>Plots</h2>{figures}</body></html>\n")


def write_report(out: Path, report: Report, metrics: dict[str, Any]) -> list[Path]:
    """Write metrics.json, report.md and report.html into `out` (plots are already there)."""
    files = {"metrics.json": json.dumps(metrics, indent=2), "report.md": to_markdown(report),
             "report.html": to_html(report)}
    for name, text in files.items():
        write_atomic(out / name, text.encode())
    return [out / name for name in files]
