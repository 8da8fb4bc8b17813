"""The console script (``amzorders``, ``python -m amzorders``): ``main`` with the garbage
collector paused while the process starts and left out of its exit.

Start-up allocates tens of thousands of objects that live as long as the process
(modules, classes, Typer's command tree, msgspec's types): CPython's cyclic collector
walks them again and again while they are made, and once more at exit, finding nothing
to free (measured on ``list --json``, small store: ~145 ms -> ~110 ms; issue 15). So
``run`` pauses it; when the command's own work begins (``resume_collection``, called by
the root callback once the command line is parsed) the start-up objects are frozen
(``gc.freeze``: moved to a generation no collection walks) and collection resumes, so a
long ``sync`` or ``listen`` collects its garbage as always. At exit, after ``main`` has
closed the store and the log, ``gc.freeze`` again spares the interpreter's last walk of
what the command made: the process is ending, its memory goes with it.

This is the disable / freeze / enable sequence the ``gc`` module documents for
``gc.freeze``. Tests call ``cli.main.main`` directly, with collection on: for them
``resume_collection`` does nothing.
"""

from __future__ import annotations

import gc
import sys

_paused = False


def run() -> None:
    """Console-script entry point."""
    global _paused
    gc.disable()
    _paused = True
    from amzorders.cli.main import main

    code = main()
    gc.freeze()
    sys.exit(code)


def resume_collection() -> None:
    """The command's own work begins: freeze what start-up made, collect again."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
