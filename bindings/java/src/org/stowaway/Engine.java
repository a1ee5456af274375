package org.stowaway;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The Stowaway engine: one network thread with the embedded TCP/IP stack.
 * One per process (the stack keeps process-wide state): a second {@code
 * Engine} fails with {@link StowException#ERR_ENGINE_EXISTS} until the first
 * is closed.
 *
 * <p>Every method may be called from any thread. Listener callbacks
 * ({@link Session.Listener}, {@link LogListener}) run on the engine's network
 * thread, one at a time, and must not block; the blocking methods of this
 * package ({@link #close()}, {@link Session#awaitConnected}, {@link
 * TcpStream} I/O, {@link Dns#resolve}) throw {@link
 * StowException#ERR_WRONG_THREAD} there.
 *
 * <p>Closing the engine closes every session and stream made through it.
 */
public final class Engine implements AutoCloseable {
  static {
    System.loadLibrary("stowaway_jni");
  }

  /** Log levels of {@link LogListener}. */
  public static final int LOG_ERROR = 0;
  public static final int LOG_WARNING = 1;
  public static final int LOG_INFO = 2;
  public static final int LOG_DEBUG = 3;

  /** Receives the engine's log lines, on the network thread. */
  public interface LogListener {
    void onLog(int level, String message);
  }

  private final Object lock = new Object();
  private long handle; // stow_engine*; 0 once closed
  private long logContext; // the JNI context of the log listener, or 0
  private final Set<Session> sessions = new LinkedHashSet<>();
  private volatile Thread networkThread;

  /** Starts the network thread. */
  public Engine() throws StowException {
    handle = nativeCreate();
  }

  /** The library's version, e.g. "0.5.0". */
  public static String version() {
    return nativeVersion();
  }

  /** The name of a status code, e.g. "STOW_ERR_EOF". */
  public static String statusName(int status) {
    return nativeStatusName(status);
  }

  /** A sentence describing a status code. */
  public static String statusString(int status) {
    return nativeStatusString(status);
  }

  /**
   * Sets the log listener and the most detailed level it receives ({@code
   * null}: no logging, the default).
   */
  public void setLogListener(int maxLevel, LogListener listener) throws StowException {
    synchronized (lock) {
      long h = checkOpen();
      logContext = nativeSetLog(h, maxLevel, listener, logContext);
    }
  }

  /**
   * Closes every session and stream of the engine, stops the network thread
   * and frees the engine (blocking). Idempotent.
   */
  @Override
  public void close() throws StowException {
    checkNotNetworkThread("Engine.close");
    List<Session> open;
    synchronized (lock) {
      if (handle == 0) return;
      open = new ArrayList<>(sessions);
    }
    for (Session s : open) s.close();
    synchronized (lock) {
      if (handle == 0) return;
      nativeDestroy(handle, logContext);
      handle = 0;
      logContext = 0;
    }
  }

  long handle() throws StowException {
    synchronized (lock) {
      return checkOpen();
    }
  }

  private long checkOpen() throws StowException {
    if (handle == 0) throw StowException.of(StowException.ERR_BAD_HANDLE, "the engine was closed");
    return handle;
  }

  void add(Session s) {
    synchronized (lock) {
      sessions.add(s);
    }
  }

  void remove(Session s) {
    synchronized (lock) {
      sessions.remove(s);
    }
  }

  /** Called first thing in every callback, on the network thread. */
  void onNetworkThread() {
    if (networkThread == null) networkThread = Thread.currentThread();
  }

  void checkNotNetworkThread(String what) throws StowException {
    if (Thread.currentThread() == networkThread) {
      throw StowException.of(
          StowException.ERR_WRONG_THREAD,
          what + " blocks and may not run on the network thread (in a callback)");
    }
  }

  // Called from native code on the network thread.
  @SuppressWarnings("unused")
  private static void dispatchLog(Engine engine, LogListener listener, int level, String message) {
    engine.onNetworkThread();
    try {
      listener.onLog(level, message);
    } catch (Throwable t) {
      Session.uncaught(t);
    }
  }

  private static native String nativeVersion();

  private static native String nativeStatusName(int status);

  private static native String nativeStatusString(int status);

  private static native long nativeCreate() throws StowException;

  private native long nativeSetLog(long engine, int maxLevel, LogListener listener, long oldContext)
      throws StowException;

  private static native void nativeDestroy(long engine, long logContext) throws StowException;
}
