/* Stowaway: a VPN inside the application. The public C API.
 *
 * An engine runs one network thread with an embedded TCP/IP stack. A session
 * is a tunnel to a VPN gateway (IKEv2 + ESP), described by a JSON profile;
 * once it is connected, the application dials, listens, sends datagrams,
 * pings and resolves names through it. Nothing here touches the OS routing
 * table, and names never go to the OS resolver.
 *
 * THREAD CONTRACT
 *
 * - Every function may be called from any thread. Functions run on the
 *   network thread: called from another thread, they hand the work to it
 *   and wait for the result, so they return once it is done (a few
 *   microseconds when the network thread is idle). Called from a callback,
 *   they run at once.
 * - Callbacks run on the network thread, one at a time, never inside the
 *   call that led to them. A callback must not block: the network thread
 *   carries every connection of the engine.
 * - Blocking functions (marked BLOCKING) wait for the network thread to
 *   finish something larger; they return STOW_ERR_WRONG_THREAD when called
 *   on the network thread, which would wait for itself.
 *
 * ERROR CONTRACT
 *
 * - Functions return a stow_status: STOW_OK (0) or a negative code from the
 *   bands below; stow_status_name() and stow_status_string() describe it
 *   and stow_last_error_message() gives the details of the last failure on
 *   the calling thread (which field of a profile, which line).
 * - A call that fails never invokes a callback. A call that succeeds and
 *   takes callbacks leads to exactly one terminal callback (on_closed, or
 *   the result callback of stow_resolve/stow_ping), later, on the network
 *   thread, unless the handle is destroyed first: after a *_destroy()
 *   returns, its callbacks never run again.
 * - Asynchronous errors arrive in that terminal callback as a stow_error: a
 *   status, a stable category, a message and a retry hint.
 *
 * HANDLES
 *
 * Handles are opaque and owned by the application, which destroys each one
 * it created (accepted connections included). *_destroy() accepts NULL. A
 * destroyed handle, or one of another kind, is refused with
 * STOW_ERR_BAD_HANDLE: handles are looked up, never dereferenced, so a
 * stale handle is an error, not a crash. Destroying a session aborts the
 * connections made through it (their on_closed reports STOW_ERR_ABORTED);
 * destroying the engine invalidates every handle.
 *
 * Strings returned through a callback argument are valid during that
 * callback only. Addresses are text: "10.1.2.3", "fd00::1".
 */
#ifndef STOWAWAY_STOWAWAY_H_
#define STOWAWAY_STOWAWAY_H_

#include <stddef.h>
#include <stdint.h>

#if defined(STOW_BUILDING_LIBRARY)
#define STOW_EXPORT __attribute__((visibility("default")))
#else
#define STOW_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* STOW_API_VERSION is the version of this header; stow_api_version() is the
 * version of the library loaded. Both grow when functions are added. */
#define STOW_API_VERSION 1

/* stow_version returns the library's version, e.g. "0.5.0". Static. */
STOW_EXPORT const char *stow_version(void);

/* stow_api_version returns the STOW_API_VERSION the library was built
 * with. */
STOW_EXPORT int32_t stow_api_version(void);

/* ---- Status codes ----
 * Numbered in bands and never renumbered:
 *   0      success
 *   -1xx   invalid argument       -2xx   illegal state
 *   -3xx   would block / buffer   -4xx   unsupported
 *   -5xx   network, peer, name and authentication errors (mostly in
 *          terminal callbacks)
 *   -9xx   internal error */
typedef int32_t stow_status;

enum {
  STOW_OK = 0,

  STOW_ERR_INVALID_ARGUMENT = -100,
  /* A required handle argument was NULL. */
  STOW_ERR_NULL_HANDLE = -101,
  /* The handle was destroyed, belongs to a destroyed engine, or is of
   * another kind. */
  STOW_ERR_BAD_HANDLE = -102,
  /* The JSON profile is malformed or invalid; the message names the field
   * and the line. */
  STOW_ERR_BAD_PROFILE = -103,
  /* Not an IPv4/IPv6 address literal (where a literal is required). */
  STOW_ERR_BAD_ADDRESS = -104,
  /* Not a valid host name. */
  STOW_ERR_BAD_NAME = -105,
  /* A callbacks struct with a struct_size this library does not know. */
  STOW_ERR_BAD_STRUCT_SIZE = -106,
  /* An output buffer is too small; nothing was written. */
  STOW_ERR_BUFFER_TOO_SMALL = -107,

  STOW_ERR_ILLEGAL_STATE = -200,
  /* A BLOCKING function was called on the network thread. */
  STOW_ERR_WRONG_THREAD = -201,
  /* An engine exists already: the TCP/IP stack is per process. */
  STOW_ERR_ENGINE_EXISTS = -202,
  /* The session has no tunnel address yet (not connected). */
  STOW_ERR_NOT_CONNECTED = -203,
  /* The connection or socket was shut down or closed. */
  STOW_ERR_CLOSED = -204,
  /* The session was started already. */
  STOW_ERR_ALREADY_STARTED = -205,
  /* The local address and port are taken. */
  STOW_ERR_ADDRESS_IN_USE = -206,

  /* Nothing to read, or no room to write: the matching callback
   * (on_readable, on_writable) follows when that changes. */
  STOW_ERR_WOULD_BLOCK = -300,
  /* The peer finished sending and every byte was read. */
  STOW_ERR_EOF = -301,
  /* A datagram larger than the path allows. */
  STOW_ERR_MESSAGE_TOO_LONG = -302,
  /* A limit was reached (connections, memory). */
  STOW_ERR_RESOURCE_EXHAUSTED = -303,

  STOW_ERR_UNSUPPORTED = -400,

  /* No route to the destination through the tunnel. */
  STOW_ERR_UNREACHABLE = -500,
  STOW_ERR_CONNECTION_REFUSED = -501,
  /* Reset by the peer, or dropped after retransmissions ran out. */
  STOW_ERR_CONNECTION_RESET = -502,
  STOW_ERR_TIMED_OUT = -503,
  /* The name does not exist (NXDOMAIN) or has no address. */
  STOW_ERR_NAME_NOT_FOUND = -504,
  /* The DNS servers failed or did not answer. */
  STOW_ERR_DNS_FAILED = -505,
  /* Either side's authentication failed (credentials, certificates). */
  STOW_ERR_AUTH_FAILED = -506,
  /* The gateway and the profile share no algorithms. */
  STOW_ERR_NO_PROPOSAL = -507,
  /* Ended by the application or because its session or engine went. */
  STOW_ERR_ABORTED = -508,
  /* The gateway could not be reached or stopped answering. */
  STOW_ERR_GATEWAY_UNREACHABLE = -509,

  STOW_ERR_INTERNAL = -900
};

/* stow_status_name returns the constant's name, "STOW_ERR_EOF"; unknown
 * codes give "STOW_ERR_UNKNOWN". Static. */
STOW_EXPORT const char *stow_status_name(stow_status status);

/* stow_status_string returns a sentence describing the code. Static. */
STOW_EXPORT const char *stow_status_string(stow_status status);

/* stow_last_error_message returns the message of the last call that failed
 * on this thread ("" if none), e.g. "profile line 3: auth.psk: must be a
 * string". Valid until the next failing call on this thread. */
STOW_EXPORT const char *stow_last_error_message(void);

/* Categories of asynchronous errors (stow_error.category). */
enum {
  STOW_CATEGORY_NONE = 0,     /* no error: ended normally */
  STOW_CATEGORY_LOCAL = 1,    /* the application ended it */
  STOW_CATEGORY_NETWORK = 2,  /* the network or gateway failed */
  STOW_CATEGORY_PEER = 3,     /* the remote end refused or reset */
  STOW_CATEGORY_AUTH = 4,     /* authentication failed */
  STOW_CATEGORY_CONFIG = 5,   /* the profile cannot work as written */
  STOW_CATEGORY_DNS = 6,      /* name resolution failed */
  STOW_CATEGORY_INTERNAL = 9
};

/* stow_error: why an object ended, in its terminal callback. */
typedef struct stow_error {
  stow_status status;   /* STOW_OK when it ended normally */
  int32_t category;     /* STOW_CATEGORY_* */
  /* -1: retrying as is will fail the same way (fix the configuration);
   * otherwise the milliseconds to wait before trying again. */
  int32_t retry_after_ms;
  const char *message;  /* never NULL */
} stow_error;

/* Address families. */
enum {
  STOW_FAMILY_ANY = 0,
  STOW_FAMILY_IPV4 = 4,
  STOW_FAMILY_IPV6 = 6
};

/* ---- Engine ---- */

typedef struct stow_engine stow_engine;

/* Log levels. */
enum {
  STOW_LOG_ERROR = 0,
  STOW_LOG_WARNING = 1,
  STOW_LOG_INFO = 2,
  STOW_LOG_DEBUG = 3
};

/* stow_log_fn receives one log line (no newline); `message` is valid during
 * the call. Runs on the network thread. */
typedef void (*stow_log_fn)(void *context, int32_t level, const char *message);

/* stow_engine_create starts the network thread and the TCP/IP stack and
 * writes the engine to *out_engine. One engine per process, because the
 * embedded stack keeps process-wide state: a second one gets
 * STOW_ERR_ENGINE_EXISTS until the first is destroyed. */
STOW_EXPORT stow_status stow_engine_create(stow_engine **out_engine);

/* stow_engine_set_log sets the log callback and the most detailed level it
 * receives (NULL `fn`: no logging, the default). */
STOW_EXPORT stow_status stow_engine_set_log(stow_engine *engine,
                                            int32_t max_level, stow_log_fn fn,
                                            void *context);

/* stow_engine_destroy (BLOCKING) closes every session and socket without
 * calling back, stops the network thread and frees the engine. Every handle
 * of the engine becomes invalid. NULL is a no-op (STOW_OK). */
STOW_EXPORT stow_status stow_engine_destroy(stow_engine *engine);

/* ---- Session ---- */

typedef struct stow_session stow_session;

/* Session states. */
enum {
  STOW_SESSION_IDLE = 0,        /* created, not started */
  STOW_SESSION_CONNECTING = 1,
  STOW_SESSION_CONNECTED = 2,   /* addresses and DNS servers installed */
  STOW_SESSION_RECONNECTING = 3,/* lost; waiting retry_after_ms */
  STOW_SESSION_CLOSED = 4       /* after the terminal callback */
};

/* stow_session_event: a state change or a log line of the session. */
typedef struct stow_session_event {
  uint32_t struct_size;
  int32_t state;            /* STOW_SESSION_* after the change */
  const char *reason;       /* why, e.g. "IKE SA established"; never NULL */
  /* While STOW_SESSION_RECONNECTING: the wait before the next attempt. */
  int32_t retry_after_ms;
} stow_session_event;

typedef struct stow_session_callbacks {
  uint32_t struct_size; /* sizeof(stow_session_callbacks) */
  void *context;        /* passed back untouched */
  /* Every state change. Optional. */
  void (*on_event)(void *context, stow_session *session,
                   const stow_session_event *event);
  /* Terminal: the session stopped (stow_session_stop, an authentication
   * failure, no common proposal). Optional. */
  void (*on_closed)(void *context, stow_session *session,
                    const stow_error *error);
} stow_session_callbacks;

/* stow_session_create parses the JSON profile (an IKEv2 profile: gateway,
 * identities, PSK or certificate, proposals, timers; see
 * docs/profile.md) and writes an idle session to *out_session.
 * STOW_ERR_BAD_PROFILE names the field and line in
 * stow_last_error_message(). `callbacks` may be NULL. */
STOW_EXPORT stow_status stow_session_create(
    stow_engine *engine, const char *profile_json, size_t profile_json_len,
    const stow_session_callbacks *callbacks, stow_session **out_session);

/* stow_session_start starts connecting; on_event reports
 * STOW_SESSION_CONNECTING, then STOW_SESSION_CONNECTED. The session
 * reconnects by itself with backoff after network failures. */
STOW_EXPORT stow_status stow_session_start(stow_session *session);

/* stow_session_stop tells the gateway and stops; on_closed follows with
 * STOW_CATEGORY_LOCAL. Connections through the session are aborted. */
STOW_EXPORT stow_status stow_session_stop(stow_session *session);

/* stow_session_destroy stops the session without calling back and frees it.
 * NULL is a no-op. */
STOW_EXPORT void stow_session_destroy(stow_session *session);

/* stow_session_state writes the current STOW_SESSION_* state. */
STOW_EXPORT stow_status stow_session_state(stow_session *session,
                                           int32_t *out_state);

/* stow_session_address writes the assigned address of `family`
 * (STOW_FAMILY_IPV4 or _IPV6) as a NUL-terminated string into `buf`.
 * STOW_ERR_NOT_CONNECTED when none was assigned. */
STOW_EXPORT stow_status stow_session_address(stow_session *session,
                                             int32_t family, char *buf,
                                             size_t buf_len);

/* stow_session_dns_server writes the DNS server number `index` (from 0)
 * that the gateway pushed; STOW_ERR_INVALID_ARGUMENT past the last. */
STOW_EXPORT stow_status stow_session_dns_server(stow_session *session,
                                                size_t index, char *buf,
                                                size_t buf_len);

/* stow_session_stats writes the session's counters as one JSON object,
 * {"esp_rx_packets": 12, ...}, NUL-terminated, into `buf`; *out_len gets
 * the length without the NUL (also when the buffer is too small). */
STOW_EXPORT stow_status stow_session_stats(stow_session *session, char *buf,
                                           size_t buf_len, size_t *out_len);

/* ---- TCP ---- */

typedef struct stow_tcp stow_tcp;

typedef struct stow_tcp_callbacks {
  uint32_t struct_size; /* sizeof(stow_tcp_callbacks) */
  void *context;
  /* stow_tcp_connect succeeded in connecting. */
  void (*on_connected)(void *context, stow_tcp *tcp);
  /* Bytes (or the peer's FIN) are waiting for stow_tcp_read. */
  void (*on_readable)(void *context, stow_tcp *tcp);
  /* Room to write again after stow_tcp_write returned
   * STOW_ERR_WOULD_BLOCK or accepted fewer bytes than offered. */
  void (*on_writable)(void *context, stow_tcp *tcp);
  /* Terminal: the connection ended. STOW_OK after stow_tcp_close; else
   * why (refused, reset, timed out, name not found, aborted). Bytes already
   * received may still be read. */
  void (*on_closed)(void *context, stow_tcp *tcp, const stow_error *error);
} stow_tcp_callbacks;

/* stow_tcp_connect connects through the session to `host` (an address
 * literal, or a name resolved through the session's DNS servers) and
 * `port`, and writes the connection to *out_tcp at once; on_connected or
 * on_closed follows. Writing before on_connected is allowed. */
STOW_EXPORT stow_status stow_tcp_connect(stow_session *session,
                                         const char *host, uint16_t port,
                                         const stow_tcp_callbacks *callbacks,
                                         stow_tcp **out_tcp);

/* stow_tcp_set_callbacks sets the callbacks of an accepted connection
 * (which has none until then; bytes are queued meanwhile). */
STOW_EXPORT stow_status stow_tcp_set_callbacks(
    stow_tcp *tcp, const stow_tcp_callbacks *callbacks);

/* stow_tcp_write copies up to `data_len` bytes into the send buffer and
 * writes how many it took to *out_written. STOW_ERR_WOULD_BLOCK when it
 * took none (on_writable follows). STOW_ERR_CLOSED after shutdown or
 * close. */
STOW_EXPORT stow_status stow_tcp_write(stow_tcp *tcp, const uint8_t *data,
                                       size_t data_len, size_t *out_written);

/* stow_tcp_read copies up to `buf_len` received bytes into `buf`, writes
 * the count to *out_read and reopens the peer's window by that much: the
 * peer sends only as fast as the application reads. STOW_ERR_WOULD_BLOCK
 * when nothing is waiting (on_readable follows), STOW_ERR_EOF when the peer
 * finished and everything was read. */
STOW_EXPORT stow_status stow_tcp_read(stow_tcp *tcp, uint8_t *buf,
                                      size_t buf_len, size_t *out_read);

/* stow_tcp_shutdown sends FIN after the queued bytes; reading goes on. */
STOW_EXPORT stow_status stow_tcp_shutdown(stow_tcp *tcp);

/* stow_tcp_close closes gracefully (queued bytes are still delivered);
 * on_closed follows with STOW_OK. Unread received bytes make it a reset, as
 * with sockets. */
STOW_EXPORT stow_status stow_tcp_close(stow_tcp *tcp);

/* stow_tcp_destroy resets the connection if it is still open, without
 * calling back, and frees the handle. NULL is a no-op. */
STOW_EXPORT void stow_tcp_destroy(stow_tcp *tcp);

/* stow_tcp_local_address / stow_tcp_remote_address write "addr" and the
 * port. */
STOW_EXPORT stow_status stow_tcp_local_address(stow_tcp *tcp, char *buf,
                                               size_t buf_len,
                                               uint16_t *out_port);
STOW_EXPORT stow_status stow_tcp_remote_address(stow_tcp *tcp, char *buf,
                                                size_t buf_len,
                                                uint16_t *out_port);

typedef struct stow_tcp_listener stow_tcp_listener;

typedef struct stow_tcp_listener_callbacks {
  uint32_t struct_size; /* sizeof(stow_tcp_listener_callbacks) */
  void *context;
  /* A new connection, owned by the application from now on: set its
   * callbacks with stow_tcp_set_callbacks and destroy it when done. */
  void (*on_accept)(void *context, stow_tcp_listener *listener,
                    stow_tcp *tcp);
  /* Terminal: the listener stopped (its session went). */
  void (*on_closed)(void *context, stow_tcp_listener *listener,
                    const stow_error *error);
} stow_tcp_listener_callbacks;

/* stow_tcp_listen listens on `port` of the session's virtual addresses
 * (`address` NULL), or of the one address given. STOW_ERR_NOT_CONNECTED
 * before the session has an address; STOW_ERR_ADDRESS_IN_USE. */
STOW_EXPORT stow_status stow_tcp_listen(
    stow_session *session, const char *address, uint16_t port,
    const stow_tcp_listener_callbacks *callbacks,
    stow_tcp_listener **out_listener);

/* stow_tcp_listener_destroy stops listening and frees the handle without
 * calling back. NULL is a no-op. */
STOW_EXPORT void stow_tcp_listener_destroy(stow_tcp_listener *listener);

/* ---- UDP ---- */

typedef struct stow_udp stow_udp;

typedef struct stow_udp_callbacks {
  uint32_t struct_size; /* sizeof(stow_udp_callbacks) */
  void *context;
  /* One datagram; `data` and `from_address` valid during the call. */
  void (*on_datagram)(void *context, stow_udp *udp, const uint8_t *data,
                      size_t data_len, const char *from_address,
                      uint16_t from_port);
  /* Terminal: the socket stopped (its session went). */
  void (*on_closed)(void *context, stow_udp *udp, const stow_error *error);
} stow_udp_callbacks;

/* stow_udp_bind opens a UDP socket on `port` (0: an ephemeral port) of the
 * session's addresses (`address` NULL) or of the one given. */
STOW_EXPORT stow_status stow_udp_bind(stow_session *session,
                                      const char *address, uint16_t port,
                                      const stow_udp_callbacks *callbacks,
                                      stow_udp **out_udp);

/* stow_udp_send_to sends one datagram to an address literal. Datagrams are
 * never queued: STOW_ERR_UNREACHABLE without a route,
 * STOW_ERR_MESSAGE_TOO_LONG over 65507 bytes. */
STOW_EXPORT stow_status stow_udp_send_to(stow_udp *udp, const char *address,
                                         uint16_t port, const uint8_t *data,
                                         size_t data_len);

/* stow_udp_local_port writes the bound port. */
STOW_EXPORT stow_status stow_udp_local_port(stow_udp *udp,
                                            uint16_t *out_port);

/* stow_udp_destroy closes the socket without calling back. NULL: no-op. */
STOW_EXPORT void stow_udp_destroy(stow_udp *udp);

/* ---- ICMP echo ---- */

/* stow_ping_fn: the result of one echo request. STOW_OK with the round
 * trip in microseconds, STOW_ERR_TIMED_OUT, or STOW_ERR_ABORTED when the
 * session went first. */
typedef void (*stow_ping_fn)(void *context, const stow_error *error,
                             uint32_t rtt_us);

/* stow_ping sends one ICMP or ICMPv6 echo request to an address literal
 * through the session; `fn` runs exactly once. */
STOW_EXPORT stow_status stow_ping(stow_session *session, const char *address,
                                  uint32_t timeout_ms, stow_ping_fn fn,
                                  void *context);

/* ---- DNS ---- */

/* stow_resolve_fn: the result of stow_resolve. On success `addresses` holds
 * `count` address literals (IPv4 first); on failure count is 0 and `error`
 * says why: STOW_ERR_NAME_NOT_FOUND (NXDOMAIN, no records),
 * STOW_ERR_DNS_FAILED, STOW_ERR_ABORTED. */
typedef void (*stow_resolve_fn)(void *context, const stow_error *error,
                                const char *const *addresses, size_t count);

/* stow_resolve looks `name` up through the session's DNS servers (never the
 * OS resolver): A and AAAA in parallel for STOW_FAMILY_ANY. `fn` runs
 * exactly once. STOW_ERR_NOT_CONNECTED when the session has no DNS server
 * yet. */
STOW_EXPORT stow_status stow_resolve(stow_session *session, const char *name,
                                     int32_t family, stow_resolve_fn fn,
                                     void *context);

/* ---- Local proxy, port forwards, descriptor bridge ---- */

typedef struct stow_proxy stow_proxy;

/* stow_proxy_start serves a local proxy on `listen_address` (an
 * "address:port" on the host, normally loopback; NULL: "127.0.0.1:0", a
 * free port). Each client connection speaks SOCKS5 (RFC 1928: CONNECT and
 * UDP ASSOCIATE) or HTTP (CONNECT, and requests with an absolute URI, one
 * per connection), told apart by its first byte; targets are reached
 * through the session, names resolved with its DNS servers. With
 * `username` and `password` (both or neither), SOCKS5 clients must use
 * RFC 1929 username/password and HTTP clients "Proxy-Authorization: Basic".
 * Malformed requests get the protocol's own error reply and are closed.
 * The proxy stops with its session. */
STOW_EXPORT stow_status stow_proxy_start(stow_session *session,
                                         const char *listen_address,
                                         const char *username,
                                         const char *password,
                                         stow_proxy **out_proxy);

/* stow_proxy_port writes the port the proxy listens on. */
STOW_EXPORT stow_status stow_proxy_port(stow_proxy *proxy,
                                        uint16_t *out_port);

/* stow_proxy_destroy stops the proxy and resets its connections. NULL is a
 * no-op. */
STOW_EXPORT void stow_proxy_destroy(stow_proxy *proxy);

typedef struct stow_forward stow_forward;

/* stow_forward_local listens on `listen_address` on the host (NULL:
 * "127.0.0.1:0") and relays each connection through the tunnel to
 * `target_host` (address or name) and `target_port` (ssh -L). */
STOW_EXPORT stow_status stow_forward_local(stow_session *session,
                                           const char *listen_address,
                                           const char *target_host,
                                           uint16_t target_port,
                                           stow_forward **out_forward);

/* stow_forward_remote listens on `tunnel_port` of the session's virtual
 * addresses and relays each connection to `host_address`, an
 * "address:port" on the host (ssh -R). */
STOW_EXPORT stow_status stow_forward_remote(stow_session *session,
                                            uint16_t tunnel_port,
                                            const char *host_address,
                                            stow_forward **out_forward);

/* stow_forward_port writes the port the forward listens on. */
STOW_EXPORT stow_status stow_forward_port(stow_forward *forward,
                                          uint16_t *out_port);

/* stow_forward_destroy stops the forward and resets its connections. NULL
 * is a no-op. */
STOW_EXPORT void stow_forward_destroy(stow_forward *forward);

/* stow_bridge_fn: the bridged connection ended; STOW_OK after a graceful
 * end, else why (name not found, refused, reset, aborted). */
typedef void (*stow_bridge_fn)(void *context, const stow_error *error);

/* stow_bridge_connect connects through the session to `host`:`port` and
 * writes to *out_fd one end of a connected AF_UNIX stream socketpair whose
 * other end is relayed to that connection: existing socket code, blocking
 * or not, reads and writes it as if it were the TCP connection. The
 * descriptor is the caller's to close (closing it ends the connection
 * gracefully). A failed connection closes the far end: reads see EOF.
 * `on_end` (optional) runs exactly once, later. */
STOW_EXPORT stow_status stow_bridge_connect(stow_session *session,
                                            const char *host, uint16_t port,
                                            stow_bridge_fn on_end,
                                            void *context, int *out_fd);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* STOWAWAY_STOWAWAY_H_ */
