"""A FHIR endpoint of the tests' own: a real HTTP server on loopback (in a thread of the
test process) that takes transaction Bundles at its base URL, validates each with
fhir.resources, and answers with a transaction-response naming a location per entry
(`Observation/7/_history/1`). A conditional create (ifNoneExist) that matches a resource
it already has answers 200 with that one's location, as a FHIR server does."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fhir.resources.R4B.bundle import Bundle


@dataclass
class FhirServer:
    url: str = ""
    bundles: list[Bundle] = field(default_factory=list)  # every transaction taken
    raw: list[bytes] = field(default_factory=list)
    # Answer these statuses first (one per request), then work normally.
    fail_with: list[int] = field(default_factory=list)
    requests: int = 0
    by_condition: dict[str, str] = field(default_factory=dict)
    answered: list[list[str]] = field(default_factory=list)  # the locations, per Bundle
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, body: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests += 1
            if self.fail_with:
                return self.fail_with.pop(0), {"resourceType": "OperationOutcome", "issue": []}
            bundle = Bundle.model_validate_json(body)  # raises on an invalid resource
            assert bundle.type == "transaction"
            self.bundles.append(bundle)
            self.raw.append(body)
            entries = []
            locations = []
            for entry in bundle.entry or []:
                assert entry.request is not None and entry.resource is not None
                kind = entry.resource.get_resource_type()
                condition = entry.request.ifNoneExist
                key = f"{kind}?{condition}" if condition else None
                if key is not None and key in self.by_condition:
                    location, status = self.by_condition[key], "200 OK"
                else:
                    location, status = f"{kind}/{next(self._ids)}/_history/1", "201 Created"
                    if key is not None:
                        self.by_condition[key] = location
                locations.append(location)
                entries.append({"response": {"status": status, "location": location}})
            self.answered.append(locations)
            return 200, {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


@contextmanager
def fhir_server() -> Iterator[FhirServer]:
    state = FhirServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                status, answer = state.take(body)
            except Exception as exc:  # an invalid Bundle: 400, as a server would
                status, answer = 400, {"resourceType": "OperationOutcome", "error": str(exc)}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def resources_of(bundle: Bundle, kind: str | None = None) -> list[Any]:
    """The resources of a Bundle's entries (of `kind` only, if given), untyped for the
    tests' attribute checks."""
    found = [e.resource for e in bundle.entry or [] if e.resource is not None]
    return [r for r in found if kind is None or r.get_resource_type() == kind]
