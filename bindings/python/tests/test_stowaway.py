"""The Python binding against our gateway (samples/gateway) in a child
process: IKEv2 session, HTTP and echo through Streams, DNS, UDP, ping,
errors and lifetimes.

Environment: STOWAWAY_LIB (libstowaway.so) and STOWAWAY_GATEWAY (the
samples/gateway binary); PYTHONPATH must reach the stowaway package.
"""

import hashlib
import json
import os
import random
import selectors
import subprocess
import threading
import time

import pytest

import stowaway

PSK = "python-binding-psk-0123456789"
TIMEOUT = 30.0


def _profile(gateway, **extra):
    profile = {
        "name": "python",
        "gateway": gateway,
        "local_id": "email:python@stowaway.test",
        "remote_id": "fqdn:gw.stowaway.test",
        "auth": {"psk": PSK},
    }
    profile.update(extra)
    return profile


class Gateway(object):
    """samples/gateway as a child process; stopped by closing its stdin."""

    def __init__(self):
        path = os.environ.get("STOWAWAY_GATEWAY")
        if not path:
            pytest.skip("STOWAWAY_GATEWAY is not set")
        self.proc = subprocess.Popen(
            [path, "--listen=127.0.0.1:0", "--ike", "--psk=" + PSK,
             "--dns_record=files.stowaway.test=10.99.0.1,"
             "files.stowaway.test=fd99::1",
             "--stop_on_stdin_eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.address = self._wait_ready(20.0)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buf = b""
        try:
            while b"\n" not in buf or not buf.startswith(b"READY "):
                if b"\n" in buf:  # Some other line first: drop it.
                    buf = buf.split(b"\n", 1)[1]
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise RuntimeError("gateway not READY: %r" % buf)
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError("gateway exited: %r" % buf)
                buf += chunk
        finally:
            sel.close()
        return buf.split(b"\n", 1)[0][len(b"READY "):].decode().strip()

    def stop(self):
        self.proc.stdin.close()
        code = self.proc.wait(timeout=20)
        self.proc.stdout.close()
        return code


@pytest.fixture(scope="module")
def gateway():
    gw = Gateway()
    yield gw
    assert gw.stop() == 0


@pytest.fixture
def engine():
    with stowaway.Engine() as e:
        yield e


@pytest.fixture
def session(engine, gateway):
    with engine.session(_profile(gateway.address)) as s:
        s.start()
        s.wait_connected(TIMEOUT)
        yield s


def _pattern(n, seed):
    """The first n bytes of BytePattern(seed) (sdk/base/byte_pattern.h):
    xorshift64* (12/25/27, times 2685821657736338717), state seed | 1, each
    word's bytes least significant first."""
    mask = (1 << 64) - 1
    state = (seed | 1) & mask
    words = []
    for _ in range((n + 7) // 8):
        state ^= state >> 12
        state ^= (state << 25) & mask
        state ^= state >> 27
        words.append((state * 2685821657736338717) & mask)
    import struct
    return struct.pack("<%dQ" % len(words), *words)[:n]


def _http(stream, method, path, body=None, close=False):
    """One HTTP/1.1 exchange on `stream`; returns (status, headers, body)."""
    head = "%s %s HTTP/1.1\r\nHost: 10.99.0.1\r\n" % (method, path)
    if body is not None:
        head += "Content-Length: %d\r\n" % len(body)
    if close:
        head += "Connection: close\r\n"
    stream.sendall(head.encode() + b"\r\n" + (body or b""))
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = stream.recv(16384, timeout=TIMEOUT)
        assert chunk, "connection ended inside the response head: %r" % buf
        buf += chunk
    raw_head, rest = buf.split(b"\r\n\r\n", 1)
    lines = raw_head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    parts = [rest[:length]]
    got = len(parts[0])
    while got < length:
        chunk = stream.recv(min(length - got, 1 << 16), timeout=TIMEOUT)
        assert chunk, "connection ended %d bytes short" % (length - got)
        parts.append(chunk)
        got += len(chunk)
    return status, headers, b"".join(parts)


# ---- Without a gateway ----

def test_library_basics():
    assert stowaway.version() == "0.5.0"
    assert stowaway.api_version() == 1
    assert stowaway.status_name(stowaway.ERR_EOF) == "STOW_ERR_EOF"
    assert stowaway.status_name(-12345) == "STOW_ERR_UNKNOWN"
    assert "stow_resolve" in stowaway.declared_functions()
    assert stowaway.error_class(-504) is stowaway.NameNotFound
    assert issubclass(stowaway.NameNotFound, stowaway.NetworkError)
    assert issubclass(stowaway.BadProfile, stowaway.InvalidArgumentError)
    assert stowaway.error_class(-399) is stowaway.FlowError


def test_one_engine_per_process(engine):
    with pytest.raises(stowaway.EngineExists) as info:
        stowaway.Engine()
    assert info.value.status == -202
    assert info.value.name == "STOW_ERR_ENGINE_EXISTS"
    assert "one per process" in info.value.message


def test_bad_profile_names_field_and_line(engine):
    with pytest.raises(stowaway.BadProfile) as info:
        engine.session('{"name": "x",\n "gateway": }')
    assert "line 2" in info.value.message
    text = json.dumps(_profile("127.0.0.1:4500",
                               timers={"dpd_delay_s": "soon"}), indent=1)
    with pytest.raises(stowaway.BadProfile) as info:
        engine.session(text)
    assert info.value.status == stowaway.ERR_BAD_PROFILE
    assert "timers.dpd_delay_s" in info.value.message, info.value.message
    assert "timers.dpd_delay_s" in str(info.value)
    with pytest.raises(TypeError):
        engine.session(42)


def test_idle_session_errors(engine):
    with engine.session(_profile("127.0.0.1:9")) as s:
        assert s.state == stowaway.SESSION_IDLE
        with pytest.raises(stowaway.NotConnected):
            s.address(stowaway.FAMILY_IPV4)
        with pytest.raises(stowaway.NotConnected):
            s.listen(8080)
        with pytest.raises(stowaway.NotConnected):
            s.resolve("files.stowaway.test")
    # Destroyed: every call raises, nothing crashes; close is idempotent.
    with pytest.raises(stowaway.BadHandle):
        s.start()
    with pytest.raises(stowaway.BadHandle):
        s.state
    with pytest.raises(stowaway.BadHandle):
        s.connect("10.99.0.1", 7)
    s.close()


def test_closed_engine_invalidates_its_objects():
    engine = stowaway.Engine()
    session = engine.session(_profile("127.0.0.1:9"))
    engine.close()
    engine.close()  # Idempotent.
    with pytest.raises(stowaway.BadHandle):
        session.start()
    with pytest.raises(stowaway.BadHandle):
        engine.session(_profile("127.0.0.1:9"))
    session.close()
    # A new engine may follow.
    with stowaway.Engine():
        pass


def test_unreachable_gateway_raises_from_wait_connected(engine):
    profile = _profile("127.0.0.1:9", timers={"retransmit_base_ms": 50,
                                              "retransmit_tries": 2})
    with engine.session(profile) as s:
        s.start()
        with pytest.raises(stowaway.GatewayUnreachable) as info:
            s.wait_connected(TIMEOUT)
        assert info.value.category == stowaway.CATEGORY_NETWORK
        assert info.value.retry_after_ms > 0


# ---- Through the gateway ----

def test_session_reports_addresses_dns_and_stats(session, gateway):
    address = session.address(stowaway.FAMILY_IPV4)
    assert address.startswith("10.99.100."), address
    assert session.dns_servers() == ["10.99.0.1"]
    assert session.state == stowaway.SESSION_CONNECTED
    states = [state for state, _ in session.events]
    assert states[0] == stowaway.SESSION_CONNECTING
    assert stowaway.SESSION_CONNECTED in states
    before = session.stats()
    assert isinstance(before, dict)
    session.ping("10.99.0.1", timeout=5.0)
    after = session.stats()
    assert after["esp_tx_packets"] > before["esp_tx_packets"]
    assert after["esp_rx_packets"] > before["esp_rx_packets"]
    with pytest.raises(stowaway.AlreadyStarted):
        session.start()


def test_wrong_psk_is_auth_failed(engine, gateway):
    profile = _profile(gateway.address)
    profile["auth"] = {"psk": "not-the-right-key-at-all"}
    with engine.session(profile) as s:
        s.start()
        with pytest.raises(stowaway.AuthFailed) as info:
            s.wait_connected(TIMEOUT)
        assert info.value.retry_after_ms == -1


def test_http_status_page(session):
    with session.connect("10.99.0.1", 80, timeout=TIMEOUT) as stream:
        assert stream.getpeername() == ("10.99.0.1", 80)
        assert stream.getsockname()[0] == session.address()
        status, headers, body = _http(stream, "GET", "/", close=True)
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        assert len(body) > 0
        # The server closes after "Connection: close": end of stream.
        assert stream.recv(100, timeout=TIMEOUT) == b""


def test_http_bytes_download_matches_pattern_and_server_sha(session):
    n = 1 << 20
    with session.connect("10.99.0.1", 80, timeout=TIMEOUT) as stream:
        status, _, body = _http(stream, "GET", "/bytes?n=%d&seed=7" % n)
        assert status == 200
        assert len(body) == n
        digest = hashlib.sha256(body).hexdigest()
        assert digest == hashlib.sha256(_pattern(n, 7)).hexdigest()
        # The gateway hashes what we send back on the same connection.
        status, _, answer = _http(stream, "POST", "/sha256", body=body)
        assert status == 200
        assert answer.decode().strip() == digest
        # A second download over the same connection is the same stream.
        status, _, again = _http(stream, "GET", "/bytes?n=%d&seed=7" % n)
        assert hashlib.sha256(again).hexdigest() == digest


def test_echo_one_mib(session):
    data = random.Random(1).randbytes(1 << 20)
    with session.connect("10.99.0.1", 7, timeout=TIMEOUT) as stream:
        stream.settimeout(TIMEOUT)
        failure = []

        def writer():
            try:
                stream.sendall(data)
                stream.shutdown()
            except Exception as e:  # Reported by the main thread.
                failure.append(e)

        thread = threading.Thread(target=writer)
        thread.start()
        received = []
        while True:
            chunk = stream.recv(65536)
            if not chunk:
                break
            received.append(chunk)
        thread.join(TIMEOUT)
        assert not failure, failure
        echoed = b"".join(received)
        assert len(echoed) == len(data)
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
    # Closed: every call raises; close again is a no-op.
    with pytest.raises(stowaway.BadHandle):
        stream.recv(1)
    with pytest.raises(stowaway.BadHandle):
        stream.sendall(b"x")
    stream.close()


def test_connect_by_name_and_errors(session):
    with session.connect("files.stowaway.test", 7, timeout=TIMEOUT) as s:
        assert s.getpeername() == ("10.99.0.1", 7)
        s.sendall(b"ping")
        assert s.recv_exactly(4, timeout=TIMEOUT) == b"ping"
    with pytest.raises(stowaway.ConnectionRefused) as info:
        session.connect("10.99.0.1", 4444, timeout=TIMEOUT)
    assert info.value.category == stowaway.CATEGORY_PEER
    with pytest.raises(stowaway.NameNotFound):
        session.connect("nope.stowaway.test", 7, timeout=TIMEOUT)
    with pytest.raises(stowaway.BadName):
        session.connect("bad..name", 7, timeout=TIMEOUT)


def test_resolve(session):
    assert session.resolve("files.stowaway.test") == ["10.99.0.1", "fd99::1"]
    assert session.resolve("FILES.stowaway.test",
                           stowaway.FAMILY_IPV6) == ["fd99::1"]
    assert session.resolve("files.stowaway.test",
                           stowaway.FAMILY_IPV4) == ["10.99.0.1"]
    with pytest.raises(stowaway.NameNotFound) as info:
        session.resolve("nope.stowaway.test", timeout=TIMEOUT)
    assert info.value.category == stowaway.CATEGORY_DNS
    assert "no such name: nope.stowaway.test" in info.value.message
    with pytest.raises(stowaway.BadName):
        session.resolve("bad..name")


def test_udp_echo_and_ping(session):
    with session.udp_bind() as udp:
        assert udp.local_port > 0
        for i in range(5):
            payload = b"datagram %d" % i
            udp.sendto(payload, ("10.99.0.1", 7))
            data, source = udp.recvfrom(timeout=TIMEOUT)
            assert data == payload
            assert source == ("10.99.0.1", 7)
        with pytest.raises(stowaway.TimedOut):
            udp.recvfrom(timeout=0.2)
        with pytest.raises(stowaway.BadAddress):
            udp.sendto(b"x", ("not-an-ip", 7))
    with pytest.raises(stowaway.BadHandle):
        udp.sendto(b"x", ("10.99.0.1", 7))
    rtt = session.ping("10.99.0.1", timeout=5.0)
    assert 0 < rtt < 5.0


def test_listener_address_in_use(session):
    with session.listen(8080) as listener:
        with pytest.raises(stowaway.AddressInUse):
            session.listen(8080)
        with pytest.raises(stowaway.TimedOut):
            listener.accept(timeout=0.1)
    with pytest.raises(stowaway.BadHandle):
        listener.accept(timeout=0.1)


def test_blocking_calls_inside_callbacks_raise_wrong_thread(engine, gateway):
    seen = []

    def on_event(state, reason):
        # Runs on the network thread: blocking calls are refused there.
        try:
            session.resolve("files.stowaway.test")
        except stowaway.StowError as e:
            seen.append(type(e))

    session = engine.session(_profile(gateway.address), on_event=on_event)
    with session:
        session.start()
        session.wait_connected(TIMEOUT)
    assert seen and all(t is stowaway.WrongThread for t in seen), seen


def test_stop_then_wait_closed(session):
    session.stop()
    status, category, _, _ = session.wait_closed(TIMEOUT)
    assert status == stowaway.OK
    assert category == stowaway.CATEGORY_LOCAL
    assert session.state == stowaway.SESSION_CLOSED


def test_session_close_aborts_streams(engine, gateway):
    session = engine.session(_profile(gateway.address))
    session.start()
    session.wait_connected(TIMEOUT)
    stream = session.connect("10.99.0.1", 7, timeout=TIMEOUT)
    stream.sendall(b"hello")
    assert stream.recv_exactly(5, timeout=TIMEOUT) == b"hello"
    session.close()
    with pytest.raises(stowaway.Aborted):
        stream.recv(10, timeout=TIMEOUT)
    stream.close()
    with pytest.raises(stowaway.BadHandle):
        stream.recv(10)


def test_engine_close_wakes_blocked_reader(engine, gateway):
    session = engine.session(_profile(gateway.address))
    session.start()
    session.wait_connected(TIMEOUT)
    stream = session.connect("10.99.0.1", 7, timeout=TIMEOUT)
    result = []

    def reader():
        try:
            result.append(stream.recv(10, timeout=TIMEOUT))
        except stowaway.StowError as e:
            result.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    engine.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert len(result) == 1 and isinstance(result[0], stowaway.StowError)
    with pytest.raises(stowaway.BadHandle):
        session.stats()


def test_abandoned_resolves_and_pings_are_safe(session):
    # Give up before the answers come: the callbacks still run later, on
    # objects the binding keeps alive until then.
    import gc
    timed_out = 0
    for i in range(20):
        try:
            session.resolve("n%d.stowaway.test" % i, timeout=0)
        except stowaway.TimedOut:
            timed_out += 1
        except stowaway.NameNotFound:
            pass  # Answered already.
    assert timed_out > 0
    gc.collect()
    assert session.resolve("files.stowaway.test",
                           stowaway.FAMILY_IPV4) == ["10.99.0.1"]
    assert session.ping("10.99.0.1") > 0


def test_streams_from_several_threads(session):
    results = {}

    def echo(i):
        data = random.Random(100 + i).randbytes(256 << 10)
        try:
            with session.connect("10.99.0.1", 7, timeout=TIMEOUT) as s:
                s.settimeout(TIMEOUT)
                sender = threading.Thread(target=s.sendall, args=(data,))
                sender.start()
                got = s.recv_exactly(len(data))
                sender.join(TIMEOUT)
                results[i] = got == data
        except stowaway.StowError as e:
            results[i] = e

    threads = [threading.Thread(target=echo, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    assert results == {i: True for i in range(6)}, results


def test_http_proxy_and_forward_and_bridge(session):
    import socket
    # The HTTP side of the local proxy, with an absolute URI and a name.
    with session.proxy() as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), 10) as s:
            s.sendall(b"GET http://files.stowaway.test/ HTTP/1.1\r\n"
                      b"Host: files.stowaway.test\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:100]
        assert b"Stowaway gateway" in data
    # A local forward to the echo service.
    payload = os.urandom(200000)
    with session.forward_local("files.stowaway.test", 7) as fwd:
        with socket.create_connection(("127.0.0.1", fwd.port), 10) as s:
            writer = threading.Thread(target=s.sendall, args=(payload,))
            writer.start()
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(65536)
                assert chunk, "forward closed early"
                got += chunk
            writer.join()
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    # The descriptor bridge, used as a plain socket.
    s = session.bridge("10.99.0.1", 7)
    try:
        s.settimeout(10)
        s.sendall(b"bridged")
        assert s.recv(100) == b"bridged"
    finally:
        s.close()
    with pytest.raises(stowaway.BadAddress):
        session.proxy(listen="not-an-address")
