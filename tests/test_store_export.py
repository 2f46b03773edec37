"""What an audit reads back, on both engines: deploys since a time, oldest first, with
who approved each one and the batch each server went in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from strategies.records import NewApproval, NewDeploy, NewSchedule
from strategies.requests import DeployRequest
from strategies.store import Store

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
CHANNEL = "C0DEPLOYS"


def deploy(store: Store, at: datetime, batches: tuple[int | None, ...] = ()) -> int:
    servers = ("web1", "web2", "web3")
    deploy_id = store.begin_deploy(
        NewDeploy("shop", "batch", "release", "v1", "U0DEV", servers, at, batches=batches),
        holder="U0DEV",
    )
    store.finish_deploy(deploy_id, "succeeded", "3 ok", at + timedelta(seconds=5))
    return deploy_id


def approval(store: Store, ts: str, *, approve: bool = True) -> int:
    approval_id = store.create_approval(
        NewApproval(
            app="shop",
            requested_by="U0DEV",
            strategy="serial",
            ref="v1",
            servers=None,
            channel=CHANNEL,
            created_at=T0,
            expires_at=T0 + timedelta(minutes=30),
        )
    )
    store.set_approval_message(approval_id, ts)
    status = "approved" if approve else "rejected"
    assert store.decide_approval(approval_id, status, by="U0LEAD", at=T0)
    return approval_id


def test_deploys_since_is_oldest_first_and_filters_by_start(store: Store) -> None:
    first = deploy(store, T0)
    second = deploy(store, T0 + timedelta(days=1))
    assert [r.id for r in store.deploys_since("shop", None)] == [first, second]
    assert [r.id for r in store.deploys_since("shop", T0 + timedelta(hours=1))] == [second]
    assert store.deploys_since("shop", T0 + timedelta(days=2)) == []
    assert store.deploys_since("other", None) == []


def test_batches_are_kept_per_server(store: Store) -> None:
    deploy_id = deploy(store, T0, batches=(0, 1, 1))
    old = deploy(store, T0 + timedelta(minutes=1))
    record = store.get_deploy(deploy_id)
    assert record is not None
    assert [s.batch for s in record.servers] == [0, 1, 1]
    unknown = store.get_deploy(old)
    assert unknown is not None
    assert [s.batch for s in unknown.servers] == [None, None, None]


def test_approver_comes_from_the_approval_whose_message_is_the_thread(store: Store) -> None:
    approved, unapproved, rejected = (deploy(store, T0 + timedelta(minutes=i)) for i in range(3))
    approval(store, "1700000000.000100")
    approval(store, "1700000000.000300", approve=False)
    store.set_deploy_thread(approved, CHANNEL, "1700000000.000100")
    store.set_deploy_thread(unapproved, CHANNEL, "1700000000.000200")
    store.set_deploy_thread(rejected, CHANNEL, "1700000000.000300")
    by_id = {r.id: r.approved_by for r in store.deploys_since("shop", None)}
    assert by_id == {approved: "U0LEAD", unapproved: None, rejected: None}


def test_approver_of_a_scheduled_deploy_comes_through_its_schedule(store: Store) -> None:
    deploy_id = deploy(store, T0)
    approval_id = approval(store, "1700000000.000100")
    schedule_id = store.create_schedule(
        NewSchedule(DeployRequest("shop", "U0DEV"), CHANNEL, T0, T0, ""),
        status="scheduled",
        approval_id=approval_id,
    )
    store.set_schedule_message(schedule_id, "1700000000.000900")
    store.set_deploy_thread(deploy_id, CHANNEL, "1700000000.000900")
    (record,) = store.deploys_since("shop", None)
    assert record.approved_by == "U0LEAD"
