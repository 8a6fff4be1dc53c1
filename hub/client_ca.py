"""The hub's certificate authority for dwellings' client certificates (`mz provision
dwelling --cert`).

A small CA of its own, made on first use under the hub's data directory:
`<data.dir>/ca/ca.crt` (the certificate, public: the broker's TLS listener trusts it for
client certificates) and `<data.dir>/ca/ca.key` (mode 0600, in a 0700 directory). The key
must never leave the hub: whoever has it can mint a certificate for any dwelling. It is not
encrypted at rest; the data directory's permissions (and the disk's encryption) protect it,
as they protect the registry.

A client certificate is a second factor, never a login on its own: the broker still
checks the dwelling's password, so `mz provision revoke` (which disables the account)
shuts a dwelling out however long its certificate is valid, and no revocation list is
needed. EC P-256 keys, SHA-256 signatures; the subject's CN is the dwelling id.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.errors import HubError

CA_DIR: Final = "ca"
CA_CERT: Final = "ca.crt"
CA_KEY: Final = "ca.key"
CA_NAME: Final = "Mobiele Zorg dwellings CA"
CA_VALIDITY: Final = timedelta(days=20 * 365)
# A dwelling's certificate: re-issued with `mz provision dwelling ID --reissue --cert`.
CLIENT_VALIDITY: Final = timedelta(days=5 * 365)
# Issued certificates start a little in the past: a Pi whose clock is a few minutes
# behind still accepts nothing wrong, and the broker sees a valid certificate.
BACKDATE: Final = timedelta(minutes=10)


class CaError(HubError):
    """The hub's CA could not be read, made or used."""


@dataclass(frozen=True, slots=True)
class IssuedCert:
    cert_pem: bytes
    key_pem: bytes  # PKCS#8, unencrypted: the bundle writes it with mode 0600


class ClientCA:
    """The CA's certificate and key, loaded (or made) from `directory`."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self._cert = cert
        self._key = key

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def open(cls, directory: Path, now: datetime) -> ClientCA:
        """The CA in `directory`, made there first if it has none yet."""
        cert_path, key_path = directory / CA_CERT, directory / CA_KEY
        if not key_path.exists():
            _create(directory, now)
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CaError(f"cannot read the hub's CA in {directory}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CaError(f"{key_path} is not an EC key")
        if cert.public_key() != key.public_key():
            raise CaError(f"{cert_path} and {key_path} do not belong together")
        return cls(cert, key)

    def issue(self, dwelling: str, now: datetime) -> IssuedCert:
        """A client certificate for `dwelling` (CN = its id) with a new key."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dwelling)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CLIENT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return IssuedCert(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _create(directory: Path, now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Made whole in a private directory beside it, then renamed into place: the CA is
    # there complete or not at all, and of two first uses at once only one makes it.
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".ca-", dir=directory.parent))  # mode 0700
        (tmp / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(tmp / CA_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
    except OSError as exc:
        raise CaError(f"cannot make the hub's CA in {directory}: {exc}") from exc
    try:
        tmp.rename(directory)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (directory / CA_KEY).exists():  # not another process's CA: a real failure
            raise CaError(f"cannot make the hub's CA in {directory}: {exc}") from exc
