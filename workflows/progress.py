"""Who is done for which period, inside ReminderWorkflow: the clients done (no more
messages for that period), the occurrences that reached each client not done, and who was
escalated. Pure state, carried across continue-as-new for the last few periods only."""

from __future__ import annotations

from workflows.contracts import ClientDoneArgs, Progress, Target

# Periods whose state is kept: the current one, those marked ahead of time, and a few
# before it whose messages may still be going out (overlapping periods).
KEPT_PERIODS = 4


class ClientProgress:
    def __init__(self, carried: Progress | None) -> None:
        carried = carried or Progress()
        self.period = carried.period
        self.done = {period: set(ids) for period, ids in carried.done.items()}
        self.sends = {period: dict(counts) for period, counts in carried.sends.items()}
        self.escalated = {period: set(ids) for period, ids in carried.escalated.items()}

    def mark_done(self, args: ClientDoneArgs) -> None:
        self.done.setdefault(args.period, set()).add(args.client_id)

    def is_done(self, client_id: str, period: str) -> bool:
        return client_id in self.done.get(period, ())

    def anyone_done(self, period: str) -> bool:
        return bool(self.done.get(period))

    def not_done(self, targets: list[Target], period: str) -> list[Target]:
        return [target for target in targets if not self.is_done(target.client_id, period)]

    def enter(self, period: str) -> None:
        """An occurrence of `period` is handled: it is the current period from now on."""
        if self.period is not None and period <= self.period:
            return
        self.period = period
        for book in (self.done, self.sends, self.escalated):
            # Keep the newest periods; a period marked ahead of time is newer than this one.
            for old in sorted(book)[:-KEPT_PERIODS]:
                if old < period:
                    del book[old]

    def count_sends(self, clients: list[str], period: str, escalate_after: int) -> list[str]:
        """One more occurrence reached each of `clients`; those who have now had
        `escalate_after` without being done, and were not escalated yet, in order."""
        counts = self.sends.setdefault(period, {})
        due = []
        for client_id in dict.fromkeys(clients):
            counts[client_id] = counts.get(client_id, 0) + 1
            escalated = self.escalated.setdefault(period, set())
            if counts[client_id] >= escalate_after and client_id not in escalated:
                escalated.add(client_id)
                due.append(client_id)
        return due

    def carried(self) -> Progress | None:
        if self.period is None and not (self.done or self.sends or self.escalated):
            return None
        return Progress(
            period=self.period,
            done={period: sorted(ids) for period, ids in self.done.items()},
            sends={period: dict(counts) for period, counts in self.sends.items()},
            escalated={period: sorted(ids) for period, ids in self.escalated.items()},
        )
