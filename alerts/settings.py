"""What the alarm service needs from the hub's settings (built in the hub's __main__)."""

from __future__ import annotations

from dataclasses import dataclass, field

# The hub's time zone: local times in mails, escalation windows, report months.
DEFAULT_TIMEZONE = "Europe/Amsterdam"


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Alarm delivery settings. Times in seconds.

    `secret_key` signs acknowledgement links; give it the same value as
    `ConsoleSettings.secret_key` (the console checks links through the service).
    """

    public_url: str  # base of the ack links in mails, e.g. "https://hub.example.org"
    secret_key: str = field(repr=False)
    ack_link_ttl_s: float = 24 * 3600.0
    # How long an escalation step waits for somebody to take the alarm on, for dwellings
    # without a routing policy of their own (alerts.routing.default_policy).
    step_wait_s: float = 120.0
    language: str = "nl"  # for contacts without a language of their own
    timezone: str = DEFAULT_TIMEZONE  # times in mails are local times
    # The delivery loop wakes up at least this often to look for due work.
    poll_interval_s: float = 1.0
    # A channel send that takes longer than this is abandoned (and counted as failed).
    send_timeout_s: float = 30.0
    # A row left 'sending' for longer than this was claimed by a process that died;
    # it is marked 'unknown', never resent. Must exceed send_timeout_s.
    sending_lease_s: float = 120.0
    # A transient failure of a contact's channel is retried after retry_backoff_s *
    # 2**attempt, attempts_per_target times in all; then (or at once, when the failure is
    # permanent) the contact's next channel takes over.
    retry_backoff_s: float = 5.0
    attempts_per_target: int = 2
    # Folding (docs/alerts.md): after a mail to a contact, that dwelling's further alarms
    # due for them within this window wait for its end and go out as ONE mail (unless one
    # is more severe than all the window carried: that goes at once). 0: no folding.
    fold_window_s: float = 120.0
    fold_list_max: int = 10  # alarms a folded mail lists one by one; the rest are counted
    # Technical alarms (by key) for operators only: never mailed to mantelzorgers.
    # "refused": the hub refuses a dwelling's messages over its budget (hub.budget).
    # "alarm_centre_link": the hub cannot reach the alarm centre's receivers.
    operator_only_keys: frozenset[str] = frozenset(
        {"refused", "alarms_refused", "clock", "alarm_centre_link"}
    )
    # Mails to a contact about a dwelling at most this far apart share a mail thread.
    thread_gap_s: float = 900.0
    # A contact who was told of an alarm gets an all-clear when it is over (alerts.
    # all_clear), if it ended at most this long ago (a hub back from a long outage does
    # not send yesterday's). 0: no all-clears.
    all_clear_within_s: float = 3600.0

    @property
    def effective_fold_window_s(self) -> float:
        """The fold window as applied: never longer than an escalation step's wait, so
        folding never holds a contact's mail past the moment the next contact is asked."""
        return min(self.fold_window_s, self.step_wait_s)

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise ValueError("AlertSettings.secret_key must have at least 16 characters")
        if not self.step_wait_s > 0 or self.attempts_per_target < 1:
            raise ValueError("step_wait_s must be > 0 and attempts_per_target >= 1")
        if self.sending_lease_s <= self.send_timeout_s:
            raise ValueError("sending_lease_s must exceed send_timeout_s")
        if not self.fold_window_s >= 0 or self.fold_list_max < 1:  # NaN refused too
            raise ValueError("fold_window_s must be >= 0 and fold_list_max >= 1")
        if not self.all_clear_within_s >= 0:
            raise ValueError("all_clear_within_s must be >= 0")
