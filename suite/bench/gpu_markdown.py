"""The GPU check's report as Markdown: targets first, then one table per section."""
from __future__ import annotations

from suite.bench.gpu_kernels import TARGET_FRACTION
from suite.bench.gpu_train import TARGET_RATIO, TORCHORTHO_SPEEDUP


def _pct(v) -> str:
    if v is None:
        return "—"
    return f"{100 * v:.0f} %" if v >= 0.01 else f"{100 * v:.2g} %"  # the rehearsal's are tiny


def _x(v, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(map(str, r)) + " |" for r in rows), ""]


def _section(report: dict, name: str):
    entry = report["sections"].get(name)
    if entry is None:
        return None, ["(not run)", ""]
    if "error" in entry:
        return None, [f"**Failed:** `{entry['error']}`", ""]
    return entry["result"], []


def _summary(report: dict) -> list[str]:
    kernels = report["sections"].get("kernels", {}).get("result") or []
    steps = report["sections"].get("train_steps", {}).get("result") or []
    lines = ["## Targets", ""]
    timed = [r for r in kernels if "kernel" in r and not r["activation"].startswith("meta_acon")]
    lines.append(f"- Triton kernels at >= {TARGET_FRACTION:.0%} of the copy's bandwidth, fwd and bwd: "
                 f"{sum(r['meets_target'] for r in timed)} of {len(timed)} (activation, dtype) pairs"
                 + (f"; missed: {', '.join(r['activation'] + ' ' + r['dtype'] for r in timed if not r['meets_target'])}"
                    if any(not r["meets_target"] for r in timed) else ""))
    ours = [r for r in steps if r.get("impl") == "suite" and "ratio_to_fixed" in r]
    lines.append(f"- Training steps within {TARGET_RATIO}x of the fixed activation's: "
                 f"{sum(r['meets_target'] for r in ours)} of {len(ours)}")
    peers = [r for r in steps if r.get("impl") == "torchortho" and "speedup_of_suite" in r]
    lines.append(f"- At least {TORCHORTHO_SPEEDUP:.0f}x faster than torchortho's step: "
                 f"{sum(r['meets_target'] for r in peers)} of {len(peers)}")
    ddp = report["sections"].get("ddp", {}).get("result")
    lines.append(f"- DDP cell stopped and resumed: {'passed' if ddp and ddp.get('passed') else 'FAILED or not run'}")
    return lines + [""]


def markdown(report: dict) -> str:
    env = report["sections"].get("environment", {}).get("result", {})
    title = "GPU check" + (" (CPU rehearsal: Triton's interpreter, small shapes; no timing here means anything)"
                           if report.get("rehearsal") else "")
    lines = [f"# {title}", "", f"Run {report['started']} with `python -m suite doctor --gpu"
             + (" --rehearse" if report.get("rehearsal") else "") + "`.", ""]
    lines += _table(["what", "value"], [[k, v] for k, v in env.items()])
    lines += _summary(report)

    for name in ("triton_tests", "cuda_bench_tests"):
        result, text = _section(report, name)
        lines += [f"## Tests: {name.replace('_', ' ')}", "", *text]
        if result:
            if "skipped" in result and "tests" not in result:
                lines += [f"Skipped: {result['skipped']}", ""]
            else:
                lines += [f"`{result.get('command', '')}`: {result.get('passed', '?')} passed, "
                          f"{result.get('failures', 0) + result.get('errors', 0)} failed, "
                          f"{result.get('skipped', 0)} skipped" + (f" ({result['error']})" if "error" in result else ""),
                          "", *(f"- {f}" for f in result.get("failed", [])), ""]

    result, text = _section(report, "kernels")
    lines += ["## Kernels: fraction of a same-bytes copy's bandwidth", "", *text]
    if result:
        rows = []
        for r in result:
            if "error" in r:
                rows.append([r["activation"], r["dtype"], f"error: {r['error'][:80]}", "", "", "", "", ""])
                continue
            k = r["kernel"]
            ref, peer = r.get("reference", {}), r.get("torchortho")
            rows.append([r["activation"], r["dtype"], _pct(k["fwd"]["bandwidth_fraction"]),
                         _pct(k["bwd"]["bandwidth_fraction"]), _pct(k["fwdbwd"]["bandwidth_fraction"]),
                         ("yes" if r["meets_target"] else "**no**") + ("" if r.get("kernel_trusted") is not False
                                                                       else " (self-check failed: reference ran)"),
                         _x(ref.get("time_s") and ref["time_s"] / k["fwdbwd"]["time_s"], 1),
                         _x(peer and peer["time_s"] / k["fwdbwd"]["time_s"], 0)])
        lines += _table(["activation", "dtype", "fwd", "bwd", "fwd+bwd", f">= {TARGET_FRACTION:.0%}",
                         "formula / kernel (f+b)", "torchortho / kernel (f+b)"], rows)

    result, text = _section(report, "train_steps")
    lines += ["## Training steps (bf16 autocast, channels_last CNNs, synthetic inputs)", "", *text]
    if result:
        rows = [[r["model"], r.get("batch", ""), r["activation"], r.get("impl", ""),
                 f"{1e3 * r['step_s']:.1f}" if "step_s" in r else f"error: {r.get('error', '')[:80]}",
                 _x(r.get("ratio_to_fixed")) + f" {r.get('fixed', '')}",
                 _x(r.get("speedup_of_suite"), 1) if r.get("impl") == "torchortho" else "",
                 {True: "yes", False: "**no**"}.get(r.get("meets_target"), "")] for r in result]
        lines += _table(["network", "batch", "activation", "impl", "step ms", "x fixed step", "ours faster by",
                         "target"], rows)

    result, text = _section(report, "gpu_hours")
    lines += ["## Shipped matrices in GPU-hours (from the measured time per sample)", "", *text]
    if result:
        lines += _table(["matrix", "cells", "priced", "GPU-hours of priced cells"],
                        [[r["matrix"], r.get("cells", ""), r.get("priced_cells", ""),
                          f"{r['gpu_hours']:,.0f}" if "gpu_hours" in r else r.get("error", "")] for r in result])
        lines += ["Cells of networks not timed here are counted, not priced; an activation not timed is priced "
                  "at its network's fixed-activation step.", ""]

    result, text = _section(report, "ddp")
    lines += ["## DDP cell (2 ranks, stopped at a checkpoint and resumed)", "", *text]
    if result:
        lines += [f"{'Passed' if result['passed'] else '**Failed**'}: {result['steps']} steps on {result['device']} "
                  f"over {result['backend']}, stopped at step {result['stopped_at']}; largest metric difference "
                  f"resumed vs uninterrupted: {result.get('max_metric_difference', '—')}", "",
                  *(f"- {p}" for p in result["problems"]), ""]
    walls = ", ".join(f"{k} {v['wall_s']:.0f} s" for k, v in report["sections"].items())
    return "\n".join(lines + [f"Wall time per section: {walls}.", ""])
