"""config.py: URL normalisation to psycopg2, precedence, and the error when DATABASE_URL is missing."""

from __future__ import annotations

import pytest

from yt_pubsub_handler import create_app
from yt_pubsub_handler.config import ConfigError, load_config, normalise_database_url


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
