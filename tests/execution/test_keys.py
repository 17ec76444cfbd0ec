"""The signing key: decrypted from a keystore v3 file or read from a setting, and never shown."""

from __future__ import annotations

import json
import pickle

import pytest
from eth_keyfile import create_keyfile_json

from tests.execution.conftest import PRIVATE_KEY, PUBLIC_KEY
from zk_pipeline.execution.keys import KeyUnavailable, SigningKey, load_keystore, signing_key
from zk_pipeline.settings import load_settings

PASSWORD = "correct horse battery staple 42"


def keystore(tmp_path, password: str = PASSWORD, key: int = PRIVATE_KEY, kdf: str = "pbkdf2"):
    """A keystore v3 file (starkli's use scrypt; pbkdf2 with few rounds keeps the other tests quick)."""
    path = tmp_path / "account.keystore.json"
    document = create_keyfile_json(key.to_bytes(32, "big"), password.encode(), kdf=kdf,
                                   iterations=None if kdf == "scrypt" else 1000)
    path.write_text(json.dumps(document))
    return path


def secret_spellings(key: int = PRIVATE_KEY) -> list[str]:
    return [hex(key), hex(key)[2:], hex(key)[2:].upper(), str(key)]


def test_a_keystore_decrypts_to_the_key_and_the_key_shows_only_its_public_half(tmp_path):
    key = load_keystore(keystore(tmp_path, kdf="scrypt"), PASSWORD)
    assert key.public_key == PUBLIC_KEY
    for shown in (repr(key), str(key), f"{key}"):
        assert hex(PUBLIC_KEY) in shown and not any(s in shown for s in secret_spellings())
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):  # no __dict__ to print: the key sits in a slot
        vars(key)


def test_a_wrong_password_or_a_bad_file_is_named_without_the_secret(tmp_path):
    path = keystore(tmp_path)
    with pytest.raises(KeyUnavailable, match="wrong password") as err:
        load_keystore(path, "not the password")
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert PASSWORD not in str(err.value) and str(path) in str(err.value)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(KeyUnavailable, match="not JSON"):
        load_keystore(tmp_path / "junk.json", PASSWORD)
    with pytest.raises(KeyUnavailable, match="cannot read"):
        load_keystore(tmp_path / "missing.json", PASSWORD)


def test_the_settings_choose_the_keystore_or_the_key(tmp_path):
    path = str(keystore(tmp_path))
    from_file = signing_key(load_settings({"ZKP_EXECUTION_KEYSTORE": path,
                                           "ZKP_EXECUTION_KEYSTORE_PASSWORD": PASSWORD}).execution)
    from_setting = signing_key(load_settings({"ZKP_EXECUTION_PRIVATE_KEY": hex(PRIVATE_KEY)}).execution)
    assert from_file.public_key == from_setting.public_key == PUBLIC_KEY
    for env, reason in [({}, "no signing key"), ({"ZKP_EXECUTION_KEYSTORE": path}, "PASSWORD is not"),
                        ({"ZKP_EXECUTION_KEYSTORE": path, "ZKP_EXECUTION_KEYSTORE_PASSWORD": PASSWORD,
                          "ZKP_EXECUTION_PRIVATE_KEY": "0x1"}, "not both"),
                        ({"ZKP_EXECUTION_PRIVATE_KEY": "0xnothex"}, "not a hex number")]:
        with pytest.raises(KeyUnavailable, match=reason) as err:
            signing_key(load_settings(env).execution)
        assert "nothex" not in str(err.value)
    with pytest.raises(KeyUnavailable, match="not a Stark private key"):
        SigningKey(2**252)
