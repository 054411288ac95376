"""ES256 signing of seals: a Key Vault key in Azure, a P-256 PEM file locally.

`MANIFEST_SIGNING_KEY_ID` chooses:
- `https://<vault>.vault.azure.net/keys/<name>[/<version>]`: Key Vault, through
  azure-keyvault-keys' CryptographyClient (the app identity needs only `sign`);
- `file:<path>`: a P-256 private key in PEM (what `wa-archive dev` creates).

Signatures are the 64-byte r||s form (JWS / Key Vault's own), over SHA-256 of the
signed bytes. Verification needs only the public key (PEM or JWK) and `cryptography`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from archive.names import SETTING_MANIFEST_KEY_ID
from storage.settings import SettingError

FILE_SCHEME = "file:"
_COORD = 32  # P-256 coordinates and r, s are 32 bytes


class Signer(Protocol):
    @property
    def key_id(self) -> str: ...

    def sign(self, data: bytes) -> bytes:
        """ES256 over `data`: 64 bytes r||s."""
        ...

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def public_keys(self) -> list[ec.EllipticCurvePublicKey]:
        """Every version's public key: a rotated key still verifies older seals."""
        ...


def _raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(_COORD, "big") + s.to_bytes(_COORD, "big")


@dataclass(frozen=True)
class LocalSigner:
    """A P-256 private key held in memory (from a PEM file, or generated in a test)."""

    key: ec.EllipticCurvePrivateKey
    key_id: str

    def sign(self, data: bytes) -> bytes:
        return _raw(self.key.sign(data, ec.ECDSA(hashes.SHA256())))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    def public_keys(self) -> list[ec.EllipticCurvePublicKey]:
        return [self.key.public_key()]


def generate_key_file(path: Path) -> None:
    """Create a new P-256 key file (mode 600) unless one exists."""
    if path.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_key_file(path: Path, key_id: str | None = None) -> LocalSigner:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SettingError(f"cannot read the seal signing key file ({type(exc).__name__})"
                           ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SettingError("the seal signing key file is not a P-256 (ES256) private key")
    return LocalSigner(key, key_id or f"{FILE_SCHEME}{path.name}")


class KeyVaultSigner:
    """Signs remotely with a Key Vault key; the private key never leaves the vault."""

    def __init__(self, key_id: str, credential: Any) -> None:
        from azure.keyvault.keys.crypto import CryptographyClient

        self.key_id = key_id
        self._credential = credential
        self._client = CryptographyClient(key_id, credential)

    def sign(self, data: bytes) -> bytes:
        from azure.keyvault.keys.crypto import SignatureAlgorithm

        digest = hashlib.sha256(data).digest()
        signature = bytes(self._client.sign(SignatureAlgorithm.es256, digest).signature)
        if len(signature) != 2 * _COORD:
            raise RuntimeError("Key Vault returned an ES256 signature of unexpected length")
        return signature

    def _keys(self) -> tuple[Any, Any]:
        from azure.keyvault.keys import KeyClient, KeyVaultKeyIdentifier

        ident = KeyVaultKeyIdentifier(self.key_id)
        return KeyClient(ident.vault_url, self._credential), ident

    @staticmethod
    def _from_jwk(jwk: Any) -> ec.EllipticCurvePublicKey:
        # JsonWebKey sets its fields (x, y: the raw coordinates) dynamically.
        return public_key_from_jwk({"kty": "EC", "crv": "P-256",
                                    "x": _b64url(bytes(jwk.x or b"")),
                                    "y": _b64url(bytes(jwk.y or b""))})

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """Needs `get` (keys/read) on the key: the public half only."""
        client, ident = self._keys()
        return self._from_jwk(client.get_key(ident.name, ident.version).key)

    def public_keys(self) -> list[ec.EllipticCurvePublicKey]:
        """Every version (the key rotates yearly): needs keys/read, public halves only."""
        client, ident = self._keys()
        if ident.version:
            return [self.public_key()]
        return [self._from_jwk(client.get_key(ident.name, props.version).key)
                for props in client.list_properties_of_key_versions(ident.name)]


def signer_from_setting(value: str | None = None, credential: Any = None) -> Signer:
    """The signer `MANIFEST_SIGNING_KEY_ID` names (environment unless given)."""
    setting = (value if value is not None
               else os.environ.get(SETTING_MANIFEST_KEY_ID, "")).strip()
    if not setting:
        raise SettingError(f"app setting {SETTING_MANIFEST_KEY_ID} is not set")
    if setting.startswith(FILE_SCHEME):
        return load_key_file(Path(setting[len(FILE_SCHEME):]))
    if setting.startswith("https://") and "/keys/" in setting:
        if credential is None:
            from storage.clients import credential as default_credential

            credential = default_credential(None)
        return KeyVaultSigner(setting, credential)
    raise SettingError(
        f"app setting {SETTING_MANIFEST_KEY_ID} must be a Key Vault key URL or file:<path>"
    )


# --- verification and export (no Azure needed) --------------------------------------


def verify_es256(public: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
    if len(signature) != 2 * _COORD:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:_COORD], "big"),
                               int.from_bytes(signature[_COORD:], "big"))
    try:
        public.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def public_pem(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_pem(data: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not a P-256 public key")
    return key


def load_public_pems(data: bytes) -> list[ec.EllipticCurvePublicKey]:
    """Every key of a PEM bundle (one block per key version)."""
    marker = b"-----BEGIN PUBLIC KEY-----"
    blocks = [marker + part for part in data.split(marker)[1:]]
    if not blocks:
        raise ValueError("no PEM public key found")
    return [load_public_pem(block) for block in blocks]


def verify_any(keys: list[ec.EllipticCurvePublicKey], data: bytes, signature: bytes) -> bool:
    return any(verify_es256(key, data, signature) for key in keys)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(public: ec.EllipticCurvePublicKey, key_id: str | None = None) -> dict[str, str]:
    numbers = public.public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
           "x": _b64url(numbers.x.to_bytes(_COORD, "big")),
           "y": _b64url(numbers.y.to_bytes(_COORD, "big"))}
    if key_id:
        jwk["kid"] = key_id
    return jwk


def public_key_from_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("not a P-256 EC JWK")
    x = int.from_bytes(_unb64url(str(jwk["x"])), "big")
    y = int.from_bytes(_unb64url(str(jwk["y"])), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
