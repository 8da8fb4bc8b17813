"""The simulator's Messaging, Uploads and Solicitations APIs, spoken to with plain requests:
responses valid against Amazon's models, the models' rules enforced."""

from __future__ import annotations

import base64
import hashlib

import pytest

from test_simulator_support import api, assert_valid, sim  # noqa: F401 - fixtures

US = "ATVPDKIKX0DER"


@pytest.fixture
def order_id(sim):  # noqa: F811 - fixture
    [order] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US)
    return order


def test_actions_attributes_and_errors_match_the_model(api, order_id):  # noqa: F811
    actions = api.call("GET", f"/messaging/v1/orders/{order_id}", params={"marketplaceIds": US})
    assert actions.status_code == 200
    assert_valid("messaging.json", "GetMessagingActionsForOrderResponse", actions.json())
    names = [a["name"] for a in actions.json()["_links"]["actions"]]
    assert "unexpectedProblem" in names and "attributes" in names
    attributes = api.call("GET", f"/messaging/v1/orders/{order_id}/attributes", params={"marketplaceIds": US})
    assert_valid("messaging.json", "GetAttributesResponse", attributes.json())
    assert attributes.json()["buyer"]["locale"] == "en-US"
    missing = api.call("GET", f"/messaging/v1/orders/{order_id}")
    assert missing.status_code == 400
    assert_valid("messaging.json", "ErrorList", missing.json()["errors"])
    unknown = api.call("GET", "/messaging/v1/orders/999-0000000-0000000", params={"marketplaceIds": US})
    assert unknown.status_code == 404
    solicitations = api.call("GET", f"/solicitations/v1/orders/{order_id}", params={"marketplaceIds": US})
    assert_valid("solicitations.json", "GetSolicitationActionsForOrderResponse", solicitations.json())
    assert solicitations.json()["_links"]["actions"] == []  # not delivered yet


@pytest.mark.parametrize(
    "text, status",
    [("Plain words.", 201), ("<p>Hi</p>", 400), ("write to a@b.example.com", 400), ("x" * 2001, 400), ("", 400),
     ("Track it at https://carrier.example/123", 201)],  # related links are Amazon's to judge
)
def test_send_enforces_the_text_rules_of_the_model(api, sim, order_id, text, status):  # noqa: F811
    response = api.call("POST", f"/messaging/v1/orders/{order_id}/messages/unexpectedProblem",
                        params={"marketplaceIds": US}, json={"text": text})
    assert response.status_code == status, response.text
    if status == 201:
        assert_valid("messaging.json", "CreateUnexpectedProblemResponse", response.json())
    [received] = sim.received_messages(order_id)
    assert received["accepted"] is (status == 201)


def test_attachments_need_a_matching_upload(api, sim, order_id):  # noqa: F811
    content = b"%PDF-1.4 invoice"
    md5 = base64.b64encode(hashlib.md5(content).digest()).decode()
    resource = f"messaging/v1/orders/{order_id}/messages/invoice"
    created = api.call("POST", f"/uploads/2020-11-01/uploadDestinations/{resource}",
                       params={"marketplaceIds": US, "contentMD5": md5, "contentType": "application/pdf"})
    assert created.status_code == 201
    assert_valid("uploads_2020-11-01.json", "CreateUploadDestinationResponse", created.json())
    destination = created.json()["payload"]
    corrupted = api.http.put(destination["url"], data=content + b"!", headers=destination["headers"], timeout=30)
    assert corrupted.status_code == 400  # Content-MD5 no longer matches
    send = {"attachments": [{"uploadDestinationId": destination["uploadDestinationId"], "fileName": "inv.pdf"}]}
    path = f"/messaging/v1/orders/{order_id}/messages/invoice"
    assert api.call("POST", path, params={"marketplaceIds": US}, json=send).status_code == 400  # nothing uploaded
    assert api.http.put(destination["url"], data=content, headers=destination["headers"], timeout=30).status_code == 200
    assert api.call("POST", path, params={"marketplaceIds": US}, json=send).status_code == 201
    assert api.call("POST", path, params={"marketplaceIds": US}, json=send).status_code == 400  # used already
    assert api.call("POST", path, params={"marketplaceIds": US}, json={"attachments": []}).status_code == 400
    assert sim.uploaded_attachment(destination["uploadDestinationId"]) == content
