"""The account's signing key: from an encrypted keystore or a setting, and never shown.

The keystore is the Ethereum-style v3 JSON (scrypt or pbkdf2, AES-128-CTR, a MAC) that Starknet
tools such as starkli write; ``eth-keyfile`` decrypts it with ``ZKP_EXECUTION_KEYSTORE_PASSWORD``.
Without a keystore, ``ZKP_EXECUTION_PRIVATE_KEY`` holds the key itself (hex, ``0x`` optional).

A :class:`SigningKey` shows only its public key: its ``repr``/``str`` name the public key, it cannot
be pickled, and every error raised here is worded without the key or the password (and without
chaining the exception that might quote them). It signs through :class:`KeySigner`, a starknet-py
signer that holds the key object, not a ``KeyPair`` (whose dataclass ``repr`` prints the secret).
"""

from __future__ import annotations

import json
from pathlib import Path

from starknet_py.constants import EC_ORDER
from starknet_py.hash.utils import message_signature, private_to_stark_key
from starknet_py.net.models.transaction import AccountTransaction
from starknet_py.net.signer.base_signer import BaseSigner
from starknet_py.utils.typed_data import TypedData

from zk_pipeline.settings import ExecutionSettings


class KeyUnavailable(Exception):
    """No usable signing key; the message never contains the key or the password."""


class SigningKey:
    """A Stark private key that can sign and never shows itself."""

    __slots__ = ("__secret", "public_key")

    def __init__(self, secret: int) -> None:
        if not 0 < secret < EC_ORDER:
            raise KeyUnavailable("the signing key is not a Stark private key (an integer in 1..curve order - 1)")
        self.__secret = secret
        self.public_key: int = private_to_stark_key(secret)

    def sign(self, message_hash: int) -> list[int]:
        r, s = message_signature(msg_hash=message_hash, priv_key=self.__secret)
        return [r, s]

    def __repr__(self) -> str:
        return f"SigningKey(public_key={hex(self.public_key)})"

    __str__ = __repr__

    def __reduce__(self):  # no copy of the key in a pickle, a Dagster output or a cache
        raise TypeError("a signing key cannot be serialised")


class KeySigner(BaseSigner):
    """starknet-py's signer interface over a :class:`SigningKey`, for one chain."""

    def __init__(self, key: SigningKey, chain_id: int) -> None:
        self._key = key
        self.chain_id = chain_id

    @property
    def public_key(self) -> int:
        return self._key.public_key

    def sign_transaction(self, transaction: AccountTransaction) -> list[int]:
        return self._key.sign(transaction.calculate_hash(self.chain_id))

    def sign_message(self, typed_data: TypedData, account_address: int) -> list[int]:
        return self._key.sign(typed_data.message_hash(account_address))


def _parse_secret(text: str) -> int:
    try:
        return int(text.strip(), 16)  # 0x optional, as starkli prints keys
    except ValueError:
        raise KeyUnavailable("ZKP_EXECUTION_PRIVATE_KEY is not a hex number") from None


def load_keystore(path: Path, password: str) -> SigningKey:
    """Decrypt a keystore v3 file; ``KeyUnavailable`` (naming the file, not the secret) if it cannot be."""
    from eth_keyfile import decode_keyfile_json

    try:
        document = json.loads(Path(path).read_text())
    except OSError as exc:
        raise KeyUnavailable(f"cannot read the keystore {path}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:
        raise KeyUnavailable(f"the keystore {path} is not JSON") from None
    try:
        secret = decode_keyfile_json(document, password.encode())
    except Exception:  # wrong password (MAC mismatch) or not a v3 keystore: say which file, nothing else
        raise KeyUnavailable(f"cannot decrypt the keystore {path}: wrong password or not a keystore v3 file") from None
    return SigningKey(int.from_bytes(secret, "big"))


def signing_key(settings: ExecutionSettings) -> SigningKey:
    """The key the settings name: the keystore (with its password), else the private key setting."""
    if settings.keystore is not None:
        if settings.private_key is not None:
            raise KeyUnavailable("set ZKP_EXECUTION_KEYSTORE or ZKP_EXECUTION_PRIVATE_KEY, not both")
        if settings.keystore_password is None:
            raise KeyUnavailable("ZKP_EXECUTION_KEYSTORE is set but ZKP_EXECUTION_KEYSTORE_PASSWORD is not")
        return load_keystore(settings.keystore, settings.keystore_password.get_secret_value())
    if settings.private_key is not None:
        return SigningKey(_parse_secret(settings.private_key.get_secret_value()))
    raise KeyUnavailable("no signing key: set ZKP_EXECUTION_KEYSTORE (and ZKP_EXECUTION_KEYSTORE_PASSWORD) "
                         "or ZKP_EXECUTION_PRIVATE_KEY")
