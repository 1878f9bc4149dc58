"""Report building blocks and their rendering to Markdown and HTML (no templating library).

A report is a list of blocks: headings, paragraphs, tables (DataFrames of display strings)
and figures (saved as PNG next to the report). The same blocks render to both formats.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

FIGURE_DPI = 110


@dataclass
class Heading:
    """A section heading (level 1-3)."""

    text: str
    level: int = 2


@dataclass
class Text:
    """A paragraph; `**bold**` and `code` spans are kept in Markdown and converted for HTML."""

    text: str


@dataclass
class Bullets:
    """A bulleted list of short items."""

    items: list[str]


@dataclass
class Table:
    """A table to show as is (format numbers before building it)."""

    frame: pd.DataFrame
    caption: str = ""


@dataclass
class Plot:
    """A figure, saved as `figures/<name>.png` next to the report."""

    name: str
    figure: Figure
    caption: str = ""


@dataclass
class Contents:
    """A table of contents: links to every level-2 heading of the report, in order."""


@dataclass
class Collapsed:
    """Blocks shown folded (HTML `<details>`) under a one-line summary; Markdown shows them
    in full under the summary in bold."""

    summary: str
    blocks: list


Block = Heading | Text | Bullets | Table | Plot | Contents | Collapsed


def anchor(text: str) -> str:
    """The link target of a heading: GitHub's rule (lower case, spaces to hyphens, other
    punctuation dropped), so the same link works in report.md on GitHub and in report.html."""
    kept = "".join(ch for ch in text.lower() if ch.isalnum() or ch in " -_")
    return kept.strip().replace(" ", "-")


def _headings(blocks: list) -> list[Heading]:
    found = []
    for block in blocks:
        if isinstance(block, Heading) and block.level == 2:
            found.append(block)
        elif isinstance(block, Collapsed):
            found += _headings(block.blocks)
    return found


def fmt_rate(rate: float, lo: float, hi: float) -> str:
    """'70.4% (64.1–76.0)': a rate as a percentage with its interval; '–' when undefined."""
    if _missing(rate):
        return "–"
    if _missing(lo) or _missing(hi):
        return f"{100 * rate:.1f}%"
    return f"{100 * rate:.1f}% ({100 * lo:.1f}–{100 * hi:.1f})"


def fmt_mean(mean: float, lo: float, hi: float) -> str:
    """'0.433 (0.367–0.483)': a mean with its interval, 3 significant digits."""
    if _missing(mean):
        return "–"
    if _missing(lo) or _missing(hi):
        return f"{mean:.3g}"
    return f"{mean:.3g} ({lo:.3g} to {hi:.3g})"


def fmt_p(p: float) -> str:
    """A p-value: '<0.001', or 3 decimals; '–' when undefined."""
    if _missing(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_num(value: float, digits: int = 3) -> str:
    """A number with `digits` significant digits ('–' when missing, 'inf' kept)."""
    if _missing(value):
        return "–"
    return f"{value:.{digits}g}"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _flat(blocks: list) -> list:
    out = []
    for block in blocks:
        out += _flat(block.blocks) if isinstance(block, Collapsed) else [block]
    return out


def save_figures(blocks: list[Block], out_dir: Path) -> list[Path]:
    """Save every figure under out_dir/figures/ and return their paths."""
    folder = out_dir / "figures"
    paths = []
    for block in _flat(blocks):
        if isinstance(block, Plot):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{block.name}.png"
            block.figure.savefig(path, dpi=FIGURE_DPI)
            paths.append(path)
    return paths


def to_markdown(blocks: list[Block]) -> str:
    """Render blocks as GitHub-flavoured Markdown."""
    parts = []
    for block in blocks:
        if isinstance(block, Contents):
            parts.append("**Contents:** " + " · ".join(
                f"[{h.text}](#{anchor(h.text)})" for h in _headings(blocks)))
        elif isinstance(block, Collapsed):
            parts.append(f"**{block.summary}**")
            parts.append(to_markdown(block.blocks).rstrip("\n"))
        elif isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Text):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            parts.append(_markdown_table(block.frame, block.caption))
        elif isinstance(block, Plot):
            alt = block.caption or block.name
            parts.append(f"![{alt}](figures/{block.name}.png)")
            if block.caption:
                parts.append(f"*{block.caption}*")
    return "\n\n".join(parts) + "\n"


def _markdown_table(frame: pd.DataFrame, caption: str) -> str:
    def cell(value: object) -> str:
        text = "–" if _missing(value) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    table = "\n".join([header, rule, *rows])
    return f"{caption}\n\n{table}" if caption else table


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top;
         white-space: nowrap; }
.table-wrap { overflow-x: auto; max-width: 100%; }
nav.contents { background: #f7f7f7; padding: 0.5rem 1rem; border-radius: 4px; }
nav.contents a { margin-right: 1rem; }
details > summary { cursor: pointer; font-weight: 600; margin: 1rem 0 0.5rem; }
th { background: #f3f3f3; }
img { max-width: 100%; }
figcaption, .caption { color: #555; font-size: 0.9rem; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def to_html(blocks: list[Block], title: str) -> str:
    """Render blocks as one self-contained HTML page (figures linked from figures/)."""
    body = [_html_body(blocks, blocks)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _html_body(blocks: list, everything: list) -> str:
    body = []
    for block in blocks:
        if isinstance(block, Contents):
            links = "".join(f'<a href="#{anchor(h.text)}">{_inline(h.text)}</a>'
                            for h in _headings(everything))
            body.append(f'<nav class="contents"><strong>Contents:</strong> {links}</nav>')
        elif isinstance(block, Collapsed):
            body.append(f"<details><summary>{_inline(block.summary)}</summary>"
                        + _html_body(block.blocks, everything) + "</details>")
        elif isinstance(block, Heading):
            body.append(f'<h{block.level} id="{anchor(block.text)}">{_inline(block.text)}'
                        f"</h{block.level}>")
        elif isinstance(block, Text):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{_inline(item)}</li>" for item in block.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            body.append(_html_table(block.frame, block.caption))
        elif isinstance(block, Plot):
            caption = (f"<figcaption>{html.escape(block.caption)}</figcaption>"
                       if block.caption else "")
            body.append(f'<figure><img src="figures/{html.escape(block.name)}.png" '
                        f'alt="{html.escape(block.caption or block.name)}">{caption}</figure>')
    return "\n".join(body)


def _html_table(frame: pd.DataFrame, caption: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape('–' if _missing(v) else str(v))}</td>"
                         for v in row) + "</tr>"
        for row in frame.itertuples(index=False))
    cap = f'<p class="caption">{_inline(caption)}</p>' if caption else ""
    return (f'{cap}<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def _inline(text: str) -> str:
    """Escape text and turn Markdown **bold** and `code` spans into HTML."""
    out = []
    for i, chunk in enumerate(html.escape(text).split("`")):
        if i % 2:
            out.append(f"<code>{chunk}</code>")
        else:
            bold = chunk.split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b
                               for j, b in enumerate(bold)))
    return "".join(out)
