"""``shipbot history`` beyond the short list, against real deploys on a local fleet:
one deploy's timeline picture, and the audit export as CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from tests.conftest import Run, WriteManifest

FAIL_ON_WEB2 = [
    'test "$SHIPBOT_SERVER" != web2 || { echo "boom" >&2; exit 3; }',
    'echo "$SHIPBOT_REF" > RELEASE',
]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def failed_deploy(write_manifest: WriteManifest, shipbot: Run) -> None:
    """Deploy #1 of shop: serial, web2 fails, web3 is skipped (never started)."""
    write_manifest(commands=FAIL_ON_WEB2)
    assert shipbot("deploy", "shop").returncode == 1


def export(shipbot: Run, *args: str) -> str:
    done = shipbot("history", "shop", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_picture_of_a_real_deploy_is_a_png(
    workdir: Path, failed_deploy: None, shipbot: Run
) -> None:
    done = shipbot("history", "shop", "#1", "--picture", "out.png")
    assert done.returncode == 0, done.stderr
    assert "deploy #1 of shop: timeline written to out.png" in done.stdout
    data = (workdir / "out.png").read_bytes()
    assert data.startswith(PNG)
    height, width = matplotlib.image.imread(io.BytesIO(data), format="png").shape[:2]
    assert width > 800 and height > 200


def test_picture_of_an_unknown_deploy_is_refused(failed_deploy: None, shipbot: Run) -> None:
    done = shipbot("history", "shop", "#9", "--picture", "out.png")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: no deploy #9 of shop"


def test_csv_has_a_row_per_server_with_its_outcome(failed_deploy: None, shipbot: Run) -> None:
    rows = list(csv.DictReader(io.StringIO(export(shipbot, "--format", "csv"))))
    assert [(r["server"], r["outcome"], r["load_balancer"]) for r in rows] == [
        ("web1", "ok", "in"),
        ("web2", "failed", "out"),
        ("web3", "skipped", "in"),
    ]
    first = rows[0]
    assert first["deploy_id"] == "1" and first["app"] == "shop" and first["ref"] == "main"
    assert first["strategy"] == "serial" and first["deploy_status"] == "failed"
    assert first["started_at"].endswith("+00:00") and first["ended_at"] >= first["started_at"]
    assert first["requested_by"] and first["approved_by"] == ""


def test_json_has_the_same_rows_and_keys(failed_deploy: None, shipbot: Run) -> None:
    rows = json.loads(export(shipbot, "--format=json"))
    header = next(csv.reader(io.StringIO(export(shipbot, "--format", "csv"))))
    assert [list(row) for row in rows] == [header] * 3
    assert [(r["server"], r["outcome"]) for r in rows] == [
        ("web1", "ok"),
        ("web2", "failed"),
        ("web3", "skipped"),
    ]


def test_overrides_are_listed(write_manifest: WriteManifest, shipbot: Run) -> None:
    write_manifest()
    assert shipbot("deploy", "shop", "--parallel", "--servers", "web1,web3").returncode == 0
    rows = json.loads(export(shipbot, "--format", "json"))
    assert [r["server"] for r in rows] == ["web1", "web3"]
    assert rows[0]["overrides"] == "--parallel; --servers web1,web3"


def test_since_keeps_the_deploys_started_from_then(
    workdir: Path, write_manifest: WriteManifest, shipbot: Run
) -> None:
    write_manifest()
    assert shipbot("deploy", "shop").returncode == 0
    assert shipbot("deploy", "shop").returncode == 0
    with sqlite3.connect(workdir / ".shipbot" / "shipbot.db") as db:  # the first, last year
        db.execute(
            "UPDATE deploys SET started_at = '2025-06-01T10:00:00.000000+00:00' WHERE id = 1"
        )
    every = json.loads(export(shipbot, "--format", "json"))
    assert {r["deploy_id"] for r in every} == {1, 2}
    recent = json.loads(export(shipbot, "--format", "json", "--since", "2026-01-01"))
    assert {r["deploy_id"] for r in recent} == {2}
    older = json.loads(export(shipbot, "--format", "json", "--since", "2025-06-01T09:00"))
    assert {r["deploy_id"] for r in older} == {1, 2}


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--format", "xml"], "--format 'xml': choose json or csv"),
        (["--format", "csv", "--since", "yesterday"], "--since 'yesterday' is not a date"),
        (["--since", "2026-01-01"], "--since filters an export"),
        (["#1", "--format", "csv"], "--format exports every deploy"),
        (["--picture"], "--picture needs a value"),
    ],
)
def test_bad_options_get_one_line_and_exit_2(
    write_manifest: WriteManifest, shipbot: Run, args: list[str], problem: str
) -> None:
    write_manifest()
    done = shipbot("history", "shop", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: ") and problem in done.stderr


def test_the_short_form_is_unchanged(failed_deploy: None, shipbot: Run) -> None:
    done = shipbot("history", "shop")
    assert done.returncode == 0
    assert "#1" in done.stdout and "web2: FAILED" in done.stdout


def test_a_deploy_never_loads_matplotlib(workdir: Path, write_manifest: WriteManifest) -> None:
    write_manifest()
    script = (
        "import sys\nfrom bot.cli import main\ncode = main(['deploy', 'shop'])\n"
        "print(code, 'matplotlib' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPBOT_")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=workdir, capture_output=True, text=True, env=env
    )
    assert done.stdout.splitlines()[-1] == "0 False", done.stderr
