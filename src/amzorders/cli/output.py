"""One set of output options for every listing command (as sqlite-utils does it).

``@listing_output`` adds ``--json``, ``--nl`` (JSON lines), ``--csv``, ``--tsv`` and
``--fields a,b`` to a command and hands it an ``Output``; the command builds its rows as
dicts with the same snake_case keys in every form and calls ``output.emit(rows)``, or
draws its table when ``output.is_table``. No rich import here: scripts' paths stay light.

A reader that closes the pipe early (``amzorders list --json | head``) ends the command
with exit 0: ``emit`` stops writing and silences the interpreter's final flush.
"""

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Optional

import typer

from amzorders.textsafe import json_text, safe_text

FORMATS = ("json", "nl", "csv", "tsv")


class PipeClosed(Exception):
    """The reader of stdout went away; nothing more can be written."""


class Output:
    """How a command writes its result: ``format`` table | json | nl | csv | tsv, and the
    keys ``--fields`` chose. Immutable, compared and hashed by value.

    A plain class, not a record: ``--help`` imports this module, and a dataclass (~1 ms to
    create) or msgspec's import (~8 ms) would be a large part of its start-up (issue 15)."""

    __slots__ = ("format", "fields")
    format: str
    fields: tuple[str, ...] | None

    def __init__(self, format: str = "table", fields: tuple[str, ...] | None = None) -> None:
        object.__setattr__(self, "format", format)
        object.__setattr__(self, "fields", fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Output is immutable (cannot set {name!r})")

    def __eq__(self, other: object) -> bool:
        if type(other) is not Output:
            return NotImplemented
        return (self.format, self.fields) == (other.format, other.fields)

    def __hash__(self) -> int:
        return hash((self.format, self.fields))

    def __repr__(self) -> str:
        return f"Output(format={self.format!r}, fields={self.fields!r})"

    @property
    def is_table(self) -> bool:
        return self.format == "table"

    def emit(self, rows: Iterable[dict[str, Any]], fields: Sequence[str] | None = None) -> None:
        """Write ``rows`` (already JSON-ready dicts) in the chosen machine form.

        ``fields``: the columns CSV/TSV use when ``--fields`` is not given (default: the
        first row's keys). JSON keeps every key unless ``--fields`` names some.
        """
        from amzorders.errors import UsageError

        rows = list(rows)
        chosen = self.fields
        if chosen:
            known = set(fields or ()) | {key for row in rows for key in row}
            unknown = [name for name in chosen if name not in known]
            if unknown and (rows or fields):
                raise UsageError(
                    f"--fields: unknown field(s) {', '.join(unknown)}. Use some of: "
                    + ", ".join(sorted(known))
                    + "."
                )
            rows = [{name: row.get(name) for name in chosen} for row in rows]
        columns = list(chosen or fields or (rows[0].keys() if rows else ()))
        if self.format == "json":
            write(json_text(json.dumps(rows, indent=2, ensure_ascii=False)) + "\n")
        elif self.format == "nl":
            write("".join(json_text(json.dumps(row, ensure_ascii=False)) + "\n" for row in rows))
        elif self.format in ("csv", "tsv"):
            import io

            from amzorders.serialize import write_delimited

            buffer = io.StringIO()
            write_delimited(buffer, rows, columns, "," if self.format == "csv" else "\t")
            text = buffer.getvalue()
            if sys.stdout.isatty():  # exact in a file or pipe; neutralised on a terminal
                text = safe_text(text, keep_newlines=True)
            write(text)
        else:  # pragma: no cover - commands draw tables themselves
            raise ValueError(self.format)

    def emit_one(self, document: dict[str, Any]) -> None:
        """A single document (show, a report) as JSON; --nl writes it on one line."""
        if self.format == "nl":
            write(json_text(json.dumps(document, ensure_ascii=False)) + "\n")
        else:
            write(json_text(json.dumps(document, indent=2, ensure_ascii=False)) + "\n")


def write(text: str) -> None:
    """Write to stdout; a closed pipe raises PipeClosed (the CLI exits 0 on it)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        raise PipeClosed() from None


def silence_stdout() -> None:
    # Python flushes stdout once more at exit; on a closed pipe that prints
    # "Exception ignored ... BrokenPipeError". Point fd 1 at /dev/null first.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (tests)
        pass


def _split(value: Optional[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    return names or None


# The machine formats: (format, flag, help). One flag each; ``listing_output`` refuses two.
_FORMAT_FLAGS = (
    ("json", "--json", "JSON: a list of objects (stable keys, ISO times in UTC, money as strings)."),
    ("nl", "--nl", "JSON lines: one object per line."),
    ("csv", "--csv", "CSV with a header row (same keys as --json)."),
    ("tsv", "--tsv", "Tab-separated values with a header row."),
)
_OPTIONS = [
    *(
        inspect.Parameter(
            f"output_{name}",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[bool, typer.Option(flag, help=help_text, rich_help_panel="Output")],
        )
        for name, flag, help_text in _FORMAT_FLAGS
    ),
    inspect.Parameter(
        "output_fields",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Optional[str],
            typer.Option("--fields", metavar="NAME,...", help="Only these keys, in this order (with --json, --nl, --csv, --tsv).", rich_help_panel="Output"),
        ],
    ),
]


def listing_output(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared output options to ``command``, which takes ``output: Output``."""
    signature = inspect.signature(command, eval_str=True)
    params = [p for name, p in signature.parameters.items() if name != "output"]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from amzorders.errors import UsageError

        chosen = [name for name, _flag, _help in _FORMAT_FLAGS if kwargs.pop(f"output_{name}", False)]
        fields = _split(kwargs.pop("output_fields", None))
        if len(chosen) > 1:
            raise UsageError("Choose one of --json, --nl, --csv and --tsv.")
        if fields and not chosen:
            raise UsageError("--fields goes with --json, --nl, --csv or --tsv (tables take --columns).")
        if chosen and kwargs.get("columns"):
            raise UsageError(f"--columns is for tables; with --{chosen[0]} pick keys with --fields.")
        kwargs["output"] = Output(chosen[0] if chosen else "table", fields)
        return command(*args, **kwargs)

    new_params = params + _OPTIONS
    wrapper.__signature__ = signature.replace(parameters=new_params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in new_params}
    del wrapper.__wrapped__  # Typer must read the new signature, not the command's
    return wrapper
