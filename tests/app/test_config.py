"""config.py: URL normalisation to psycopg2, precedence, every setting from the environment, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from yt_pubsub_handler import create_app
from yt_pubsub_handler.config import SETTING_NAMES, SETTINGS, ConfigError, Setting, load_config, normalise_database_url


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@h:5432/db",
        "postgresql://u:p@h:5432/db",
        "postgresql+psycopg2://u:p@h:5432/db",
        "  postgresql://u:p@h:5432/db\n",
    ],
)
def test_every_accepted_spelling_becomes_psycopg2(url: str) -> None:
    assert normalise_database_url(url) == "postgresql+psycopg2://u:p@h:5432/db"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite:///x.db", "h:5432/db", "postgresql+psycopg://u@h/db"])
def test_other_schemes_are_refused_with_the_expected_shape(url: str) -> None:
    with pytest.raises(ConfigError, match=r"PostgreSQL URL \(postgresql://"):
        normalise_database_url(url)


def test_missing_database_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is not set: export DATABASE_URL="):
        load_config({}, environ={})


def test_create_app_without_database_url_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app()


def test_environment_then_overrides() -> None:
    environ = {"DATABASE_URL": "postgres://env@h/db", "WEBSUB_SECRET": "env-secret", "WEBSUB_LEASE_SECONDS": "600"}
    config = load_config({"WEBSUB_SECRET": "override"}, environ=environ)
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://env@h/db"
    assert config["WEBSUB_SECRET"] == "override"
    assert config["WEBSUB_LEASE_SECONDS"] == 600
    assert config["WEBSUB_HUB_URL"] == "https://pubsubhubbub.appspot.com/subscribe"
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True


# --- every setting: one declaration, read from the environment, checked at start-up ----------------------------

URL = "postgresql://u@h/db"
PACKAGE = Path(__file__).resolve().parents[2] / "yt_pubsub_handler"
README = Path(__file__).resolve().parents[2] / "README.md"

# One environment value per setting and what the app must make of it. A new setting without a row fails below.
FROM_ENVIRONMENT = {
    "DATABASE_URL": ("postgres://env@h:5432/db", "postgresql+psycopg2://env@h:5432/db"),
    "DB_CONNECT_TIMEOUT": ("9", 9),
    "MIGRATIONS_DIR": ("/tmp/some/migrations/", "/tmp/some/migrations"),
    "MIGRATION_LOCK_TIMEOUT": ("2.5", 2.5),
    "MIGRATION_TIME_LIMIT": ("300", 300.0),
    "MIGRATION_LOCK_RETRY_SECONDS": ("15", 15.0),
    "WEBSUB_HUB_URL": (" http://127.0.0.1:9999/hub ", "http://127.0.0.1:9999/hub"),
    "WEBSUB_CALLBACK_URL": ("https://example.test/websub", "https://example.test/websub"),
    "WEBSUB_SECRET": (" kept as is ", " kept as is "),
    "WEBSUB_LEASE_SECONDS": ("600", 600),
    "WEBSUB_MAX_BODY_BYTES": ("2048", 2048),
    "WEBSUB_HUB_CONNECT_TIMEOUT": ("1.5", 1.5),
    "WEBSUB_HUB_READ_TIMEOUT": ("4", 4.0),
    "WEBSUB_RENEW_WITHIN_SECONDS": ("3600", 3600),
    "WEBSUB_RETRY_UNVERIFIED_SECONDS": ("60", 60),
    "API_PAGE_SIZE": ("7", 7),
    "API_MAX_PAGE_SIZE": ("70", 70),
}


def test_the_table_above_covers_every_setting() -> None:
    assert sorted(FROM_ENVIRONMENT) == sorted(SETTING_NAMES)


@pytest.mark.parametrize("name", sorted(FROM_ENVIRONMENT))
def test_each_setting_is_read_from_the_environment(name: str) -> None:
    raw, expected = FROM_ENVIRONMENT[name]
    config = load_config(environ={"DATABASE_URL": URL, name: raw})
    assert config[name] == expected
    assert type(config[name]) is type(expected)
    default = next(s.default for s in SETTINGS if s.name == name)
    assert default != expected  # the environment changed something


def test_unset_and_empty_mean_the_default_and_none_overrides_the_environment() -> None:
    environ = {"DATABASE_URL": URL, "WEBSUB_MAX_BODY_BYTES": "", "WEBSUB_SECRET": "exported"}
    config = load_config({"WEBSUB_SECRET": None, "API_PAGE_SIZE": None}, environ=environ)
    defaults = {s.name: s.default for s in SETTINGS}
    assert config["WEBSUB_MAX_BODY_BYTES"] == defaults["WEBSUB_MAX_BODY_BYTES"]
    assert config["API_PAGE_SIZE"] == defaults["API_PAGE_SIZE"]
    assert config["WEBSUB_SECRET"] is None  # a test asking for no secret must not get the developer's


def test_overrides_may_be_typed_values() -> None:
    config = load_config({"MIGRATION_LOCK_TIMEOUT": 0.5, "DB_CONNECT_TIMEOUT": 2}, environ={"DATABASE_URL": URL})
    assert (config["MIGRATION_LOCK_TIMEOUT"], config["DB_CONNECT_TIMEOUT"]) == (0.5, 2)
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"connect_timeout": 2}


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("WEBSUB_MAX_BODY_BYTES", "1MB", "WEBSUB_MAX_BODY_BYTES must be a whole number, got '1MB'"),
        ("API_PAGE_SIZE", "0", "API_PAGE_SIZE must be at least 1"),
        ("DB_CONNECT_TIMEOUT", "1.5", "DB_CONNECT_TIMEOUT must be a whole number"),
        ("MIGRATION_LOCK_TIMEOUT", "-1", "MIGRATION_LOCK_TIMEOUT must be more than 0"),
        ("WEBSUB_HUB_READ_TIMEOUT", "soon", "WEBSUB_HUB_READ_TIMEOUT must be a number of seconds"),
        ("API_PAGE_SIZE", "500", "API_PAGE_SIZE \\(500\\) is larger than API_MAX_PAGE_SIZE \\(200\\)"),
    ],
)
def test_a_bad_value_stops_the_app_naming_the_variable(monkeypatch, name: str, raw: str, message: str) -> None:
    monkeypatch.setenv("DATABASE_URL", URL)
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError, match=message):
        create_app()


def test_the_package_reads_only_declared_settings_and_repeats_no_default() -> None:
    """``config.get(KEY, default)`` would be a second default; an undeclared key would have none at all."""
    flask_keys = {"SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_ENGINE_OPTIONS", "TESTING"}
    read: set[str] = set()
    for path in PACKAGE.glob("*.py"):
        source = path.read_text()
        assert ".config.get(" not in source, f"{path.name} reads a setting with its own default"
        read |= set(re.findall(r"config\[\"([A-Z_]+)\"\]", source))
    assert read - flask_keys <= set(SETTING_NAMES)
    assert {"WEBSUB_MAX_BODY_BYTES", "API_PAGE_SIZE", "MIGRATION_LOCK_TIMEOUT"} <= read


def _readme_settings() -> dict[str, str]:
    section = README.read_text().split("### Configuration and secrets", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def _as_documented(setting: Setting) -> str:
    if setting.default is None:
        return "unset"
    if setting.name == "MIGRATIONS_DIR":
        return "`migrations/` next to the package"
    value = setting.default
    return f"`{int(value) if isinstance(value, float) and value.is_integer() else value}`"


def test_the_readme_lists_every_setting_with_its_default() -> None:
    assert _readme_settings() == {s.name: _as_documented(s) for s in SETTINGS}
