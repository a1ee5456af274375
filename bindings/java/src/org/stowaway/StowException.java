package org.stowaway;

import java.io.IOException;

/**
 * A failure reported by the Stowaway library: the C status code (a negative
 * STOW_ERR_* value), its name, and the library's message (for a bad profile,
 * it names the field and the line).
 *
 * <p>Synchronous failures (a call that returned an error) have {@link
 * #category()} {@link #CATEGORY_NONE}; asynchronous ones (a session or a
 * connection that ended) carry the category and the retry hint of the C
 * {@code stow_error}. It is an {@link IOException} so that the stream views
 * of {@link TcpStream} can throw it unchanged, as Cronet's CronetException
 * does on Android.
 */
public class StowException extends IOException {
  private static final long serialVersionUID = 1L;

  // Status codes of stowaway.h, never renumbered.
  public static final int OK = 0;
  public static final int ERR_INVALID_ARGUMENT = -100;
  public static final int ERR_NULL_HANDLE = -101;
  public static final int ERR_BAD_HANDLE = -102;
  public static final int ERR_BAD_PROFILE = -103;
  public static final int ERR_BAD_ADDRESS = -104;
  public static final int ERR_BAD_NAME = -105;
  public static final int ERR_BAD_STRUCT_SIZE = -106;
  public static final int ERR_BUFFER_TOO_SMALL = -107;
  public static final int ERR_ILLEGAL_STATE = -200;
  public static final int ERR_WRONG_THREAD = -201;
  public static final int ERR_ENGINE_EXISTS = -202;
  public static final int ERR_NOT_CONNECTED = -203;
  public static final int ERR_CLOSED = -204;
  public static final int ERR_ALREADY_STARTED = -205;
  public static final int ERR_ADDRESS_IN_USE = -206;
  public static final int ERR_WOULD_BLOCK = -300;
  public static final int ERR_EOF = -301;
  public static final int ERR_MESSAGE_TOO_LONG = -302;
  public static final int ERR_RESOURCE_EXHAUSTED = -303;
  public static final int ERR_UNSUPPORTED = -400;
  public static final int ERR_UNREACHABLE = -500;
  public static final int ERR_CONNECTION_REFUSED = -501;
  public static final int ERR_CONNECTION_RESET = -502;
  public static final int ERR_TIMED_OUT = -503;
  public static final int ERR_NAME_NOT_FOUND = -504;
  public static final int ERR_DNS_FAILED = -505;
  public static final int ERR_AUTH_FAILED = -506;
  public static final int ERR_NO_PROPOSAL = -507;
  public static final int ERR_ABORTED = -508;
  public static final int ERR_GATEWAY_UNREACHABLE = -509;
  public static final int ERR_INTERNAL = -900;

  // Categories of asynchronous errors (stow_error.category).
  public static final int CATEGORY_NONE = 0;
  public static final int CATEGORY_LOCAL = 1;
  public static final int CATEGORY_NETWORK = 2;
  public static final int CATEGORY_PEER = 3;
  public static final int CATEGORY_AUTH = 4;
  public static final int CATEGORY_CONFIG = 5;
  public static final int CATEGORY_DNS = 6;
  public static final int CATEGORY_INTERNAL = 9;

  private final int status;
  private final String statusName;
  private final String detail;
  private final int category;
  private final int retryAfterMs;

  /** A synchronous failure. Called by the JNI layer too. */
  public StowException(int status, String statusName, String detail) {
    this(status, statusName, detail, CATEGORY_NONE, 0);
  }

  /** An asynchronous failure (from a terminal callback). */
  public StowException(
      int status, String statusName, String detail, int category, int retryAfterMs) {
    super(format(statusName, detail));
    this.status = status;
    this.statusName = statusName;
    this.detail = detail == null ? "" : detail;
    this.category = category;
    this.retryAfterMs = retryAfterMs;
  }

  /** A failure detected on the Java side, named like the C one. */
  static StowException of(int status, String detail) {
    return new StowException(status, Engine.statusName(status), detail);
  }

  private static String format(String name, String detail) {
    if (detail == null || detail.isEmpty()) return name;
    return name + ": " + detail;
  }

  /** The negative STOW_ERR_* code. */
  public int status() {
    return status;
  }

  /** The code's name, e.g. "STOW_ERR_BAD_PROFILE". */
  public String statusName() {
    return statusName;
  }

  /** The library's message without the name ("" when there was none). */
  public String detail() {
    return detail;
  }

  /** CATEGORY_*: CATEGORY_NONE for synchronous failures. */
  public int category() {
    return category;
  }

  /**
   * -1: retrying as is fails the same way; otherwise the milliseconds to wait
   * before trying again (asynchronous failures only; 0 otherwise).
   */
  public int retryAfterMs() {
    return retryAfterMs;
  }
}
