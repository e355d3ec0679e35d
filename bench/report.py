"""The Markdown table of a benchmark run, with ratios to LiteLLM Proxy and to the direct mock."""

from __future__ import annotations

import json
import sys
from typing import Any

REFERENCE = "litellm-proxy"


def _cell(target: dict[str, Any], stream: bool, concurrency: int) -> dict[str, Any] | None:
    return next((c for c in target["cells"] if c["stream"] == stream and c["concurrency"] == concurrency), None)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _field(cell: dict[str, Any] | None, name: str) -> float | None:
    return None if cell is None else cell[name]


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "–"
    return f"{numerator / denominator:.2f}"


def markdown(run: dict[str, Any]) -> str:
    """A table per mode (rows: target × concurrency), then the targets' ratios."""
    targets = {t["name"]: t for t in run["targets"]}
    direct = targets.get("direct")
    lines = [
        f"Run {run['started']} on {run['machine']['cpu_model']} ({run['machine']['cpus']} cores), "
        f"Python {run['machine']['python']}; gateway pinned to core {run['load']['gateway_core']} "
        f"({run['load'].get('workers', 1)} worker(s)), load generator, mock upstream "
        f"and Redis to core {run['load']['load_core']}; {run['load']['output_tokens']} output tokens per answer "
        f"(a stream has {run['load']['output_tokens']} content chunks); requests per cell "
        + ", ".join(f"c={c}: {n}" for c, n in run["load"]["cells"]) + ".",
        "",
    ]
    for target in run["targets"]:
        lines.append(f"- **{target['name']}**: {target['note']}")
    if run.get("litellm_version"):
        lines.append(f"- LiteLLM version {run['litellm_version']}")
    if run.get("litellm_note"):
        lines.append(f"- {run['litellm_note']}")
    lines.append("")
    for stream in (False, True):
        lines.append(f"### {'Streamed' if stream else 'Plain'} completions")
        lines.append("")
        lines.append("| target | conc. | p50 ms | p95 ms | p99 ms | added p50 ms | added p99 ms | req/s "
                     "| gateway CPU ms/req | TTFT p50 ms | errors |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for target in run["targets"]:
            for concurrency, _ in run["load"]["cells"]:
                cell = _cell(target, stream, concurrency)
                if cell is None:
                    continue
                base = _cell(direct, stream, concurrency) if direct else None
                added50 = cell["p50_ms"] - base["p50_ms"] if base and target is not direct else None
                added99 = cell["p99_ms"] - base["p99_ms"] if base and target is not direct else None
                lines.append(
                    f"| {target['name']} | {concurrency} | {_fmt(cell['p50_ms'])} | {_fmt(cell['p95_ms'])} "
                    f"| {_fmt(cell['p99_ms'])} | {_fmt(added50)} | {_fmt(added99)} | {cell['throughput_rps']:.0f} "
                    f"| {_fmt(cell['cpu_ms_per_request'])} | {_fmt(cell['ttft_p50_ms'])} | {cell['errors']} |"
                )
        lines.append("")
    lines.append("### Memory (resident set of the gateway process)")
    lines.append("")
    lines.append("| target | after start MB | peak MB |")
    lines.append("|---|---:|---:|")
    for target in run["targets"]:
        if target.get("rss_after_start_mb") is not None:
            lines.append(f"| {target['name']} | {target['rss_after_start_mb']} | {target['peak_rss_mb']} |")
    lines.append("")
    reference = targets.get(REFERENCE)
    if reference:
        lines.extend(_ratios(run, targets, reference, direct))
    return "\n".join(lines) + "\n"


def _added(target: dict[str, Any], direct: dict[str, Any] | None, stream: bool, concurrency: int,
           key: str) -> float | None:
    cell, base = _cell(target, stream, concurrency), _cell(direct, stream, concurrency) if direct else None
    if cell is None or base is None:
        return None
    return max(cell[key] - base[key], 0.001)


def _ratios(run: dict[str, Any], targets: dict[str, Any], reference: dict[str, Any],
            direct: dict[str, Any] | None) -> list[str]:
    lines = [f"### Ratios to {REFERENCE} (target: CPU and added latency ≤ 0.33, throughput at c=64 ≥ 3)", "",
             "| target | mode | CPU/req (c=16) | added p50 (c=1) | added p99 (c=1) | added p50 (c=64) "
             "| added p99 (c=64) | throughput c=64 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, target in targets.items():
        if name in (REFERENCE, "direct"):
            continue
        for stream in (False, True):
            mine16, ref16 = _cell(target, stream, 16), _cell(reference, stream, 16)
            mine64, ref64 = _cell(target, stream, 64), _cell(reference, stream, 64)
            row = [
                _ratio(_field(mine16, "cpu_ms_per_request"), _field(ref16, "cpu_ms_per_request")),
                _ratio(_added(target, direct, stream, 1, "p50_ms"), _added(reference, direct, stream, 1, "p50_ms")),
                _ratio(_added(target, direct, stream, 1, "p99_ms"), _added(reference, direct, stream, 1, "p99_ms")),
                _ratio(_added(target, direct, stream, 64, "p50_ms"), _added(reference, direct, stream, 64, "p50_ms")),
                _ratio(_added(target, direct, stream, 64, "p99_ms"), _added(reference, direct, stream, 64, "p99_ms")),
                _ratio(_field(mine64, "throughput_rps"), _field(ref64, "throughput_rps")),
            ]
            lines.append(f"| {name} | {'stream' if stream else 'plain'} | " + " | ".join(row) + " |")
    lines.append("")
    return lines


if __name__ == "__main__":
    print(markdown(json.loads(open(sys.argv[1]).read())))
