"""Split ../shared/published/numbers-from-papers.csv into one baselines CSV per paper.

    python baselines/import_published.py /work/shared/published/numbers-from-papers.csv

Rows are copied verbatim (every field as the file spells it, values as strings), so no
number is ever retyped; ``tests/test_published.py`` checks the copy against the source
when it is present. The file of a paper is ``<short>_<arxiv>.csv``; a paper whose arXiv
id is not in ``SHORT`` stops the import with the id to add.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

SHORT = {"1710.05941": "swish", "2009.04759": "acon", "2104.03693": "pwlu",
         "2402.08244": "apalu", "2310.10126": "sqish"}


def split(source: Path, out: Path) -> list[Path]:
    with source.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    by_paper: dict[str, list[dict]] = {}
    for row in rows:
        if row["arxiv"] not in SHORT:
            sys.exit(f"error: arXiv id {row['arxiv']!r} has no short name; add it to SHORT in {__file__}.")
        by_paper.setdefault(row["arxiv"], []).append(row)
    written = []
    for arxiv, paper_rows in by_paper.items():
        path = out / f"{SHORT[arxiv]}_{arxiv}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(paper_rows)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in split(Path(sys.argv[1]), Path(__file__).parent):
        print(path)
