"""The SQS queue Amazon's notifications arrive in: the one module that imports boto3.

boto3 finds AWS credentials through its standard chain (environment variables, the
shared credentials/config files and profiles, container and instance roles); amzorders
passes keys only for the built-in simulator (its public test keys). Import this module
only from the commands that read the queue (listen, notifications): boto3 is heavy.

SQS facts used (Amazon SQS Developer Guide / API reference): a received message stays
invisible for the visibility timeout and comes back if not deleted (at-least-once
delivery, standard queues may deliver twice and out of order); long polling
(WaitTimeSeconds 1-20) asks every server and answers as soon as a message is there,
short polling (0) may miss messages; ``ApproximateReceiveCount`` counts deliveries;
DeleteMessage needs the receipt handle of the latest receive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions

from amzorders.errors import AmazonUnavailableError, ConfigError, QueueReceiptExpired


@dataclass(frozen=True, slots=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int


@dataclass(frozen=True, slots=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int


def region_of(queue_url: str) -> str | None:
    """sqs.REGION.amazonaws.com (or the legacy REGION.queue.amazonaws.com) -> REGION."""
    host = urlsplit(queue_url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[0] == "sqs":
        return parts[1]
    if len(parts) >= 4 and parts[1] == "queue":
        return parts[0]
    return None


class NotificationQueue:
    """One SQS queue, addressed by its URL (``endpoint_url`` for a compatible endpoint)."""

    def __init__(
        self,
        queue_url: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: dict[str, str] | None = None,
        profile: str | None = None,
        read_timeout: float = 30.0,
    ) -> None:
        self.queue_url = queue_url
        region = region or region_of(queue_url) or "us-east-1"
        # The read timeout must outlast the 20 s long poll.
        config = botocore.config.Config(
            connect_timeout=5, read_timeout=max(read_timeout, 25.0), retries={"max_attempts": 5, "mode": "standard"}
        )
        try:
            session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
            self._client = session.client(
                "sqs", region_name=region, endpoint_url=endpoint_url, config=config, **(credentials or {})
            )
        except botocore.exceptions.ProfileNotFound as exc:
            raise ConfigError(f"The AWS profile of [notifications] aws_profile was not found ({exc}).") from None

    def receive(self, *, max_messages: int = 10, wait_seconds: int = 20, visibility_timeout: int | None = None) -> list[QueueMessage]:
        request: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if visibility_timeout is not None:
            request["VisibilityTimeout"] = visibility_timeout
        answer = self._run("ReceiveMessage", self._client.receive_message, request)
        out = []
        for message in answer.get("Messages", []) or []:
            count = (message.get("Attributes") or {}).get("ApproximateReceiveCount", "1")
            out.append(QueueMessage(message["MessageId"], message["ReceiptHandle"], message.get("Body", ""),
                                    int(count) if str(count).isdigit() else 1))
        return out

    def delete(self, receipt_handle: str) -> None:
        self._run("DeleteMessage", self._client.delete_message,
                  {"QueueUrl": self.queue_url, "ReceiptHandle": receipt_handle})

    def attributes(self) -> dict[str, str]:
        answer = self._run("GetQueueAttributes", self._client.get_queue_attributes,
                           {"QueueUrl": self.queue_url, "AttributeNames": ["All"]})
        return dict(answer.get("Attributes") or {})

    def depth(self) -> QueueDepth:
        attributes = self.attributes()

        def number(name: str) -> int:
            value = attributes.get(name, "0")
            return int(value) if str(value).isdigit() else 0

        return QueueDepth(number("ApproximateNumberOfMessages"), number("ApproximateNumberOfMessagesNotVisible"),
                          number("ApproximateNumberOfMessagesDelayed"))

    def arn(self) -> str:
        arn = self.attributes().get("QueueArn")
        if not arn:
            raise AmazonUnavailableError("SQS did not tell the queue's ARN (GetQueueAttributes QueueArn).",
                                         operation="GetQueueAttributes")
        return arn

    def close(self) -> None:
        self._client.close()

    def _run(self, action: str, call: Any, request: dict[str, Any]) -> dict[str, Any]:
        """One SQS call; AWS's failures become amzorders' errors (exit codes 3 and 5)."""
        try:
            return call(**request)
        except botocore.exceptions.NoCredentialsError:
            raise ConfigError(
                "No AWS credentials were found for the notification queue: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or aws_profile in [notifications], or run on an instance with a role "
                "(boto3's standard credential chain)."
            ) from None
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "")
            message = str(error.get("Message") or "")[:200]
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise ConfigError(
                    f"The notification queue {self.queue_url} does not exist (SQS {action}). Check queue_url in "
                    "[notifications] of the config."
                ) from None
            if status in (401, 403) or code in ("AccessDenied", "InvalidClientTokenId", "SignatureDoesNotMatch",
                                                 "MissingAuthenticationToken", "UnrecognizedClientException"):
                raise ConfigError(
                    f"AWS refused {action} on the notification queue ({code}: {message}). The credentials need "
                    "sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes on the queue."
                ) from None
            if code == "ReceiptHandleIsInvalid":
                raise QueueReceiptExpired(message) from None
            raise AmazonUnavailableError(
                f"SQS answered {action} with {code or status} ({message}); try again later - nothing was lost.",
                operation=action,
                status=status,
            ) from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as exc:
            raise AmazonUnavailableError(
                f"The notification queue could not be reached for {action} ({type(exc).__name__}); try again "
                "later - nothing was lost (unread messages stay in the queue).",
                operation=action,
            ) from None
