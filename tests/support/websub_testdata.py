"""Constants shared by tests/app (conftest.py cannot be imported from test modules without packages)."""

SECRET = "test-secret"  # what tests/conftest.py's app factories configure as WEBSUB_SECRET
CHANNEL = "UCaaaaaaaaaaaaaaaaaaaaaa"
OTHER_CHANNEL = "UCbbbbbbbbbbbbbbbbbbbbbb"
