"""What the alarm service needs from the hub's settings (built in the hub's __main__)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sensors.contract import Severity


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Alarm delivery settings. Times in seconds.

    `secret_key` signs acknowledgement links; give it the same value as
    `ConsoleSettings.secret_key` (the console checks links through the service).
    """

    public_url: str  # base of the ack links in mails, e.g. "https://hub.example.org"
    secret_key: str = field(repr=False)
    ack_link_ttl_s: float = 24 * 3600.0
    # Unacknowledged alarms are notified again this often (the demo uses ~30 s).
    renotify_interval_s: float = 300.0
    # Notification rounds per alarm, the first one included; escalation to the alarm
    # centre (a later issue) takes over where mantelzorgers do not answer.
    max_rounds: int = 12
    # Which severities are mailed to mantelzorgers; technical alarms are LOW.
    notify_severities: frozenset[Severity] = frozenset(Severity)
    language: str = "nl"  # for contacts without a language of their own
    timezone: str = "Europe/Amsterdam"  # times in mails are local times
    # The delivery loop wakes up at least this often to look for due work.
    poll_interval_s: float = 1.0
    # A channel send that takes longer than this is abandoned (and counted as failed).
    send_timeout_s: float = 30.0
    # A row left 'sending' for longer than this was claimed by a process that died;
    # it is marked 'unknown', never resent. Must exceed send_timeout_s.
    sending_lease_s: float = 120.0
    # Transient channel failures are retried after retry_backoff_s * 2**attempt,
    # at most max_attempts times per notification.
    retry_backoff_s: float = 5.0
    max_attempts: int = 5
    # Folding (docs/alerts.md): after a mail to a contact, that dwelling's further alarms
    # due for them within this window wait for its end and go out as ONE mail (unless one
    # is more severe than all the window carried: that goes at once). 0: no folding.
    fold_window_s: float = 120.0
    fold_list_max: int = 10  # alarms a folded mail lists one by one; the rest are counted
    # Technical alarms (by key) for operators only: never mailed to mantelzorgers.
    # "refused": the hub refuses a dwelling's messages over its budget (hub.budget).
    operator_only_keys: frozenset[str] = frozenset({"refused", "alarms_refused", "clock"})

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise ValueError("AlertSettings.secret_key must have at least 16 characters")
        if self.renotify_interval_s <= 0 or self.max_rounds < 1:
            raise ValueError("renotify_interval_s must be > 0 and max_rounds >= 1")
        if self.sending_lease_s <= self.send_timeout_s:
            raise ValueError("sending_lease_s must exceed send_timeout_s")
        if not self.fold_window_s >= 0 or self.fold_list_max < 1:  # NaN refused too
            raise ValueError("fold_window_s must be >= 0 and fold_list_max >= 1")

    @property
    def effective_fold_window_s(self) -> float:
        """The fold window as applied: never longer than the re-notification interval, so
        folding never holds a reminder past its next round (the demo's 30 s cadence)."""
        return min(self.fold_window_s, self.renotify_interval_s)

    @property
    def thread_gap_s(self) -> float:
        """Mails to a contact about a dwelling at most this far apart share a mail thread:
        a storm's folded mails and its re-notification rounds."""
        return self.renotify_interval_s + self.effective_fold_window_s
