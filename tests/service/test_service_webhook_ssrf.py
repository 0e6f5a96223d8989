"""The SSRF guard of webhook URLs (SQLite): at submission a URL naming a loopback, private, link-local, unspecified
or otherwise non-public host, a scheme other than http(s) or credentials is a 422 problem naming the host and why,
unless the settings allow it; at delivery the host is resolved again (DNS may have changed), a refused address makes
the webhook fail at once with the reason, and an allowed one is connected to directly (the URL's host name is never
resolved a second time). Every connection goes to 127.0.0.1; host names are resolved by a stand-in resolver."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from servicekit import make_api
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.errors import InputError
from vidstruct.service.db.models import Job, WebhookDelivery, WebhookOutbox
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.jobs import webhook_guard
from vidstruct.service.jobs.deliverer import WebhookDeliverer
from vidstruct.service.jobs.queue import claim_job, complete_held, submit_job
from vidstruct.service.jobs.webhook_guard import WebhookRefused, address_kind, check_webhook_url, pinned_client_options
from vidstruct.service.jobs.webhooks import post
from vidstruct.service.settings import ServiceSettings, add_store_arguments, add_worker_arguments, store_settings

PUBLIC = "93.184.216.34"  # a global unicast address: never connected to in these tests
#: a self-signed certificate for ``hooks.example`` only (P-256, valid 2025-2125; made with ``openssl ca``) and its key
HOOKS_CERT = """-----BEGIN CERTIFICATE-----
MIIBbjCCAROgAwIBAgIBATAKBggqhkjOPQQDAjAYMRYwFAYDVQQDDA1ob29rcy5l
eGFtcGxlMCAXDTI1MDEwMTAwMDAwMFoYDzIxMjUwMTAxMDAwMDAwWjAYMRYwFAYD
VQQDDA1ob29rcy5leGFtcGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkEwb
5AKtuBi7NKazH7qi4yZPUW4zdkT7zSNhL7VYRNVuW3mSSJLqXeqk5neoPJLN6j/a
rmvaaI+lzgykjJCPCaNMMEowGAYDVR0RBBEwD4INaG9va3MuZXhhbXBsZTAPBgNV
HRMBAf8EBTADAQH/MB0GA1UdDgQWBBSBLS5ll42O7YA55RyHwuLiuWeC2DAKBggq
hkjOPQQDAgNJADBGAiEArV/FedpSlLsGkO11RvuGG8fEtThq6D+UJ63fGV9ESi0C
IQCYMDQM1vMp/EshSke2zR8V0voyZejoLN10WObhEKfZ7A==
-----END CERTIFICATE-----
"""
HOOKS_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTiWwYcOGM+v/KZHb
SIXzubPW+WfYM3VBiWwdHa437X6hRANCAASQTBvkAq24GLs0prMfuqLjJk9RbjN2
RPvNI2EvtVhE1W5beZJIkupd6qTmd6g8ks3qP9qua9poj6XODKSMkI8J
-----END PRIVATE KEY-----
"""


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the guard does not depend on the database (the outbox is tested on both elsewhere)."""
    return f"sqlite+pysqlite:///{tmp_path / 'db' / 'vidstruct.db'}"


@pytest.fixture
def guarded(settings: ServiceSettings) -> ServiceSettings:
    """The service's defaults: nothing but public addresses (the shared fixture allows 127.0.0.1)."""
    return dataclasses.replace(settings, webhook_allowed_hosts=(), webhook_allow_private=False,
                               webhook_secret="ssrf", webhook_backoff_s=0.01, webhook_timeout_s=30.0)  # fmt: skip


class Receiver:
    """An HTTP server on 127.0.0.1 answering ``status`` (with ``Location: location`` when given) to every POST, which
    it records with its headers."""

    def __init__(self, status: int = 204, location: str | None = None) -> None:
        self.calls: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(dict(self.headers))
                self.send_response(status)
                if location is not None:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


class Dns:
    """A stand-in for :func:`webhook_guard.resolve`: ``answers[host]`` (a list of addresses) or no answer; counts
    the lookups of each host."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers, self.lookups = answers, {}

    def __call__(self, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        self.lookups[host] = self.lookups.get(host, 0) + 1
        if host not in self.answers:
            raise OSError(f"no answer for {host}")
        return [ipaddress.ip_address(a) for a in self.answers[host]]


# -- classification -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.1.2.3", "IPv4-mapped private"),
        ("::ffff:169.254.169.254", "IPv4-mapped link-local"),
        ("2002:7f00:1::", "6to4 loopback"),  # 2002:AABB:CCDD:: carries AA.BB.CC.DD = 127.0.0.1
        ("64:ff9b::a00:1", "NAT64 private"),  # the last 32 bits: 10.0.0.1
        (PUBLIC, None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_addresses_are_classified(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


# -- submission -----------------------------------------------------------------------------------------------------


REFUSED = [
    ("http://127.0.0.1:8000/hook", "'127.0.0.1' is not a public address (loopback)"),
    ("http://localhost:8000/hook", "'localhost' resolves to"),  # 127.0.0.1 or ::1: both loopback
    ("http://[::1]:8000/hook", "'::1' is not a public address (loopback)"),
    ("http://10.0.0.1/hook", "'10.0.0.1' is not a public address (private)"),
    ("http://169.254.169.254/latest/meta-data/", "'169.254.169.254' is not a public address (link-local)"),
    ("http://0.0.0.0:8000/hook", "'0.0.0.0' is not a public address (unspecified)"),
    ("http://2130706433/hook", "'2130706433' resolves to 127.0.0.1, not a public address (loopback)"),
    ("http://[::ffff:127.0.0.1]/hook", "'::ffff:127.0.0.1' is not a public address (IPv4-mapped loopback)"),
    ("ftp://example.com/hook", "expected an http(s) URL, got scheme 'ftp'"),
    ("file:///etc/passwd", "expected an http(s) URL, got scheme 'file'"),
    ("http://user:pass@example.com/hook", "host 'example.com': a user name or password in the URL is refused"),
    ("http:///hook", "expected an http(s) URL with a host"),
]


def test_submissions_to_internal_hosts_are_refused(guarded: ServiceSettings, video_bytes: bytes) -> None:
    for api in make_api(guarded):
        for url, reason in REFUSED:
            files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
            answer = api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data={"webhook_url": url})
            assert answer.status_code == 422, (url, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            detail = answer.json()["detail"]
            assert detail.startswith("webhook_url: ") and reason in detail, (url, detail)
            if "resolves to" in reason or "public address" in reason:
                assert "--webhook-allow-private" in detail  # how to allow it
        # the localhost case names the loopback address it resolved to
        answer = api.client.post("/v1/jobs", headers=api.auth("write"), data={"webhook_url": "http://localhost/"})
        assert "(loopback)" in answer.json()["detail"]
        # a public address is accepted as before (nothing is connected to at submission)
        files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
        answer = api.client.post("/v1/jobs", headers=api.auth("write"), files=files,
                                 data={"webhook_url": f"http://{PUBLIC}/hook"})  # fmt: skip
        assert answer.status_code == 202, answer.text
        with api.session() as session:
            assert session.scalars(select(Job.webhook_url)).all() == [f"http://{PUBLIC}/hook"]  # no refused job kept


def test_reel_submissions_are_guarded_too(guarded: ServiceSettings) -> None:
    for api in make_api(guarded):
        body = {"video_id": "0" * 32, "label": "jump", "webhook_url": "http://169.254.169.254/latest/"}
        answer = api.client.post("/v1/reels", json=body, headers=api.auth("write"))
        assert answer.status_code == 422, answer.text
        assert "'169.254.169.254' is not a public address (link-local)" in answer.json()["detail"]
        # with a public webhook the same body goes on to the video check
        answer = api.client.post("/v1/reels", json={**body, "webhook_url": f"https://{PUBLIC}/h"},
                                 headers=api.auth("write"))  # fmt: skip
        assert answer.status_code == 422 and "no video with id" in answer.json()["detail"]


def test_a_host_name_is_refused_when_any_of_its_addresses_is_internal(
    guarded: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    dns = Dns({"mixed.example": [PUBLIC, "10.9.8.7"], "public.example": [PUBLIC, "2606:4700:4700::1111"]})
    monkeypatch.setattr(webhook_guard, "resolve", dns)
    with pytest.raises(WebhookRefused, match=r"'mixed\.example' resolves to 10\.9\.8\.7, not a public address"):
        check_webhook_url("https://mixed.example/hook", guarded)
    target = check_webhook_url("https://public.example/hook", guarded)
    assert (target.host, target.port) == ("public.example", 443)
    assert [str(a) for a in target.addresses] == [PUBLIC, "2606:4700:4700::1111"]
    with pytest.raises(WebhookRefused, match="'nowhere.example' could not be resolved"):
        check_webhook_url("http://nowhere.example/hook", guarded)
    assert dns.lookups == {"mixed.example": 1, "public.example": 1, "nowhere.example": 1}


def test_the_settings_allow_private_addresses_and_listed_hosts(
    guarded: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_guard, "resolve", Dns({"hooks.internal": ["10.1.1.1"], "db.internal": ["10.2.2.2"]}))
    private = dataclasses.replace(guarded, webhook_allow_private=True)
    for url in ("http://127.0.0.1:9/", "http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/",
                "http://hooks.internal/"):  # fmt: skip
        check_webhook_url(url, private)
    for url, kind in (("http://0.0.0.0/", "unspecified"), ("http://224.0.0.1/", "multicast")):
        with pytest.raises(WebhookRefused, match=kind):  # never a receiver, even then
            check_webhook_url(url, private)
    listed = dataclasses.replace(guarded, webhook_allowed_hosts=("10.1.0.0/16", "HOOKS.internal.", "::1"))
    for url in ("http://10.1.200.3/", "http://[::1]:8/", "http://[::ffff:10.1.0.1]/", "http://hooks.internal/"):
        check_webhook_url(url, listed)
    for url, host in (("http://10.2.0.1/", "10.2.0.1"), ("http://db.internal/", "db.internal"),
                      ("http://127.0.0.1/", "127.0.0.1")):  # fmt: skip
        with pytest.raises(WebhookRefused, match=f"'{host}'"):
            check_webhook_url(url, listed)
    with pytest.raises(InputError, match="'not a host!'"):
        dataclasses.replace(guarded, webhook_allowed_hosts=("not a host!",))


def test_the_allowances_come_from_options_or_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from vidstruct.cli.commands import serve

    parser = argparse.ArgumentParser()
    add_store_arguments(parser)
    add_worker_arguments(parser)
    monkeypatch.delenv("VIDSTRUCT_WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.delenv("VIDSTRUCT_WEBHOOK_ALLOWED_HOSTS", raising=False)
    base = ["--data-dir", str(tmp_path)]
    default = store_settings(parser.parse_args(base))
    assert (default.webhook_allow_private, default.webhook_allowed_hosts) == (False, ())
    args = parser.parse_args([*base, "--webhook-allow-private", "--webhook-allow-host", "10.0.0.0/8",
                              "--webhook-allow-host", "hooks.internal,127.0.0.1"])  # fmt: skip
    given = store_settings(args)
    assert given.webhook_allow_private is True
    assert given.webhook_allowed_hosts == ("10.0.0.0/8", "hooks.internal", "127.0.0.1")
    args.quiet, args.log_json, args.data_dir = False, False, str(tmp_path)
    argv = serve._worker_argv(args)  # serve's workers get the same allowances
    assert "--webhook-allow-private" in argv
    hosts = [argv[i + 1] for i, a in enumerate(argv) if a == "--webhook-allow-host"]
    assert hosts == ["10.0.0.0/8", "hooks.internal,127.0.0.1"]
    monkeypatch.setenv("VIDSTRUCT_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("VIDSTRUCT_WEBHOOK_ALLOWED_HOSTS", " hooks.internal , 192.168.0.0/16")
    from_env = store_settings(parser.parse_args(base))
    assert (from_env.webhook_allow_private, from_env.webhook_allowed_hosts) == (
        True, ("hooks.internal", "192.168.0.0/16"))  # fmt: skip


def test_a_checked_target_is_connected_to_by_address() -> None:
    target = webhook_guard.Target(httpx.URL("https://hooks.example:8443/in?x=1"), "hooks.example", 8443,
                                  (ipaddress.ip_address(PUBLIC),))  # fmt: skip
    url, headers, extensions = target.pinned(ipaddress.ip_address(PUBLIC))
    assert str(url) == f"https://{PUBLIC}:8443/in?x=1"
    assert headers == {"Host": "hooks.example:8443"} and extensions == {"sni_hostname": "hooks.example"}
    url, headers, extensions = dataclasses.replace(target, url=httpx.URL("http://hooks.example/in")).pinned(
        ipaddress.ip_address("2606:4700:4700::1111")
    )
    assert (str(url), headers, extensions) == ("http://[2606:4700:4700::1111]/in", {"Host": "hooks.example"}, {})


# -- delivery -------------------------------------------------------------------------------------------------------


@pytest.fixture
def factory(guarded: ServiceSettings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(guarded.database_url)
    yield session_factory(engine)
    engine.dispose()


def _finished_job(factory: sessionmaker[Session], url: str) -> str:
    """A job with webhook ``url`` (already accepted) ended SUCCEEDED: its webhook is pending in the outbox."""
    with factory() as session:
        job, _ = submit_job(session, features=["segments"], profile="tiny", min_confidence=0.0, webhook_url=url)
    claimed = claim_job(factory, "w-test", lease_s=60, max_attempts=3)
    assert claimed is not None and claimed.id == job.id
    assert complete_held(factory, claimed, "w-test", lambda session: None, {"render": 100.0})
    return job.id


def _deliver(factory: sessionmaker[Session], settings: ServiceSettings) -> tuple[WebhookOutbox, list[WebhookDelivery]]:
    """Deliver until nothing is pending (each webhook ends delivered or failed); the outbox row and its tries."""
    WebhookDeliverer(factory, settings, "w-deliver", threading.Event()).drain()
    with factory() as session:
        (row,) = session.scalars(select(WebhookOutbox)).all()
        tries = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.attempt)).all())
        session.expunge_all()
    return row, tries


def test_a_host_that_turns_internal_after_submission_is_refused_at_delivery(
    guarded: ServiceSettings, factory: sessionmaker[Session], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://hooks.example:{receiver.port}/hook"
    dns = Dns({"hooks.example": [PUBLIC]})
    monkeypatch.setattr(webhook_guard, "resolve", dns)
    check_webhook_url(url, guarded)  # accepted at submission: the name was public then
    job_id = _finished_job(factory, url)
    dns.answers["hooks.example"] = ["127.0.0.1"]  # the DNS rebinds it to the service's own machine
    row, tries = _deliver(factory, dataclasses.replace(guarded, webhook_attempts=5))
    assert receiver.calls == []  # nothing was sent
    reason = (
        "webhook_url: host 'hooks.example' resolves to 127.0.0.1, not a public address (loopback); webhooks may "
        "only reach public addresses unless --webhook-allow-private or --webhook-allow-host says so"
    )
    assert (row.job_id, row.status, row.attempts, row.last_error) == (job_id, "failed", 1, reason)  # not retried
    assert [(t.attempt, t.status_code, t.delivered, t.error) for t in tries] == [(1, None, False, reason)]
    assert dns.lookups == {"hooks.example": 2}
    with factory() as session:
        assert session.get(Job, job_id).status == "SUCCEEDED"  # type: ignore[union-attr]


def test_a_webhook_already_queued_for_a_loopback_receiver_is_refused_at_delivery(
    guarded: ServiceSettings, factory: sessionmaker[Session], receiver: Receiver
) -> None:
    _finished_job(factory, f"http://127.0.0.1:{receiver.port}/hook")  # e.g. queued before the guard existed
    row, tries = _deliver(factory, guarded)
    assert receiver.calls == [] and row.status == "failed" and len(tries) == 1
    assert "'127.0.0.1' is not a public address (loopback)" in (row.last_error or "")


def test_an_allowed_receiver_is_reached_at_the_checked_address(
    guarded: ServiceSettings, factory: sessionmaker[Session], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hooks.example exists only in the stand-in resolver: the delivery can reach the receiver only by connecting to
    # the address the guard checked, with the name kept in the Host header
    dns = Dns({"hooks.example": ["127.0.0.1"]})
    monkeypatch.setattr(webhook_guard, "resolve", dns)
    allowed = dataclasses.replace(guarded, webhook_allowed_hosts=("127.0.0.1",))
    url = f"http://hooks.example:{receiver.port}/hook"
    job_id = _finished_job(factory, url)
    row, tries = _deliver(factory, allowed)
    assert (row.status, [(t.attempt, t.status_code, t.delivered) for t in tries]) == ("delivered", [(1, 204, True)])
    (headers,) = receiver.calls
    assert headers["Host"] == f"hooks.example:{receiver.port}"
    assert json.loads(row.body)["job_id"] == job_id and headers["X-Vidstruct-Delivery"] == row.id
    assert dns.lookups == {"hooks.example": 1}  # one resolution per try


def test_redirects_are_not_followed(guarded: ServiceSettings, factory: sessionmaker[Session]) -> None:
    target = Receiver()
    redirecting = Receiver(status=302, location=f"http://127.0.0.1:{target.port}/elsewhere")
    try:
        allowed = dataclasses.replace(guarded, webhook_allowed_hosts=("127.0.0.1",), webhook_attempts=2)
        _finished_job(factory, f"http://127.0.0.1:{redirecting.port}/hook")
        row, tries = _deliver(factory, allowed)
    finally:
        target.close()
        redirecting.close()
    assert (len(redirecting.calls), target.calls) == (2, [])
    assert (row.status, row.last_error) == ("failed", "HTTP 302")
    assert [(t.attempt, t.status_code, t.delivered) for t in tries] == [(1, 302, False), (2, 302, False)]


def test_https_is_verified_for_the_host_name_at_the_checked_address(
    guarded: ServiceSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS to the pinned 127.0.0.1 still sends the URL's name as SNI and verifies the certificate for that name."""
    (tmp_path / "hooks.crt").write_text(HOOKS_CERT)
    (tmp_path / "hooks.key").write_text(HOOKS_KEY)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "hooks.crt", tmp_path / "hooks.key")
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, context: names.append(name)  # type: ignore[assignment,misc]
    receiver = Receiver()
    receiver.server.socket = server_context.wrap_socket(receiver.server.socket, server_side=True)
    monkeypatch.setattr(webhook_guard, "resolve", Dns({"hooks.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]}))
    allowed = dataclasses.replace(guarded, webhook_allowed_hosts=("127.0.0.1",))
    trusting = ssl.create_default_context(cafile=str(tmp_path / "hooks.crt"))
    try:
        with httpx.Client(timeout=30.0, verify=trusting, **pinned_client_options()) as client:
            good = check_webhook_url(f"https://hooks.example:{receiver.port}/hook", allowed)
            assert post(client, good, b"{}", "d-1", b"secret") == (204, None)
            # the same server (the same address) under a name its certificate does not cover: no connection
            other = check_webhook_url(f"https://other.example:{receiver.port}/hook", allowed)
            assert post(client, other, b"{}", "d-2", b"secret") == (None, "ConnectError")
    finally:
        receiver.close()
    assert names[0] == "hooks.example" and "other.example" in names
    assert [(h["Host"], h["X-Vidstruct-Delivery"]) for h in receiver.calls] == [
        (f"hooks.example:{receiver.port}", "d-1")
    ]


def test_a_bad_allowed_host_stops_serve_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vidstruct.cli.main import main

    code = main(["serve", "--data-dir", str(tmp_path / "data"), "--workers", "0", "--webhook-allow-host", "a b"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1
    assert "webhook allowed host 'a b': expected a host name, an IP address or a CIDR network" in err[0]
