package org.stowaway;

import java.nio.charset.StandardCharsets;

/**
 * Name resolution through a session's DNS servers (never the OS resolver).
 * Results are address literals ("10.1.2.3", "fd00::1"), not InetAddress, so
 * nothing on Android is tempted to resolve them again outside the tunnel.
 */
public final class Dns {
  public static final int FAMILY_ANY = 0;
  public static final int FAMILY_IPV4 = 4;
  public static final int FAMILY_IPV6 = 6;

  private Dns() {}

  /** A and AAAA in parallel; IPv4 addresses first. */
  public static String[] resolve(Session session, String name, long timeoutMs)
      throws StowException, InterruptedException {
    return resolve(session, name, FAMILY_ANY, timeoutMs);
  }

  /**
   * Resolves {@code name}, waiting at most {@code timeoutMs} (0: no limit):
   * the addresses, or StowException with STOW_ERR_NAME_NOT_FOUND,
   * STOW_ERR_DNS_FAILED, STOW_ERR_ABORTED, STOW_ERR_TIMED_OUT, or the
   * synchronous STOW_ERR_BAD_NAME / STOW_ERR_NOT_CONNECTED.
   */
  public static String[] resolve(Session session, String name, int family, long timeoutMs)
      throws StowException, InterruptedException {
    if (session == null || name == null) {
      throw StowException.of(StowException.ERR_INVALID_ARGUMENT, "a session and a name are required");
    }
    session.engine().checkNotNetworkThread("Dns.resolve");
    Request r = new Request(session.engine());
    nativeResolve(session.handle(), cString(name), family, r);
    return r.await(name, timeoutMs);
  }

  /** UTF-8 bytes of a string without NUL (which C would truncate at). */
  static byte[] cString(String s) throws StowException {
    if (s.indexOf('\0') >= 0) {
      throw StowException.of(StowException.ERR_INVALID_ARGUMENT, "a string contains NUL");
    }
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** One pending lookup; the native side keeps it until the result arrives. */
  static final class Request {
    private final Engine engine;
    private boolean done;
    private String[] addresses;
    private StowException error;

    Request(Engine engine) {
      this.engine = engine;
    }

    synchronized String[] await(String name, long timeoutMs)
        throws StowException, InterruptedException {
      final long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
      while (!done) {
        if (timeoutMs == 0) {
          wait();
        } else {
          long left = (deadline - System.nanoTime()) / 1_000_000L;
          if (left <= 0) {
            throw StowException.of(
                StowException.ERR_TIMED_OUT, "no answer for " + name + " within " + timeoutMs + " ms");
          }
          wait(left);
        }
      }
      if (error != null) throw error;
      return addresses.clone();
    }

    // Called from native code on the network thread, exactly once.
    @SuppressWarnings("unused")
    synchronized void onNativeResult(
        int status, int category, int retryAfterMs, String message, String[] result) {
      engine.onNetworkThread();
      done = true;
      if (status == StowException.OK) {
        addresses = result;
      } else {
        error =
            new StowException(status, Engine.statusName(status), message, category, retryAfterMs);
      }
      notifyAll();
    }
  }

  private static native void nativeResolve(long session, byte[] name, int family, Request request)
      throws StowException;
}
