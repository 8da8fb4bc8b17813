"""listen / notifications: ORDER_CHANGE through SQS, with the sync sweep as the safety net.

Everything is real HTTP on loopback: the simulator's Notifications API (LWA grantless and
seller tokens), its SQS endpoint spoken to by boto3 (AWS JSON 1.0, SigV4), the store a
real file (or PostgreSQL under AMZORDERS_TEST_PG). The simulator's clock is frozen: a
message comes back after its visibility timeout only when a test moves the clock, and an
empty long poll answers at once, so nothing depends on the machine's speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import boto3
import jsonschema
import pytest
import requests

from conftest import write_account_config
from serve_support import endpoint, start_serve
from amzorders.simulator import Simulator
from amzorders.simulator.notifications import AWS_REGION, AWS_TEST_CREDENTIALS, DEFAULT_QUEUE
from amzorders.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "spapi-models" / "notifications"
US = "ATVPDKIKX0DER"


def notifications_toml(sim, extra: str = "") -> str:
    return f'\n[notifications]\nqueue_url = "{sim.notifications.queue_url(sim.base_url)}"\n{extra}'


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """boto3's standard chain finds the simulator's test keys in the environment (and no
    file of this machine's ~/.aws)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_TEST_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_TEST_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def notified(amzorders_home, tmp_path, aws_env, cli):
    """A frozen-clock simulator, account 'main' with its queue, and `notifications setup` done."""
    with Simulator(tmp_path / "marketplace.json", seed=5, orders=40, arrivals_per_hour=0, rate_limits=True,
                   frozen_clock=True) as sim:
        write_account_config(amzorders_home, sim, extra=notifications_toml(sim, "max_receives = 2\n"))
        result = cli("notifications", "setup")
        assert result.exit_code == 0, result.output
        yield sim


def sqs_client(sim):
    return boto3.client("sqs", endpoint_url=sim.base_url, region_name=AWS_REGION, **AWS_TEST_CREDENTIALS)


def stored(amzorders_home) -> dict[str, tuple[str, str]]:
    store = Store.open(amzorders_home / "amzorders.db")
    try:
        rows = store.conn.execute("SELECT amazon_order_id, status, last_updated FROM amazon_orders").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}
    finally:
        store.close()


def history_count(amzorders_home) -> int:
    store = Store.open(amzorders_home / "amzorders.db")
    try:
        return int(store.conn.execute("SELECT count(*) FROM status_history").fetchone()[0])
    finally:
        store.close()


def calls(sim, name: str) -> int:
    return sim.call_counts().get(name, 0)


# --- the promise of the issue ----------------------------------------------------------


def test_three_new_orders_are_stored_by_listen_once_with_three_getorder_calls_and_no_search(cli, notified, amzorders_home):
    sim = notified
    added = sim.add_orders(3, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    before_get, before_search = calls(sim, "getOrder"), calls(sim, "searchOrders")
    result = cli("listen", "--once", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["received"] == 3 and report["imported"] == 3 and report["get_order_calls"] == 3
    assert calls(sim, "getOrder") - before_get == 3
    assert calls(sim, "searchOrders") - before_search == 0
    assert set(added) <= set(stored(amzorders_home))
    assert all(stored(amzorders_home)[o][0] == "UNSHIPPED" for o in added)
    assert sqs_client(sim).get_queue_attributes(
        QueueUrl=sim.notifications.queue_url(sim.base_url), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"] == "0"  # deleted after the commit


def test_a_status_change_and_a_buyer_cancel_request_each_bring_one_getorder(cli, notified, amzorders_home):
    sim = notified
    [order] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    assert cli("listen", "--once").exit_code == 0
    for change in (lambda: sim.buyer_cancel(order), lambda: sim.set_status(order, "SHIPPED")):
        sim.advance(seconds=30)
        change()
        before = calls(sim, "getOrder")
        report = json.loads(cli("listen", "--once", "--json").stdout)
        assert report["received"] == 1 and report["imported"] == 1
        assert calls(sim, "getOrder") - before == 1
    store = Store.open(amzorders_home / "amzorders.db")
    try:
        row = store.conn.execute("SELECT status, buyer_cancel_requested FROM amazon_orders WHERE amazon_order_id = ?",
                                 (order,)).fetchone()
    finally:
        store.close()
    assert (row[0], row[1]) == ("SHIPPED", 1)


def test_two_changes_waiting_together_cost_one_getorder(cli, notified, amzorders_home):
    sim = notified
    [order] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    assert cli("listen", "--once").exit_code == 0
    sim.advance(seconds=30)
    sim.buyer_cancel(order)
    sim.advance(seconds=30)
    sim.set_status(order, "SHIPPED")
    before = calls(sim, "getOrder")
    report = json.loads(cli("listen", "--once", "--json").stdout)
    # The first getOrder already returns the later state: the second notification is current.
    assert report["received"] == 2 and report["imported"] == 1 and report["already_current"] == 1
    assert calls(sim, "getOrder") - before == 1
    assert stored(amzorders_home)[order][0] == "SHIPPED"


def test_duplicate_deliveries_change_nothing(cli, notified, amzorders_home):
    sim = notified
    sim.notifications.inject("twice", count=3)
    added = sim.add_orders(3, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    assert len(sim.notifications.queue_messages()) == 6  # every notification delivered twice
    before = calls(sim, "getOrder")
    result = cli("listen", "--once", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["received"] == 6 and report["imported"] == 3 and report["duplicates"] == 3
    assert calls(sim, "getOrder") - before == 3
    assert set(added) <= set(stored(amzorders_home))


def test_an_older_notification_arriving_after_a_newer_one_changes_nothing(cli, notified, amzorders_home):
    sim = notified
    [order] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    sim.notifications.inject("out_of_order")  # the new-order notification is held back...
    sim.notifications.publish()
    sim.advance(seconds=40)
    sim.set_status(order, "SHIPPED")  # ...and arrives after this later change
    messages = sim.notifications.queue_messages()
    kinds = [json.loads(m["body"])["Payload"]["OrderChangeNotification"]["Summary"]["OrderStatus"] for m in messages]
    assert kinds == ["Shipped", "Unshipped"]
    before_get, before_history = calls(sim, "getOrder"), None
    result = cli("listen", "--once", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["imported"] == 1 and report["already_current"] == 1
    assert calls(sim, "getOrder") - before_get == 1  # the old one costs no call
    assert stored(amzorders_home)[order][0] == "SHIPPED"
    assert before_history is None


def test_a_late_delivery_of_a_change_already_imported_changes_nothing(cli, notified, amzorders_home):
    sim = notified
    [order] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    assert cli("listen", "--once").exit_code == 0
    sim.notifications.inject("late")
    sim.advance(seconds=30)
    sim.set_status(order, "SHIPPED")
    assert json.loads(cli("listen", "--once", "--json").stdout)["received"] == 0  # not there yet
    sim.advance(minutes=3)
    assert cli("sync").exit_code == 0  # the sweep reads the change first
    snapshot, history = stored(amzorders_home), history_count(amzorders_home)
    assert snapshot[order][0] == "SHIPPED"
    sim.advance(minutes=10)  # the late notification arrives
    before = calls(sim, "getOrder")
    report = json.loads(cli("listen", "--once", "--json").stdout)
    assert report["received"] == 1 and report["already_current"] == 1
    assert calls(sim, "getOrder") == before
    assert stored(amzorders_home) == snapshot and history_count(amzorders_home) == history


def test_a_dropped_notification_is_caught_by_the_next_sync_sweep(cli, notified, amzorders_home):
    sim = notified
    sim.advance(minutes=3)
    assert cli("sync").exit_code == 0
    order = next(o for o, (status, _) in stored(amzorders_home).items() if status == "UNSHIPPED")
    sim.notifications.inject("drop")
    sim.advance(seconds=10)
    sim.set_status(order, "CANCELLED")
    assert json.loads(cli("listen", "--once", "--json").stdout)["received"] == 0
    assert len(sim.notifications.dropped()) == 1
    assert stored(amzorders_home)[order][0] == "UNSHIPPED"  # listen never heard of it
    sim.advance(minutes=3)  # searchOrders serves changes 2 minutes old
    assert cli("sync").exit_code == 0
    assert stored(amzorders_home)[order][0] == "CANCELLED"


def test_new_orders_without_a_notification_are_left_to_the_sweep(cli, notified, amzorders_home):
    sim = notified
    sim.notifications.configure(notify_new_orders=False)  # Amazon does not promise one
    sim.advance(minutes=3)
    assert cli("sync").exit_code == 0
    added = sim.add_orders(2, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    assert json.loads(cli("listen", "--once", "--json").stdout)["received"] == 0
    sim.advance(minutes=3)
    assert cli("sync").exit_code == 0
    assert set(added) <= set(stored(amzorders_home))


# --- poison, crashes, stop -----------------------------------------------------------


def test_messages_that_are_not_notifications_are_set_aside_reported_and_never_lost(cli, notified, amzorders_home):
    sim = notified
    sqs, url = sqs_client(sim), sim.notifications.queue_url(sim.base_url)
    example = json.loads((FIXTURES / "OrderChangeNotification.json").read_text())["examples"][0]
    broken = json.loads(json.dumps(example))
    del broken["Payload"]["OrderChangeNotification"]["AmazonOrderId"]
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(broken))
    result = cli("listen", "--once")
    assert result.exit_code == 9, result.output
    assert "set aside" in result.stderr and "AmazonOrderId is missing" in result.stderr
    assert "Traceback" not in result.output
    status = cli("notifications", "status", "--json")
    assert status.exit_code == 1
    document = json.loads(status.stdout)
    assert len(document["set_aside"]) == 2 and document["queue_depth"]["visible"] == 0
    assert cli("notifications", "dismiss", str(document["set_aside"][0]["id"])).exit_code == 0
    sim.advance(seconds=10)  # the Notifications API's burst (5) refills on the marketplace clock
    assert len(json.loads(cli("notifications", "status", "--json").stdout)["set_aside"]) == 1


def test_a_notification_that_keeps_failing_is_set_aside_after_max_receives(cli, notified, amzorders_home):
    sim = notified
    example = json.loads((FIXTURES / "OrderChangeNotification.json").read_text())["examples"][0]
    example["Payload"]["OrderChangeNotification"]["SellerId"] = "A1SIMULATEDSELLER"  # an order Amazon does not know
    sqs_client(sim).send_message(QueueUrl=sim.notifications.queue_url(sim.base_url), MessageBody=json.dumps(example))
    first = cli("listen", "--once")
    assert first.exit_code == 5, first.output  # left in the queue: comes back after the visibility timeout
    assert len(sim.notifications.queue_messages()) == 1
    sim.advance(seconds=301)  # [notifications] visibility_timeout (getOrder's bucket refills too)
    second = cli("listen", "--once")
    assert second.exit_code == 4, second.output  # max_receives = 2: set aside
    assert sim.notifications.queue_messages() == []
    set_aside = json.loads(cli("notifications", "status", "--json").stdout)["set_aside"]
    assert [p["receive_count"] for p in set_aside] == [2]


CRASH_DRIVER = textwrap.dedent(
    """
    import os, signal, sys
    from amzorders.amazon import sqs
    from amzorders.cli.main import main

    def killed(self, receipt_handle):  # the store committed; the process dies before the delete
        os.kill(os.getpid(), signal.SIGKILL)

    sqs.NotificationQueue.delete = killed
    sys.exit(main(["listen", "--once"]))
    """
)


@pytest.mark.slow
def test_a_kill_between_the_store_commit_and_the_delete_makes_the_redelivery_a_no_op(cli, notified, amzorders_home):
    sim = notified
    [order] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    proc = subprocess.run([sys.executable, "-c", CRASH_DRIVER], env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert order in stored(amzorders_home)  # committed before the kill
    snapshot, history = stored(amzorders_home), history_count(amzorders_home)
    assert len(sim.notifications.queue_messages()) == 1  # not deleted
    sim.advance(seconds=301)  # the visibility timeout runs out: SQS delivers it again
    before = calls(sim, "getOrder")
    report = json.loads(cli("listen", "--once", "--json").stdout)
    assert report["received"] == 1 and report["duplicates"] == 1
    assert calls(sim, "getOrder") == before
    assert stored(amzorders_home) == snapshot and history_count(amzorders_home) == history
    assert sim.notifications.queue_messages() == []


@pytest.mark.slow
def test_listen_runs_until_sigterm_delivers_the_outbox_meanwhile_and_stops_cleanly(cli, notified, amzorders_home):
    sim = notified
    sim.notifications.real_long_poll = True  # a running marketplace: empty polls wait
    proc = subprocess.Popen([sys.executable, "-m", "amzorders", "listen"], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(what, done) -> None:
        deadline = time.monotonic() + 120  # a hang guard, not a judge
        while not done():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, f"listen never {what}"
            time.sleep(0.2)

    try:
        added = sim.add_orders(2, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
        wait_for("stored the orders", lambda: set(added) <= set(stored(amzorders_home)))
        shipped = cli("ship", added[0], "--carrier", "UPS", "--tracking", "1Z999AA10123456784", "--no-push")
        assert shipped.exit_code == 0, shipped.output
        wait_for("delivered the queued shipment", lambda: sim.received_actions("confirmShipment"))
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr


# --- the Amazon side: Notifications API, grantless tokens, SQS ------------------------


def test_setup_is_idempotent_and_remove_deletes_what_setup_made(cli, notified):
    sim = notified
    before = calls(sim, "createDestination"), calls(sim, "createSubscription")
    sim.advance(seconds=10)  # the Notifications API's burst (5) refills on the marketplace clock
    again = cli("notifications", "setup")
    assert again.exit_code == 0 and "found" in again.stdout and "created" not in again.stdout
    assert (calls(sim, "createDestination"), calls(sim, "createSubscription")) == before
    sim.advance(seconds=10)
    status = cli("notifications", "status", "--json")
    assert status.exit_code == 0, status.output
    document = json.loads(status.stdout)
    assert set(document["subscriptions"]) == {"ORDER_CHANGE", "FEED_PROCESSING_FINISHED"}
    assert document["destination"]["resource"]["sqs"]["arn"].endswith(":" + DEFAULT_QUEUE)
    sim.advance(seconds=10)
    removed = cli("notifications", "remove")
    assert removed.exit_code == 0 and removed.stdout.count("subscription") == 2
    sim.advance(seconds=10)  # the Notifications API's burst (5) refills on the marketplace clock
    assert cli("notifications", "status").exit_code == 1  # nothing subscribed now
    sim.advance(seconds=10)
    assert cli("notifications", "setup").exit_code == 0


def token(sim, **form) -> str:
    answer = requests.post(sim.token_url, data=dict(form, client_id=SIM_ID, client_secret=SIM_SECRET), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


from amzorders.simulator import SIMULATOR_CREDENTIALS  # noqa: E402

SIM_ID, SIM_SECRET = SIMULATOR_CREDENTIALS["client_id"], SIMULATOR_CREDENTIALS["client_secret"]


def test_grantless_operations_take_only_a_grantless_token_and_seller_operations_only_a_seller_token(tmp_path):
    with Simulator(tmp_path / "m.json", orders=5, frozen_clock=True, rate_limits=False) as sim:
        seller = token(sim, grant_type="refresh_token", refresh_token=SIMULATOR_CREDENTIALS["refresh_token"])
        grantless = token(sim, grant_type="client_credentials", scope="sellingpartnerapi::notifications")
        destinations = f"{sim.base_url}/notifications/v1/destinations"
        refused = requests.get(destinations, headers={"x-amz-access-token": seller}, timeout=30)
        assert refused.status_code == 403 and "grantless" in refused.json()["errors"][0]["details"]
        assert requests.get(destinations, headers={"x-amz-access-token": grantless}, timeout=30).status_code == 200
        subscription = f"{sim.base_url}/notifications/v1/subscriptions/ORDER_CHANGE"
        assert requests.get(subscription, headers={"x-amz-access-token": grantless}, timeout=30).status_code == 403
        assert requests.get(subscription, headers={"x-amz-access-token": seller}, timeout=30).status_code == 404
        wrong_scope = requests.post(sim.token_url, data={"grant_type": "client_credentials", "scope": "orders",
                                                         "client_id": SIM_ID, "client_secret": SIM_SECRET}, timeout=30)
        assert wrong_scope.status_code == 400 and wrong_scope.json()["error"] == "invalid_scope"


def test_create_destination_is_checked_as_the_model_says(tmp_path):
    with Simulator(tmp_path / "m.json", orders=5, frozen_clock=True, rate_limits=False) as sim:
        grantless = token(sim, grant_type="client_credentials", scope="sellingpartnerapi::notifications")
        url = f"{sim.base_url}/notifications/v1/destinations"

        def create(body):
            return requests.post(url, json=body, headers={"x-amz-access-token": grantless}, timeout=30)

        assert create({"name": "x"}).status_code == 400  # resourceSpecification required
        assert create({"name": "x", "resourceSpecification": {"sqs": {"arn": "not-an-arn"}}}).status_code == 400
        sqs = sqs_client(sim)
        sqs.create_queue(QueueName="no-policy")
        no_policy = create({"name": "x", "resourceSpecification": {"sqs": {"arn": "arn:aws:sqs:us-east-1:000000000000:no-policy"}}})
        assert no_policy.status_code == 400 and "437568002678" in no_policy.json()["errors"][0]["message"]
        good = {"name": "x", "resourceSpecification": {"sqs": {"arn": f"arn:aws:sqs:us-east-1:000000000000:{DEFAULT_QUEUE}"}}}
        assert create(good).status_code == 200
        assert create(good).status_code == 409


def test_the_sqs_endpoint_keeps_sqs_rules(tmp_path):
    with Simulator(tmp_path / "m.json", orders=5, frozen_clock=True, rate_limits=False) as sim:
        sqs = sqs_client(sim)
        url = sqs.get_queue_url(QueueName=DEFAULT_QUEUE)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="one")
        first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60, WaitTimeSeconds=20,
                                    MessageSystemAttributeNames=["ApproximateReceiveCount"])["Messages"][0]
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages") is None  # invisible
        sim.advance(seconds=61)
        second = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"])["Messages"][0]
        assert second["Attributes"]["ApproximateReceiveCount"] == "2"
        with pytest.raises(sqs.exceptions.ClientError) as stale:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
        assert stale.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
        sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
        with pytest.raises(sqs.exceptions.ClientError):
            sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21)
        bad_key = boto3.client("sqs", endpoint_url=sim.base_url, region_name=AWS_REGION,
                               aws_access_key_id="AKIAOTHER", aws_secret_access_key="x")
        with pytest.raises(bad_key.exceptions.ClientError) as refused:
            bad_key.get_queue_url(QueueName=DEFAULT_QUEUE)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        wrong_secret = boto3.client("sqs", endpoint_url=sim.base_url, region_name=AWS_REGION,
                                    aws_access_key_id=AWS_TEST_CREDENTIALS["aws_access_key_id"],
                                    aws_secret_access_key="not-the-secret")
        with pytest.raises(wrong_secret.exceptions.ClientError) as mis_signed:
            wrong_secret.get_queue_url(QueueName=DEFAULT_QUEUE)
        assert mis_signed.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_the_simulators_notifications_match_amazons_schemas(cli, notified):
    sim = notified
    [order] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    sim.advance(seconds=5)
    sim.buyer_cancel(order)
    schema = json.loads((FIXTURES / "OrderChangeNotification.json").read_text())
    messages = sim.notifications.queue_messages()
    assert len(messages) == 2
    for message in messages:
        jsonschema.validate(json.loads(message["body"]), schema)
    change = json.loads(messages[1]["body"])["Payload"]["OrderChangeNotification"]
    assert change["OrderChangeType"] == "BuyerRequestedChange"
    assert change["Summary"]["OrderItems"][0]["IsBuyerRequestedCancel"] is True


def test_the_envelope_check_accepts_amazons_examples_and_names_what_is_wrong():
    from amzorders.domain.notification_schema import NotificationInvalid, envelope

    for name in ("OrderChangeNotification.json", "FeedProcessingFinishedNotification.json"):
        for example in json.loads((FIXTURES / name).read_text())["examples"]:
            note = envelope(json.dumps(example))
            assert note.notification_id
    example = json.loads((FIXTURES / "OrderChangeNotification.json").read_text())["examples"][0]
    example["Payload"]["OrderChangeNotification"]["Summary"]["OrderStatus"] = "Lost"
    with pytest.raises(NotificationInvalid, match="OrderStatus"):
        envelope(json.dumps(example))
    with pytest.raises(NotificationInvalid, match="not JSON"):
        envelope("<html>")
    with pytest.raises(NotificationInvalid, match="type"):
        envelope(json.dumps({"NotificationType": "ANY_OFFER_CHANGED"}))


def test_listen_without_a_queue_configured_says_what_to_set(cli, simulated_account):
    result = cli("listen", "--once")
    assert result.exit_code == 3
    assert "queue_url" in result.stderr and "Traceback" not in result.output


def test_listen_once_works_on_the_built_in_simulator_without_credentials(cli, amzorders_home):
    result = cli("listen", "--once", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["received"] >= 0
    assert "subscriptions" in result.stderr  # the newcomer's simulator was subscribed once
    assert "subscriptions" not in cli("listen", "--once").stderr


@pytest.mark.slow
def test_simulator_serve_prints_a_config_that_listen_works_with(cli, amzorders_home, tmp_path, aws_env, monkeypatch):
    process, lines = start_serve(
        [sys.executable, "-m", "amzorders", "simulator", "serve", "--port", "0", "--orders", "20",
         "--state", str(tmp_path / "served.json")])
    try:
        text = "".join(lines)
        config = text.split("(amzorders --config FILE ...):\n", 1)[1].split("For 'amzorders listen'", 1)[0]
        assert "[notifications]" in config
        for line in lines:
            if line.strip().startswith("export AWS_"):
                name, _, value = line.strip()[len("export "):].partition("=")
                monkeypatch.setenv(name, value)
        amzorders_home.mkdir(parents=True, exist_ok=True, mode=0o700)
        (amzorders_home / "config.toml").write_text(config)
        (amzorders_home / "config.toml").chmod(0o600)
        assert cli("notifications", "setup").exit_code == 0
        base_url = endpoint(lines)
        added = requests.post(base_url + "/_sim/orders", json={"count": 2, "status": "UNSHIPPED"}, timeout=60).json()
        result = cli("listen", "--once", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["imported"] == 2
        assert set(added["orderIds"]) <= set(stored(amzorders_home))
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)


def outbox_states(amzorders_home) -> list[tuple[str, str]]:
    store = Store.open(amzorders_home / "amzorders.db")
    try:
        return [(r[0], r[1]) for r in store.conn.execute("SELECT kind, state FROM outbox ORDER BY id").fetchall()]
    finally:
        store.close()


def test_feed_processing_finished_completes_the_outbox_without_getfeed(cli, notified, amzorders_home):
    sim = notified
    [order] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    assert cli("listen", "--once").exit_code == 0
    cancel = cli("cancel", order, "--reason", "NoInventory")
    assert cancel.exit_code == 0, cancel.output
    assert outbox_states(amzorders_home) == [("cancel", "submitted")]
    sim.advance(seconds=sim.feed_processing_seconds + 5)  # Amazon finishes the feed
    before = calls(sim, "getFeed")
    report = json.loads(cli("listen", "--once", "--json").stdout)
    assert report["feeds_followed"] == 1
    assert calls(sim, "getFeed") == before  # the notification said DONE and named the report
    assert outbox_states(amzorders_home) == [("cancel", "done")]
    assert stored(amzorders_home)[order][0] == "CANCELLED"  # the cancel's ORDER_CHANGE came too


def test_listen_and_other_commands_draw_on_one_getorder_bucket_in_the_store(cli, notified, amzorders_home):
    sim = notified
    added = sim.add_orders(3, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    assert cli("listen", "--once").exit_code == 0

    def bucket() -> tuple[float, float, float, int]:
        store = Store.open(amzorders_home / "amzorders.db")
        try:
            return store.rate_bucket_states()["main:getOrder"]
        finally:
            store.close()

    tokens, updated, rate, burst = bucket()
    assert (rate, burst) == (0.5, 30)  # getOrder: 0.5/s, burst 30
    assert cli("import", "--order", added[0]).exit_code == 0  # another process, the same bucket
    after, later, _, _ = bucket()
    assert after == pytest.approx(min(burst, tokens + (later - updated) * rate) - 1)
