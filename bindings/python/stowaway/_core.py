"""Engine, Session, Stream, Datagram and Listener over the C API.

Threading (stowaway.h, THREAD CONTRACT): every C function may be called from
any thread, and callbacks run on the engine's network thread. Here:

- Callbacks go through module-level CFUNCTYPE thunks, created once and never
  freed, so no callback can outlive its trampoline. The `context` pointer
  they get is an integer key into _objects, which holds the Python object
  strongly from the C call that took the callbacks until the handle is
  destroyed (or, for stow_resolve/stow_ping, until the callback ran): the
  C side can never call back into a collected object.
- Callbacks only copy their arguments and set state under the object's
  threading.Condition; they never call a blocking function. Python code
  never calls into the library while holding such a Condition (the call
  waits for the network thread, which may be waiting for that lock).
- Blocking methods raise WrongThread when called inside a callback (for
  example from an on_event or log function), as the C API would.
"""

import atexit
import ctypes
import itertools
import json
import threading
import time
import weakref
from collections import deque
from ctypes import byref, c_char_p, c_int32, c_size_t, c_uint16, c_void_p

from . import _lib
from . import errors as _e

lib = _lib.load()

# Address families.
FAMILY_ANY = 0
FAMILY_IPV4 = 4
FAMILY_IPV6 = 6

# Session states.
SESSION_IDLE = 0
SESSION_CONNECTING = 1
SESSION_CONNECTED = 2
SESSION_RECONNECTING = 3
SESSION_CLOSED = 4

# Log levels.
LOG_ERROR = 0
LOG_WARNING = 1
LOG_INFO = 2
LOG_DEBUG = 3

_ADDR_LEN = 64  # INET6_ADDRSTRLEN (46) and then some.


def version():
    """The loaded library's version, e.g. "0.5.0"."""
    return lib.stow_version().decode()


def api_version():
    """The STOW_API_VERSION the loaded library was built with."""
    return lib.stow_api_version()


def status_name(status):
    return lib.stow_status_name(status).decode()


def status_string(status):
    return lib.stow_status_string(status).decode()


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


def _error(status, message, category=None, retry_after_ms=None):
    cls = _e.error_class(status)
    return cls(status, status_name(status), message, category,
               retry_after_ms)


def _last_error(status):
    """The exception for a failed call, with this thread's last message."""
    return _error(status, _text(lib.stow_last_error_message()))


def _check(status):
    if status != _e.OK:
        raise _last_error(status)


def _copy_error(err_p):
    """Copies a stow_error* (valid during the callback only)."""
    if not err_p:
        return (_e.OK, _e.CATEGORY_NONE, -1, "")
    err = err_p.contents
    return (err.status, err.category, err.retry_after_ms, _text(err.message))


def _raise_async(copied):
    status, category, retry, message = copied
    raise _error(status, message, category, retry)


def _dead(what):
    return _error(_e.ERR_BAD_HANDLE, "%s is closed" % what)


# ---- The registry behind callback contexts ----

_objects = {}
_keys = itertools.count(1)
_tls = threading.local()


def _register(obj):
    key = next(_keys)
    _objects[key] = obj
    return key


def _unregister(key):
    if key is not None:
        _objects.pop(key, None)


def _in_callback():
    return getattr(_tls, "depth", 0) > 0


def _no_callback(what):
    if _in_callback():
        raise _error(_e.ERR_WRONG_THREAD,
                     "%s blocks: not allowed inside a callback (it runs on "
                     "the network thread)" % what)


def _callback(method, pop=False):
    """Builds a thunk body that finds the object by its context key and
    calls its `method` with the remaining arguments."""

    def body(context, *args):
        _tls.depth = getattr(_tls, "depth", 0) + 1
        try:
            obj = _objects.pop(context, None) if pop else _objects.get(context)
            if obj is not None:
                getattr(obj, method)(*args)
        except BaseException:  # Never let an exception unwind into C.
            import traceback
            traceback.print_exc()
        finally:
            _tls.depth -= 1

    return body


_log_thunk = _lib.stow_log_fn(_callback("_on_log"))
_session_event_thunk = _lib.session_on_event_fn(_callback("_on_event"))
_session_closed_thunk = _lib.session_on_closed_fn(_callback("_on_closed"))
_tcp_connected_thunk = _lib.tcp_event_fn(_callback("_on_connected"))
_tcp_readable_thunk = _lib.tcp_event_fn(_callback("_on_readable"))
_tcp_writable_thunk = _lib.tcp_event_fn(_callback("_on_writable"))
_tcp_closed_thunk = _lib.tcp_on_closed_fn(_callback("_on_closed"))
_listener_accept_thunk = _lib.listener_on_accept_fn(_callback("_on_accept"))
_listener_closed_thunk = _lib.listener_on_closed_fn(_callback("_on_closed"))
_udp_datagram_thunk = _lib.udp_on_datagram_fn(_callback("_on_datagram"))
_udp_closed_thunk = _lib.udp_on_closed_fn(_callback("_on_closed"))
_ping_thunk = _lib.stow_ping_fn(_callback("_on_result", pop=True))
_resolve_thunk = _lib.stow_resolve_fn(_callback("_on_result", pop=True))


def _deadline(timeout):
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline):
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


class _Child(object):
    """Something whose handle dies with its engine."""

    def _engine_gone(self):
        raise NotImplementedError


# ---- Engine ----

class Engine(object):
    """The network thread and TCP/IP stack; one per process.

    Use as a context manager, or call close(). A second Engine while one is
    open raises EngineExists. An engine still open at interpreter exit is
    closed by an atexit hook (so no callback runs during finalization).

    `log`, if given, is called as log(level, message) on the network thread
    for every log line up to `log_level`; it must not block.
    """

    _open = set()  # Open engines (strong: closed at exit, never lost).

    def __init__(self, log=None, log_level=LOG_INFO):
        handle = c_void_p()
        _check(lib.stow_engine_create(byref(handle)))
        self._h = handle.value
        self._children = weakref.WeakSet()
        self._log_fn = None
        self._log_key = None
        Engine._open.add(self)
        if log is not None:
            self.set_log(log, log_level)

    def _handle(self):
        if self._h is None:
            raise _dead("Engine")
        return c_void_p(self._h)

    @property
    def closed(self):
        return self._h is None

    def set_log(self, log, level=LOG_INFO):
        """Sets (or with None, clears) the log callback."""
        h = self._handle()
        old = self._log_key
        if log is None:
            _check(lib.stow_engine_set_log(h, level, _lib.stow_log_fn(),
                                           None))
            self._log_key = None
        else:
            self._log_fn = log
            self._log_key = _register(self)
            st = lib.stow_engine_set_log(h, level, _log_thunk,
                                         c_void_p(self._log_key))
            if st != _e.OK:
                err = _last_error(st)
                _unregister(self._log_key)
                self._log_key = old
                raise err
        # The old context may still be in use by a log line being delivered
        # right now; it points at the same object, so keeping it is harmless
        # and dropping it is safe: the lookup just misses.
        if old is not None and old != self._log_key:
            _unregister(old)

    def _on_log(self, level, message):
        fn = self._log_fn
        if fn is not None:
            fn(level, _text(message))

    def session(self, profile, on_event=None):
        """A new idle Session of this engine (see Session)."""
        return Session(self, profile, on_event=on_event)

    def close(self):
        """Destroys the engine (blocking): every session and socket ends
        without calling back, and their Python objects raise BadHandle."""
        if self._h is None:
            return
        _no_callback("Engine.close")
        _check(lib.stow_engine_destroy(c_void_p(self._h)))
        # No callback of this engine runs any more.
        self._h = None
        Engine._open.discard(self)
        for child in list(self._children):
            child._engine_gone()
        for key, obj in list(_objects.items()):
            if obj is self or getattr(obj, "_engine", None) is self:
                _objects.pop(key, None)
        self._log_key = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@atexit.register
def _close_engines():
    for engine in list(Engine._open):
        try:
            engine.close()
        except _e.StowError:
            pass


# ---- One-shot results (stow_resolve, stow_ping) ----

class _Pending(object):
    def __init__(self, engine):
        self._engine = engine
        self.done = threading.Event()
        self.error = None
        self.value = None


class _PendingResolve(_Pending):
    def _on_result(self, err_p, addresses, count):
        self.error = _copy_error(err_p)
        self.value = [_text(addresses[i]) for i in range(count)]
        self.done.set()


class _PendingPing(_Pending):
    def _on_result(self, err_p, rtt_us):
        self.error = _copy_error(err_p)
        self.value = rtt_us
        self.done.set()


# ---- Session ----

class Session(_Child):
    """A tunnel to a gateway, from an IKEv2 profile (a dict or JSON text).

    Created idle; start() connects, wait_connected() blocks until the
    addresses are installed. Use as a context manager (closing destroys
    it), or call stop() to end it with the gateway told.

    `on_event`, if given, is called as on_event(state, reason) on the
    network thread for every state change; it must not block.
    """

    def __init__(self, engine, profile, on_event=None):
        if isinstance(profile, dict):
            data = json.dumps(profile).encode("utf-8")
        elif isinstance(profile, str):
            data = profile.encode("utf-8")
        elif isinstance(profile, (bytes, bytearray)):
            data = bytes(profile)
        else:
            raise TypeError("profile must be a dict, str or bytes")
        self._engine = engine
        self._on_event_fn = on_event
        self._cond = threading.Condition()
        self._state = SESSION_IDLE
        self._events = []
        self._closed = None  # The copied stow_error once on_closed ran.
        self._h = None
        self._key = _register(self)
        self._callbacks = _lib.stow_session_callbacks(
            ctypes.sizeof(_lib.stow_session_callbacks), c_void_p(self._key),
            _session_event_thunk, _session_closed_thunk)
        handle = c_void_p()
        try:
            eh = engine._handle()
            st = lib.stow_session_create(eh, data, len(data),
                                         byref(self._callbacks),
                                         byref(handle))
            if st != _e.OK:
                raise _last_error(st)
        except BaseException:
            _unregister(self._key)
            self._key = None
            raise
        self._h = handle.value
        engine._children.add(self)

    # Callbacks (network thread).
    def _on_event(self, session, event_p):
        event = event_p.contents
        state, reason = event.state, _text(event.reason)
        with self._cond:
            self._state = state
            self._events.append((state, reason))
            self._cond.notify_all()
        if self._on_event_fn is not None:
            self._on_event_fn(state, reason)

    def _on_closed(self, session, err_p):
        copied = _copy_error(err_p)
        with self._cond:
            self._closed = copied
            self._state = SESSION_CLOSED
            self._cond.notify_all()

    def _engine_gone(self):
        with self._cond:
            self._h = None
            if self._closed is None:
                self._closed = (_e.ERR_BAD_HANDLE, _e.CATEGORY_LOCAL, -1,
                                "the engine was closed")
            self._cond.notify_all()

    def _handle(self):
        h = self._h
        if h is None:
            raise _dead("Session")
        return c_void_p(h)

    @property
    def engine(self):
        return self._engine

    @property
    def events(self):
        """The (state, reason) pairs reported so far."""
        with self._cond:
            return list(self._events)

    @property
    def state(self):
        """The current SESSION_* state (stow_session_state)."""
        out = c_int32()
        _check(lib.stow_session_state(self._handle(), byref(out)))
        return out.value

    def start(self):
        _check(lib.stow_session_start(self._handle()))

    def wait_connected(self, timeout=30.0):
        """Blocks until CONNECTED. Raises the session's error if it ended
        (AuthFailed, GatewayUnreachable...), TimedOut after `timeout`."""
        _no_callback("Session.wait_connected")
        self._handle()
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._state == SESSION_CONNECTED or
                self._closed is not None, timeout)
            closed = self._closed
            state = self._state
        if closed is not None and state != SESSION_CONNECTED:
            if closed[0] == _e.OK:
                raise _error(_e.ERR_CLOSED, "the session was stopped",
                             closed[1], closed[2])
            _raise_async(closed)
        if not ok:
            raise _error(_e.ERR_TIMED_OUT,
                         "not connected after %.1f s" % timeout)

    def stop(self):
        """Tells the gateway and stops; wait_closed() waits for the end."""
        _check(lib.stow_session_stop(self._handle()))

    def wait_closed(self, timeout=30.0):
        """Blocks until the session ended; returns (status, category,
        retry_after_ms, message) of its terminal callback."""
        _no_callback("Session.wait_closed")
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed is not None,
                                       timeout):
                raise _error(_e.ERR_TIMED_OUT,
                             "still open after %.1f s" % timeout)
            return self._closed

    def address(self, family=FAMILY_IPV4):
        """The assigned virtual address of `family` (4 or 6), as text."""
        buf = ctypes.create_string_buffer(_ADDR_LEN)
        _check(lib.stow_session_address(self._handle(), family, buf,
                                        len(buf)))
        return buf.value.decode()

    def dns_servers(self):
        """The DNS servers the gateway pushed, as text."""
        h = self._handle()
        out = []
        buf = ctypes.create_string_buffer(_ADDR_LEN)
        while True:
            st = lib.stow_session_dns_server(h, len(out), buf, len(buf))
            if st == _e.ERR_INVALID_ARGUMENT:
                return out
            _check(st)
            out.append(buf.value.decode())

    def stats(self):
        """The session's counters as a dict (stow_session_stats)."""
        h = self._handle()
        size = 4096
        out_len = c_size_t()
        while True:
            buf = ctypes.create_string_buffer(size)
            st = lib.stow_session_stats(h, buf, size, byref(out_len))
            if st == _e.ERR_BUFFER_TOO_SMALL and out_len.value + 1 > size:
                size = out_len.value + 1
                continue
            _check(st)
            return json.loads(buf.value.decode())

    def resolve(self, name, family=FAMILY_ANY, timeout=10.0):
        """Looks `name` up through the session's DNS servers; returns the
        address literals (IPv4 first). NameNotFound, DnsFailed, Aborted;
        TimedOut when no answer came within `timeout` seconds."""
        _no_callback("Session.resolve")
        pending = _PendingResolve(self._engine)
        key = _register(pending)
        st = lib.stow_resolve(self._handle(), name.encode("utf-8"), family,
                              _resolve_thunk, c_void_p(key))
        if st != _e.OK:
            err = _last_error(st)
            _unregister(key)
            raise err
        # On a timeout the entry stays registered until the callback, which
        # the C API promises, pops it.
        if not pending.done.wait(timeout):
            raise _error(_e.ERR_TIMED_OUT, "no answer for %s within %.1f s" %
                         (name, timeout))
        if pending.error[0] != _e.OK:
            _raise_async(pending.error)
        return pending.value

    def ping(self, address, timeout=5.0):
        """Sends one ICMP(v6) echo request to an address literal; returns
        the round trip in seconds. TimedOut when no reply came."""
        _no_callback("Session.ping")
        pending = _PendingPing(self._engine)
        key = _register(pending)
        st = lib.stow_ping(self._handle(), address.encode("utf-8"),
                           int(timeout * 1000), _ping_thunk, c_void_p(key))
        if st != _e.OK:
            err = _last_error(st)
            _unregister(key)
            raise err
        # The library reports STOW_ERR_TIMED_OUT itself; the margin only
        # guards against a lost callback.
        if not pending.done.wait(timeout + 10.0):
            raise _error(_e.ERR_TIMED_OUT, "no ping result")
        if pending.error[0] != _e.OK:
            _raise_async(pending.error)
        return pending.value / 1e6

    def connect(self, host, port, timeout=30.0):
        """A connected Stream to host:port (see Stream.connect)."""
        stream = Stream(self)
        stream.connect(host, port, timeout)
        return stream

    def udp_bind(self, port=0, address=None):
        """A Datagram socket on `port` (0: ephemeral)."""
        return Datagram(self, port, address)

    def listen(self, port, address=None):
        """A Listener on `port` of the session's virtual addresses."""
        return Listener(self, port, address)

    def proxy(self, listen=None, username=None, password=None):
        """A local SOCKS5 + HTTP proxy into the tunnel (see Proxy)."""
        return Proxy(self, "proxy", listen, username, password)

    def forward_local(self, target_host, target_port, listen=None):
        """Listens on the host (`listen`, default 127.0.0.1 and a free
        port) and relays each connection to target_host:target_port
        through the tunnel (ssh -L)."""
        return Proxy(self, "forward", listen, target_host, target_port)

    def bridge(self, host, port):
        """A connected socket.socket whose peer is host:port through the
        tunnel: any socket code can use it. Close it to end the
        connection."""
        import socket as _socket
        fd = ctypes.c_int(-1)
        st = lib.stow_bridge_connect(self._handle(), host.encode(), port,
                                     None, None, byref(fd))
        if st != _e.OK:
            raise _last_error(st)
        return _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM,
                              fileno=fd.value)

    def close(self):
        """Destroys the session without calling back; connections through
        it end with Aborted."""
        h, self._h = self._h, None
        if h is not None:
            lib.stow_session_destroy(c_void_p(h))
        _unregister(self._key)
        self._key = None
        with self._cond:
            self._cond.notify_all()

    destroy = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- TCP ----

def _tcp_callbacks(key):
    return _lib.stow_tcp_callbacks(
        ctypes.sizeof(_lib.stow_tcp_callbacks), c_void_p(key),
        _tcp_connected_thunk, _tcp_readable_thunk, _tcp_writable_thunk,
        _tcp_closed_thunk)


class Stream(_Child):
    """A blocking, socket-like TCP connection through a session.

    connect(), sendall(), recv(), shutdown(), close(); settimeout() sets the
    default timeout of the blocking calls (None: wait forever). A timeout
    raises TimedOut. recv() returns b"" at the end of the stream; an
    abnormal end raises the terminal error (ConnectionReset, Aborted, ...).
    After close() (or the engine's), every method raises BadHandle.
    """

    def __init__(self, session, timeout=None):
        self._session = session
        self._engine = session._engine
        self._timeout = timeout
        self._cond = threading.Condition()
        self._connected = False
        self._readable = False
        self._writable = False
        self._closed = None   # Copied stow_error of on_closed.
        self._close_requested = False
        self._h = None        # Usable handle.
        self._raw = None      # Handle still to destroy.
        self._key = None
        self._started = False
        self._callbacks = None

    # Callbacks (network thread).
    def _on_connected(self, tcp):
        with self._cond:
            self._connected = True
            self._writable = True
            self._cond.notify_all()

    def _on_readable(self, tcp):
        with self._cond:
            self._readable = True
            self._cond.notify_all()

    def _on_writable(self, tcp):
        with self._cond:
            self._writable = True
            self._cond.notify_all()

    def _on_closed(self, tcp, err_p):
        copied = _copy_error(err_p)
        with self._cond:
            self._closed = copied
            self._cond.notify_all()
            destroy = self._close_requested
        if destroy:
            # close() left the graceful close to us: now it is over.
            raw = self._take_raw()
            if raw is not None:
                lib.stow_tcp_destroy(c_void_p(raw))
            _unregister(self._key)

    def _engine_gone(self):
        with self._cond:
            self._h = None
            self._raw = None
            if self._closed is None:
                self._closed = (_e.ERR_BAD_HANDLE, _e.CATEGORY_LOCAL, -1,
                                "the engine was closed")
            self._cond.notify_all()

    def _take_raw(self):
        with self._cond:
            raw, self._raw = self._raw, None
            return raw

    def _handle(self):
        h = self._h
        if h is None:
            raise _dead("Stream")
        return c_void_p(h)

    def _timeout_or(self, timeout):
        return self._timeout if timeout is None else timeout

    def _adopt(self, raw):
        """Takes over an accepted connection (on the network thread)."""
        self._key = _register(self)
        self._callbacks = _tcp_callbacks(self._key)
        self._started = True
        with self._cond:
            self._h = self._raw = raw
            self._connected = True
            self._writable = True
            self._readable = True
        st = lib.stow_tcp_set_callbacks(c_void_p(raw), byref(self._callbacks))
        if st != _e.OK:
            err = _last_error(st)
            self._destroy_now()
            raise err
        self._engine._children.add(self)

    def settimeout(self, timeout):
        self._timeout = timeout

    def gettimeout(self):
        return self._timeout

    def connect(self, host, port, timeout=None):
        """Connects to `host` (an address literal, or a name resolved
        through the session's DNS servers) and `port`; blocks until
        connected. Raises ConnectionRefused, NameNotFound, ..., or
        TimedOut (the attempt is then abandoned)."""
        _no_callback("Stream.connect")
        if self._started:
            raise _error(_e.ERR_ILLEGAL_STATE, "Stream.connect called twice")
        timeout = self._timeout_or(timeout)
        sh = self._session._handle()
        self._started = True
        self._key = _register(self)
        self._callbacks = _tcp_callbacks(self._key)
        handle = c_void_p()
        if isinstance(host, str):
            host = host.encode("utf-8")
        st = lib.stow_tcp_connect(sh, host, port, byref(self._callbacks),
                                  byref(handle))
        if st != _e.OK:
            err = _last_error(st)
            _unregister(self._key)
            self._key = None
            raise err
        with self._cond:
            self._h = self._raw = handle.value
        self._engine._children.add(self)
        with self._cond:
            self._cond.wait_for(
                lambda: self._connected or self._closed is not None, timeout)
            closed = self._closed
            connected = self._connected
        if not connected:
            self._destroy_now()
            if closed is not None:
                if closed[0] == _e.OK:
                    raise _error(_e.ERR_CLOSED, "closed while connecting")
                _raise_async(closed)
            raise _error(_e.ERR_TIMED_OUT,
                         "not connected after %.1f s" % timeout)
        return self

    def _terminal(self, fallback):
        """The exception for a connection that ended."""
        closed = self._closed
        if closed is not None and closed[0] not in (_e.OK,):
            return _error(*closed[:1], closed[3], closed[1], closed[2])
        return fallback

    def _wait(self, flag, deadline, what):
        with self._cond:
            ok = self._cond.wait_for(
                lambda: getattr(self, flag) or self._closed is not None or
                self._h is None, _remaining(deadline))
        if not ok:
            raise _error(_e.ERR_TIMED_OUT, "%s timed out" % what)

    def send(self, data, timeout=None):
        """Writes some of `data`, blocking until at least one byte fit;
        returns the count."""
        return self._send(data, timeout, all_=False)

    def sendall(self, data, timeout=None):
        """Writes all of `data`, blocking while the send buffer is full."""
        self._send(data, timeout, all_=True)

    def _send(self, data, timeout, all_):
        _no_callback("Stream.sendall")
        if not isinstance(data, bytes):
            data = bytes(data)
        total = len(data)
        if total == 0:
            self._handle()
            return 0
        base = ctypes.cast(c_char_p(data), c_void_p).value
        deadline = _deadline(self._timeout_or(timeout))
        written = c_size_t()
        offset = 0
        while offset < total:
            h = self._handle()
            with self._cond:
                self._writable = False
            st = lib.stow_tcp_write(
                h, ctypes.cast(base + offset, _lib._u8p), total - offset,
                byref(written))
            if st == _e.OK and written.value > 0:
                offset += written.value
                if not all_:
                    break
                continue
            if st in (_e.OK, _e.ERR_WOULD_BLOCK):
                self._wait("_writable", deadline, "send")
                continue
            if st == _e.ERR_CLOSED:
                raise self._terminal(_last_error(st))
            raise _last_error(st)
        return offset

    def recv(self, bufsize, timeout=None):
        """Returns up to `bufsize` received bytes, blocking until some
        arrive; b"" once the peer finished and everything was read."""
        _no_callback("Stream.recv")
        if bufsize <= 0:
            self._handle()
            return b""
        buf = ctypes.create_string_buffer(bufsize)
        ptr = ctypes.cast(buf, _lib._u8p)
        got = c_size_t()
        deadline = _deadline(self._timeout_or(timeout))
        while True:
            h = self._handle()
            with self._cond:
                self._readable = False
            st = lib.stow_tcp_read(h, ptr, bufsize, byref(got))
            if st == _e.OK and got.value > 0:
                return buf.raw[:got.value]
            if st == _e.ERR_EOF:
                return b""
            if st in (_e.OK, _e.ERR_WOULD_BLOCK):
                if self._closed is not None:
                    # Ended and nothing left: every byte was read.
                    err = self._terminal(None)
                    if err is not None:
                        raise err
                    return b""
                self._wait("_readable", deadline, "recv")
                continue
            if st == _e.ERR_CLOSED and self._closed is not None:
                err = self._terminal(None)
                if err is not None:
                    raise err
                return b""
            raise _last_error(st)

    def recv_exactly(self, n, timeout=None):
        """Exactly `n` bytes; EndOfStream if the stream ends first."""
        parts = []
        left = n
        while left > 0:
            chunk = self.recv(min(left, 1 << 16), timeout)
            if not chunk:
                raise _error(_e.ERR_EOF, "stream ended %d bytes short" % left)
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def shutdown(self, how=None):
        """Sends FIN after the queued bytes (only the write side can be
        shut down: `how` must be None or socket.SHUT_WR); reading goes on.
        """
        import socket
        if how not in (None, socket.SHUT_WR):
            raise ValueError("only SHUT_WR is supported")
        _check(lib.stow_tcp_shutdown(self._handle()))

    def _address(self, fn):
        buf = ctypes.create_string_buffer(_ADDR_LEN)
        port = c_uint16()
        _check(fn(self._handle(), buf, len(buf), byref(port)))
        return (buf.value.decode(), port.value)

    def getsockname(self):
        return self._address(lib.stow_tcp_local_address)

    def getpeername(self):
        return self._address(lib.stow_tcp_remote_address)

    def _destroy_now(self):
        self._h = None
        raw = self._take_raw()
        if raw is not None:
            lib.stow_tcp_destroy(c_void_p(raw))
        _unregister(self._key)

    def close(self):
        """Closes gracefully: queued bytes are still delivered (unread
        received bytes make it a reset, as with sockets). Does not block;
        the handle is destroyed when the close completed."""
        h = self._h
        if h is None:
            return
        self._h = None
        with self._cond:
            ended = self._closed is not None
            self._close_requested = True
        if not ended and lib.stow_tcp_close(c_void_p(h)) == _e.OK:
            with self._cond:
                ended = self._closed is not None
            if not ended:
                return  # _on_closed destroys it.
        self._destroy_now()

    def abort(self):
        """Resets the connection if open and destroys it at once."""
        self._destroy_now()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Listener(_Child):
    """Accepts TCP connections on a port of the session's addresses."""

    def __init__(self, session, port, address=None):
        self._session = session
        self._engine = session._engine
        self._cond = threading.Condition()
        self._queue = deque()
        self._closed = None
        self._h = None
        self._key = _register(self)
        self._callbacks = _lib.stow_tcp_listener_callbacks(
            ctypes.sizeof(_lib.stow_tcp_listener_callbacks),
            c_void_p(self._key), _listener_accept_thunk,
            _listener_closed_thunk)
        handle = c_void_p()
        try:
            st = lib.stow_tcp_listen(
                session._handle(),
                address.encode() if address is not None else None, port,
                byref(self._callbacks), byref(handle))
            if st != _e.OK:
                raise _last_error(st)
        except BaseException:
            _unregister(self._key)
            self._key = None
            raise
        self._h = handle.value
        self._engine._children.add(self)

    def _on_accept(self, listener, tcp):
        stream = Stream(self._session)
        try:
            stream._adopt(tcp)
        except _e.StowError:
            return
        with self._cond:
            self._queue.append(stream)
            self._cond.notify_all()

    def _on_closed(self, listener, err_p):
        copied = _copy_error(err_p)
        with self._cond:
            self._closed = copied
            self._cond.notify_all()

    def _engine_gone(self):
        with self._cond:
            self._h = None
            self._cond.notify_all()

    def _handle(self):
        if self._h is None:
            raise _dead("Listener")
        return c_void_p(self._h)

    def accept(self, timeout=None):
        """The next accepted Stream; TimedOut after `timeout`."""
        _no_callback("Listener.accept")
        self._handle()
        with self._cond:
            self._cond.wait_for(
                lambda: self._queue or self._closed is not None or
                self._h is None, timeout)
            if self._queue:
                return self._queue.popleft()
            closed = self._closed
        self._handle()
        if closed is not None:
            _raise_async(closed if closed[0] != _e.OK else
                         (_e.ERR_CLOSED, closed[1], closed[2],
                          "the listener stopped"))
        raise _error(_e.ERR_TIMED_OUT, "no connection within %s s" % timeout)

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            lib.stow_tcp_listener_destroy(c_void_p(h))
        _unregister(self._key)
        with self._cond:
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for stream in pending:
            stream.abort()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- UDP ----

class Datagram(_Child):
    """A UDP socket through a session: sendto(), recvfrom(timeout).

    Received datagrams queue up to `max_queue`; beyond that they are
    dropped and counted in `dropped`.
    """

    def __init__(self, session, port=0, address=None, max_queue=4096):
        self._session = session
        self._engine = session._engine
        self._cond = threading.Condition()
        self._queue = deque()
        self._max_queue = max_queue
        self.dropped = 0
        self._closed = None
        self._h = None
        self._key = _register(self)
        self._callbacks = _lib.stow_udp_callbacks(
            ctypes.sizeof(_lib.stow_udp_callbacks), c_void_p(self._key),
            _udp_datagram_thunk, _udp_closed_thunk)
        handle = c_void_p()
        try:
            st = lib.stow_udp_bind(
                session._handle(),
                address.encode() if address is not None else None, port,
                byref(self._callbacks), byref(handle))
            if st != _e.OK:
                raise _last_error(st)
        except BaseException:
            _unregister(self._key)
            self._key = None
            raise
        self._h = handle.value
        self._engine._children.add(self)

    def _on_datagram(self, udp, data, length, from_address, from_port):
        payload = ctypes.string_at(data, length) if length else b""
        source = (_text(from_address), from_port)
        with self._cond:
            if len(self._queue) >= self._max_queue:
                self.dropped += 1
                return
            self._queue.append((payload, source))
            self._cond.notify_all()

    def _on_closed(self, udp, err_p):
        copied = _copy_error(err_p)
        with self._cond:
            self._closed = copied
            self._cond.notify_all()

    def _engine_gone(self):
        with self._cond:
            self._h = None
            self._cond.notify_all()

    def _handle(self):
        if self._h is None:
            raise _dead("Datagram")
        return c_void_p(self._h)

    @property
    def local_port(self):
        port = c_uint16()
        _check(lib.stow_udp_local_port(self._handle(), byref(port)))
        return port.value

    def sendto(self, data, address):
        """Sends one datagram to (address literal, port)."""
        host, port = address
        if not isinstance(data, bytes):
            data = bytes(data)
        ptr = ctypes.cast(c_char_p(data), _lib._u8p)
        _check(lib.stow_udp_send_to(self._handle(), host.encode(), port, ptr,
                                    len(data)))
        return len(data)

    def recvfrom(self, timeout=None):
        """The next datagram as (bytes, (address, port)); TimedOut after
        `timeout` seconds."""
        _no_callback("Datagram.recvfrom")
        self._handle()
        with self._cond:
            self._cond.wait_for(
                lambda: self._queue or self._closed is not None or
                self._h is None, timeout)
            if self._queue:
                return self._queue.popleft()
            closed = self._closed
        self._handle()
        if closed is not None:
            _raise_async(closed if closed[0] != _e.OK else
                         (_e.ERR_CLOSED, closed[1], closed[2],
                          "the socket stopped"))
        raise _error(_e.ERR_TIMED_OUT, "no datagram within %s s" % timeout)

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            lib.stow_udp_destroy(c_void_p(h))
        _unregister(self._key)
        with self._cond:
            self._cond.notify_all()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Proxy(_Child):
    """A local proxy (Session.proxy) or forward (Session.forward_local):
    `port` is where it listens on the host; close() stops it. It also stops
    with its session."""

    def __init__(self, session, kind, listen, a, b):
        self._session = session
        self._kind = kind
        handle = c_void_p()
        listen_b = listen.encode() if listen is not None else None
        if kind == "proxy":
            st = lib.stow_proxy_start(
                session._handle(), listen_b,
                a.encode() if a is not None else None,
                b.encode() if b is not None else None, byref(handle))
        else:
            st = lib.stow_forward_local(session._handle(), listen_b,
                                        a.encode(), b, byref(handle))
        if st != _e.OK:
            raise _last_error(st)
        self._h = handle.value

    @property
    def port(self):
        if self._h is None:
            raise _dead("Proxy")
        out = c_uint16()
        fn = (lib.stow_proxy_port if self._kind == "proxy"
              else lib.stow_forward_port)
        _check(fn(c_void_p(self._h), byref(out)))
        return out.value

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            (lib.stow_proxy_destroy if self._kind == "proxy"
             else lib.stow_forward_destroy)(c_void_p(h))

    def _engine_gone(self):
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
