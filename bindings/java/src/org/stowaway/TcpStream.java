package org.stowaway;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * A TCP connection through a session, with blocking {@link InputStream} and
 * {@link OutputStream} views (like java.net.Socket). One thread may read
 * while another writes. Close it when done: it holds native resources.
 *
 * <p>Blocking calls wait for the network thread's callbacks; they throw
 * {@link StowException#ERR_WRONG_THREAD} when called on the network thread.
 */
public final class TcpStream implements AutoCloseable {
  private static final int WOULD_BLOCK = 0;
  private static final int EOF = -1;

  private final Session session;
  private final Engine engine;
  private final Object lock = new Object();
  private long handle; // stow_tcp*; stays set after close (a closed handle is refused, not a crash)
  private long context; // 0 once closed
  private boolean closed;
  private boolean connected;
  private boolean ended; // on_closed arrived
  private StowException endError;
  private long readableSeq;
  private long writableSeq;
  private int readTimeoutMs;
  private final InputStream in = new In();
  private final OutputStream out = new Out();

  private TcpStream(Session session) {
    this.session = session;
    this.engine = session.engine();
  }

  /**
   * Connects to {@code host} (an address literal, or a name resolved through
   * the session's DNS servers) and {@code port}, waiting at most {@code
   * timeoutMs} (0: no limit). Refusals, resets, unknown names and time-outs
   * throw with their status.
   */
  public static TcpStream connect(Session session, String host, int port, long timeoutMs)
      throws IOException, InterruptedException {
    if (host == null || port < 0 || port > 65535) {
      throw StowException.of(StowException.ERR_INVALID_ARGUMENT, "a host and a port are required");
    }
    session.engine().checkNotNetworkThread("TcpStream.connect");
    TcpStream s = new TcpStream(session);
    long[] created =
        nativeConnect(session.handle(), Dns.cString(host), port, s);
    synchronized (s.lock) {
      s.handle = created[0];
      s.context = created[1];
    }
    session.add(s);
    try {
      s.awaitConnected(timeoutMs);
    } catch (IOException | InterruptedException | RuntimeException e) {
      s.close();
      throw e;
    }
    return s;
  }

  private void awaitConnected(long timeoutMs) throws IOException, InterruptedException {
    final long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
    synchronized (lock) {
      while (!connected) {
        if (ended) {
          if (endError != null) throw endError;
          throw StowException.of(StowException.ERR_CLOSED, "the connection ended");
        }
        if (timeoutMs == 0) {
          lock.wait();
        } else {
          long left = (deadline - System.nanoTime()) / 1_000_000L;
          if (left <= 0) {
            throw StowException.of(
                StowException.ERR_TIMED_OUT, "not connected within " + timeoutMs + " ms");
          }
          lock.wait(left);
        }
      }
    }
  }

  /** The blocking input view; read() returns -1 at the peer's end of stream. */
  public InputStream getInputStream() {
    return in;
  }

  /** The blocking output view; flush() is a no-op (writes go out at once). */
  public OutputStream getOutputStream() {
    return out;
  }

  /**
   * Sets how long a read waits for bytes before throwing {@link
   * SocketTimeoutException} (0: no limit, the default).
   */
  public void setReadTimeout(int timeoutMs) {
    synchronized (lock) {
      readTimeoutMs = Math.max(0, timeoutMs);
    }
  }

  /** Sends FIN after the queued bytes; reading goes on. */
  public void shutdownOutput() throws StowException {
    nativeShutdown(handle());
  }

  /**
   * Closes the connection gracefully (queued bytes are still delivered;
   * unread received bytes make it a reset, as with sockets) and frees it.
   * Wakes blocked readers and writers. Idempotent.
   */
  @Override
  public void close() {
    long h;
    long ctx;
    synchronized (lock) {
      if (closed) return;
      closed = true;
      h = handle;
      ctx = context;
      context = 0;
      lock.notifyAll();
    }
    nativeClose(h, ctx);
    session.remove(this);
  }

  private long handle() throws StowException {
    synchronized (lock) {
      if (closed) throw StowException.of(StowException.ERR_CLOSED, "the stream was closed");
      return handle;
    }
  }

  private int read(byte[] b, int off, int len) throws IOException {
    checkBounds(b, off, len);
    if (len == 0) return 0;
    engine.checkNotNetworkThread("TcpStream read");
    long deadline = 0;
    while (true) {
      long seq;
      long h;
      int timeout;
      synchronized (lock) {
        if (closed) throw StowException.of(StowException.ERR_CLOSED, "the stream was closed");
        seq = readableSeq;
        h = handle;
        timeout = readTimeoutMs;
      }
      int n;
      try {
        n = nativeRead(h, b, off, len);
      } catch (StowException e) {
        throw endErrorOr(e);
      }
      if (n > 0) return n;
      if (n == EOF) return -1;
      if (timeout > 0 && deadline == 0) deadline = System.nanoTime() + timeout * 1_000_000L;
      synchronized (lock) {
        while (readableSeq == seq && !ended && !closed) {
          try {
            if (timeout == 0) {
              lock.wait();
            } else {
              long left = (deadline - System.nanoTime()) / 1_000_000L;
              if (left <= 0) throw new SocketTimeoutException("read timed out");
              lock.wait(left);
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while reading");
          }
        }
        if (ended && !closed && readableSeq == seq) {
          // Ended, and nothing more will arrive.
          if (endError != null) throw endError;
          throw StowException.of(StowException.ERR_CLOSED, "the connection has ended");
        }
      }
      // Readable, ended or closed: read again to find out which.
    }
  }

  private void write(byte[] b, int off, int len) throws IOException {
    checkBounds(b, off, len);
    if (len > 0) engine.checkNotNetworkThread("TcpStream write");
    while (len > 0) {
      long seq;
      long h;
      synchronized (lock) {
        if (closed) throw StowException.of(StowException.ERR_CLOSED, "the stream was closed");
        seq = writableSeq;
        h = handle;
      }
      int n;
      try {
        n = nativeWrite(h, b, off, len);
      } catch (StowException e) {
        throw endErrorOr(e);
      }
      off += n;
      len -= n;
      if (len == 0) return;
      synchronized (lock) {
        while (writableSeq == seq && !ended && !closed) {
          try {
            lock.wait();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing");
          }
        }
      }
    }
  }

  // A CLOSED status after the connection ended reports why it ended.
  private StowException endErrorOr(StowException e) {
    synchronized (lock) {
      if (e.status() == StowException.ERR_CLOSED && !closed && endError != null) return endError;
    }
    return e;
  }

  private static void checkBounds(byte[] b, int off, int len) {
    if (b == null) throw new NullPointerException();
    if (off < 0 || len < 0 || len > b.length - off) throw new IndexOutOfBoundsException();
  }

  private final class In extends InputStream {
    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = TcpStream.this.read(one, 0, 1);
      return n <= 0 ? -1 : (one[0] & 0xff);
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      return TcpStream.this.read(b, off, len);
    }

    @Override
    public void close() {
      TcpStream.this.close();
    }
  }

  private final class Out extends OutputStream {
    @Override
    public void write(int b) throws IOException {
      TcpStream.this.write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      TcpStream.this.write(b, off, len);
    }

    @Override
    public void close() {
      TcpStream.this.close();
    }
  }

  // ---- Called from native code on the network thread; never block. ----

  @SuppressWarnings("unused")
  private void onNativeConnected() {
    engine.onNetworkThread();
    synchronized (lock) {
      connected = true;
      lock.notifyAll();
    }
  }

  @SuppressWarnings("unused")
  private void onNativeReadable() {
    synchronized (lock) {
      readableSeq++;
      lock.notifyAll();
    }
  }

  @SuppressWarnings("unused")
  private void onNativeWritable() {
    synchronized (lock) {
      writableSeq++;
      lock.notifyAll();
    }
  }

  @SuppressWarnings("unused")
  private void onNativeClosed(int status, int category, int retryAfterMs, String message) {
    engine.onNetworkThread();
    synchronized (lock) {
      ended = true;
      if (status != StowException.OK) {
        endError =
            new StowException(status, Engine.statusName(status), message, category, retryAfterMs);
      }
      lock.notifyAll();
    }
  }

  private static native long[] nativeConnect(long session, byte[] host, int port, TcpStream self)
      throws StowException;

  /** Bytes read (> 0), 0 when nothing is waiting, -1 at the end of stream. */
  private static native int nativeRead(long tcp, byte[] b, int off, int len) throws StowException;

  /** Bytes taken (0 when the send buffer is full). */
  private static native int nativeWrite(long tcp, byte[] b, int off, int len)
      throws StowException;

  private static native void nativeShutdown(long tcp) throws StowException;

  private static native void nativeClose(long tcp, long context);
}
