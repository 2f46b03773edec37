"""A deploy's timeline picture in its Slack thread: ``shipbot serve`` driven by signed
HTTP, the picture uploaded through Slack's file upload flow to the Web API fake."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import matplotlib.image

from tests.conftest import WriteManifest, fleet_file
from tests.infra.shipbot_server import Serve
from tests.infra.slack import Call, SlackFake

CHANNEL = "C0DEPLOYS"
PNG = b"\x89PNG\r\n\x1a\n"
FAILURE = "could not be uploaded"


def headline(calls: list[Call]) -> Call | None:
    """The thread's final summary: 'Deploy #1 of shop succeeded…'."""
    for call in calls:
        text = str(call.body.get("text", ""))
        threaded = call.method == "chat.postMessage" and call.body.get("thread_ts")
        if threaded and text.startswith("Deploy #1 of shop "):
            return call
    return None


def thread_of(calls: list[Call]) -> str:
    summary = headline(calls)
    assert summary is not None
    return str(summary.body["thread_ts"])


def deploy_status(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT status FROM deploys WHERE id = 1").fetchone()[0])


def test_a_finished_deploy_gets_exactly_one_picture_in_its_thread(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest(slack={"channel": CHANNEL})
    server = serve()

    assert server.sender.command("shop --serial").status == 200
    calls = slack_fake.wait_for(
        lambda cs: any(c.method == "files.completeUploadExternal" for c in cs), timeout=60
    )
    server.stop()  # everything queued is delivered first: a second picture would show now

    calls = slack_fake.calls
    (asked,) = [c for c in calls if c.method == "files.getUploadURLExternal"]
    (upload,) = [c for c in calls if c.method == "upload"]
    (completed,) = slack_fake.calls_to("files.completeUploadExternal")
    assert asked.body["filename"] == "deploy-1-timeline.png"
    assert completed.body["channel_id"] == CHANNEL
    assert completed.body["thread_ts"] == thread_of(calls)
    (sent,) = json.loads(completed.body["files"])
    assert sent["id"] == upload.body["file_id"]
    data = slack_fake.uploaded(sent["id"])
    assert data.startswith(PNG) and len(data) == int(asked.body["length"])
    height, width = matplotlib.image.imread(io.BytesIO(data), format="png").shape[:2]
    assert width > 800 and height > 200
    # After the thread's summary, so it reads as the deploy's last word.
    assert calls.index(completed) > calls.index(headline(calls))  # type: ignore[arg-type]
    assert not any(FAILURE in str(c.body.get("text", "")) for c in calls)


def test_a_failed_upload_is_said_once_and_the_deploy_still_succeeds(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest(slack={"channel": CHANNEL})
    slack_fake.fail_next("files.completeUploadExternal", status=500, times=10)
    server = serve()

    assert server.sender.command("shop --serial").status == 200
    slack_fake.wait_for(
        lambda cs: any(FAILURE in str(c.body.get("text", "")) for c in cs), timeout=60
    )
    server.stop()

    calls = slack_fake.calls
    said = [c for c in calls if FAILURE in str(c.body.get("text", ""))]
    assert len(said) == 1
    assert said[0].body["thread_ts"] == thread_of(calls)
    assert "Deploy #1 of shop succeeded" in str(headline(calls).body["text"])  # type: ignore[union-attr]
    assert deploy_status(server.db) == "succeeded"
    assert not slack_fake.calls_to("files.completeUploadExternal")  # only failed attempts
    for name in ("web1", "web2", "web3"):
        assert fleet_file(workdir, name).exists()
