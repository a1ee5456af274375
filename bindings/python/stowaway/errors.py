"""Exceptions mapped from stow_status codes (sdk/include/stowaway/stowaway.h).

Every failing call raises a subclass of StowError carrying the status code,
its constant name ("STOW_ERR_BAD_PROFILE") and a message: for a synchronous
failure, stow_last_error_message() of the calling thread; for an
asynchronous one, the message of the terminal callback's stow_error.

The classes follow the header's bands, so callers can catch a whole band:

  StowError
    InvalidArgumentError (-1xx)  NullHandle, BadHandle, BadProfile,
                                 BadAddress, BadName, BadStructSize,
                                 BufferTooSmall
    IllegalStateError (-2xx)     WrongThread, EngineExists, NotConnected,
                                 Closed, AlreadyStarted, AddressInUse
    FlowError (-3xx)             WouldBlock, EndOfStream, MessageTooLong,
                                 ResourceExhausted
    UnsupportedError (-4xx)
    NetworkError (-5xx)          Unreachable, ConnectionRefused,
                                 ConnectionReset, TimedOut, NameNotFound,
                                 DnsFailed, AuthFailed, NoProposal, Aborted,
                                 GatewayUnreachable
    InternalError (-9xx)
"""

# Status codes, as in the header (numbered in bands, never renumbered).
OK = 0
ERR_INVALID_ARGUMENT = -100
ERR_NULL_HANDLE = -101
ERR_BAD_HANDLE = -102
ERR_BAD_PROFILE = -103
ERR_BAD_ADDRESS = -104
ERR_BAD_NAME = -105
ERR_BAD_STRUCT_SIZE = -106
ERR_BUFFER_TOO_SMALL = -107
ERR_ILLEGAL_STATE = -200
ERR_WRONG_THREAD = -201
ERR_ENGINE_EXISTS = -202
ERR_NOT_CONNECTED = -203
ERR_CLOSED = -204
ERR_ALREADY_STARTED = -205
ERR_ADDRESS_IN_USE = -206
ERR_WOULD_BLOCK = -300
ERR_EOF = -301
ERR_MESSAGE_TOO_LONG = -302
ERR_RESOURCE_EXHAUSTED = -303
ERR_UNSUPPORTED = -400
ERR_UNREACHABLE = -500
ERR_CONNECTION_REFUSED = -501
ERR_CONNECTION_RESET = -502
ERR_TIMED_OUT = -503
ERR_NAME_NOT_FOUND = -504
ERR_DNS_FAILED = -505
ERR_AUTH_FAILED = -506
ERR_NO_PROPOSAL = -507
ERR_ABORTED = -508
ERR_GATEWAY_UNREACHABLE = -509
ERR_INTERNAL = -900

# stow_error.category values.
CATEGORY_NONE = 0
CATEGORY_LOCAL = 1
CATEGORY_NETWORK = 2
CATEGORY_PEER = 3
CATEGORY_AUTH = 4
CATEGORY_CONFIG = 5
CATEGORY_DNS = 6
CATEGORY_INTERNAL = 9


class StowError(Exception):
    """A failed stow_* call or an object that ended with an error.

    Attributes: status (the negative stow_status), name (its constant's
    name), message (details), category (STOW_CATEGORY_* for asynchronous
    errors, else None) and retry_after_ms (asynchronous errors: -1 means
    retrying as is fails the same way; else None).
    """

    def __init__(self, status, name, message, category=None,
                 retry_after_ms=None):
        super().__init__(status, name, message)
        self.status = status
        self.name = name
        self.message = message
        self.category = category
        self.retry_after_ms = retry_after_ms

    def __str__(self):
        if self.message:
            return "%s (%d): %s" % (self.name, self.status, self.message)
        return "%s (%d)" % (self.name, self.status)


class InvalidArgumentError(StowError):
    """-1xx: an argument was invalid (also STOW_ERR_INVALID_ARGUMENT)."""


class NullHandle(InvalidArgumentError):
    pass


class BadHandle(InvalidArgumentError):
    """The handle was destroyed (or its engine was), or is of another kind."""


class BadProfile(InvalidArgumentError):
    """The JSON profile is malformed; the message names the field and line."""


class BadAddress(InvalidArgumentError):
    pass


class BadName(InvalidArgumentError):
    pass


class BadStructSize(InvalidArgumentError):
    pass


class BufferTooSmall(InvalidArgumentError):
    pass


class IllegalStateError(StowError):
    """-2xx: the call does not fit the object's state."""


class WrongThread(IllegalStateError):
    """A blocking call on the network thread (inside a callback)."""


class EngineExists(IllegalStateError):
    pass


class NotConnected(IllegalStateError):
    pass


class Closed(IllegalStateError):
    pass


class AlreadyStarted(IllegalStateError):
    pass


class AddressInUse(IllegalStateError):
    pass


class FlowError(StowError):
    """-3xx: would block, end of stream, buffers and limits."""


class WouldBlock(FlowError):
    pass


class EndOfStream(FlowError):
    pass


class MessageTooLong(FlowError):
    pass


class ResourceExhausted(FlowError):
    pass


class UnsupportedError(StowError):
    """-4xx."""


class NetworkError(StowError):
    """-5xx: network, peer, name and authentication errors."""


class Unreachable(NetworkError):
    pass


class ConnectionRefused(NetworkError):
    pass


class ConnectionReset(NetworkError):
    pass


class TimedOut(NetworkError):
    """STOW_ERR_TIMED_OUT; also raised when a blocking wrapper's timeout
    passes."""


class NameNotFound(NetworkError):
    pass


class DnsFailed(NetworkError):
    pass


class AuthFailed(NetworkError):
    pass


class NoProposal(NetworkError):
    pass


class Aborted(NetworkError):
    pass


class GatewayUnreachable(NetworkError):
    pass


class InternalError(StowError):
    """-9xx."""


_BY_STATUS = {
    ERR_INVALID_ARGUMENT: InvalidArgumentError,
    ERR_NULL_HANDLE: NullHandle,
    ERR_BAD_HANDLE: BadHandle,
    ERR_BAD_PROFILE: BadProfile,
    ERR_BAD_ADDRESS: BadAddress,
    ERR_BAD_NAME: BadName,
    ERR_BAD_STRUCT_SIZE: BadStructSize,
    ERR_BUFFER_TOO_SMALL: BufferTooSmall,
    ERR_ILLEGAL_STATE: IllegalStateError,
    ERR_WRONG_THREAD: WrongThread,
    ERR_ENGINE_EXISTS: EngineExists,
    ERR_NOT_CONNECTED: NotConnected,
    ERR_CLOSED: Closed,
    ERR_ALREADY_STARTED: AlreadyStarted,
    ERR_ADDRESS_IN_USE: AddressInUse,
    ERR_WOULD_BLOCK: WouldBlock,
    ERR_EOF: EndOfStream,
    ERR_MESSAGE_TOO_LONG: MessageTooLong,
    ERR_RESOURCE_EXHAUSTED: ResourceExhausted,
    ERR_UNSUPPORTED: UnsupportedError,
    ERR_UNREACHABLE: Unreachable,
    ERR_CONNECTION_REFUSED: ConnectionRefused,
    ERR_CONNECTION_RESET: ConnectionReset,
    ERR_TIMED_OUT: TimedOut,
    ERR_NAME_NOT_FOUND: NameNotFound,
    ERR_DNS_FAILED: DnsFailed,
    ERR_AUTH_FAILED: AuthFailed,
    ERR_NO_PROPOSAL: NoProposal,
    ERR_ABORTED: Aborted,
    ERR_GATEWAY_UNREACHABLE: GatewayUnreachable,
    ERR_INTERNAL: InternalError,
}

_BY_BAND = {
    1: InvalidArgumentError,
    2: IllegalStateError,
    3: FlowError,
    4: UnsupportedError,
    5: NetworkError,
    9: InternalError,
}


def error_class(status):
    """The exception class for a (negative) status code."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = _BY_BAND.get((-status) // 100, StowError)
    return cls
