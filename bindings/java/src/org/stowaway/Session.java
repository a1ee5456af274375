package org.stowaway;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A tunnel to a VPN gateway (IKEv2 + ESP), described by a JSON profile (see
 * docs/profile.md). Create it, {@link #start()} it, wait with {@link
 * #awaitConnected} or a {@link Listener}, then open {@link TcpStream}s and
 * resolve names with {@link Dns} through it. Closing it aborts its streams.
 *
 * <p>Methods may be called from any thread; the listener runs on the
 * engine's network thread.
 */
public final class Session implements AutoCloseable {
  /** Session states (STOW_SESSION_*). */
  public static final int IDLE = 0;
  public static final int CONNECTING = 1;
  public static final int CONNECTED = 2;
  public static final int RECONNECTING = 3;
  public static final int CLOSED = 4;

  /** Address families. */
  public static final int FAMILY_IPV4 = 4;
  public static final int FAMILY_IPV6 = 6;

  /**
   * State events of a session, delivered on the engine's network thread, one
   * at a time, never inside the call that caused them. They must not block;
   * calling other methods of this package from them is fine, except the
   * blocking ones.
   */
  public interface Listener {
    /**
     * Every state change: {@code state} is the state after it, {@code reason}
     * why, and {@code retryAfterMs} the wait before the next attempt while
     * RECONNECTING.
     */
    void onStateChanged(Session session, int state, String reason, int retryAfterMs);

    /**
     * Terminal: the session stopped ({@link #stop()}, an authentication
     * failure, no common proposal, the gateway gone). {@code error} is null
     * when it ended normally. Not called after {@link #close()}.
     */
    void onClosed(Session session, StowException error);
  }

  private final Engine engine;
  private final Listener listener;
  private final Object lock = new Object();
  private long handle; // stow_session*; 0 once closed
  private long context; // the JNI callback context
  private int state = IDLE;
  private boolean ended;
  private StowException endError;
  private final Set<TcpStream> streams = new LinkedHashSet<>();

  /**
   * Parses the profile and makes an idle session. A bad profile throws
   * {@link StowException#ERR_BAD_PROFILE} whose detail names the field and
   * line. {@code listener} may be null.
   */
  public Session(Engine engine, String profileJson, Listener listener) throws StowException {
    if (engine == null || profileJson == null) {
      throw StowException.of(StowException.ERR_INVALID_ARGUMENT, "engine and profile are required");
    }
    this.engine = engine;
    this.listener = listener;
    long[] created =
        nativeCreate(engine.handle(), profileJson.getBytes(StandardCharsets.UTF_8), this);
    handle = created[0];
    context = created[1];
    engine.add(this);
  }

  /** Starts connecting; the session reconnects by itself after failures. */
  public void start() throws StowException {
    nativeStart(handle());
  }

  /**
   * Waits until the session is connected: true when it is, false after
   * {@code timeoutMs} (0: no limit). Throws the session's error when it
   * ended before connecting.
   */
  public boolean awaitConnected(long timeoutMs) throws StowException, InterruptedException {
    engine.checkNotNetworkThread("Session.awaitConnected");
    final long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
    synchronized (lock) {
      while (state != CONNECTED) {
        if (ended) {
          if (endError != null) throw endError;
          throw StowException.of(StowException.ERR_CLOSED, "the session ended before connecting");
        }
        if (handle == 0) throw StowException.of(StowException.ERR_BAD_HANDLE, "closed");
        if (timeoutMs == 0) {
          lock.wait();
        } else {
          long left = (deadline - System.nanoTime()) / 1_000_000L;
          if (left <= 0) return false;
          lock.wait(left);
        }
      }
      return true;
    }
  }

  /** The current state (from the library). */
  public int state() throws StowException {
    return nativeState(handle());
  }

  /** The assigned IPv4 address; STOW_ERR_NOT_CONNECTED when none. */
  public String address() throws StowException {
    return address(FAMILY_IPV4);
  }

  /** The assigned address of a family (FAMILY_IPV4 or FAMILY_IPV6). */
  public String address(int family) throws StowException {
    return nativeAddress(handle(), family);
  }

  /** The DNS servers the gateway pushed (empty before connecting). */
  public String[] dnsServers() throws StowException {
    return nativeDnsServers(handle());
  }

  /** The session's counters as one JSON object. */
  public String stats() throws StowException {
    return nativeStats(handle());
  }

  /**
   * Tells the gateway and stops; {@link Listener#onClosed} follows. Streams
   * through the session are aborted.
   */
  public void stop() throws StowException {
    nativeStop(handle());
  }

  /**
   * Closes the session's streams, stops it without calling back and frees
   * it. Idempotent; may be called from a callback.
   */
  @Override
  public void close() {
    List<TcpStream> open;
    synchronized (lock) {
      if (handle == 0) return;
      open = new ArrayList<>(streams);
    }
    for (TcpStream s : open) s.close();
    long h;
    long ctx;
    synchronized (lock) {
      if (handle == 0) return;
      h = handle;
      ctx = context;
      handle = 0;
      context = 0;
      lock.notifyAll();
    }
    nativeDestroy(h, ctx);
    engine.remove(this);
  }

  Engine engine() {
    return engine;
  }

  long handle() throws StowException {
    synchronized (lock) {
      if (handle == 0) throw StowException.of(StowException.ERR_BAD_HANDLE, "the session was closed");
      return handle;
    }
  }

  void add(TcpStream s) {
    synchronized (lock) {
      streams.add(s);
    }
  }

  void remove(TcpStream s) {
    synchronized (lock) {
      streams.remove(s);
    }
  }

  static void uncaught(Throwable t) {
    Thread.UncaughtExceptionHandler h = Thread.getDefaultUncaughtExceptionHandler();
    if (h != null) {
      h.uncaughtException(Thread.currentThread(), t);
    } else {
      t.printStackTrace();
    }
  }

  // ---- Called from native code on the network thread. ----

  @SuppressWarnings("unused")
  private void onNativeEvent(int newState, String reason, int retryAfterMs) {
    engine.onNetworkThread();
    synchronized (lock) {
      state = newState;
      lock.notifyAll();
    }
    if (listener == null) return;
    try {
      listener.onStateChanged(this, newState, reason, retryAfterMs);
    } catch (Throwable t) {
      uncaught(t);
    }
  }

  @SuppressWarnings("unused")
  private void onNativeClosed(int status, int category, int retryAfterMs, String message) {
    engine.onNetworkThread();
    StowException error =
        status == StowException.OK
            ? null
            : new StowException(status, Engine.statusName(status), message, category, retryAfterMs);
    synchronized (lock) {
      state = CLOSED;
      ended = true;
      endError = error;
      lock.notifyAll();
    }
    if (listener == null) return;
    try {
      listener.onClosed(this, error);
    } catch (Throwable t) {
      uncaught(t);
    }
  }

  private static native long[] nativeCreate(long engine, byte[] profileJson, Session self)
      throws StowException;

  private static native void nativeStart(long session) throws StowException;

  private static native void nativeStop(long session) throws StowException;

  private static native int nativeState(long session) throws StowException;

  private static native String nativeAddress(long session, int family) throws StowException;

  private static native String[] nativeDnsServers(long session) throws StowException;

  private static native String nativeStats(long session) throws StowException;

  private static native void nativeDestroy(long session, long context);
}
