"""The store's part in keeping Slack messages true, on both engines: which
interrupted threads changed since a time, and one claim per shown state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from strategies.records import NewDeploy
from strategies.store import Store

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def interrupted_deploy(store: Store) -> int:
    deploy = NewDeploy("shop", "serial", "", "main", "U0DEV", ("web1", "web2"), T0)
    deploy_id = store.begin_deploy(deploy, holder="test")
    store.set_deploy_thread(deploy_id, "C0DEPLOYS", "1.000100")
    store.finish_deploy(deploy_id, "interrupted", "interrupted: it died", T0 + timedelta(1))
    return deploy_id


def test_interrupted_threads_since_a_time_and_after_their_recovery(store: Store) -> None:
    deploy_id = interrupted_deploy(store)

    (found,) = store.interrupted_threads_since(T0)
    assert (found.deploy.id, found.recovered_by, found.recovery) == (deploy_id, None, None)
    assert store.interrupted_threads_since(T0 + timedelta(2)) == []

    store.close_recovery(deploy_id, by="root", at=T0 + timedelta(3), note="nothing to put back")
    (found,) = store.interrupted_threads_since(T0 + timedelta(2))
    assert found.recovered_by == "root"


def test_a_shown_state_is_claimed_once(store: Store) -> None:
    assert store.claim_shown("C0DEPLOYS", "1.000100", "aaa", T0)
    assert not store.claim_shown("C0DEPLOYS", "1.000100", "aaa", T0)
    assert store.claim_shown("C0DEPLOYS", "1.000100", "bbb", T0)
    assert store.claim_shown("C0DEPLOYS", "2.000200", "bbb", T0)
