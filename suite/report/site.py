"""The static site: one ``index.html`` (jinja2, inline CSS, relative links, no server).

It embeds the HTML tables of a `Report`, links their Markdown/LaTeX/CSV files, shows the
figures, the store problems, the provenance, and, for smoke runs on CPU, a visible label
saying the numbers are not paper-scale.
"""
from __future__ import annotations

from pathlib import Path

import jinja2

from suite.report import aggregate, tables
from suite.report.build import Report

TITLES = {
    "leaderboard": "Leaderboard",
    "deltas": "Differences against ReLU and Swish",
    "ranks": "Average rank and performance profile",
    "published-vs-reproduced": "Published vs reproduced, per paper",
}


def title_of_leaderboard(name: str) -> str:
    task = name.removeprefix("leaderboard-")
    return f"Leaderboard: {tables.TASK_TITLES.get(task, task)}" if task != name else name


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )


def render(report: Report) -> str:
    sections = []
    for table in report.tables:
        sections.append({
            "name": table.name,
            "title": TITLES.get(table.name) or title_of_leaderboard(table.name),
            # the published comparison is shown grouped by paper (its flat table is a download)
            "html": report.published_html if table.name == "published-vs-reproduced" and report.published_html
            else tables.to_html(table),
            "links": [p.relative_to(report.out).as_posix() for p in report.table_files.get(table.name, [])],
        })
    figures = [{"src": f.path.relative_to(report.out).as_posix(), "caption": f.caption} for f in report.figures]
    return _environment().get_template("index.html.j2").render(
        tag=report.tag, unfinished=report.unfinished, smoke_label=report.smoke_label, problems=report.problems,
        sections=sections, figures=figures, prov=report.provenance,
        hardware=[aggregate.hardware_label(hw) for hw in report.provenance["hardware"]],
        runs_csv=report.runs_csv.relative_to(report.out).as_posix() if report.runs_csv else "",
    )


def write_site(report: Report) -> Path:
    path = report.out / "index.html"
    path.write_text(render(report))
    return path
