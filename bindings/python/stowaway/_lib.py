"""Loads libstowaway.so and declares the C API (stowaway.h) for ctypes.

Every function of the header is declared here with its argtypes and restype,
so that ctypes converts and checks arguments instead of guessing. Byte
buffers are declared as POINTER(c_uint8) (uint8_t *) or c_char_p/c_void_p
for char * output buffers, exactly as wide as the C types.

The library is looked up in this order:
  1. $STOWAWAY_LIB (a path to the .so),
  2. libstowaway.so next to the package (inside stowaway/ or beside it),
  3. ctypes.util.find_library("stowaway").
"""

import ctypes
import ctypes.util
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int32,
                    c_size_t, c_uint16, c_uint32, c_uint8, c_void_p)

stow_status = c_int32

# Opaque handles: kept as void pointers (the library looks them up, never
# trusts them).
stow_engine_p = c_void_p
stow_session_p = c_void_p
stow_tcp_p = c_void_p
stow_tcp_listener_p = c_void_p
stow_udp_p = c_void_p


class stow_error(Structure):
    _fields_ = [
        ("status", stow_status),
        ("category", c_int32),
        ("retry_after_ms", c_int32),
        ("message", c_char_p),
    ]


class stow_session_event(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("state", c_int32),
        ("reason", c_char_p),
        ("retry_after_ms", c_int32),
    ]


stow_log_fn = CFUNCTYPE(None, c_void_p, c_int32, c_char_p)

session_on_event_fn = CFUNCTYPE(None, c_void_p, stow_session_p,
                                POINTER(stow_session_event))
session_on_closed_fn = CFUNCTYPE(None, c_void_p, stow_session_p,
                                 POINTER(stow_error))


class stow_session_callbacks(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("context", c_void_p),
        ("on_event", session_on_event_fn),
        ("on_closed", session_on_closed_fn),
    ]


tcp_event_fn = CFUNCTYPE(None, c_void_p, stow_tcp_p)
tcp_on_closed_fn = CFUNCTYPE(None, c_void_p, stow_tcp_p, POINTER(stow_error))


class stow_tcp_callbacks(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("context", c_void_p),
        ("on_connected", tcp_event_fn),
        ("on_readable", tcp_event_fn),
        ("on_writable", tcp_event_fn),
        ("on_closed", tcp_on_closed_fn),
    ]


listener_on_accept_fn = CFUNCTYPE(None, c_void_p, stow_tcp_listener_p,
                                  stow_tcp_p)
listener_on_closed_fn = CFUNCTYPE(None, c_void_p, stow_tcp_listener_p,
                                  POINTER(stow_error))


class stow_tcp_listener_callbacks(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("context", c_void_p),
        ("on_accept", listener_on_accept_fn),
        ("on_closed", listener_on_closed_fn),
    ]


# data is declared as void* (not uint8_t*) so that ctypes hands the pointer
# through without building a pointer object per datagram.
udp_on_datagram_fn = CFUNCTYPE(None, c_void_p, stow_udp_p, c_void_p,
                               c_size_t, c_char_p, c_uint16)
udp_on_closed_fn = CFUNCTYPE(None, c_void_p, stow_udp_p, POINTER(stow_error))


class stow_udp_callbacks(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("context", c_void_p),
        ("on_datagram", udp_on_datagram_fn),
        ("on_closed", udp_on_closed_fn),
    ]


stow_ping_fn = CFUNCTYPE(None, c_void_p, POINTER(stow_error), c_uint32)
stow_resolve_fn = CFUNCTYPE(None, c_void_p, POINTER(stow_error),
                            POINTER(c_char_p), c_size_t)

_u8p = POINTER(c_uint8)

# name: (restype, argtypes), in the header's order.
_PROTOTYPES = {
    "stow_version": (c_char_p, []),
    "stow_api_version": (c_int32, []),
    "stow_status_name": (c_char_p, [stow_status]),
    "stow_status_string": (c_char_p, [stow_status]),
    "stow_last_error_message": (c_char_p, []),
    # Engine.
    "stow_engine_create": (stow_status, [POINTER(stow_engine_p)]),
    "stow_engine_set_log": (stow_status,
                            [stow_engine_p, c_int32, stow_log_fn, c_void_p]),
    "stow_engine_destroy": (stow_status, [stow_engine_p]),
    # Session.
    "stow_session_create": (stow_status,
                            [stow_engine_p, c_char_p, c_size_t,
                             POINTER(stow_session_callbacks),
                             POINTER(stow_session_p)]),
    "stow_session_start": (stow_status, [stow_session_p]),
    "stow_session_stop": (stow_status, [stow_session_p]),
    "stow_session_destroy": (None, [stow_session_p]),
    "stow_session_state": (stow_status, [stow_session_p, POINTER(c_int32)]),
    "stow_session_address": (stow_status,
                             [stow_session_p, c_int32, c_char_p, c_size_t]),
    "stow_session_dns_server": (stow_status,
                                [stow_session_p, c_size_t, c_char_p,
                                 c_size_t]),
    "stow_session_stats": (stow_status,
                           [stow_session_p, c_char_p, c_size_t,
                            POINTER(c_size_t)]),
    # TCP.
    "stow_tcp_connect": (stow_status,
                         [stow_session_p, c_char_p, c_uint16,
                          POINTER(stow_tcp_callbacks), POINTER(stow_tcp_p)]),
    "stow_tcp_set_callbacks": (stow_status,
                               [stow_tcp_p, POINTER(stow_tcp_callbacks)]),
    "stow_tcp_write": (stow_status,
                       [stow_tcp_p, _u8p, c_size_t, POINTER(c_size_t)]),
    "stow_tcp_read": (stow_status,
                      [stow_tcp_p, _u8p, c_size_t, POINTER(c_size_t)]),
    "stow_tcp_shutdown": (stow_status, [stow_tcp_p]),
    "stow_tcp_close": (stow_status, [stow_tcp_p]),
    "stow_tcp_destroy": (None, [stow_tcp_p]),
    "stow_tcp_local_address": (stow_status,
                               [stow_tcp_p, c_char_p, c_size_t,
                                POINTER(c_uint16)]),
    "stow_tcp_remote_address": (stow_status,
                                [stow_tcp_p, c_char_p, c_size_t,
                                 POINTER(c_uint16)]),
    "stow_tcp_listen": (stow_status,
                        [stow_session_p, c_char_p, c_uint16,
                         POINTER(stow_tcp_listener_callbacks),
                         POINTER(stow_tcp_listener_p)]),
    "stow_tcp_listener_destroy": (None, [stow_tcp_listener_p]),
    # UDP.
    "stow_udp_bind": (stow_status,
                      [stow_session_p, c_char_p, c_uint16,
                       POINTER(stow_udp_callbacks), POINTER(stow_udp_p)]),
    "stow_udp_send_to": (stow_status,
                         [stow_udp_p, c_char_p, c_uint16, _u8p, c_size_t]),
    "stow_udp_local_port": (stow_status, [stow_udp_p, POINTER(c_uint16)]),
    "stow_udp_destroy": (None, [stow_udp_p]),
    # ICMP echo.
    "stow_ping": (stow_status,
                  [stow_session_p, c_char_p, c_uint32, stow_ping_fn,
                   c_void_p]),
    # DNS.
    "stow_resolve": (stow_status,
                     [stow_session_p, c_char_p, c_int32, stow_resolve_fn,
                      c_void_p]),
    # Local proxy, forwards, descriptor bridge.
    "stow_proxy_start": (stow_status,
                         [stow_session_p, c_char_p, c_char_p, c_char_p,
                          POINTER(c_void_p)]),
    "stow_proxy_port": (stow_status, [c_void_p, POINTER(c_uint16)]),
    "stow_proxy_destroy": (None, [c_void_p]),
    "stow_forward_local": (stow_status,
                           [stow_session_p, c_char_p, c_char_p, c_uint16,
                            POINTER(c_void_p)]),
    "stow_forward_remote": (stow_status,
                            [stow_session_p, c_uint16, c_char_p,
                             POINTER(c_void_p)]),
    "stow_forward_port": (stow_status, [c_void_p, POINTER(c_uint16)]),
    "stow_forward_destroy": (None, [c_void_p]),
    "stow_bridge_connect": (stow_status,
                            [stow_session_p, c_char_p, c_uint16, c_void_p,
                             c_void_p, POINTER(ctypes.c_int)]),
}


def _candidates():
    env = os.environ.get("STOWAWAY_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (here, os.path.dirname(here)):
        path = os.path.join(d, "libstowaway.so")
        if os.path.exists(path):
            yield path
    found = ctypes.util.find_library("stowaway")
    if found:
        yield found


def load():
    """Loads and declares the library; raises OSError when none is found."""
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
            continue
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        lib._stowaway_path = path
        return lib
    raise OSError("libstowaway.so not found (set STOWAWAY_LIB)%s" %
                  ("".join("; " + e for e in errors)))


def declared_functions():
    """The names of the C functions this module declares."""
    return sorted(_PROTOTYPES)
