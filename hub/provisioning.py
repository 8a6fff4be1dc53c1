"""`mz provision`: a dwelling's broker account, registry entry and edge bundle in one step,
for one dwelling or a thousand from a CSV file.

A run checks everything before it changes anything: every row (a bad one is named by its
line), every id against the broker's accounts and the bundles already written. Then, in
this order:

1. client certificates (with `cert`) and bundles, in a staging directory;
2. the broker accounts, over one connection to the dynamic-security plugin, a few
   dwellings per control message (hub.broker_admin.BATCH_COMMANDS);
3. the registry: every new dwelling in one transaction;
4. the bundles moved into place.

A failure in 2 or 3 undoes what the run did: the accounts it created are deleted again,
no dwelling is registered and no bundle is written. A run with `reissue` cannot give an
existing account its old password back: an account whose password this run had already
changed keeps the new one, and its bundle is written all the same (the report names
them). If even the undo fails (the broker went away), the report names the accounts
left behind; running the same command again with `reissue` repairs them.

Dwellings already in the registry (registered earlier with `mz admin dwelling add`) are
left as they are: the run gives them credentials and a bundle.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final, NoReturn

from hub.broker_admin import (
    BATCH_COMMANDS,
    Account,
    BrokerAdminError,
    DynsecSession,
    JsonObj,
    batches,
    create_dwelling_commands,
    dwelling_role,
    new_password,
    reissue_dwelling_commands,
)
from hub.client_ca import ClientCA
from hub.context import Dwelling
from hub.edge_bundle import Bundle, BundleError, BundleSettings, Staging
from hub.errors import HubError, RegistryError
from hub.registry import LANGUAGES, Registry
from sensors.contract import is_pseudo_id

CSV_COLUMNS: Final = ("id", "label", "address", "language")
# A creation at the broker and the command that takes it back.
_INVERSE: Final = {
    "createRole": ("deleteRole", "rolename"),
    "createClient": ("deleteClient", "username"),
}
MAX_ERRORS_SHOWN: Final = 20

# (stage, done, total): "prepare" (passwords, certificates, bundles), "broker", "registry".
Progress = Callable[[str, int, int], None]


class ProvisionError(HubError):
    """Nothing, or (said in `lines`) not everything, was provisioned."""

    def __init__(self, summary: str, lines: Sequence[str] = ()) -> None:
        shown = list(lines[:MAX_ERRORS_SHOWN])
        if len(lines) > MAX_ERRORS_SHOWN:
            shown.append(f"... and {len(lines) - MAX_ERRORS_SHOWN} more")
        super().__init__("\n".join([summary, *shown]))
        self.summary = summary
        self.lines = list(lines)


@dataclass(frozen=True, slots=True)
class Row:
    """A dwelling to provision; `line` is its line in the CSV file (None: the command line)."""

    dwelling: Dwelling
    line: int | None = None

    def where(self) -> str:
        return f"line {self.line}: " if self.line is not None else ""


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)  # new broker accounts
    # What undoes this run's creations at the broker, newest first (a dwelling whose
    # commands failed half-way may have its role but no account).
    undo: list[JsonObj] = field(default_factory=list)
    reissued: list[str] = field(default_factory=list)  # existing accounts, new password
    registered: list[str] = field(default_factory=list)  # new in the registry
    bundles: list[Path] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)


def read_csv(text: str) -> list[Row]:
    """Rows of a provisioning CSV: a header naming `id` and `label` (and optionally
    `address`, `language`), then one dwelling a line. Every bad row is reported, by line,
    in one ProvisionError."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), skipinitialspace=True)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("id", "label") if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if missing or unknown:
        raise ProvisionError(
            "line 1: the header must name the columns id,label[,address][,language]"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
        )
    reader.fieldnames = header
    rows: list[Row] = []
    errors: list[str] = []
    first_line: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if None in record:  # more fields than the header names
            errors.append(f"line {line}: more fields than the header's {len(header)}")
            continue
        values = {k: (v or "").strip() for k, v in record.items()}
        if not any(values.values()):
            continue
        row = Row(
            Dwelling(
                values["id"],
                values["label"],
                values.get("address", ""),
                values.get("language") or "nl",
            ),
            line,
        )
        problem = check_row(row)
        if problem is None and row.dwelling.id in first_line:
            problem = f"{row.dwelling.id} is also on line {first_line[row.dwelling.id]}"
        if problem is not None:
            errors.append(f"line {line}: {problem}")
            continue
        first_line[row.dwelling.id] = line
        rows.append(row)
    if errors:
        raise ProvisionError(f"{len(errors)} bad row(s); nothing was provisioned", errors)
    if not rows:
        raise ProvisionError("the file names no dwellings")
    return rows


def check_row(row: Row) -> str | None:
    d = row.dwelling
    if not is_pseudo_id(d.id):
        return (
            f"{d.id!r} is not a pseudonymous dwelling id (lower-case letters, digits, "
            "'-' and '_', 2-64 characters)"
        )
    if not d.label:
        return f"{d.id} has no label"
    if d.language not in LANGUAGES:
        return f"{d.id}: language must be one of {', '.join(LANGUAGES)}, not {d.language!r}"
    return None


@dataclass
class Provisioner:
    """One run's collaborators: the plugin session, the registry, where bundles go."""

    session: DynsecSession
    registry: Registry
    out: Path
    bundle: BundleSettings
    now: datetime
    ca: ClientCA | None = None  # given: every dwelling gets a client certificate
    progress: Progress = lambda _stage, _done, _total: None

    def provision(self, rows: Sequence[Row], *, reissue: bool = False) -> Outcome:
        if not rows:
            raise ProvisionError("no dwellings to provision")
        for row in rows:
            problem = check_row(row)
            if problem is not None:
                raise ProvisionError(f"{row.where()}{problem}; nothing was provisioned")
        existing = self._accounts()
        self._check(rows, existing, reissue)
        outcome = Outcome()
        staging = Staging(self.out)
        try:
            self._stage(rows, staging, outcome)
            commands = [
                reissue_dwelling_commands(d, outcome.passwords[d])
                if d in existing
                else create_dwelling_commands(d, outcome.passwords[d])
                for d in (r.dwelling.id for r in rows)
            ]
            self._apply(rows, commands, existing, staging, outcome)
            known = {d.id for d in self.registry.dwellings()}
            new = [r.dwelling for r in rows if r.dwelling.id not in known]
            self.progress("registry", 0, len(new))
            try:
                self.registry.add_dwellings(new)
            except RegistryError as exc:
                self._undo(outcome, staging, f"the registry refused the dwellings: {exc}")
            self.progress("registry", len(new), len(new))
            outcome.registered = [d.id for d in new]
            outcome.bundles = staging.commit()
        finally:
            staging.discard()
        return outcome

    def _accounts(self) -> dict[str, Account]:
        return {a.username: a for a in self.session.accounts()}

    def _check(self, rows: Sequence[Row], existing: dict[str, Account], reissue: bool) -> None:
        errors = []
        for row in rows:
            d = row.dwelling.id
            account = existing.get(d)
            if account is not None:
                if account.roles != (dwelling_role(d),):
                    errors.append(
                        f"{row.where()}{d} exists at the broker and is not a dwelling account"
                    )
                elif not reissue:
                    errors.append(
                        f"{row.where()}{d} already has broker credentials"
                        " (--reissue gives it new ones)"
                    )
            if (self.out / d).exists() and not reissue:
                errors.append(
                    f"{row.where()}{d} already has a bundle in {self.out / d}"
                    " (--reissue replaces it)"
                )
        if errors:
            raise ProvisionError(
                f"{len(errors)} dwelling(s) refused; nothing was provisioned", errors
            )

    def _stage(self, rows: Sequence[Row], staging: Staging, outcome: Outcome) -> None:
        total = len(rows)
        for i, row in enumerate(rows, start=1):
            d = row.dwelling.id
            password = new_password()
            outcome.passwords[d] = password
            bundle = Bundle(d, password)
            if self.ca is not None:
                cert = self.ca.issue(d, self.now)
                bundle = Bundle(d, password, cert.cert_pem, cert.key_pem)
            try:
                staging.add(bundle, self.bundle, self.now)
            except BundleError as exc:
                raise ProvisionError(f"{exc}; nothing was provisioned") from exc
            self.progress("prepare", i, total)

    def _apply(
        self,
        rows: Sequence[Row],
        commands: list[list[JsonObj]],
        existing: dict[str, Account],
        staging: Staging,
        outcome: Outcome,
    ) -> None:
        """Send each dwelling's commands; a dwelling's commands never straddle two control
        messages, so each dwelling is either wholly applied or its failure is known."""
        per_message = max(1, BATCH_COMMANDS // max(len(c) for c in commands))
        total = len(rows)
        self.progress("broker", 0, total)
        for group in batches(range(total), per_message):
            try:
                responses = self.session.exchange([c for i in group for c in commands[i]])
            except BrokerAdminError as exc:
                self._undo(outcome, staging, f"the broker stopped answering: {exc}")
            failed = []
            at = 0
            for i in group:
                d = rows[i].dwelling.id
                answers, at = responses[at : at + len(commands[i])], at + len(commands[i])
                for command, answer in zip(commands[i], answers, strict=True):
                    if not answer.get("error") and command["command"] in _INVERSE:
                        inverse, key = _INVERSE[command["command"]]
                        outcome.undo.insert(0, {"command": inverse, key: command[key]})
                errors = [a["error"] for a in answers if a.get("error")]
                if errors:
                    failed.append(f"{rows[i].where()}{d}: {errors[0]}")
                    if d in existing and not answers[0].get("error"):
                        outcome.reissued.append(d)  # its password changed all the same
                elif d in existing:
                    outcome.reissued.append(d)
                else:
                    outcome.created.append(d)
            self.progress("broker", group[-1] + 1, total)
            if failed:
                self._undo(outcome, staging, "the broker refused some dwellings", failed)

    def _undo(
        self, outcome: Outcome, staging: Staging, why: str, details: Sequence[str] = ()
    ) -> NoReturn:
        """Delete the accounts this run created; keep (and write the bundles of) the ones
        it reissued, whose old password is gone. Always raises."""
        lines = list(details)
        left: list[str] = []
        try:
            for group in batches(outcome.undo):
                self.session.run(group, allow=("not found",))
        except BrokerAdminError as exc:
            left = outcome.created
            lines.append(f"undo failed ({exc}): these accounts remain: {', '.join(left)}")
        if outcome.reissued:
            try:
                written = staging.commit(outcome.reissued)
                lines.append(
                    "new passwords were already set for: "
                    + ", ".join(outcome.reissued)
                    + f"; their new bundles are in {self.out}"
                    + (
                        ""
                        if len(written) == len(outcome.reissued)
                        else " (some could not be written)"
                    )
                )
            except BundleError as exc:
                lines.append(f"new passwords were set for {', '.join(outcome.reissued)}, but {exc}")
        if left or outcome.reissued:
            lines.append("run the same command again with --reissue once the cause is fixed")
            summary = f"{why}; not everything was undone"
        else:
            summary = f"{why}; nothing was provisioned"
        raise ProvisionError(summary, lines)
