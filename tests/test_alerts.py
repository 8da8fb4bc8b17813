"""[alerts]: the seller gets one mail per condition that needs a person, again only when
it changes; through a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import json


def _subjects(inbox) -> list[str]:
    return [message["Subject"] for _, message in inbox.messages]


def test_alerts_mail_each_condition_once_until_it_changes(cli, simulated_account, smtp):
    port, inbox = smtp
    config = simulated_account.config_path
    config.write_text(config.read_text() + f"""
[email]
host = "127.0.0.1"
port = {port}
security = "none"
from_address = "orders@example.test"

[alerts]
to = "seller@example.test"
late_within_hours = 48
""")
    assert cli("sync").exit_code == 0
    first = _subjects(inbox)
    assert any("to ship within 48 h or late" in s for s in first), first
    assert all(s.startswith("amzorders [main]: ") for s in first)
    assert len(first) == len(set(first))  # one mail per condition
    for rcpt, message in inbox.messages:
        assert rcpt == ["seller@example.test"] and message["Date"] and message["Message-ID"]
    assert cli("sync").exit_code == 0
    assert _subjects(inbox) == first  # nothing changed: nothing mailed

    rows = json.loads(cli("list", "--json", "--limit", "1000", "--status", "UNSHIPPED", "--channel", "MFN").stdout)
    target = next(r for r in rows if not r["buyer_cancel_requested"])
    simulated_account.sim.buyer_cancel(target["amazon_order_id"])
    simulated_account.sim.advance(minutes=5)
    assert cli("sync").exit_code == 0
    new = _subjects(inbox)[len(first):]
    assert len(new) == 1 and "buyer cancellation request" in new[0]
    body = inbox.messages[-1][1].get_content()
    assert target["amazon_order_id"] in body


def test_alerts_need_an_smtp_server(cli, simulated_account):
    config = simulated_account.config_path
    config.write_text(config.read_text() + '\n[alerts]\nto = "seller@example.test"\n')
    result = cli("sync")
    assert result.exit_code == 3 and "[email]" in result.stderr
