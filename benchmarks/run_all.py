"""Every performance goal of issues 15 and 14 measured in one run; writes benchmarks/README.md.

    .venv/bin/python benchmarks/run_all.py [--quick] [--print-only] [--only audit]

Runs startup.py, store_scale.py, ingest.py, store_size.py and audit_scale.py (each through
its ``measure`` function, with its own subprocesses), then writes benchmarks/README.md:
the machine and date, the goal table (measured value, goal, met or MISSED for every row),
and each script's tables. Timings of commands alternate with a bare Typer hello-world
round after round (medians, ratios within one round), so a loaded machine slows both
alike. --quick uses smaller sizes (100,000-order store, 10,000/30,000 audits...) and says
so in the file; --print-only prints instead of writing the file; --only SECTION measures
one section (e.g. the 1,000,000-order audit) and replaces just its rows and text.

When a PostgreSQL server answers (--pg-url, default postgresql://postgres@127.0.0.1/postgres;
--no-postgres skips it), postgres.py's goals of issue 14 are measured too: read latency
on the same store size as the list section (the PostgreSQL copy is cached as a database,
made once), two cron hosts, operators racing a sync of --pg-race orders (default 2,000;
the issue's 10,000 with --pg-race 10000), and ingest into both engines.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import audit_scale  # noqa: E402
import ingest  # noqa: E402
import postgres  # noqa: E402
import startup  # noqa: E402
import store_scale  # noqa: E402
import store_size  # noqa: E402
from _common import GOAL_HEADERS, REPO, table  # noqa: E402

README = REPO / "benchmarks" / "README.md"
# Other issues' hand-written sections follow this line in README.md and are kept.
KEEP_MARKER = "<!-- Sections below this line are other issues' measurements, written by hand; run_all.py keeps them. -->"

OTHER_SCRIPTS = """\
| script | what | one command |
| --- | --- | --- |
| `run_all.py` | this file: every goal below, in one run | `.venv/bin/python benchmarks/run_all.py` |
| `startup.py` | forbidden imports per command (exit 1 when one is imported) and start-up vs hello-world | `.venv/bin/python benchmarks/startup.py` |
| `store_scale.py` | `list` / `show` / `--search` on a generated 1,000,000-order store vs hello-world | `.venv/bin/python benchmarks/store_scale.py` |
| `ingest.py` | orders/s end to end, of the importer alone, and of the floor; peak RSS | `.venv/bin/python benchmarks/ingest.py` |
| `store_size.py` | bytes per imported order, by table and index | `.venv/bin/python benchmarks/store_size.py` |
| `audit_scale.py` | audit time and peak RSS by store size; the real quota's duration | `.venv/bin/python benchmarks/audit_scale.py` |
| `api_efficiency.py` | calls, 429s and wall vs the usage plan's minimum (issue 5) | `.venv/bin/python benchmarks/api_efficiency.py` |
| `sync_noop.py` | a no-op sync's calls and wall time (issue 5) | `.venv/bin/python benchmarks/sync_noop.py` |
| `shared_budget.py` | back-to-back processes sharing one rate budget (issue 5) | `.venv/bin/python benchmarks/shared_budget.py` |
| `simulator_scale.py` | the simulator's own start-up and paging at 100,000 orders | `.venv/bin/python benchmarks/simulator_scale.py` |
| `csv_memory.py` | `ship --from-csv` peak RSS on huge or endless input | `.venv/bin/python benchmarks/csv_memory.py` |
| `postgres.py` | PostgreSQL store vs SQLite: read latency, ingest, racing operators, two cron hosts (issue 14) | `.venv/bin/python benchmarks/postgres.py` |
| `read_path.py` | read-path numbers: bursts, resumed backfill, malformed responses (issue 10) | `.venv/bin/python benchmarks/read_path.py` |
| `notifications.py` | listen vs 5-minute cron latency, Amazon calls per 1,000 changes, throughput at the usage plans (issue 16) | `.venv/bin/python benchmarks/notifications.py` |
"""


def machine_lines(started: str, load_before: tuple[float, float, float]) -> list[str]:
    mem = next((line.split(":", 1)[1].strip() for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "?")
    load_after = os.getloadavg()
    return [
        f"- {os.cpu_count()} CPUs, {mem} RAM; {platform.platform()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, typer {version('typer')}, "
        f"rich {version('rich')}",
        f"- Run: {started} to {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Load average (1/5/15 min) at the start {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
        f"at the end {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} on {os.cpu_count()} CPUs: "
        # Judged at the start: the load at the end includes the benchmarks' own processes.
        + ("the machine was busy with other work when the run started, so absolute times are "
           "inflated and vary; compare the ratios, which come from alternating runs in the same rounds."
           if load_before[0] > 0.5 * (os.cpu_count() or 1)
           else "nothing else was running when it started (the load at the end is the benchmarks' own processes)."),
    ]


def pg_answers(url: str) -> bool:
    try:
        import psycopg

        psycopg.connect(url, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - no server (a fresh machine): SQLite goals only
        print(f"PostgreSQL not reachable ({type(exc).__name__}); its goals are skipped", file=sys.stderr)
        return False
    return True


def commit() -> str:
    import subprocess

    proc = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


# --only: section name -> (its title, how its goal rows begin in the goal table).
SECTION_KEYS = {"startup": "Start-up", "list": "List and show on a big store", "ingest": "Ingest",
                "size": "Store size", "audit": "Audit", "postgres": "PostgreSQL vs SQLite (issue 14)"}
GOAL_PREFIXES = {"Start-up": ("| `amzorders ", "| no command imports"), "List and show on a big store": ("| `list` (table)", "| `show` (table)"),
                 "Ingest": ("| ingest ",), "Store size": ("| store size ",), "Audit": ("| `audit` ",),
                 "PostgreSQL vs SQLite (issue 14)": ("| PostgreSQL ", "| two cron syncs", "| 4 operator processes")}


def update_section(title: str, goals: list, report: str, started: str, load_before: tuple[float, float, float],
                   args: argparse.Namespace) -> None:
    """Replace one section's goal rows and its "## title" text in the existing README,
    with a line saying when and under what load that section was measured."""
    old = README.read_text().splitlines()
    prefixes = GOAL_PREFIXES[title]
    rows = table(GOAL_HEADERS, [g.row() for g in goals]).splitlines()[2:]
    at = [i for i, line in enumerate(old) if line.startswith(prefixes)]
    if not at:
        raise SystemExit(f"benchmarks/README.md has no goal rows for {title}: run run_all.py without --only")
    lines = old[:at[0]] + rows + [line for i, line in enumerate(old[at[0]:], at[0]) if i not in at]
    # The table's column widths came from the other rows: re-pad the whole table.
    start = next(i for i, line in enumerate(lines) if line.startswith("| what"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[start:end] if not line.startswith("|-")]
    lines[start:end] = table(cells[0], cells[1:]).splitlines()
    verdicts = [c[-1] for c in cells[1:]]
    head = next(i for i, line in enumerate(lines) if line.startswith("## Goals"))
    lines[head] = f"## Goals (issues 15 and 14): {verdicts.count('met')} of {len(verdicts)} met"
    load = os.getloadavg()
    sizes = (f" --ingest-sizes {args.ingest_sizes}" if args.ingest_sizes else "") + (
        f" --audit-sizes {args.audit_sizes}" if args.audit_sizes else "")
    note = (f"- Section {title} and its goal rows: re-measured alone by `run_all.py --only "
            f"{next(k for k, v in SECTION_KEYS.items() if v == title)}{sizes}` at commit {commit()}, "
            f"{started} to {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at the start "
            f"{load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}.")
    machine_end = next(i for i in range(lines.index("## Machine") + 1, len(lines)) if lines[i].startswith("## "))
    lines = [line for line in lines[:machine_end] if not line.startswith(f"- Section {title} and")] + lines[machine_end:]
    machine_end = next(i for i in range(lines.index("## Machine") + 1, len(lines)) if lines[i].startswith("## "))
    lines.insert(machine_end - 1, note)
    sec = lines.index(f"## {title}")
    sec_end = next(i for i in range(sec + 1, len(lines)) if lines[i].startswith("## "))
    lines[sec:sec_end] = [f"## {title}", "", *report.splitlines(), ""]
    README.write_text("\n".join(lines) + "\n")
    print(f"updated {title} in {README}", file=sys.stderr)
    print(table(GOAL_HEADERS, [g.row() for g in goals]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a shorter run)")
    parser.add_argument("--print-only", action="store_true", help="print, do not write benchmarks/README.md")
    parser.add_argument("--ingest-sizes", help="order counts for ingest.py (default 10000,100000; --quick 2000,10000)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1/postgres",
                        help="PostgreSQL server for issue 14's goals (skipped when it does not answer)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL goals")
    parser.add_argument("--pg-race", type=int, default=2_000, help="orders the sync imports while operators race it")
    parser.add_argument("--audit-sizes", help="order counts for audit_scale.py (default 10000,1000000; --quick 10000,30000)")
    parser.add_argument("--only", choices=sorted(SECTION_KEYS),
                        help="measure one section and replace only its goal rows and its section in the existing "
                             "benchmarks/README.md (the rest keeps its earlier run; the file says which)")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    q = args.quick
    ingest_sizes = ([int(n) for n in args.ingest_sizes.split(",")] if args.ingest_sizes
                    else [2_000, 10_000] if q else [10_000, 100_000])
    audit_sizes = ([int(n) for n in args.audit_sizes.split(",")] if args.audit_sizes
                   else [10_000, 30_000] if q else [10_000, 1_000_000])
    sections = [
        ("Start-up", lambda: startup.measure(q)),
        ("List and show on a big store", lambda: store_scale.measure(100_000 if q else 1_000_000, 5 if q else store_scale.RUNS)),
        ("Ingest", lambda: ingest.measure_all(ingest_sizes)),
        ("Store size", lambda: store_size.measure([10_000] if q else [10_000, 100_000])),
        ("Audit", lambda: audit_scale.measure(audit_sizes)),
    ]
    if (args.only == "postgres" or not (args.only or args.no_postgres)) and pg_answers(args.pg_url):
        sections.append(("PostgreSQL vs SQLite (issue 14)", lambda: postgres.measure(
            args.pg_url, orders=100_000 if q else 1_000_000, ingest_orders=ingest_sizes[0], race_orders=args.pg_race,
            runs=5)))
    elif args.only == "postgres":
        raise SystemExit(f"--only postgres: no PostgreSQL server answers at {args.pg_url}")
    if args.only:
        sections = [(t, r) for t, r in sections if t == SECTION_KEYS[args.only]]
    goals, reports = [], []
    for title, run in sections:
        print(f"running: {title} ...", file=sys.stderr, flush=True)
        section_goals, report = run()
        goals.extend(section_goals)
        reports.append(f"## {title}\n\n{report}\n")
    if args.only:
        update_section(sections[0][0], goals, report, started, load_before, args)
        return
    met = sum(g.met for g in goals)
    lines = [
        "# amzorders benchmarks",
        "",
        "Written by `benchmarks/run_all.py`" + (" --quick (smaller sizes than the goals name)" if q else "")
        + (f" --ingest-sizes {args.ingest_sizes}" if args.ingest_sizes else "")
        + (f" --audit-sizes {args.audit_sizes}" if args.audit_sizes else "")
        + f" at commit {commit()}; do not edit by hand, run it again.",
        "",
        "## Machine",
        "",
        *machine_lines(started, load_before),
        "",
        f"## Goals (issues 15 and 14): {met} of {len(goals)} met",
        "",
        table(GOAL_HEADERS, [g.row() for g in goals]),
        "",
        *reports,
        "## Scripts",
        "",
        OTHER_SCRIPTS,
    ]
    text = "\n".join(lines)
    if args.print_only:
        print(text)
    else:
        old = README.read_text() if README.exists() else ""
        if KEEP_MARKER in old:
            text = text.rstrip("\n") + "\n\n" + old[old.index(KEEP_MARKER):]
        README.write_text(text)
        print(f"wrote {README} ({met} of {len(goals)} goals met)", file=sys.stderr)
        print(table(GOAL_HEADERS, [g.row() for g in goals]))


if __name__ == "__main__":
    main()
