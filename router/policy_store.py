"""The active routing policy, reloaded on SIGHUP and when the file changes.

A new file that does not validate is rejected with a logged error listing its problems, and the last
good policy stays active. The cloud `Budget` belongs to the store, so today's counters survive reloads;
each new policy only brings its own limits and prices.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from router.budget import Budget
from router.errors import ConfigError
from router.policy import Policy, load_policy, parse_policy

log = structlog.get_logger("router.policy")

# A policy file is a few kilobytes; anything far larger is a mistake or an attack, refused unread.
MAX_POLICY_BYTES = 1024 * 1024


def _read_policy(path: Path) -> bytes:
    """The file's bytes; OSError when unreadable, ValueError when larger than MAX_POLICY_BYTES."""
    with path.open("rb") as f:
        content = f.read(MAX_POLICY_BYTES + 1)
    if len(content) > MAX_POLICY_BYTES:
        raise ValueError(f"the policy file is larger than {MAX_POLICY_BYTES} bytes")
    return content


class PolicyStore:
    """Holds the active `Policy`. Built at start-up: a bad file there raises ConfigError."""

    def __init__(self, path: Path, *, budget: Budget | None = None) -> None:
        self.path = Path(path)
        try:
            content = _read_policy(self.path)
        except OSError:
            load_policy(self.path)  # raises ConfigError with the file and what to do
            raise
        except ValueError as e:
            raise ConfigError(f"{self.path}: {e}") from None
        policy, problems = parse_policy(content, str(self.path))
        if policy is None:
            raise ConfigError("\n".join(problems))
        self.budget = budget if budget is not None else policy.budget
        policy.attach_budget(self.budget)
        self._policy = policy
        self._seen = hashlib.sha256(content).hexdigest()
        self._lock = threading.Lock()
        self._sighup_loop: asyncio.AbstractEventLoop | None = None
        self.sighup_hooks: list[Callable[[], None]] = []

    @property
    def current(self) -> Policy:
        return self._policy

    @property
    def version(self) -> str:
        return self._policy.version

    def reload(self) -> bool:
        """Re-read the file. True when the file's policy is now active (new or unchanged); False when
        it was rejected and the previous policy stays."""
        with self._lock:
            old = self._policy
            try:
                content = _read_policy(self.path)
            except (OSError, ValueError) as e:
                why = f"cannot read the policy file: {e.strerror}" if isinstance(e, OSError) else str(e)
                log.error("policy_rejected", path=str(self.path), problems=[why], active_version=old.version)
                return False
            self._seen = hashlib.sha256(content).hexdigest()
            policy, problems = parse_policy(content, str(self.path))
            if policy is None:
                log.error(
                    "policy_rejected", path=str(self.path), problems=problems, active_version=old.version
                )
                return False
            if policy.version == old.version:
                log.debug("policy_unchanged", path=str(self.path), version=old.version)
                return True
            policy.attach_budget(self.budget)
            self._policy = policy
            log.info(
                "policy_reloaded", path=str(self.path), version=policy.version, previous_version=old.version
            )
            return True

    def changed(self) -> bool:
        """Whether the file's content differs from what the store last read (good or bad)."""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest() != self._seen
        except OSError:
            return False

    async def watch(self, interval_s: float = 2.0) -> None:
        """Poll the file's content hash every `interval_s` and reload when it changes. Runs until
        cancelled; run it as a task (`start_watching`)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                changed = await asyncio.to_thread(self.changed)
                if changed:
                    await asyncio.to_thread(self.reload)
            except Exception as e:  # the watcher must survive anything; the active policy stays
                log.error("policy_watch_failed", path=str(self.path), error_type=type(e).__name__)

    def start_watching(self, interval_s: float = 2.0) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self.watch(interval_s), name="policy-watch")

    def install_sighup(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Reload on SIGHUP (handled in the event loop, so no signal-safety concerns)."""
        loop = loop if loop is not None else asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        self._sighup_loop = loop

    def remove_sighup(self) -> None:
        if self._sighup_loop is not None:
            self._sighup_loop.remove_signal_handler(signal.SIGHUP)
            self._sighup_loop = None

    def _on_sighup(self) -> None:
        log.info("policy_sighup", path=str(self.path))
        self.reload()
        for hook in self.sighup_hooks:  # e.g. the complexity scorer's calibrated head
            hook()


__all__ = ["PolicyStore"]
