"""Purges across processes, in one order, and which copied responses they forbid (pure).

Every purge or invalidation goes through the supervisor, which numbers them (1, 2, ...)
and sends each to every worker in that order, the one that asked included. A worker
removes what a purge names as soon as it receives it (and, when it asked for it, at once
as well, so its HTTP answer is true).

A stored response copied from another worker (a replica) carries the number of the last
purge its sender had applied when it stored it (`base`). The supervisor relays replicas
and purges in the order it receives them, so a worker admits a replica unless:
- a purge numbered after `base` that it has received names the replica's URL (the copy
  may predate that purge: a deleted video must not come back), or such purges may have
  fallen out of the history it keeps (then refusing is the safe answer);
- a purge it asked for itself and that is not numbered yet names the URL (its number
  will be higher than any `base` the sender can have had).
Refusing a replica only costs a miss later; admitting one that predates a purge would
serve deleted content.
"""

from __future__ import annotations

from collections import deque

HISTORY = 4096


def _names(target: str, is_prefix: bool, key: str) -> bool:
    return key.startswith(target) if is_prefix else key == target


class PurgeLog:
    def __init__(self, seen: int = 0, history: int = HISTORY) -> None:
        self.seen = seen
        """The number of the last purge received from the supervisor."""
        self._history: deque[tuple[int, str, bool]] = deque(maxlen=history)
        self._pending: deque[tuple[str, bool]] = deque()

    def asked(self, target: str, is_prefix: bool) -> None:
        """This worker purged `target` and asked the others to."""
        self._pending.append((target, is_prefix))

    def numbered(self, seq: int, target: str, is_prefix: bool, *, mine: bool) -> None:
        """Purge `seq` arrived from the supervisor (`mine`: this worker asked for it)."""
        if mine and self._pending:
            self._pending.popleft()
        self._history.append((seq, target, is_prefix))
        self.seen = max(self.seen, seq)

    def admits(self, key: str, base: int) -> bool:
        """Whether a replica of `key` stored after purge `base` may be kept here."""
        for target, is_prefix in self._pending:
            if _names(target, is_prefix, key):
                return False
        if base >= self.seen:
            return True
        history = self._history
        if not history or history[0][0] > base + 1:
            return False  # purges after `base` are no longer known
        for seq, target, is_prefix in reversed(history):
            if seq <= base:
                break
            if _names(target, is_prefix, key):
                return False
        return True
