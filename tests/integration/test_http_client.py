"""The School's own HTTP/1.1 client against real servers: the bundled target, aiohttp (also https), sockets, nginx."""

from __future__ import annotations

import asyncio
import datetime
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvloop
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from koipond.models.behavior import BehaviorDocument
from local_pond.processes import free_port
from school_container.http1 import HttpError, Response
from school_container.http_client import CallTimeoutError, ConnectError, HttpClient
from school_container.koi import Koi, LoadTestContext
from school_container.metrics import SchoolMetrics
from school_container.web_api import CallOutcome, NativeWebApi
from tests.integration.local_http import local_server
from tests.integration.target_harness import Target, run_target

ROOT = Path(__file__).resolve().parents[2]
ANSWER = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@asynccontextmanager
async def raw_server(close_idle_after: float | None) -> AsyncIterator[tuple[str, list[int]]]:
    """A keep-alive server that answers every request; ``accepted[0]`` counts connections.

    With ``close_idle_after``, it closes a connection that stays idle that long after an answer.
    """
    accepted = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        try:
            while True:
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), close_idle_after)
                writer.write(ANSWER)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    port = free_port()
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        yield f"http://127.0.0.1:{port}", accepted


def test_sequential_calls_reuse_one_keep_alive_connection() -> None:
    async def scenario() -> tuple[list[int], int]:
        async with raw_server(None) as (base, accepted):
            client = HttpClient(4, total_seconds=5)
            statuses = [(await client.request("GET", f"{base}/x", {})).status for _ in range(20)]
            client.close()
            return statuses, accepted[0]

    statuses, connections = uvloop.run(scenario())
    assert statuses == [200] * 20
    assert connections == 1


def test_concurrent_calls_open_no_more_connections_than_the_pool_allows() -> None:
    async def scenario() -> int:
        async with raw_server(None) as (base, accepted):
            client = HttpClient(3, total_seconds=5)
            answers = await asyncio.gather(*(client.request("GET", f"{base}/x", {}) for _ in range(60)))
            assert {answer.body for answer in answers} == {b'{"ok":true}'}
            client.close()
            return accepted[0]

    assert 1 <= uvloop.run(scenario()) <= 3


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed() -> None:
    async def scenario() -> tuple[list[int], int]:
        async with raw_server(close_idle_after=0.05) as (base, accepted):
            client = HttpClient(1, total_seconds=5)
            statuses = []
            for _ in range(3):
                statuses.append((await client.request("GET", f"{base}/x", {})).status)
                await asyncio.sleep(0.15)  # the server has closed the idle line meanwhile
            client.close()
            return statuses, accepted[0]

    statuses, connections = uvloop.run(scenario())
    assert statuses == [200, 200, 200]
    assert connections == 3


def test_a_request_sent_as_the_server_closes_the_line_is_retried_once_on_a_fresh_one() -> None:
    """The keep-alive race: the server's close and our request cross; nothing was answered, so retry."""

    async def scenario() -> tuple[int, int]:
        accepted = [0]

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted[0] += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ANSWER)
            await reader.readuntil(b"\r\n\r\n")  # the second request on this line is dropped unanswered
            writer.close()

        port = free_port()
        async with await asyncio.start_server(serve, "127.0.0.1", port):
            client = HttpClient(1, total_seconds=5)
            await client.request("GET", f"http://127.0.0.1:{port}/x", {})
            second = await client.request("GET", f"http://127.0.0.1:{port}/x", {})
            client.close()
            return second.status, accepted[0]

    assert uvloop.run(scenario()) == (200, 2)


def test_a_refused_connection_is_a_connect_error_and_a_silent_server_a_timeout() -> None:
    async def scenario() -> None:
        client = HttpClient(2, total_seconds=0.3)
        with pytest.raises(ConnectError) as refused:
            await client.request("GET", f"http://127.0.0.1:{free_port()}/x", {})
        assert refused.value.status == "connect_error"

        async def silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
            await reader.read()

        port = free_port()
        async with await asyncio.start_server(silent, "127.0.0.1", port):
            with pytest.raises(CallTimeoutError) as late:
                await client.request("GET", f"http://127.0.0.1:{port}/x", {})
        assert late.value.status == "timeout"
        client.close()

    uvloop.run(scenario())


@pytest.mark.parametrize("status", [429, 500, 503])
def test_error_statuses_come_back_as_answers(status: int) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, text="busy")

    async def scenario() -> Response:
        async with local_server(handler) as base:
            client = HttpClient(2, total_seconds=5)
            try:
                return await client.request("POST", f"{base}/api/x", {}, b"{}")
            finally:
                client.close()

    answer = uvloop.run(scenario())
    assert (answer.status, answer.body) == (status, b"busy")


def test_chunked_and_large_answers_from_aiohttp_arrive_whole() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, streamed in chunks

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for at in range(0, len(payload), 65_536):
            await response.write(payload[at : at + 65_536])
        await response.write_eof()
        return response

    async def scenario() -> Response:
        async with local_server(handler) as base:
            client = HttpClient(2, total_seconds=5)
            try:
                return await client.request("GET", f"{base}/api/x", {})
            finally:
                client.close()

    assert uvloop.run(scenario()).body == payload


def test_the_bundled_target_answers_native_calls() -> None:
    async def scenario(target: Target) -> None:
        api = NativeWebApi(4)
        base = str(target.client.make_url("")).rstrip("/")
        try:
            posted = await api.call(
                "POST", f"{base}/api/chat.postMessage", target.token(1), None, {"channel": "C000001", "text": "hi"}
            )
            refused = await api.call("POST", f"{base}/api/auth.test", "not-a-token", None, None)
        finally:
            await api.close()
        assert posted.status == "ok", posted
        assert posted.body is not None
        assert posted.body["ts"]
        assert refused.status in ("api_error", "http_4xx")

    run_target(scenario, seed=None)


def test_a_koi_swims_against_the_bundled_target_on_the_native_client() -> None:
    behavior = BehaviorDocument.model_validate(yaml.safe_load((ROOT / "behaviors" / "average_user.yaml").read_text()))
    faster = behavior.model_copy(
        update={"actions": {n: a.model_copy(update={"rate_per_hour": 7200}) for n, a in behavior.actions.items()}}
    )

    async def scenario(target: Target) -> None:
        metrics, api = SchoolMetrics(), NativeWebApi(8)
        base = str(target.client.make_url("")).rstrip("/")
        context = LoadTestContext("t-native", "pond", base, faster, api, metrics, 0.0)
        koi = asyncio.create_task(Koi(context, 1, target.token(1)).swim())
        await asyncio.sleep(2.0)
        assert not koi.done()
        koi.cancel()
        await asyncio.wait([koi], timeout=5)
        await api.close()
        samples = [
            s for m in metrics.registry.collect() for s in m.samples if s.name == "koi_pond_school_web_api_calls_total"
        ]
        by_status: dict[str, float] = {}
        for sample in samples:
            by_status[sample.labels["status"]] = by_status.get(sample.labels["status"], 0) + sample.value
        assert by_status.get("ok", 0) > 0, by_status
        assert by_status.get("connect_error", 0) == 0, by_status
        assert by_status.get("bad_response", 0) == 0, by_status

    run_target(scenario, seed=None)


NGINX = shutil.which("nginx")


@pytest.mark.skipif(NGINX is None, reason="nginx is not on PATH on this machine (install it to run this test)")
def test_keep_alive_calls_against_nginx() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(
            f"daemon off; pid {prefix}/nginx.pid; error_log {prefix}/error.log;\n"
            "events {}\n"
            f"http {{ access_log off; client_body_temp_path {prefix}; keepalive_requests 1000;\n"
            f"  server {{ listen 127.0.0.1:{port};\n"
            "    location /api/ { default_type application/json; return 200 '{\"ok\":true}'; } } }\n"
        )
        nginx = subprocess.Popen([str(NGINX), "-p", prefix, "-c", str(conf)])
        try:

            async def scenario() -> list[int]:
                client = HttpClient(4, total_seconds=5)
                for _ in range(50):  # until nginx listens
                    try:
                        await client.request("GET", f"http://127.0.0.1:{port}/api/x", {})
                        break
                    except ConnectError:
                        await asyncio.sleep(0.1)
                answers = await asyncio.gather(
                    *(client.request("POST", f"http://127.0.0.1:{port}/api/x", {}, b"{}") for _ in range(200))
                )
                client.close()
                return [answer.status for answer in answers]

            assert uvloop.run(scenario()) == [200] * 200
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


# --- the pool: queued calls, cancels, timeouts ------------------------------------------------------------


@asynccontextmanager
async def counting_server(
    answer_after: asyncio.Event | None = None, heard: asyncio.Event | None = None
) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A keep-alive server that records each request's first line (and sets ``heard``).

    With ``answer_after``, it answers once that is set.
    """
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head.split(b"\r\n", 1)[0])
                if heard is not None:
                    heard.set()
                if answer_after is not None:
                    await answer_after.wait()
                writer.write(ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    port = free_port()
    async with await asyncio.start_server(serve, "127.0.0.1", port):
        yield f"http://127.0.0.1:{port}", seen


def test_calls_beyond_the_pool_wait_their_turn_and_all_are_answered_in_order() -> None:
    async def scenario() -> tuple[list[int], list[bytes]]:
        async with counting_server() as (base, seen):
            client = HttpClient(1, total_seconds=5)
            answers = await asyncio.gather(*(client.request("GET", f"{base}/{i}", {}) for i in range(20)))
            client.close()
            return [answer.status for answer in answers], seen

    statuses, seen = uvloop.run(scenario())
    assert statuses == [200] * 20
    assert seen == [f"GET /{i} HTTP/1.1".encode() for i in range(20)]  # one line, first come first served


def test_a_call_cancelled_while_queued_is_never_sent() -> None:
    async def scenario() -> list[bytes]:
        release, heard = asyncio.Event(), asyncio.Event()
        async with counting_server(release, heard) as (base, seen):
            client = HttpClient(1, total_seconds=5)
            first = asyncio.create_task(client.request("GET", f"{base}/first", {}))
            queued = asyncio.create_task(client.request("GET", f"{base}/queued", {}))
            last = asyncio.create_task(client.request("GET", f"{base}/last", {}))
            await asyncio.wait_for(heard.wait(), 5)  # the first call is on the wire, the others wait for its line
            queued.cancel()
            release.set()
            assert (await first).status == 200
            assert (await last).status == 200
            assert queued.cancelled()
            client.close()
            return seen

    assert uvloop.run(scenario()) == [b"GET /first HTTP/1.1", b"GET /last HTTP/1.1"]


def test_a_call_cancelled_on_the_wire_spends_its_line_and_the_next_call_gets_a_fresh_one() -> None:
    async def scenario() -> tuple[int, int]:
        accepted, slow_heard = [0], asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted[0] += 1
            head = await reader.readuntil(b"\r\n\r\n")
            if b"/slow" in head:
                slow_heard.set()
                await reader.read()  # never answers; the client's cancel closes the line
                return
            writer.write(ANSWER)
            await reader.read()

        port = free_port()
        async with await asyncio.start_server(serve, "127.0.0.1", port):
            client = HttpClient(1, total_seconds=5)
            slow = asyncio.create_task(client.request("GET", f"http://127.0.0.1:{port}/slow", {}))
            await asyncio.wait_for(slow_heard.wait(), 5)
            slow.cancel()
            answer = await client.request("GET", f"http://127.0.0.1:{port}/fast", {})
            client.close()
            return answer.status, accepted[0]

    assert uvloop.run(scenario()) == (200, 2)


def test_a_call_past_its_deadline_times_out_and_the_pool_carries_on() -> None:
    async def scenario() -> tuple[str, int]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"/silent" in head:
                await reader.read()
                return
            writer.write(ANSWER)
            await reader.read()

        port = free_port()
        async with await asyncio.start_server(serve, "127.0.0.1", port):
            client = HttpClient(1, total_seconds=0.2)
            with pytest.raises(CallTimeoutError) as late:
                await client.request("GET", f"http://127.0.0.1:{port}/silent", {})
            after = await client.request("GET", f"http://127.0.0.1:{port}/fine", {})
            client.close()
            return late.value.status, after.status

    assert uvloop.run(scenario()) == ("timeout", 200)


def test_every_queued_call_to_a_refused_origin_fails_as_a_connect_error_none_hangs() -> None:
    async def scenario() -> list[str]:
        client = HttpClient(2, total_seconds=5)
        url = f"http://127.0.0.1:{free_port()}/x"
        outcomes = await asyncio.gather(*(client.request("GET", url, {}) for _ in range(7)), return_exceptions=True)
        client.close()
        return [o.status if isinstance(o, ConnectError) else repr(o) for o in outcomes]

    assert uvloop.run(asyncio.wait_for(scenario(), 10)) == ["connect_error"] * 7


# --- https: TLS through one verifying context -----------------------------------------------------------


def certificate_authority(directory: Path) -> tuple[Path, Path, Path]:
    """A CA made here and a ``localhost`` certificate it signed: (CA cert, server cert, server key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("koipond test CA", ca_key, "koipond test CA", ca_key, ca=True)
    server_cert = certificate("localhost", server_key, "koipond test CA", ca_key, ca=False)
    files = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    files[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@asynccontextmanager
async def https_server(directory: Path) -> AsyncIterator[tuple[int, Path, list[int]]]:
    """An aiohttp server on https://localhost:<port> with a certificate from a CA of its own.

    Yields its port, the CA's PEM file and, per answered request, the client's source port.
    """
    ca_file, cert_file, key_file = certificate_authority(directory)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    client_ports: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        client_ports.append(request.transport.get_extra_info("peername")[1])
        return web.json_response({"ok": True, "secure": request.secure})

    app = web.Application()
    app.router.add_route("*", "/api/x", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_tls).start()
    try:
        yield port, ca_file, client_ports
    finally:
        await runner.cleanup()


def test_https_calls_verify_the_server_through_the_tls_context_and_keep_the_line(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Response], list[int]]:
        async with https_server(tmp_path) as (port, ca_file, client_ports):
            client = HttpClient(2, total_seconds=5, tls=ssl.create_default_context(cafile=str(ca_file)))
            url = f"https://localhost:{port}/api/x"
            answers = [await client.request("POST", url, {"Content-Type": "application/json"}, b"{}") for _ in range(3)]
            client.close()
            return answers, client_ports

    answers, client_ports = uvloop.run(scenario())
    assert [(a.status, a.body) for a in answers] == [(200, b'{"ok": true, "secure": true}')] * 3
    assert len(set(client_ports)) == 1  # one TLS connection, kept alive for all three


def test_a_certificate_the_shared_context_does_not_trust_fails_as_a_connect_error(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, CallOutcome, list[int]]:
        async with https_server(tmp_path) as (port, _, client_ports):
            url = f"https://localhost:{port}/api/x"
            client = HttpClient(2, total_seconds=5)  # the shared verifying context: the system's CAs only
            with pytest.raises(ConnectError) as refused:
                await client.request("GET", url, {})
            assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
            client.close()
            api = NativeWebApi(2, timeout_seconds=5)  # as koi call: the same context, the same class
            try:
                outcome = await api.call("GET", url, "t", None, None)
            finally:
                await api.close()
            return refused.value.status, outcome, client_ports

    status, outcome, client_ports = uvloop.run(scenario())
    assert status == "connect_error"
    assert outcome == CallOutcome("connect_error", 0, None)
    assert client_ports == []  # no request reached the server


def test_a_certificate_for_another_name_fails_as_a_connect_error(tmp_path: Path) -> None:
    async def scenario() -> HttpError:
        async with https_server(tmp_path) as (port, ca_file, _):
            client = HttpClient(2, total_seconds=5, tls=ssl.create_default_context(cafile=str(ca_file)))
            try:
                await client.request("GET", f"https://127.0.0.1:{port}/api/x", {})  # the certificate says localhost
            except HttpError as error:
                return error
            finally:
                client.close()
        raise AssertionError("the call to a mismatched name went through")

    failure = uvloop.run(scenario())
    assert isinstance(failure, ConnectError)
    assert failure.status == "connect_error"
    assert isinstance(failure.__cause__, ssl.SSLCertVerificationError)
