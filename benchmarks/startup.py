"""Start-up: what each command imports, and its wall time against a bare Typer hello-world.

    .venv/bin/python benchmarks/startup.py [--quick]

Each command runs in fresh processes (temp AMZORDERS_HOME, a small store). The check:
no command imports a module on its forbidden list (``FORBIDDEN``: the HTTP stack, the
simulator, logging's socket-based handlers, hashlib/secrets, pydantic; for the machine
formats --json/--csv also rich and dataclasses; for --help dataclasses and msgspec); the
script exits 1 when one does (tests run the same check, without timing, in
tests/test_startup_imports.py). Timing: the hello-world and the
commands run alternately, round after round, so machine load hits all of them alike; the
table shows medians and each command's median ratio to hello-world within the same rounds.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Goal, HELLO, PYTHON, clean_env, print_report, ratios, run_timed, table  # noqa: E402

# Never needed at start-up by any command these scripts time (read commands, --help).
ALWAYS_FORBIDDEN = (
    "requests", "urllib3", "amzorders.simulator", "amzorders.amazon.client",
    "logging.handlers", "socket", "secrets", "hashlib", "pydantic", "boto3", "botocore",
)
# Machine formats draw nothing: no rich either. Nor dataclasses: the records on these paths
# are msgspec.Structs (a frozen dataclass costs ~1 ms to build; rich's own use of
# dataclasses is why the table paths may import it).
MACHINE_FORBIDDEN = (*ALWAYS_FORBIDDEN, "rich", "dataclasses")
# --help builds no record at all: neither dataclasses nor msgspec (~8 ms to import).
HELP_FORBIDDEN = (*ALWAYS_FORBIDDEN, "dataclasses", "msgspec")
# A listing of orders reads the summary rows only: not the order view's records nor the
# parsing of Amazon's JSON (show's); its table draws no panel (show's).
ORDER_VIEW = ("amzorders.domain.orderview", "amzorders.domain.details", "amzorders.domain.mapping")
LISTING_FORBIDDEN = (*MACHINE_FORBIDDEN, *ORDER_VIEW)
LISTING_TABLE_FORBIDDEN = (*ALWAYS_FORBIDDEN, *ORDER_VIEW, "rich.panel", "rich.table")

# name -> (argv with {db} and {order} placeholders, forbidden modules, goal ratio or None)
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], float | None]] = {
    "--help": (("--help",), HELP_FORBIDDEN, 1.5),
    "list --json": (("--db", "{db}", "list", "--json"), LISTING_FORBIDDEN, 1.3),
    "list --csv": (("--db", "{db}", "list", "--csv"), LISTING_FORBIDDEN, 1.3),
    "show --json": (("--db", "{db}", "show", "{order}", "--json"), MACHINE_FORBIDDEN, None),
    "show --json --raw": (("--db", "{db}", "show", "{order}", "--json", "--raw"), MACHINE_FORBIDDEN, None),
    "list --nl": (("--db", "{db}", "list", "--nl"), LISTING_FORBIDDEN, None),
    "list --tsv": (("--db", "{db}", "list", "--tsv"), LISTING_FORBIDDEN, None),
    "list --items --csv": (("--db", "{db}", "list", "--items", "--csv"), MACHINE_FORBIDDEN, None),
    "history --csv": (("--db", "{db}", "history", "{order}", "--csv"), MACHINE_FORBIDDEN, None),
    "outbox list --json": (("--db", "{db}", "outbox", "list", "--json"), MACHINE_FORBIDDEN, None),
    "list": (("--db", "{db}", "list"), LISTING_TABLE_FORBIDDEN, None),
    "show": (("--db", "{db}", "show", "{order}"), ALWAYS_FORBIDDEN, None),
}
# Timed against hello-world (the others are only checked for forbidden imports).
TIMED = ("--help", "list --json", "list --csv", "show --json", "list", "show")
# Each also gets a floor: hello-world importing first every library module the command
# imports (the set difference of sys.modules, none of amzorders' own code): what the
# command costs at the least while it uses these libraries.
FLOORED = ("list --json", "list", "show")
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
_PROBE = (
    "import sys\nfrom amzorders.cli.main import main\n"
    "try:\n    main({argv!r})\nfinally:\n"
    "    sys.stdout.flush()\n    sys.__stderr__.write('\\n@@modules ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
)


def small_store(path: Path) -> str:
    """A store with one page of simulated orders; returns an order id to show."""

    from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
    from amzorders.simulator import Simulator
    from amzorders.store import Store

    sim = Simulator(path.parent / "market.json", seed=4, orders=60, rate_limits=False)
    orders = [sim.order(order_id) for order_id in sim.order_ids()[:50]]
    store = Store.open(path)
    OrderImporter(store, ImportSettings(account="bench")).store_page(orders, ImportResult())
    store.close()
    return orders[0]["orderId"]


def command_argv(template: tuple[str, ...], db: Path, order_id: str) -> list[str]:
    return [part.format(db=db, order=order_id) for part in template]


def _modules_after(code: str, what: str, env: dict[str, str]) -> set[str]:
    """The modules in ``sys.modules`` when ``code`` (which reports them on stderr after a
    '@@modules ' marker) has run in a fresh interpreter."""
    proc = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True)
    marker = proc.stderr.rfind("@@modules ")
    if marker < 0:
        raise RuntimeError(f"{what} did not finish:\n{proc.stderr}")
    return set(proc.stderr[marker + len("@@modules "):].split())


def imported_modules(argv: list[str], env: dict[str, str]) -> set[str]:
    """The modules in ``sys.modules`` after ``amzorders ARGV`` ran in a fresh interpreter."""
    return _modules_after(_PROBE.format(argv=argv), f"amzorders {' '.join(argv)}", env)


def library_floor(command_modules: set[str], hello_modules: set[str]) -> str:
    """A hello-world that first imports the library modules ``command_modules`` has and
    hello-world lacks (amzorders' own left out; one that cannot be imported alone skipped),
    with the garbage collector paused and frozen at exit as amzorders' console script
    (cli/entry.py) has it for its start-up; the floor never resumes collection, so it is a
    lower bound for a command that does once its work begins."""
    extra = sorted(m for m in command_modules - hello_modules if m.split(".")[0] not in ("amzorders", "__main__"))
    return ("import atexit, gc, importlib\ngc.disable()\natexit.register(gc.freeze)\n"
            f"for name in {extra!r}:\n"
            "    try:\n        importlib.import_module(name)\n    except Exception:\n        pass\n" + HELLO)


def hello_modules(hello: Path, env: dict[str, str]) -> set[str]:
    """The modules in ``sys.modules`` after hello-world ran (Typer ends it with SystemExit)."""
    code = (f"import sys\nsys.argv = ['hello']\ntry:\n    exec(open({str(hello)!r}).read())\nfinally:\n"
            "    sys.stderr.write('\\n@@modules ' + ' '.join(sorted(sys.modules)))\n")
    return _modules_after(code, "hello-world", env)


def forbidden_imported(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    """Forbidden names found, a package counting when any of its submodules is loaded."""
    return [name for name in forbidden if any(m == name or m.startswith(name + ".") for m in modules)]


def importtime(argv: list[str], env: dict[str, str]) -> list[tuple[int, int, int, str]]:
    code = f"import sys\nfrom amzorders.cli.main import main\nsys.exit(main({argv!r}))"
    proc = subprocess.run([PYTHON, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = LINE.match(line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    return rows


def alternating(argvs: dict[str, list[str]], env: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """Wall times of every command, run one after the other in each of ``rounds`` rounds
    (a warm-up round first, not counted)."""
    times: dict[str, list[float]] = {name: [] for name in argvs}
    for round_no in range(rounds + 1):
        for name, argv in argvs.items():
            elapsed, _ = run_timed(argv, env)
            if round_no:
                times[name].append(elapsed)
    return times


def measure(quick: bool = False) -> tuple[list[Goal], str]:
    """Run the check and the timing; the goal rows and the printed report."""
    rounds = 5 if quick else 21
    out: list[str] = []
    goals: list[Goal] = []
    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        tmp_path = Path(tmp)
        db = tmp_path / "store.db"
        order_id = small_store(db)
        env = clean_env(tmp_path / "home")
        hello = tmp_path / "hello.py"
        hello.write_text(HELLO)
        problems = []
        rows = []
        argvs = {"hello-world": [PYTHON, str(hello)]}
        base_modules = hello_modules(hello, env)
        for name, (template, forbidden, _goal) in COMMANDS.items():
            argv = command_argv(template, db, order_id)
            modules = imported_modules(argv, env)
            loaded = forbidden_imported(modules, forbidden)
            if loaded:
                problems.append(f"`{name}` imports {', '.join(loaded)}")
            if name in TIMED:
                argvs[name] = [PYTHON, "-m", "amzorders", *argv]
            if name in FLOORED:
                floor = tmp_path / f"floor-{len(argvs)}.py"
                floor.write_text(library_floor(modules, base_modules))
                argvs[f"floor of {name}"] = [PYTHON, str(floor)]
            rows.append([name, ", ".join(loaded) or "none"])
        times = alternating(argvs, env, rounds)
        base = times["hello-world"]
        table_rows = [["hello-world", "-", f"{statistics.median(base) * 1000:.0f} ms", "1.00x", "-"]]
        for (name, forbidden_col), (cmd, (_t, _f, goal)) in zip(rows, COMMANDS.items()):
            if cmd not in times:
                table_rows.append([name, forbidden_col, "-", "-", "-"])
                continue
            ratio, spread = ratios(times[cmd], base)
            table_rows.append([name, forbidden_col, f"{statistics.median(times[cmd]) * 1000:.0f} ms", f"{ratio:.2f}x", spread])
            if f"floor of {cmd}" in times:
                floor_times = times[f"floor of {cmd}"]
                floor_ratio, floor_spread = ratios(floor_times, base)
                table_rows.append([f"floor of {name}: hello-world + its library imports", "-",
                                   f"{statistics.median(floor_times) * 1000:.0f} ms", f"{floor_ratio:.2f}x", floor_spread])
            if goal is not None:
                goals.append(Goal(f"`amzorders {name}` (small store)", f"{ratio:.2f}x hello-world", f"<= {goal}x", ratio <= goal))
        goals.append(Goal("no command imports a module on its forbidden list", "; ".join(problems) or "none does",
                          "none", not problems))
        out.append(f"Start-up ({rounds} alternating rounds after a warm-up; medians; ratio = median of per-round ratios)")
        out.append(table(["command", "forbidden modules imported", "wall (median)", "vs hello-world",
                          "per-round ratios, middle half"], table_rows))
        for name in ("list --json", "show"):
            rows_it = importtime(command_argv(COMMANDS[name][0], db, order_id), env)
            top = sorted((r for r in rows_it if r[2] == 0 and r[3].split(".")[0] != "encodings"), key=lambda r: -r[1])[:8]
            out.append(f"\nLargest top-level imports of `{name}` (python -X importtime, cumulative, inflated by the tracing):")
            out.append(table(["module", "cumulative ms", "self ms"], [[r[3], f"{r[1] / 1000:.1f}", f"{r[0] / 1000:.1f}"] for r in top]))
    return goals, "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timing rounds")
    args = parser.parse_args()
    goals, report = measure(args.quick)
    print_report(goals, report)
    if not goals[-1].met:
        sys.exit(1)


if __name__ == "__main__":
    main()
