"""Credentials profiles: from variables or files, errors that name variables, never values."""

from __future__ import annotations

from pathlib import Path

import pytest
from vigie_prober.credentials import PREFIX, CredentialStore, profile_key, variable
from vigie_prober.errors import AccessFailed, CredentialsMissing, ProberError

SECRET = "s3cr3t-Router-pw"
PASSPHRASE = "key-passphrase-42"


@pytest.mark.parametrize(
    ("profile", "key"),
    [
        ("lab-router", "LAB_ROUTER"),
        ("lab-rebond", "LAB_REBOND"),
        ("cpe.orange/paris", "CPE_ORANGE_PARIS"),
        ("  tacacs  ", "TACACS"),
        ("a--b__c", "A_B_C"),
    ],
)
def test_profile_names_are_normalised_for_variables(profile: str, key: str) -> None:
    assert profile_key(profile) == key
    assert variable(profile, "PASSWORD") == f"{PREFIX}{key}__PASSWORD"


def test_username_and_password_from_the_environment() -> None:
    store = CredentialStore(
        {
            "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__USERNAME": "vigie",
            "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__PASSWORD": SECRET,
        }
    )
    found = store.get("lab-router")

    assert found.profile == "lab-router"
    assert found.username == "vigie"
    assert found.password is not None and found.password.get_secret_value() == SECRET
    assert found.key_file is None and not found.trust_on_first_use
    assert store.configured() == {"LAB_ROUTER"}


def test_secrets_from_files_first_line(tmp_path: Path) -> None:
    (tmp_path / "user").write_text("tech\n", encoding="utf-8")
    (tmp_path / "password").write_text(f"{SECRET}\nignored\n", encoding="utf-8")
    (tmp_path / "passphrase").write_text(PASSPHRASE, encoding="utf-8")
    store = CredentialStore(
        {
            "VIGIE_PROBER_CREDENTIALS__REBOND__USERNAME_FILE": str(tmp_path / "user"),
            "VIGIE_PROBER_CREDENTIALS__REBOND__PASSWORD_FILE": str(tmp_path / "password"),
            "VIGIE_PROBER_CREDENTIALS__REBOND__KEY_FILE": str(tmp_path / "id_ed25519"),
            "VIGIE_PROBER_CREDENTIALS__REBOND__PASSPHRASE_FILE": str(tmp_path / "passphrase"),
            "VIGIE_PROBER_CREDENTIALS__REBOND__TRUST_ON_FIRST_USE": "yes",
        }
    )
    found = store.get("rebond")

    assert found.username == "tech"
    assert found.password is not None and found.password.get_secret_value() == SECRET
    assert found.passphrase is not None and found.passphrase.get_secret_value() == PASSPHRASE
    assert found.key_file == tmp_path / "id_ed25519"
    assert found.trust_on_first_use


def test_a_rotated_file_is_read_at_the_next_lookup(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("old-password\n", encoding="utf-8")
    store = CredentialStore(
        {
            "VIGIE_PROBER_CREDENTIALS__CPE__USERNAME": "vigie",
            "VIGIE_PROBER_CREDENTIALS__CPE__PASSWORD_FILE": str(secret),
        }
    )
    assert store.get("cpe").password.get_secret_value() == "old-password"  # type: ignore[union-attr]
    secret.write_text("new-password\n", encoding="utf-8")
    assert store.get("cpe").password.get_secret_value() == "new-password"  # type: ignore[union-attr]


def test_a_key_alone_is_enough() -> None:
    store = CredentialStore(
        {
            "VIGIE_PROBER_CREDENTIALS__CPE__USERNAME": "vigie",
            "VIGIE_PROBER_CREDENTIALS__CPE__KEY_FILE": "/etc/vigie/id_ed25519",
        }
    )
    found = store.get("cpe")
    assert found.password is None and found.key_file == Path("/etc/vigie/id_ed25519")


def test_a_missing_profile_names_the_variables_to_set() -> None:
    with pytest.raises(CredentialsMissing) as missing:
        CredentialStore({}).get("lab-router")

    error = missing.value
    assert isinstance(error, AccessFailed) and isinstance(error, ProberError)
    assert error.profile == "lab-router"
    assert error.variables == (
        "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__USERNAME",
        "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__USERNAME_FILE",
    )
    assert "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__USERNAME" in str(error)
    assert error.layer == "access" and not error.retriable


def test_a_profile_without_password_nor_key_is_refused_without_showing_values() -> None:
    with pytest.raises(CredentialsMissing) as missing:
        CredentialStore({"VIGIE_PROBER_CREDENTIALS__CPE__USERNAME": "vigie"}).get("cpe")

    assert "VIGIE_PROBER_CREDENTIALS__CPE__PASSWORD" in str(missing.value)
    assert "VIGIE_PROBER_CREDENTIALS__CPE__KEY_FILE" in str(missing.value)
    assert "vigie" not in str(missing.value).replace("VIGIE", "")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"VIGIE_PROBER_CREDENTIALS__CPE__PASSWORD_FILE": "/nowhere/password"}, "not both"),
        ({"VIGIE_PROBER_CREDENTIALS__CPE__TRUST_ON_FIRST_USE": SECRET}, "true or false"),
    ],
)
def test_ambiguous_or_wrong_settings_are_refused_without_their_values(
    extra: dict[str, str], expected: str
) -> None:
    env = {
        "VIGIE_PROBER_CREDENTIALS__CPE__USERNAME": "vigie",
        "VIGIE_PROBER_CREDENTIALS__CPE__PASSWORD": SECRET,
    } | extra
    with pytest.raises(CredentialsMissing, match=expected) as refused:
        CredentialStore(env).get("cpe")
    assert SECRET not in str(refused.value) and SECRET not in repr(refused.value)


@pytest.mark.parametrize("content", [None, "", "\nsecond line"])
def test_an_unreadable_or_empty_file_is_refused(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    env = {
        "VIGIE_PROBER_CREDENTIALS__CPE__USERNAME": "vigie",
        "VIGIE_PROBER_CREDENTIALS__CPE__PASSWORD_FILE": str(path),
    }
    with pytest.raises(CredentialsMissing, match="PASSWORD_FILE") as refused:
        CredentialStore(env).get("cpe")
    assert refused.value.variables == ("VIGIE_PROBER_CREDENTIALS__CPE__PASSWORD_FILE",)


def test_reprs_never_show_a_secret() -> None:
    env = {
        "VIGIE_PROBER_CREDENTIALS__CPE__USERNAME": "vigie",
        "VIGIE_PROBER_CREDENTIALS__CPE__PASSWORD": SECRET,
        "VIGIE_PROBER_CREDENTIALS__CPE__PASSPHRASE": PASSPHRASE,
        "VIGIE_PROBER_CREDENTIALS__CPE__KEY_FILE": "/k",
    }
    store = CredentialStore(env)
    found = store.get("cpe")

    for text in (repr(found), str(found), repr(store), f"{found}", str(found.password)):
        assert SECRET not in text and PASSPHRASE not in text
    assert "**********" in repr(found)
    assert repr(store) == "CredentialStore(profiles=['CPE'])"
