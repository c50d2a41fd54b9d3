"""Results: JSON (everything), Markdown (the table and the targets), PNG (throughput over time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jobs

__all__ = ["one_line", "targets", "write_all"]

OURS = "b24async"
JOB_ORDER = (
    "fan_in",
    "bulk_write",
    "bulk_read",
    "bulk_read_small",
    "contention",
    "op_pressure",
    *jobs.OP_JOBS,
)
SHORT = {
    "fan_in": "fan-in",
    "bulk_write": "bulk write",
    "bulk_read": "bulk read",
    "bulk_read_small": "bulk read (small)",
    "contention": "contention",
    "op_pressure": "operating pressure",
    "op_long": "long write, 2026 limiter",
    "op_long_legacy": "long write, legacy limiter",
    "op_480_vs_420": "told 480, portal 420",
    "op_420_vs_480": "told 420, portal 480",
}


# -- small formatters ---------------------------------------------------------------------------


def _n(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def incomplete(row: dict[str, Any]) -> str | None:
    """Why a finished run did not do the whole job correctly (then it has no efficiency)."""
    outcome = row.get("outcome") or {}
    ledger = row.get("ledger") or {}
    if outcome.get("raised"):
        return "raised"
    if row.get("errors_to_caller"):
        return "errors"
    if ledger and (ledger.get("duplicates") or ledger.get("stray")):
        return "writes duplicated"
    if ledger and ledger.get("missing") and row["status"] != "capped":
        return "writes missing"
    if row["job"].startswith("bulk_read") and outcome:
        expected = row.get("rows_expected")
        if expected and (outcome["rows"] != expected or outcome["unique_ids"] != expected):
            return "rows missing"
    return None


def _eff(row: dict[str, Any]) -> str:
    value = row.get("efficiency")
    if value is None:
        return "-"
    why = incomplete(row)
    if why is not None:
        return f"- (job not done: {why})"
    text = f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"
    return f"≈{text} (projected)" if row.get("projected") else text


def _wall(row: dict[str, Any]) -> str:
    if row["status"] == "capped":
        done, expected = row.get("progress", [0, 0])
        projected = row.get("projected_wall")
        tail = f"; projected {_n(projected)} s" if projected else ""
        return f"did not finish: {_n(done)} of {_n(expected)} in {_n(row['wall'])} s{tail}"
    if row["status"] == "error":
        return f"error: {row.get('reason')}"
    return _n(row.get("wall"), 2)


def _ledger(row: dict[str, Any]) -> str:
    ledger = row.get("ledger")
    if not ledger:
        outcome = row.get("outcome") or {}
        if row["job"].startswith("bulk_read") and outcome:
            return f"rows {outcome['rows']:,}, distinct {outcome['unique_ids']:,}"
        return "-"
    if ledger["ok"]:
        return f"exactly once ({ledger['exactly_once']:,})"
    parts = [f"{ledger['exactly_once']:,}/{ledger['expected']:,} once"]
    if ledger["missing"]:
        parts.append(f"{ledger['missing']:,} missing")
    if ledger["duplicates"]:
        parts.append(f"{ledger['duplicates']:,} duplicated")
    if ledger["stray"]:
        parts.append(f"{ledger['stray']:,} stray")
    return ", ".join(parts)


def _errors(row: dict[str, Any]) -> str:
    outcome = row.get("outcome")
    if outcome is None:
        return "-" if row["status"] != "capped" else "(capped)"
    errors = outcome.get("errors") or {}
    text = ", ".join(f"{code} {count:,}" for code, count in sorted(errors.items())) or "0"
    if outcome.get("raised"):
        text += f" (raised: {outcome['raised']})"
    return text


def _r503(row: dict[str, Any]) -> str:
    text = _n(row.get("http_503"))
    neighbor = row.get("neighbor")
    if neighbor:
        refused = int(neighbor["by_status"].get("503", 0))
        accepted = int(neighbor["by_status"].get("200", 0))
        text += f" (neighbour: {accepted} accepted, {refused} refused)"
    return text


def cpu_per_1k(row: dict[str, Any]) -> float | None:
    """Client CPU seconds per 1,000 units of work: portal commands executed, except for fan-in,
    where the unit is one caller's query (a coalescing client runs fewer commands than it
    answers queries; per command it would look worse, per query it is what the caller pays)."""
    cpu = row.get("cpu")
    if cpu is None:
        return None
    if row["job"] == "fan_in":
        done = (row.get("progress") or [0])[0]
        return cpu / (done / 1000) if done else None
    return row.get("cpu_per_1k")


def one_line(row: dict[str, Any], spec: jobs.JobSpec) -> str:
    """A console summary of one run."""
    if row["status"] in ("missing", "unsupported"):
        return f"{row['status']}: {row.get('reason')}"
    return (
        f"{_wall(row)} | eff {_eff(row)} | {row.get('http_requests')} req, "
        f"{row.get('http_503')}x503, {row.get('http_429')}x429 | {row.get('commands')} cmds | "
        f"{_ledger(row)} | errors {_errors(row)} | CPU/1k {_n(cpu_per_1k(row), 3)} s | "
        f"RSS {_n(row.get('rss_peak_mb'), 1)} MB"
    )


# -- targets ------------------------------------------------------------------------------------


def _row(results: dict[str, Any], job: str, client: str) -> dict[str, Any] | None:
    for row in results["runs"]:
        if row["job"] == job and row["client"] == client:
            return row
    return None


def _peers(results: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return [
        row
        for row in results["runs"]
        if row["job"] == job and row["client"] != OURS and row["status"] in ("ok", "capped")
    ]


def _time(row: dict[str, Any]) -> float | None:
    if row["status"] == "ok":
        return row.get("wall")
    return row.get("projected_wall")


def _check(
    target: str, job: str, met: bool | None, measured: str, detail: str = ""
) -> dict[str, Any]:
    return {"target": target, "job": job, "met": met, "measured": measured, "detail": detail}


def _operating_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #11 item 4: long writes where the operating budget binds."""
    out: list[dict[str, Any]] = []
    for job in jobs.OP_JOBS:
        ours = _row(results, job, OURS)
        if ours is None:
            continue
        if ours["status"] != "ok":
            out.append(_check("done", job, False, ours["status"]))
            continue
        ledger = ours.get("ledger") or {}
        lost = not ledger.get("ok") or ours["errors_to_caller"] > 0
        out.append(_check("nothing lost, ledger exact", job, not lost, _ledger(ours)))
        refusals = ours.get("operating_refusals", 0)
        bans = ours.get("operating_bans", 0)
        detail = f"{refusals} refused calls, {bans} bans, {ours['http_429']} x HTTP 429"
        if job in ("op_long", "op_420_vs_480"):
            eff = ours.get("efficiency") or 0.0
            out.append(
                _check("efficiency >= 0.9 of the two-limit minimum", job, eff >= 0.9, f"{eff:.3f}")
            )
            out.append(_check("0 x 429, 0 bans", job, refusals == 0 and bans == 0, detail))
        else:
            out.append(_check("at most one ban per key", job, bans <= 1, detail))
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, met or missed, with the measured ratio."""
    out: list[dict[str, Any]] = []
    for job in ("bulk_write", "bulk_read"):
        ours = _row(results, job, OURS)
        if ours is None or ours["status"] != "ok":
            if ours is not None:
                out.append(_check("efficiency >= 0.95", job, False, ours["status"]))
            continue
        eff = ours.get("efficiency") or 0.0
        out.append(_check("efficiency >= 0.95", job, eff >= 0.95, f"{eff:.3f}"))
        out.append(_check("zero 503s", job, ours["http_503"] == 0, f"{ours['http_503']} x 503"))
        if job == "bulk_write":
            ledger = ours.get("ledger") or {}
            out.append(_check("writes exactly once", job, bool(ledger.get("ok")), _ledger(ours)))
    ours = _row(results, "fan_in", OURS)
    if ours is not None and ours["status"] == "ok":
        requests = ours["http_requests"]
        out.append(_check("<= 5 HTTP requests", "fan_in", requests <= 5, f"{requests} requests"))
        peers = [(row, _time(row)) for row in _peers(results, "fan_in")]
        timed = [(row, t) for row, t in peers if t]
        if timed:
            best, best_time = min(timed, key=lambda pair: pair[1] or 0.0)
            speedup = best_time / ours["wall"]
            out.append(
                _check(
                    ">= 10x faster than the best peer",
                    "fan_in",
                    speedup >= 10,
                    _ratio(speedup),
                    f"vs {best['client']} ({'projected ' if best['status'] == 'capped' else ''}"
                    f"{_n(best_time, 1)} s)",
                )
            )
    ours = _row(results, "contention", OURS)
    if ours is not None and ours["status"] == "ok":
        ledger = ours.get("ledger") or {}
        lost = not ledger.get("ok") or ours["errors_to_caller"] > 0
        out.append(_check("nothing lost", "contention", not lost, _ledger(ours)))
        eff = ours.get("efficiency") or 0.0
        neighbor = ours.get("neighbor") or {}
        refused = int((neighbor.get("by_status") or {}).get("503", 0))
        out.append(
            _check(
                "efficiency >= 0.9 of the half bucket",
                "contention",
                eff >= 0.9,
                f"{eff:.3f}",
                f"the neighbour got {(neighbor.get('by_status') or {}).get('200', 0)} requests "
                f"accepted in {neighbor.get('seconds', 0):.0f} s, {refused} refused"
                + ("; above 1.0 means we took more than half" if eff > 1 else ""),
            )
        )
    ours = _row(results, "op_pressure", OURS)
    if ours is not None and ours["status"] == "ok":
        errors = (ours.get("outcome") or {}).get("errors") or {}
        otl = errors.get("OPERATION_TIME_LIMIT", 0)
        out.append(
            _check(
                "zero OPERATION_TIME_LIMIT errors reach the caller",
                "op_pressure",
                otl == 0,
                f"{otl} reached the caller",
                f"portal answered {ours['http_429']} x HTTP 429 and "
                f"{ours['batch_operation_limit']} in-batch OPERATION_TIME_LIMIT",
            )
        )
        probes = ours.get("probes") or {}
        ratio = probes.get("held_p95_over_baseline_p95")
        held = probes.get("while_held") or {}
        base = probes.get("baseline") or {}
        if ratio is not None:
            out.append(
                _check(
                    "other methods not delayed (p95 while held <= 2x idle p95)",
                    "op_pressure",
                    ratio <= 2.0,
                    _ratio(ratio),
                    f"server.time p95 {held.get('p95', 0) * 1000:.0f} ms while user.update was "
                    f"held vs {base.get('p95', 0) * 1000:.0f} ms idle",
                )
            )
        else:
            out.append(
                _check(
                    "other methods not delayed",
                    "op_pressure",
                    None,
                    "no probe fell in a held phase",
                )
            )
    out.extend(_operating_targets(results))
    for job in JOB_ORDER:
        ours = _row(results, job, OURS)
        if ours is None or cpu_per_1k(ours) is None:
            continue
        peer_costs = [(row, cpu_per_1k(row)) for row in _peers(results, job)]
        peer_costs = [(row, cost) for row, cost in peer_costs if cost]
        if not peer_costs:
            continue
        best, best_cost = min(peer_costs, key=lambda pair: pair[1] or 0.0)
        ratio = (cpu_per_1k(ours) or 0.0) / (best_cost or 1.0)
        out.append(
            _check(
                "client CPU per 1k commands <= 1/3 of the best peer's",
                job,
                ratio <= 1 / 3,
                f"{ratio:.2f} of {best['client']}'s",
                f"{cpu_per_1k(ours):.3f} s vs {best_cost:.3f} s",
            )
        )
    big, small = _row(results, "bulk_read", OURS), _row(results, "bulk_read_small", OURS)
    if big and small and big.get("rss_peak_mb") and small.get("rss_peak_mb"):
        sizes = (
            results["jobs"]["bulk_read"]["portal"]["users"],
            results["jobs"]["bulk_read_small"]["portal"]["users"],
        )
        ratio = big["rss_peak_mb"] / small["rss_peak_mb"]
        out.append(
            _check(
                "bulk read peak memory flat in the portal's size (peak RSS ratio <= 1.25)",
                "bulk_read",
                ratio <= 1.25,
                _ratio(ratio),
                f"{big['rss_peak_mb']:.1f} MB at {sizes[0]:,} users vs "
                f"{small['rss_peak_mb']:.1f} MB at {sizes[1]:,} "
                f"(growth during the job {big['rss_growth_mb']:.1f} vs "
                f"{small['rss_growth_mb']:.1f} MB; {sizes[0] / sizes[1]:.0f}x the rows)",
            )
        )
    return out


# -- Markdown -----------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    """The main table: one row per (job, client)."""
    head = (
        "| Job | Client | Wall s | Efficiency | HTTP requests | 503 | 429 | Commands | "
        "Ledger / rows | Errors to caller | CPU s / 1k cmds | Peak RSS MB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for job in JOB_ORDER:
        for row in (r for r in results["runs"] if r["job"] == job):
            name = row.get("label", row["client"])
            if row["status"] in ("missing", "unsupported"):
                if str(row.get("reason", "")).startswith("not run:"):
                    continue  # a variant that only applies to other jobs
                lines.append(
                    f"| {SHORT[job]} | {name} | n/a: {row.get('reason')} "
                    "| - | - | - | - | - | - | - | - | - |"
                )
                continue
            cost = cpu_per_1k(row)
            lines.append(
                f"| {SHORT[job]} | {name} | {_wall(row)} | {_eff(row)} | "
                f"{_n(row.get('http_requests'))} | {_r503(row)} | "
                f"{_n(row.get('http_429'))} | {_n(row.get('commands'))} | {_ledger(row)} | "
                f"{_errors(row)} | {_n(cost, 3)} | {_n(row.get('rss_peak_mb'), 1)} |"
            )
    return head + "\n".join(lines) + "\n"


def _targets_md(results: dict[str, Any]) -> str:
    lines = ["| Target | Job | Measured | Met |", "|---|---|---|---|"]
    for check in results["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[check["met"]]
        measured = check["measured"] + (f" ({check['detail']})" if check["detail"] else "")
        lines.append(f"| {check['target']} | {SHORT[check['job']]} | {measured} | {met} |")
    return "\n".join(lines) + "\n"


def _probes_md(results: dict[str, Any]) -> str:
    lines = [
        "| Client | idle p95 ms | during job p50 / p95 ms | while user.update held p50 / p95 ms "
        "| failed probes |",
        "|---|---|---|---|---|",
    ]
    for row in results["runs"]:
        probes = row.get("probes")
        if row["job"] != "op_pressure" or not probes:
            continue

        def ms(summary: dict[str, float] | None, key: str) -> str:
            return f"{summary[key] * 1000:.0f}" if summary else "-"

        base, during, held = probes.get("baseline"), probes.get("during_job"), probes["while_held"]
        lines.append(
            f"| {row.get('label', row['client'])} | {ms(base, 'p95')} | "
            f"{ms(during, 'p50')} / {ms(during, 'p95')} | {ms(held, 'p50')} / {ms(held, 'p95')} "
            f"| {probes['failed']} |"
        )
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    limits = meta["limits"]
    parts = [
        "# Benchmark results\n",
        f"Run {meta['date']} ({meta['mode']} mode, {meta['duration_s']:.0f} s in all) on "
        f"{meta['machine']}, Python {meta['python']}. Every client ran against a fresh "
        f"`FakePortal` in its own process with the standard-plan limits: bucket "
        f"{limits['burst']}, drain {limits['rate']:g} requests/s, at most "
        f"{limits['max_commands']} commands per batch; every reply takes "
        f"{limits['latency'] * 1000:.0f} ms of round trip plus "
        f"{limits['processing'] * 1000:.0f} ms of processing per command. Runs are capped at "
        f"{meta['base_cap_s']:.0f} s (or 1.3x the job's theoretical minimum + 5 s), the same "
        "for every client.\n",
        "Efficiency = theoretical minimum wall time / achieved wall time (see "
        "benchmarks/README.md for the definition). Ledger: every intended write applied exactly "
        "once, from the portal's write ledger. Errors to caller: per-command or per-call errors "
        "the client handed to the application. CPU: client CPU seconds (all threads) per 1,000 "
        "portal commands executed (fan-in: per 1,000 callers' queries). Peak RSS: the client "
        "process's peak resident memory.\n",
        "## Results\n",
        table(results),
        "\n## Targets (b24async)\n",
        _targets_md(results),
    ]
    if any(row.get("probes") for row in results["runs"]):
        parts += ["\n## Operating pressure: the server.time probe's latency\n", _probes_md(results)]
    parts.append("\n## Jobs and their theoretical minimum\n")
    for name in JOB_ORDER:
        spec = results["jobs"].get(name)
        if spec:
            parts.append(f"- **{spec['title']}**: {spec['theory']}.\n")
    parts.append("\n## How each client was driven\n")
    seen: dict[str, dict[str, str]] = {}
    labels: dict[str, str] = {}
    for row in results["runs"]:
        if row.get("usage") and row["client"] not in seen:
            seen[row["client"]] = {}
        if row.get("usage"):
            seen[row["client"]][row["job"]] = row["usage"]
            labels[row["client"]] = row.get("label", row["client"])
    for client, usage in seen.items():
        calls = "; ".join(f"{SHORT[job]}: `{call}`" for job, call in usage.items())
        parts.append(f"- **{labels[client]}**: {calls}.\n")
    parts.append(
        "\nb24pysdk builds every URL as `https://{domain}/rest/...` with no setting for the "
        "scheme; its adapter overrides that one property to `http://` for the loopback portal "
        "(benchmarks/adapters/b24pysdk_peer.py), everything else is the SDK's own code.\n"
    )
    if any(row.get("neighbor") for row in results["runs"]):
        parts.append(
            "\nThe contention job's second client (server.time once a second, a refused request "
            "tried again 0.1 s later):\n\n"
        )
        for row in results["runs"]:
            neighbor = row.get("neighbor")
            if neighbor:
                statuses = ", ".join(
                    f"{count} x HTTP {code}"
                    for code, count in sorted(neighbor["by_status"].items())
                )
                parts.append(
                    f"- beside {row.get('label', row['client'])}: {neighbor['sent']} attempts "
                    f"in {neighbor['seconds']:.0f} s ({statuses}).\n"
                )
    parts.append("\n![throughput over time](throughput.png)\n")
    return "\n".join(part.rstrip("\n") + "\n" for part in parts).replace("\n\n\n", "\n\n")


# -- chart --------------------------------------------------------------------------------------


def _rebin(points: list[list[float]], width: float) -> tuple[list[float], list[float]]:
    """50-ms counts -> commands per second in bins of ``width`` seconds (zeros filled in)."""
    bins: dict[int, float] = {}
    for at, count in points:
        key = int(at / width + 1e-9)
        bins[key] = bins.get(key, 0.0) + count
    if not bins:
        return [], []
    keys = range(max(bins) + 1)
    return [key * width for key in keys], [bins.get(key, 0.0) / width for key in keys]


def chart(results: dict[str, Any], path: Path) -> bool:
    """Per job: commands per second over time (left) and commands done over time (right)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [job for job in JOB_ORDER if job in results["jobs"]]
    figure, axes = plt.subplots(len(names), 2, figsize=(13, 3.3 * len(names)), squeeze=False)
    colors = {
        "b24async": "tab:blue",
        "fast_bitrix24": "tab:orange",
        "fast_bitrix24_slow": "tab:red",
        "b24pysdk": "tab:green",
    }
    for index, job in enumerate(names):
        rate_axis, done_axis = axes[index]
        spec = results["jobs"][job]
        runs = [row for row in results["runs"] if row["job"] == job and row.get("throughput")]
        longest = max((max(p[0] for p in row["throughput"]) for row in runs), default=1.0)
        width = next((w for w in (0.1, 0.25, 0.5, 1.0, 2.0) if longest / w <= 80), 5.0)
        for row in runs:
            label = row.get("label", row["client"])
            color = colors.get(row["client"])
            xs, ys = _rebin(row["throughput"], width)
            rate_axis.step(xs, ys, where="post", label=label, color=color, linewidth=1.1)
            total = 0.0
            cx, cy = [0.0], [0.0]
            for at, count in row["throughput"]:
                total += count
                cx.append(at)
                cy.append(total)
            done_axis.step(cx, cy, where="post", label=label, color=color, linewidth=1.3)
        if spec["writes"]:
            share = spec["portal"]["rate"] - spec.get("neighbor_rate", 0.0)
            rate_axis.axhline(
                share * jobs.MAX_COMMANDS,
                color="grey",
                linestyle="--",
                linewidth=0.8,
                label=f"limit after the burst ({share * jobs.MAX_COMMANDS:g}/s)",
            )
        done_axis.axvline(
            spec["t_min"], color="grey", linestyle=":", linewidth=0.9, label="theoretical minimum"
        )
        rate_axis.set_yscale("symlog", linthresh=10)
        rate_axis.set_ylim(bottom=0)
        rate_axis.set_title(f"{spec['title']}\ncommands/s ({width:g}-s bins)", fontsize=8)
        done_axis.set_title(f"{SHORT[job]}: commands done (cumulative)", fontsize=8)
        done_axis.set_ylim(bottom=0)
        for axis in (rate_axis, done_axis):
            axis.set_xlabel("seconds since the job started", fontsize=8)
            axis.grid(alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=7)
            axis.tick_params(labelsize=7)
    figure.suptitle(
        "Throughput over time: writes as the portal applied them (ledger), reads and fan-in as "
        "results reached the caller",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.985))
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write_all(results: dict[str, Any], out: Path) -> None:
    """results.json, results.md and throughput.png in ``out``."""
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(markdown(results))
    if not chart(results, out / "throughput.png"):
        print("matplotlib is not installed: no chart (nox -s bench installs it)")
