"""The WebSub callback under hostile input: forgeries, XML attacks, replays and property-based fuzzing.

Invariants proven here, on real PostgreSQL:
- nothing unsigned (or wrongly signed) is ever stored, in any table;
- XXE and entity-expansion bodies are refused with a 4xx before any entity is resolved, even when signed;
- replaying one notification 1,000 times (4 threads at once) leaves exactly one row and reports one write;
- no input, in the body, the path or the query string, makes the callback answer 5xx.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yt_pubsub_handler.extensions import db
from yt_pubsub_handler.feed import topic_for
from yt_pubsub_handler.feed_samples import SampleDeletion, SampleVideo, build_notification, signed_headers
from yt_pubsub_handler.models import Channel, Subscription, SubscriptionState

SECRET = "test-secret"  # tests/conftest.py's make_app
CHANNEL = "UChostile000000000000000"
OTHER = "UCother00000000000000000"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
FUZZ_EXAMPLES = 150
SOAK_EXAMPLES = 2000

_TABLES = ("channels", "videos", "subscriptions")


@pytest.fixture
def websub(app):
    """A subscribed channel; returns (client, snapshot) where snapshot() is the full content of every table."""
    with app.app_context():
        for channel_id in (CHANNEL, OTHER):
            db.session.add(Channel(id=channel_id))
            db.session.add(
                Subscription(
                    channel_id=channel_id,
                    topic_url=topic_for(channel_id),
                    callback_url=f"http://127.0.0.1:8000/websub/{channel_id}",
                    state=SubscriptionState.ACTIVE,
                    lease_seconds=432000,
                    expires_at=datetime.now(UTC) + timedelta(days=5),
                )
            )
        db.session.commit()

    def snapshot() -> tuple:
        with app.app_context():
            state = tuple(
                db.session.execute(
                    sa.text(f"SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM {table} t")
                ).scalar_one()
                for table in _TABLES
            )
            db.session.rollback()
            return state

    return app.test_client(), snapshot


def _video_rows(app) -> list:
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT id, channel_id, title FROM videos ORDER BY id")).all()
        db.session.rollback()
        return rows


def _notification() -> bytes:
    video = SampleVideo("replay00001", CHANNEL, title="Replayed", author="Hostile", published=T0, updated=T0)
    return build_notification([video], [SampleDeletion("nothere0001", CHANNEL, T0)])


# --- forgeries ---------------------------------------------------------------------------------------------------


def test_forged_and_missing_signatures_are_stored_nowhere(websub) -> None:
    client, snapshot = websub
    body = _notification()
    good = signed_headers(body, SECRET, CHANNEL)["X-Hub-Signature"]
    forged = [
        None,
        "",
        "sha1",
        "sha1=",
        "sha1=" + "0" * 40,
        "sha256=" + "f" * 64,
        "md5=" + "0" * 32,
        good[:-1] + ("0" if good[-1] != "0" else "1"),  # one hex digit off
        good + "00",
        "sha1=" + good.split("=", 1)[1].upper() + " ",  # right digest with trailing junk is still the digest
        signed_headers(body, "guessed-master-secret", CHANNEL)["X-Hub-Signature"],
        signed_headers(body, SECRET, OTHER)["X-Hub-Signature"],  # a signature valid for another channel
        "sha1=" + "é" * 40,
        "sha1=" + good.split("=", 1)[1] + "=sha1",
    ]
    before = snapshot()
    statuses = []
    for header in forged:
        headers = {"Content-Type": "application/atom+xml"}
        if header is not None:
            headers["X-Hub-Signature"] = header
        statuses.append(client.post(f"/websub/{CHANNEL}", data=body, headers=headers).status_code)
    # Upper-case hex with surrounding whitespace is the correct digest: accepted, as hex is case-insensitive.
    accepted = [i for i, status in enumerate(statuses) if status == 200]
    assert accepted == [9]
    assert all(status == 202 for i, status in enumerate(statuses) if i != 9)
    after_valid_one = snapshot()
    assert before != after_valid_one
    # Now the forged ones again, after data exists: still nothing changes.
    for header in forged[:9]:
        headers = {} if header is None else {"X-Hub-Signature": header}
        changed = body.replace(b"Replayed", b"Forged!!")
        assert client.post(f"/websub/{CHANNEL}", data=changed, headers=headers).status_code == 202
    assert snapshot() == after_valid_one


def test_signature_of_another_body_does_not_carry_over(websub) -> None:
    client, snapshot = websub
    body = _notification()
    headers = signed_headers(body, SECRET, CHANNEL)
    tampered = body.replace(b"Replayed", b"Tampered")
    before = snapshot()
    assert client.post(f"/websub/{CHANNEL}", data=tampered, headers=headers).status_code == 202
    assert snapshot() == before


# --- XML attacks -------------------------------------------------------------------------------------------------


@pytest.fixture
def canary() -> tuple[str, list]:
    """An HTTP server that records every request: an XXE that resolved would show up here."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY leak "leaked">')

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def _attacks(canary_url: str) -> dict[str, bytes]:
    feed_open = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:yt="http://www.youtube.com/xml/schemas/2015">'
        f"<entry><yt:videoId>attack00001</yt:videoId><yt:channelId>{CHANNEL}</yt:channelId>"
    )
    feed_close = "<author><name>x</name></author></entry></feed>"
    lol = '<!ENTITY a0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    return {
        "xxe-file": f'<!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]>{feed_open}<title>&x;</title>{feed_close}',
        "xxe-http": f'<!DOCTYPE feed [<!ENTITY x SYSTEM "{canary_url}/xxe">]>{feed_open}<title>&x;</title>{feed_close}',
        "external-dtd": f'<!DOCTYPE feed SYSTEM "{canary_url}/dtd">{feed_open}<title>t</title>{feed_close}',
        "parameter-entity": (
            f'<!DOCTYPE feed [<!ENTITY % p SYSTEM "{canary_url}/param"> %p;]>{feed_open}<title>&leak;</title>'
            f"{feed_close}"
        ),
        "billion-laughs": f"<!DOCTYPE feed [{lol}]>{feed_open}<title>&a9;</title>{feed_close}",
        "quadratic-blowup": (
            f'<!DOCTYPE feed [<!ENTITY big "{"x" * 50_000}">]>{feed_open}<title>{"&big;" * 2000}</title>{feed_close}'
        ),
        "xinclude": (
            f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:xi="http://www.w3.org/2001/XInclude">'
            f'<xi:include href="{canary_url}/xinclude" parse="text"/></feed>'
        ),
    }


@pytest.mark.parametrize(
    "attack",
    ["xxe-file", "xxe-http", "external-dtd", "parameter-entity", "billion-laughs", "quadratic-blowup", "xinclude"],
)
def test_xml_attacks_are_rejected_even_when_signed(websub, canary, attack) -> None:
    client, snapshot = websub
    canary_url, hits = canary
    body = _attacks(canary_url)[attack].encode()
    before = snapshot()
    response = client.post(f"/websub/{CHANNEL}", data=body, headers=signed_headers(body, SECRET, CHANNEL))
    if attack == "xinclude":
        # Not a DTD attack: a feed without entries is valid and stores nothing; XInclude is never processed.
        assert response.status_code == 200
        assert response.get_json()["upserted"] == []
    else:
        assert response.status_code == 400, response.get_data(as_text=True)
        assert "unsafe XML" in response.get_json()["error"]
    assert hits == [], f"the parser fetched {hits}"
    assert snapshot() == before


# --- replays -----------------------------------------------------------------------------------------------------


def test_one_thousand_replays_leave_one_row(app, websub) -> None:
    body = _notification()
    headers = signed_headers(body, SECRET, CHANNEL)
    results: list[tuple[int, list]] = []
    lock = threading.Lock()

    def replay(count: int) -> None:
        own = app.test_client()  # one client per thread; each request gets its own app context and session
        for _ in range(count):
            response = own.post(f"/websub/{CHANNEL}", data=body, headers=headers)
            with lock:
                results.append((response.status_code, (response.get_json() or {}).get("upserted")))

    threads = [threading.Thread(target=replay, args=(250,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 1000
    assert {status for status, _ in results} == {200}
    assert sum(len(upserted) for _, upserted in results) == 1  # exactly one replay wrote; 999 changed nothing
    assert _video_rows(app) == [("replay00001", CHANNEL, "Replayed")]
    with app.app_context():
        assert db.session.execute(sa.text("SELECT count(*) FROM channels")).scalar_one() == 2
        db.session.rollback()


# --- property-based fuzzing --------------------------------------------------------------------------------------

_xml_text = st.text(st.characters(codec="utf-8"), max_size=80)
_ids = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True), st.text(max_size=40))
_structured = st.builds(
    lambda videos, deletions: build_notification(videos, deletions),
    st.lists(
        st.builds(
            SampleVideo,
            video_id=_ids,
            channel_id=st.sampled_from([CHANNEL, OTHER, "UCunknown000000000000000"]) | _ids,
            title=_xml_text,
            author=st.text(max_size=300),
            published=st.datetimes(timezones=st.just(UTC)) | st.none(),
            updated=st.datetimes(timezones=st.just(UTC)) | st.none(),
        ),
        max_size=4,
    ),
    st.lists(
        st.builds(
            SampleDeletion,
            video_id=_ids,
            channel_id=st.sampled_from([CHANNEL, OTHER, None]),
            when=st.datetimes(timezones=st.just(UTC)),
        ),
        max_size=3,
    ),
)


@st.composite
def _mutated(draw) -> bytes:
    """A valid notification with a few bytes flipped, cut or inserted."""
    body = bytearray(
        build_notification([SampleVideo("mutant00001", CHANNEL, published=T0, updated=T0)], feed_channel_id=CHANNEL)
    )
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            body[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del body[position : position + draw(st.integers(1, 50))]
        else:
            body[position:position] = draw(st.binary(min_size=1, max_size=20))
        if not body:
            break
    return bytes(body)


_bodies = st.one_of(st.binary(max_size=2000), _structured, _mutated(), st.just(b""))


def _fuzz_callback(app, snapshot: Callable[[], tuple], max_examples: int) -> None:
    client = app.test_client()
    seen: set[int] = set()

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=_bodies, signing=st.sampled_from(["valid", "none", "forged", "other-channel"]))
    def post(body: bytes, signing: str) -> None:
        headers = {"Content-Type": "application/atom+xml"}
        if signing == "valid":
            headers = signed_headers(body, SECRET, CHANNEL)
        elif signing == "forged":
            headers = signed_headers(body, "not-the-secret", CHANNEL)
        elif signing == "other-channel":
            headers = signed_headers(body, SECRET, OTHER)
        before = snapshot()
        response = client.post(f"/websub/{CHANNEL}", data=body, headers=headers)
        seen.add(response.status_code)
        assert response.status_code < 500, response.get_data(as_text=True)
        if signing != "valid":
            assert response.status_code == 202, response.get_data(as_text=True)
            assert snapshot() == before, "unsigned data was stored"
        elif response.status_code == 400:
            assert snapshot() == before, "a rejected body changed the database"
        else:
            assert response.status_code == 200

    post()
    assert {200, 202, 400} <= seen, f"the fuzzer never reached every outcome: {sorted(seen)}"
    # Whatever valid notifications did, they only ever wrote videos of the channel they were addressed to.
    assert {channel for _, channel, _ in _video_rows(app)} <= {CHANNEL}


def _fuzz_verification(app, snapshot: Callable[[], tuple], max_examples: int) -> None:
    client = app.test_client()
    params = st.dictionaries(
        st.sampled_from(["hub.mode", "hub.topic", "hub.challenge", "hub.lease_seconds", "hub.reason", "x"]),
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(["subscribe", "unsubscribe", "denied", topic_for(CHANNEL), "432000", "-1", "1e9"]),
        ),
    )
    paths = st.one_of(st.just(CHANNEL), st.text(max_size=80))

    @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(path=paths, query=params)
    def get(path: str, query: dict) -> None:
        response = client.get(f"/websub/{quote(path, safe='')}", query_string=query)
        # 404 is the refusal; routing may answer 308/404/405 for odd paths ("//x"): never 5xx.
        assert response.status_code < 500, (path, query, response.status_code)
        if response.status_code == 200 and query.get("hub.mode") != "denied":
            assert response.get_data(as_text=True) == query["hub.challenge"]

    get()


def test_fuzzed_notifications_never_5xx_and_never_store_unsigned_data(app, websub) -> None:
    _fuzz_callback(app, websub[1], FUZZ_EXAMPLES)


def test_fuzzed_verifications_never_5xx(app, websub) -> None:
    _fuzz_verification(app, websub[1], FUZZ_EXAMPLES)


def test_fuzzed_paths_never_5xx(app, websub) -> None:
    client = app.test_client()

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None)
    @given(path=st.text(max_size=100), body=st.binary(max_size=200))
    def post(path: str, body: bytes) -> None:
        response = client.post(f"/websub/{quote(path, safe='')}", data=body)
        assert response.status_code < 500

    post()


@pytest.mark.slow
def test_soak_fuzzing(app, websub) -> None:
    _fuzz_callback(app, websub[1], SOAK_EXAMPLES)
    _fuzz_verification(app, websub[1], SOAK_EXAMPLES)
