"""Pure code: sealed message bodies (domain/crypto.py) and checksums (domain/bodies.py)."""

from __future__ import annotations

import base64
import os

import pytest

from sqlqueue import errors
from sqlqueue.config import Settings
from sqlqueue.domain.bodies import BodyCodec, checksum
from sqlqueue.domain.crypto import Keyring


def key_spec(key_id: str, key: bytes | None = None) -> str:
    """An ``id:base64key`` entry (a fresh random key unless given)."""
    return f"{key_id}:{base64.b64encode(key or os.urandom(32)).decode()}"


BODY = '{"secret":"attack at dawn","n":[1,2.5,null]}'


def test_sealed_text_hides_the_body_and_names_its_key() -> None:
    ring = Keyring.parse([key_spec("k1")])
    sealed = ring.seal(BODY)
    assert sealed.startswith("!aes256gcm:k1:")
    assert "attack" not in sealed and "secret" not in sealed
    assert sealed.isascii()
    assert ring.open(sealed) == BODY


def test_every_seal_differs() -> None:
    """A fresh salt and nonce per body: equal bodies do not look equal at rest."""
    ring = Keyring.parse([key_spec("k1")])
    assert ring.seal(BODY) != ring.seal(BODY)


def test_rotation_seals_with_the_first_key_and_opens_with_any() -> None:
    old, new = key_spec("old"), key_spec("new")
    sealed_old = Keyring.parse([old]).seal(BODY)
    rotated = Keyring.parse([new, old])
    assert rotated.active == "new"
    assert rotated.open(sealed_old) == BODY
    assert rotated.seal(BODY).startswith("!aes256gcm:new:")


def test_a_missing_key_is_named() -> None:
    sealed = Keyring.parse([key_spec("k1")]).seal(BODY)
    with pytest.raises(errors.BodyCipherFailed, match="key 'k1', which is not configured"):
        Keyring.parse([key_spec("k2")]).open(sealed)
    with pytest.raises(errors.BodyCipherFailed, match="not configured"):
        Keyring().open(sealed)


def test_a_wrong_key_under_the_same_id_is_refused_not_garbage() -> None:
    sealed = Keyring.parse([key_spec("k1")]).seal(BODY)
    with pytest.raises(errors.BodyCipherFailed, match="does not decrypt with the configured key"):
        Keyring.parse([key_spec("k1")]).open(sealed)


@pytest.mark.parametrize(
    "alter",
    [
        lambda s: s[:-6] + ("A" if s[-6] != "A" else "B") + s[-5:],  # ciphertext or tag
        lambda s: s.replace("!aes256gcm:k1:", "!aes256gcm:k2:"),  # the header is authenticated
        lambda s: s[:-4],  # truncated
        lambda s: s + "*",  # not base64
    ],
)
def test_altered_rows_are_refused(alter: object) -> None:
    key = os.urandom(32)
    ring = Keyring.parse([key_spec("k1", key), key_spec("k2", key)])
    sealed = ring.seal(BODY)
    with pytest.raises(errors.BodyCipherFailed):
        ring.open(alter(sealed))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["k1"], "entry 1 is not ID:BASE64KEY"),
        (["k 1:" + "A" * 44], "entry 1 is not ID:BASE64KEY"),
        (["x" * 33 + ":" + "A" * 44], "entry 1 is not ID:BASE64KEY"),
        ([key_spec("k1"), "k2:c2hvcnQ="], r"entry 2 \(k2\): the key must be 32 bytes"),
        (["k1:not base64!"], "the key must be 32 bytes"),
        ([key_spec("k1"), key_spec("k1")], "repeat the id k1"),
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(specs: list[str], message: str) -> None:
    with pytest.raises(errors.BadEncryptionKeys, match=message) as caught:
        Keyring.parse(specs)
    for spec in specs:
        secret = spec.partition(":")[2]
        assert not secret or secret not in str(caught.value)


def test_keys_come_from_the_environment_or_a_toml_list(tmp_path: pytest.TempPathFactory) -> None:
    first, second = key_spec("a"), key_spec("b")
    from_env = Settings.load({"SQLQUEUE_ENCRYPTION_KEYS": f"{first}, {second}"})
    assert from_env.encryption_keys == (first, second)
    path = tmp_path / "conf.toml"  # type: ignore[operator]
    path.write_text(f'encryption_keys = ["{first}"]\nenable_checksum = true\n')
    from_file = Settings.load({}, config_file=str(path))
    assert (from_file.encryption_keys, from_file.enable_checksum) == ((first,), True)
    assert first.partition(":")[2] not in repr(from_file)
    with pytest.raises(errors.BadEncryptionKeys):
        Settings.load({"SQLQUEUE_ENCRYPTION_KEYS": "a:short"})


def test_codec_seals_only_when_asked_and_needs_a_key() -> None:
    codec = BodyCodec(Keyring.parse([key_spec("k1")]))
    assert codec.store([BODY], encrypt=False) == [BODY]
    [sealed] = codec.store([BODY], encrypt=True)
    assert (
        codec.load(sealed) == codec.load(BODY) == {"secret": "attack at dawn", "n": [1, 2.5, None]}
    )
    with pytest.raises(errors.BodyCipherFailed, match="no encryption key is configured"):
        BodyCodec().store([BODY], encrypt=True)
    assert not BodyCodec().can_encrypt and codec.can_encrypt


def test_checksum_is_zaqars() -> None:
    """Zaqar's api-ref samples: MD5 of the body as Python's json.dumps writes it."""
    assert checksum({"event": "BackupStarted"}) == "MD5:82eb2714b7c0237d373947c046cac78d"
    progress = {"current_bytes": "0", "event": "BackupProgress", "total_bytes": "99614720"}
    assert checksum(progress) == "MD5:abf7213555626e29c3cb3e5dc58b3515"
    assert BodyCodec(checksums=True).checksum(progress) == checksum(progress)
    assert BodyCodec().checksum(progress) is None
