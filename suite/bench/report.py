"""The bench table printed by the CLI (rich)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from suite.bench.harness import PASSES


def _ms(s: float) -> str:
    return f"{s * 1e3:.3f}"


def print_records(records: list[dict]) -> None:
    if not records:
        return
    first = records[0]
    table = Table(title=f"{first['device']} {first['dtype']} shape {'x'.join(map(str, first['shape']))}"
                        " — times in ms (median ± IQR); ratios to copy and ReLU timed in the same run")
    for col in ("activation", "impl", "fwd", "bwd", "fwd+bwd", "Gelem/s", "GB/s",
                "fwd ×relu", "bwd ×relu", "f+b ×copy", "f+b ×relu", "saved", "peak MB"):
        table.add_column(col, justify="left" if col in ("activation", "impl") else "right")
    for r in records:
        fb = r["fwdbwd"]
        peak = r.get("peak_mem_bytes")
        table.add_row(
            r["label"], r["impl"],
            *(f"{_ms(r[n]['median_s'])}±{_ms(r[n]['iqr_s'])}" for n in PASSES),
            f"{fb['elements_per_s'] / 1e9:.2f}", f"{fb['gbps']:.1f}",
            f"{r['fwd']['ratio_to_relu']:.2f}", f"{r['bwd']['ratio_to_relu']:.2f}",
            f"{fb['ratio_to_copy']:.2f}", f"{fb['ratio_to_relu']:.2f}",
            f"{r['saved_bytes'] / r['input_bytes']:.2f}×x", "-" if peak is None else f"{peak / 2**20:.1f}",
        )
    Console(width=220).print(table)
