"""Stowaway for Python: a ctypes binding of the C API (stowaway.h).

    import stowaway
    with stowaway.Engine() as engine:
        with engine.session(profile_dict) as session:
            session.start()
            session.wait_connected(timeout=20)
            print(session.address(stowaway.FAMILY_IPV4))
            print(session.resolve("files.stowaway.test"))
            with session.connect("10.99.0.1", 80, timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                print(s.recv(65536))

The shared library comes from $STOWAWAY_LIB, else libstowaway.so next to
the package, else ctypes.util.find_library("stowaway"). One Engine per
process. Blocking calls (wait_connected, resolve, ping, Stream and Datagram
I/O, Engine.close) must not be made from callbacks (on_event, log): they
raise WrongThread there.
"""

from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import StowError, error_class  # noqa: F401
from ._core import (  # noqa: F401
    FAMILY_ANY, FAMILY_IPV4, FAMILY_IPV6,
    LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARNING,
    SESSION_CLOSED, SESSION_CONNECTED, SESSION_CONNECTING, SESSION_IDLE,
    SESSION_RECONNECTING,
    Datagram, Engine, Listener, Proxy, Session, Stream,
    api_version, status_name, status_string, version,
)
from ._lib import declared_functions  # noqa: F401
