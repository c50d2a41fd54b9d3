"""``results/speed.md``: issue #15's goals, each checked as a ratio measured in one run."""

from __future__ import annotations

from typing import Any

import jobs


def _t_min(job: str, users: int, processing: float) -> float:
    portal = jobs.PortalConfig(users=users, processing=processing)
    if job in ("fan_in", "availability"):
        return jobs.t_min_requests([-(-users // 50)], portal)[0]
    if job == "bulk_write":
        return jobs.t_min_requests([users], portal)[0]
    pages = -(-users // 50)
    return jobs.t_min_requests([1, pages - 1], portal)[0]


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()) and "error" not in row:
            return row
    return None


def _check(goal: str, measured: str, met: bool) -> str:
    return f"| {goal} | {measured} | {'yes' if met else '**no**'} |"


def _floor(row: dict[str, Any], typed: bool) -> tuple[float, str] | None:
    """The least CPU seconds a client needs for the row's answers, and how it is made up.

    The fastest JSON parser measured (stdlib or orjson) plus, for typed jobs, building the
    typed result, or reading the text straight into it with msgspec when that is less:
    measured by the driver on the same answers in the same run (speed.floors).
    """
    measured = row.get("floors") or {}
    parsers = [(measured[k], k[5:-2]) for k in ("json_stdlib_s", "json_orjson_s") if k in measured]
    if not parsers:
        return None
    parse, name = min(parsers)
    if not typed:
        return parse, f"{name} JSON parse {parse:.3f} s"
    build = measured.get("typed_s")
    if build is None:
        return None
    direct = measured.get("typed_msgspec_s")
    if direct is not None and direct < parse + build:
        return direct, f"msgspec text -> typed {direct:.3f} s"
    return parse + build, f"{name} JSON parse {parse:.3f} s + typed build {build:.3f} s"


def _floor_check(goal_s: float, floor: tuple[float, str] | None, what: str) -> list[str]:
    """A line saying whether a time goal lies above the floor any client of its kind has."""
    if floor is None:
        return []
    seconds, parts = floor
    return [
        f"| ... is the goal above the floor? {what} | goal {goal_s:.3f} s vs floor {seconds:.3f} s"
        f" ({parts}) | {'yes' if goal_s >= seconds else '**no: below the floor**'} |"
    ]


def _aiohttp_floor_check(goal_s: float, row: dict[str, Any]) -> list[str]:
    """A line saying whether a CPU goal lies above a bare aiohttp client's CPU for the job.

    The bare client (speed.aiohttp_floor_worker) sends the row's requests, as many and as
    concurrently as b24async, in a fresh process of its own, and parses every answer with the
    row's JSON decoder; nothing else. Below it, no aiohttp-based client can meet the goal.
    """
    floor = row.get("aiohttp_floor")
    if not floor:
        return []
    if "error" in floor:
        return [f"| ... aiohttp-client floor | failed: {floor['error'][-200:]!r} | - |"]
    cpu = float(floor["cpu"])
    if floor["sent"] != row["requests"]:  # the floor must send what the client sent
        return [
            f"| ... aiohttp-client floor | not comparable: {floor['sent']} requests vs "
            f"b24async's {row['requests']} | - |"
        ]
    return [
        f"| ... is the goal above the aiohttp-client floor? (a bare aiohttp client: the same "
        f"{floor['sent']} requests, every answer parsed with {floor['json']}, no GC, best of "
        f"{row.get('runs', 1)}) | goal {goal_s:.3f} s vs floor {cpu:.3f} s "
        f"(goal {goal_s / cpu:.2f}x the floor; b24async {_cpu(row) / cpu:.2f}x) | "
        f"{'yes' if goal_s >= cpu else '**no: below the floor**'} |"
    ]


def _own_floor(row: dict[str, Any], client: str, typed: bool) -> tuple[float, str] | None:
    """:func:`_floor` with the variant's own tools: the stdlib parser alone for ``b24async``.

    The goal lines above take the least floor of any decoder (a goal below it is below every
    client's); measured against a variant, the floor is what that variant's decoders cost.
    """
    measured = row.get("floors") or {}
    if not client.endswith("+speed"):
        measured = {
            k: v for k, v in measured.items() if k not in ("json_orjson_s", "typed_msgspec_s")
        }
    return _floor({"floors": measured}, typed)


def _against_floors(client: str, rows: list[dict[str, Any]]) -> list[str]:
    """The restatement proposed in the stop-19 note: each job against its own floor.

    Informational, not the issue's goals. A typed job's wall against the least wall any client
    of its kind could have: the portal's first possible answer plus decoding and typing every
    interval (the fan-in's two full requests, which its <= 2-request goal forces, answer at
    t_min; a lone availability read's first part can answer after one round trip and one
    command). ``list_all``'s client CPU against the bare aiohttp client's (the same requests,
    every answer parsed, no GC).
    """
    lines = []
    fan5 = _find(rows, job="fan_in", client=client, processing=0.005)
    avail = _find(rows, job="availability", client=client)
    one_command = jobs.t_min_requests([1], jobs.PortalConfig(users=1, processing=0.005))[0]
    for row, why in (
        (fan5, "both full requests at t_min"),
        (avail, "first answer after one command"),
    ):
        if row is None or (floor := _own_floor(row, client, True)) is None:
            continue
        first = _t_min("fan_in", row["users"], 0.005) if row is fan5 else one_command
        least = first + floor[0]
        ratio = row["wall"] / least
        lines.append(
            f"| {client} {row['job']} ({row['users']:,}), typed wall <= 2x its floor | "
            f"{ratio:.2f}x ({row['wall']:.2f} s vs {least:.3f} s: {why} {first:.3f} s "
            f"+ {floor[1]}) | {'within' if ratio <= 2 else '**beyond**'} |"
        )
    for size in sorted({r["users"] for r in rows if r["job"] == "list_all"}):
        mine = _find(rows, job="list_all", client=client, users=size)
        bare = (mine or {}).get("aiohttp_floor")
        if mine is None or not bare or "error" in bare or bare["sent"] != mine["requests"]:
            continue
        ratio = _cpu(mine) / float(bare["cpu"])
        lines.append(
            f"| {client} list_all {size:,}, client CPU <= 1.25x the bare aiohttp client's | "
            f"{ratio:.2f}x ({_cpu(mine):.3f} s vs {float(bare['cpu']):.3f} s, {bare['json']}) | "
            f"{'within' if ratio <= 1.25 else '**beyond**'} |"
        )
    return lines


def _cpu(row: dict[str, Any]) -> float:
    """The row's least client CPU over its timed runs (its fastest run's, in older results)."""
    return float(row.get("cpu_min", row["cpu"]))


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The markdown page: conditions, every row, and the goals with their ratios."""
    lines = [
        "# Issue #15: typed results at wire speed",
        "",
        f"Run {meta['started']} ({'quick' if meta['quick'] else 'full'} mode, {meta['seconds']} s)"
        f" on {meta['cpus']} CPUs, Python {meta['python']}; load average before "
        f"{meta['load_before']}, after {meta['load_after']} (a shared machine: compare rows "
        f"of this run only). Each row: the fastest of {meta.get('repeat', 1)} timed runs, "
        f"then one run under tracemalloc for its peak. Portal: bucket 50, 2 requests/s, "
        f"30 ms round trip, per-command "
        f"processing as given; calendar windows of 28 days (the issue's interval counts) or 7 "
        f"(the project benchmark's fan-in). `b24async` = stdlib JSON, `b24async+speed` = the "
        f"`speed` extra (orjson parses answers, msgspec reads typed availability answers).",
        "",
        "| Job | Client | Size | Days | ms/cmd | Wall s | t_min s | Requests | 503 | CPU s | "
        "Intervals / rows | tracemalloc peak MB | RSS growth MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(
                f"| {row['job']} | {row['client']} | {row['users']:,} | "
                f"{row['processing'] * 1000:g} | failed: {row['error'][-200:]!r} |"
            )
            continue
        t_min = _t_min(row["job"], row["users"], row["processing"])
        count = row.get("intervals", row.get("rows", row.get("ok", "-")))
        lines.append(
            f"| {row['job']} | {row['client']} | {row['users']:,} | {row['days']} | "
            f"{row['processing'] * 1000:g} | {row['wall']:.2f} | {t_min:.2f} | "
            f"{row['requests']} | {row['http_503']} | {row['cpu']:.2f} | {count:,} | "
            f"{_mb(row.get('tracemalloc_peak_mb'))} | {row['rss_growth_mb']:.1f} |"
        )
    lines += ["", "## Goals (each b24async variant on its own)", ""]
    lines += ["| Goal | Measured | Met |", "|---|---|---|"]
    ours = sorted(
        {r["client"] for r in rows if r["client"].startswith("b24async") and " " not in r["client"]}
    )
    fbx = _find(rows, job="availability", client="fast_bitrix24")
    for client in ours:
        fan5 = _find(rows, job="fan_in", client=client, processing=0.005)
        fan20 = _find(rows, job="fan_in", client=client, processing=0.020)
        avail = _find(rows, job="availability", client=client)
        if fan5 is not None:
            lines.append(
                _check(
                    f"{client} fan-in: <= 2 requests", f"{fan5['requests']}", fan5["requests"] <= 2
                )
            )
            if fbx is not None:
                ratio = fan5["wall"] / fbx["wall"]
                lines.append(
                    _check(
                        f"{client} fan-in ({fan5['users']:,}) <= 1.7x fast_bitrix24's "
                        f"{fbx['users']:,}-user availability time (5 ms/cmd)",
                        f"{ratio:.2f}x ({fan5['wall']:.2f} s vs {fbx['wall']:.2f} s)",
                        ratio <= 1.7,
                    )
                )
                lines += _floor_check(
                    1.7 * fbx["wall"], _floor(fan5, True), "(parse + type every interval)"
                )
            peak = fan5.get("tracemalloc_peak_mb")
            lines.append(
                _check(
                    f"{client} fan-in tracemalloc peak <= 64 MB",
                    f"{_mb(peak)} MB ({fan5['intervals']:,} intervals)",
                    peak is not None and peak <= 64,
                )
            )
        if fan20 is not None:
            t_min = _t_min("fan_in", fan20["users"], 0.020)
            ratio = fan20["wall"] / t_min
            lines.append(
                _check(
                    f"{client} fan-in at 20 ms/cmd <= 1.5x the minimum",
                    f"{ratio:.2f}x ({fan20['wall']:.2f} s vs {t_min:.2f} s)",
                    ratio <= 1.5,
                )
            )
        if avail is not None:
            if fbx is not None:
                ratio = avail["wall"] / fbx["wall"]
                lines.append(
                    _check(
                        f"{client} {avail['users']:,}-user availability <= 0.7x fast_bitrix24",
                        f"{ratio:.2f}x ({avail['wall']:.2f} s vs {fbx['wall']:.2f} s, "
                        f"{avail['requests']} vs {fbx['requests']} requests)",
                        ratio <= 0.7,
                    )
                )
                lines += _floor_check(
                    0.7 * fbx["wall"], _floor(avail, True), "(parse + type every interval)"
                )
            peak = avail.get("tracemalloc_peak_mb")
            lines.append(
                _check(
                    f"{client} availability tracemalloc peak <= 48 MB",
                    f"{_mb(peak)} MB",
                    peak is not None and peak <= 48,
                )
            )
        for size in sorted({r["users"] for r in rows if r["job"] == "list_all"}):
            mine = _find(rows, job="list_all", client=client, users=size)
            peers = [
                p
                for p in (
                    _find(rows, job="list_all", client=c, users=size)
                    for c in ("fast_bitrix24", "b24pysdk")
                )
                if p is not None
            ]
            if mine is None or not peers:
                continue
            per = 1000 / mine["rows"]
            best_cpu = min(peers, key=lambda p: _cpu(p) / max(p["rows"], 1))
            ratio = (_cpu(mine) / mine["rows"]) / (_cpu(best_cpu) / best_cpu["rows"])
            lines.append(
                _check(
                    f"{client} list_all {size:,}: CPU per 1,000 rows <= 1/2 of the best peer's "
                    f"(least CPU of the runs)",
                    f"{ratio:.2f} ({_cpu(mine) * per:.4f} s vs {best_cpu['client']} "
                    f"{_cpu(best_cpu) * 1000 / best_cpu['rows']:.4f} s)",
                    ratio <= 0.5,
                )
            )
            parsers = mine.get("floors") or {}
            if not client.endswith(("+speed", "+orjson")):  # the stdlib variant: the stdlib
                parsers = {k: v for k, v in parsers.items() if k == "json_stdlib_s"}
            goal_cpu = 0.5 * _cpu(best_cpu) / best_cpu["rows"] * mine["rows"]
            lines += _floor_check(goal_cpu, _floor({"floors": parsers}, False), "(parse every row)")
            lines += _aiohttp_floor_check(goal_cpu, mine)
            fastest = min(peers, key=lambda p: p["wall"])
            eff = fastest["wall"] / mine["wall"]  # = our efficiency / theirs (same t_min)
            lines.append(
                _check(
                    f"{client} list_all {size:,}: efficiency >= 0.95x the fastest peer's",
                    f"{eff:.2f}x ({mine['wall']:.2f} s vs {fastest['client']} "
                    f"{fastest['wall']:.2f} s)",
                    eff >= 0.95,
                )
            )
            growth = mine["rss_growth_mb"] / max(fastest["rss_growth_mb"], 0.1)
            lines.append(
                _check(
                    f"{client} list_all {size:,}: memory growth <= 1/2 of that peer's",
                    f"{growth:.2f} ({mine['rss_growth_mb']:.1f} MB vs "
                    f"{fastest['rss_growth_mb']:.1f} MB)",
                    growth <= 0.5,
                )
            )
        write = _find(rows, job="bulk_write", client=client)
        if write is not None:
            t_min = _t_min("bulk_write", write["users"], 0.020)
            eff = t_min / write["wall"]
            lines.append(
                _check(
                    f"{client} {write['users']:,} batched writes: >= 0.97 of the ceiling, 0 x 503",
                    f"{eff:.3f}, {write['http_503']} x 503",
                    eff >= 0.97 and write["http_503"] == 0,
                )
            )
    sizes = sorted({r["users"] for r in rows if r["job"] == "list_all"})
    if len(sizes) == 2:
        small = _find(rows, job="list_all", client="b24async paginate", users=sizes[0])
        big = _find(rows, job="list_all", client="b24async paginate", users=sizes[1])
        if small and big:
            ratio = big["rss_peak_mb"] / small["rss_peak_mb"]
            lines.append(
                _check(
                    f"paginate keeps its bound (peak RSS at {sizes[1]:,} users <= 1.25x at "
                    f"{sizes[0]:,})",
                    f"{ratio:.2f}x ({big['rss_peak_mb']:.1f} vs {small['rss_peak_mb']:.1f} MB)",
                    ratio <= 1.25,
                )
            )
    floor_lines = [line for client in ours for line in _against_floors(client, rows)]
    if floor_lines:
        lines += [
            "",
            "## Against the floors (informational: the restatement proposed in the stop-19 "
            "note, not the issue's goals)",
            "",
            "Each job against the least any client of its kind could do here, with the "
            "variant's own decoders (stdlib for `b24async`; orjson or msgspec for "
            "`b24async+speed`): a typed job's wall against its first possible answer plus "
            "decoding and typing every interval; `list_all`'s CPU against a bare aiohttp client "
            "sending the same requests.",
            "",
            "| Measure | Ratio | Bound |",
            "|---|---|---|",
            *floor_lines,
        ]
    return "\n".join(lines) + "\n"
