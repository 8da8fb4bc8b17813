"""Hostile text from Amazon reaches a real pseudo-terminal only neutralised.

Orders whose every text field carries an entry of ``hostile_corpus.HOSTILE`` are served
by a loopback Amazon; each command runs as a real process with stdout and stderr on a
pty (so rich and our writers see a terminal). Only the tool's own colour codes (SGR) and,
for the progress display, its own cursor controls may reach the terminal.
"""

from __future__ import annotations

import copy
import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from amazon_testserver import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, FakeAmazon, Reply
from hostile_corpus import HOSTILE

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")

SGR = re.compile(r"\x1b\[[0-9;]*m")
# What rich's live progress display writes on its own (cursor hide/show, erase line, up).
PROGRESS_CONTROLS = re.compile(r"\x1b\[\?25[lh]|\x1b\[2K|\x1b\[\d*A|\r")
FOREIGN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff\ufff9-\ufffb]")

FIELDS_PER_ORDER = 6


def _hostile_orders() -> list[dict]:
    from amzorders.simulator import Simulator

    sim = Simulator(None, seed=5, orders=3, rate_limits=False)
    template = sim.order(sim.order_ids()[0])
    orders = []
    count = (len(HOSTILE) + FIELDS_PER_ORDER - 1) // FIELDS_PER_ORDER
    for n in range(count):
        texts = [HOSTILE[(n * FIELDS_PER_ORDER + k) % len(HOSTILE)] for k in range(FIELDS_PER_ORDER)]
        order = copy.deepcopy(template)
        order["orderId"] = f"111-0000000-{n:07d}"
        order["buyer"]["buyerName"] = texts[0]
        order["buyer"]["buyerCompanyName"] = texts[1]
        order["recipient"]["deliveryAddress"]["addressLine1"] = texts[2]
        item = order["orderItems"][0]
        item["product"]["title"] = texts[3]
        item["product"]["sellerSku"] = texts[4]
        order["salesChannel"]["marketplaceName"] = texts[5]
        order["orderAliases"] = [{"aliasId": texts[5], "aliasType": "SELLER_ORDER_ID"}]
        if n == 0:
            order["fulfillment"]["fulfillmentStatus"] = "WEIRD\x1b[5m\u202eSTATUS"
        orders.append(order)
    return orders


def _run_on_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "amzorders", *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = process.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def _foreign(output: str, *, progress: bool) -> list[str]:
    text = output.replace("\r\n", "\n")
    text = SGR.sub("", text)
    if progress:
        text = PROGRESS_CONTROLS.sub("", text)
    return FOREIGN.findall(text)


def test_hostile_text_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    orders = _hostile_orders()
    with FakeAmazon() as fake:
        fake.route(
            "GET",
            "/orders/2026-01-01/orders",
            Reply(json={"orders": orders, "lastUpdatedBefore": "2026-11-30T00:00:00Z"}),
        )
        # Amazon's own error text, hostile too: it reaches the Error: line.
        fake.route(
            "GET",
            "/orders/2026-01-01/orders/111-0000000-9999999",
            Reply(400, {"errors": [{"code": "InvalidInput\x1b[2J", "message": HOSTILE[2], "details": HOSTILE[16]}]}),
        )
        home = tmp_path / "home"
        home.mkdir(mode=0o700)
        config = home / "config.toml"
        config.write_text(
            f"""default_account = "main"
[accounts.main]
region = "na"
marketplace_ids = ["ATVPDKIKX0DER"]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
refresh_token = "{REFRESH_TOKEN}"
endpoint = "{fake.base_url}"
token_url = "{fake.token_url}"
"""
        )
        config.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMZORDERS_", "XDG_", "FORCE_COLOR", "NO_COLOR"))}
        env.update({"AMZORDERS_HOME": str(home), "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"})

        commands: list[tuple[list[str], bool]] = [(["sync", "--verbose"], True)]
        commands += [(["list"], False), (["list", "--csv"], False), (["list", "--json"], False)]
        commands += [(["list", "--search", HOSTILE[0]], False)]
        for order in orders:
            commands += [(["show", order["orderId"]], False), (["show", order["orderId"], "--json"], False)]
        commands += [(["import", "--order", "111-0000000-9999999"], True)]
        commands += [(["outbox", "list"], False), (["config", "show"], False), (["audit"], True)]
        commands += [(["purge-pii", "--dry-run", "--older-than", "0d"], False)]
        # A CSV file is untrusted text too: its cells reach the Error: line and the dry run.
        csv_file = tmp_path / "ship.csv"
        csv_file.write_text(
            "order,carrier,tracking,sku,qty\n"
            + "".join(f"{o['orderId']},UPS,1Z{n:016d},{HOSTILE[n % len(HOSTILE)].replace(',', ' ')},1\n" for n, o in enumerate(orders))
            + f"{HOSTILE[0]},UPS,1Z0000000000000000,x,1\n",
            encoding="utf-8",
        )
        commands += [(["ship", "--from-csv", str(csv_file), "--dry-run"], False)]
        commands += [(["invoice", orders[1]["orderId"], "--comment", HOSTILE[4]], False), (["show", orders[1]["orderId"]], False)]

        outputs = {}
        total_foreign = []
        for args, progress in commands:
            code, output = _run_on_pty(args, env)
            outputs[" ".join(args)] = (code, output)
            assert "Traceback" not in output, output
            total_foreign += [(" ".join(args), c) for c in _foreign(output, progress=progress)]

    assert total_foreign == [], [(k, repr(outputs[k][1][-600:])) for k in {c for c, _ in total_foreign}]
    # Not vacuous: the data reached the terminal, visibly neutralised, in colour.
    assert outputs["sync --verbose"][0] == 0, outputs["sync --verbose"][1]
    list_output = outputs["list"][1]
    assert "\\x1b" in list_output and SGR.search(list_output)
    shown = "".join(out for _, out in outputs.values())
    csv_code, csv_output = outputs[f"ship --from-csv {tmp_path / 'ship.csv'} --dry-run"]
    assert csv_code != 0 and "Error:" in csv_output
    for visible in ("alert", "esrever", "markup", "[white]", "Closing [/] tag", ":cake:", "Müller & Söhne GmbH", "日本語の名前"):
        assert visible in shown, visible
    code, error_output = outputs["import --order 111-0000000-9999999"]
    assert code == 4 and "Error:" in error_output and "\\x1b" in error_output
    # JSON carries the exact text, as JSON escapes.
    shown_json = outputs[f"show {orders[0]['orderId']} --json"][1].replace("\r\n", "\n")
    data = json.loads(shown_json[shown_json.index("{"):])
    assert data["summary"]["buyer_name"] == HOSTILE[0]
