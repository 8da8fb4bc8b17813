"""The log file: where it is, private, rotated, levels, Amazon call records, redaction."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from amzorders import logsetup
from amzorders.amazon.client import CallRecord
from amzorders.logsetup import LOG_FILE_NAME, REDACTED


@pytest.fixture(autouse=True)
def close_log():
    yield
    logsetup.shutdown_logging()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def call(**overrides) -> CallRecord:
    values = dict(operation="getOrder", method="GET", path="/orders/2026-01-01/orders/111-1",
                  status=200, request_id="req-1", duration_ms=12.345, attempt=1, error_code=None)
    values.update(overrides)
    return CallRecord(**values)


def test_log_file_is_created_private_on_first_record(tmp_path):
    data_dir = tmp_path / "data"
    path = logsetup.configure_logging(data_dir)
    assert path == data_dir / LOG_FILE_NAME
    assert not data_dir.exists()  # nothing logged yet, nothing created
    logging.getLogger("amzorders.test").info("hello log")
    assert mode_of(data_dir) == 0o700 and mode_of(path) == 0o600
    logsetup.shutdown_logging()
    assert "INFO" in path.read_text() and "amzorders.test: hello log" in path.read_text()


def test_an_existing_world_readable_log_is_tightened(tmp_path):
    path = tmp_path / LOG_FILE_NAME
    path.write_text("old line\n")
    path.chmod(0o644)
    logsetup.configure_logging(tmp_path)
    logging.getLogger("amzorders").warning("new line")
    assert mode_of(path) == 0o600
    assert path.read_text().startswith("old line\n")  # appended, not truncated


def test_log_rotates_and_keeps_five_private_backups(tmp_path, monkeypatch):
    assert (logsetup.MAX_BYTES, logsetup.BACKUP_COUNT) == (1_000_000, 5)
    monkeypatch.setattr(logsetup, "MAX_BYTES", 2_000)
    logsetup.configure_logging(tmp_path)
    logger = logging.getLogger("amzorders.test")
    for number in range(400):
        logger.info("line %04d %s", number, "x" * 80)
    logsetup.shutdown_logging()
    files = sorted(tmp_path.glob(LOG_FILE_NAME + "*"))
    assert [f.name for f in files] == [LOG_FILE_NAME] + [f"{LOG_FILE_NAME}.{i}" for i in range(1, 6)]
    for file in files:
        assert mode_of(file) == 0o600
        assert file.stat().st_size <= 2_000
    assert "line 0399" in (tmp_path / LOG_FILE_NAME).read_text()  # newest in the live file


def test_call_records_only_at_debug_level(tmp_path):
    logsetup.configure_logging(tmp_path, debug=False, env={})
    logsetup.log_amazon_call(call())
    logsetup.configure_logging(tmp_path, debug=True, env={})
    logsetup.log_amazon_call(call(operation="searchOrders", path="/orders/2026-01-01/orders?nextToken=abc",
                                  status=None, request_id=None, attempt=3, error_code="ReadTimeout"))
    logsetup.shutdown_logging()
    text = (tmp_path / LOG_FILE_NAME).read_text()
    assert "getOrder" not in text
    assert ("DEBUG [" in text and "amzorders.amazon.calls: searchOrders GET /orders/2026-01-01/orders "
            "status=none request_id=- duration_ms=12.3 attempt=3 error=ReadTimeout") in text
    assert "nextToken" not in text  # never a query string


@pytest.mark.parametrize(
    ("debug", "env", "level"),
    [
        (False, {}, logging.INFO),
        (True, {}, logging.DEBUG),
        (False, {"AMZORDERS_LOG_LEVEL": "debug"}, logging.DEBUG),
        (False, {"AMZORDERS_LOG_LEVEL": "WARNING"}, logging.WARNING),
        (True, {"AMZORDERS_LOG_LEVEL": "ERROR"}, logging.DEBUG),
        (False, {"AMZORDERS_LOG_LEVEL": "loud"}, logging.INFO),
    ],
)
def test_log_level(debug, env, level):
    assert logsetup.log_level(debug, env) == level


def test_redaction_filter_replaces_secrets_in_messages_args_and_tracebacks(tmp_path):
    logsetup.add_secrets(["s3cret-value-1", None, "", "ab"])  # empty/short ones ignored
    logsetup.configure_logging(tmp_path)
    logger = logging.getLogger("amzorders.test")
    logger.error("message with s3cret-value-1 inside")
    logger.error("args: %s and %r", "s3cret-value-1", {"token": "Atza|IwEBIA-unregistered.sig"})
    try:
        raise ValueError("exception text s3cret-value-1")
    except ValueError:
        logger.exception("failed")
    logsetup.shutdown_logging()
    text = (tmp_path / LOG_FILE_NAME).read_text()
    assert "s3cret-value-1" not in text and "Atza|" not in text
    # message, argument, unregistered token shape, traceback source line, exception text
    assert text.count(REDACTED) == 5
    assert "ValueError: exception text [redacted]" in text and "Traceback" in text
    assert "ab" in logsetup.redact("ab")  # too short to be treated as a secret


def test_cli_logs_command_start_end_and_errors(cli, amzorders_home):
    ok = cli("list")
    assert ok.exit_code == 0
    failed = cli("show", "nope-123")
    assert failed.exit_code == 1
    text = (amzorders_home / LOG_FILE_NAME).read_text()
    assert "INFO [" in text and "command start: list" in text and "command end: list exit 0" in text
    assert "ERROR [" in text and "show failed (exit 1): " in text
    assert "command end: show exit 1" in text
    assert mode_of(amzorders_home / LOG_FILE_NAME) == 0o600
    # Nothing of the log reaches the terminal.
    assert "command start" not in ok.output + failed.output


def test_cli_logs_config_subcommand_by_name_without_arguments(cli, amzorders_home):
    result = cli("config", "init", "--marketplace", "US", "--client-id", "cid",
                 "--client-secret", "init-secret-DO-NOT-LOG", "--refresh-token", "Atzr|init-refresh")
    assert result.exit_code == 0, result.output
    text = (amzorders_home / LOG_FILE_NAME).read_text()
    assert "command start: config init" in text
    assert "init-secret-DO-NOT-LOG" not in text and "Atzr|" not in text


@pytest.mark.sqlite_only  # makes the store as an empty SQLite file itself
def test_an_unwritable_data_dir_does_not_stop_the_command(cli, tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("AMZORDERS_HOME", str(blocker / "home"))
    (tmp_path / "o.db").write_bytes(b"")  # list never creates a store; an empty file is opened
    (tmp_path / "config.toml").write_text('[accounts.sim]\nendpoint = "simulator"\n')  # a named file must exist
    result = cli("--config", tmp_path / "config.toml", "--db", tmp_path / "o.db", "list")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("cannot write the log file") == 1
    assert "Logging error" not in result.stderr
