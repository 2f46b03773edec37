"""A cheap mark of what people see change: deploys, approvals, holds, schedules.

Read every second by each bot process that shows App Home tabs: a different
mark means something its users see changed, whichever process changed it.
One statement of aggregates over small indexed tables, on both engines.
"""

from __future__ import annotations

from adapters.sql_base import SqlStoreBase

_MARK = """SELECT
    (SELECT COALESCE(MAX(id), 0) FROM deploys) AS deploys,
    (SELECT COUNT(*) FROM deploys WHERE status = 'running') AS running,
    (SELECT COUNT(*) FROM deploy_servers WHERE finished_at IS NOT NULL
        AND deploy_id IN (SELECT deploy_id FROM locks)) AS servers_done,
    (SELECT COALESCE(MAX(id), 0) FROM approvals) AS approvals,
    (SELECT COUNT(*) FROM approvals WHERE status = 'pending') AS pending,
    (SELECT COUNT(*) FROM holds) AS holds,
    (SELECT COALESCE(MAX(since), '') FROM holds) AS held_since,
    (SELECT COUNT(*) FROM locks) AS locks,
    (SELECT COALESCE(MAX(id), 0) FROM schedules) AS schedules,
    (SELECT COUNT(*) FROM schedules WHERE status = 'pending') AS scheduled"""


class ChangeTables(SqlStoreBase):
    def change_mark(self) -> str:
        row = self._row(_MARK, []) or {}
        return ":".join(str(row[key]) for key in sorted(row))
