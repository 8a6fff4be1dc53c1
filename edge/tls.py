"""The edge's TLS context for the broker: the CA it trusts (`ca_file`, else the system's)
and, when the broker asks for one, the dwelling's client certificate (`cert_file`,
`key_file`; issued by the hub's CA, `mz provision dwelling --cert`)."""

from __future__ import annotations

import ssl

from edge.config import EdgeSettings
from edge.errors import ConfigError


def client_context(settings: EdgeSettings) -> ssl.SSLContext | None:
    """None for a plain mqtt:// broker; ConfigError if a file cannot be used."""
    if not settings.tls:
        return None
    try:
        ctx = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file is not None else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("ca_file", f"{settings.ca_file}: {_why(exc)}") from exc
    if settings.cert_file is not None:
        key = str(settings.key_file) if settings.key_file is not None else None
        try:
            ctx.load_cert_chain(str(settings.cert_file), key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "cert_file", f"{settings.cert_file} (key {key or 'in the same file'}): {_why(exc)}"
            ) from exc
    return ctx


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)
