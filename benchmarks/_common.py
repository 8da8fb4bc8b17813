"""Helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
OUT_DIR = REPO / "benchmarks" / "out"


# The baseline of the start-up goals: a bare Typer hello-world.
HELLO = "import typer\napp = typer.Typer()\n@app.command()\ndef hello(name: str = 'world'):\n    print(f'hello {name}')\napp()\n"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for an amzorders subprocess: no AMZORDERS_/XDG_ leaks, own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMZORDERS_", "XDG_"))}
    env["AMZORDERS_HOME"] = str(home)
    env["COLUMNS"] = "200"
    # Measure as installed: with .pyc files (this VM sets the variable that turns them off).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def write_account_config(home: Path, base_url: str, token_url: str, extra: str = "") -> Path:
    """Config with account 'main' pointing at a running simulator (explicit URLs)."""
    from amzorders.simulator import account_config_toml

    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = home / "config.toml"
    config.write_text(account_config_toml(base_url, token_url) + extra + "\n")
    config.chmod(0o600)
    return config


def run_timed(argv: Sequence[str], env: dict[str, str] | None = None, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(list(argv), env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc


def median_time(argv: Sequence[str], env: dict[str, str] | None = None, runs: int = 7, check: bool = True) -> float:
    run_timed(argv, env, check)  # warm the page cache and .pyc files
    return statistics.median(run_timed(argv, env, check)[0] for _ in range(runs))


def ratios(times: Sequence[float], base: Sequence[float]) -> tuple[float, str]:
    """Per-round ratios of ``times`` to the ``base`` of the same round: their median (the
    goal's number) and their interquartile range as text (how much rounds disagree: a
    verdict within it is the machine's noise as much as the code's)."""
    per_round = [t / b for t, b in zip(times, base)]
    if len(per_round) < 4:
        median = statistics.median(per_round)
        return median, f"{min(per_round):.2f}-{max(per_round):.2f}x"
    q1, median, q3 = statistics.quantiles(per_round, n=4)
    return median, f"{q1:.2f}-{q3:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain Markdown table (pastes straight into benchmarks/README.md)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    return "\n".join(lines)


def machine() -> str:
    try:
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = "MemTotal: ?"
    return (f"{os.cpu_count()} CPUs, {mem.split(':', 1)[1].strip()}, Python {platform.python_version()}, "
            f"{platform.platform()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


class SimulatorProcess:
    """benchmarks/_simserver.py in a child process; use as a context manager."""

    def __init__(self, state: Path, orders: int, rate_limits: bool, time_scale: float = 1.0) -> None:
        self.argv = [PYTHON, str(REPO / "benchmarks" / "_simserver.py"), str(state), str(orders),
                     "1" if rate_limits else "0", str(time_scale)]

    def __enter__(self) -> "SimulatorProcess":
        import json

        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        info = json.loads(self.proc.stdout.readline())
        self.base_url, self.token_url = info["base_url"], info["token_url"]
        return self

    def counts(self) -> tuple[dict[str, int], int]:
        import json

        self.proc.stdin.write("counts\n")
        self.proc.stdin.flush()
        data = json.loads(self.proc.stdout.readline())
        return data["calls"], data["429s"]

    def __exit__(self, *exc: object) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Goal:
    """One row of the issue's goal table: what, the measured value, the goal, met or not."""

    def __init__(self, what: str, measured: str, goal: str, met: bool) -> None:
        self.what, self.measured, self.goal, self.met = what, measured, goal, met

    def row(self) -> list[str]:
        return [self.what, self.measured, self.goal, "met" if self.met else "MISSED"]


GOAL_HEADERS = ("what", "measured", "goal", "verdict")


def print_goals(goals: Sequence[Goal]) -> None:
    print(table(GOAL_HEADERS, [g.row() for g in goals]))


def print_report(goals: Sequence[Goal], report: str) -> None:
    """What a benchmark script prints on its own: the machine, its report, its goal rows."""
    print(f"# {machine()}")
    print(report)
    print()
    print_goals(goals)


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM) in MiB. Not ru_maxrss: Linux carries that
    over exec from the parent, so a big parent would hide a small child's own peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
