"""The hub's TLS context for the broker (`mqtts://`), from its [broker] settings.

Its own small module: the readings receiver process (hub.readings_receiver) builds it too,
without importing the rest of ingest."""

from __future__ import annotations

import ssl

from hub.config import BrokerSettings


def tls_context(b: BrokerSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=None if b.ca_file is None else str(b.ca_file))
    if b.cert_file is not None:
        ctx.load_cert_chain(str(b.cert_file), None if b.key_file is None else str(b.key_file))
    if b.tls_insecure:
        ctx.check_hostname = False
    return ctx
