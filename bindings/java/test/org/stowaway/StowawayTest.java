package org.stowaway;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The Java bindings end to end, against our gateway as a child process:
 * errors, session events, HTTP and a 1 MiB echo over TcpStream, DNS through
 * the tunnel, and aborts. A plain program (no JUnit): prints one line per
 * check and exits non-zero when any failed.
 *
 * <p>Usage: StowawayTest GATEWAY_BINARY
 */
public final class StowawayTest {
  private static final String PSK = "java-test-psk-0123456789";
  private static final long TIMEOUT_MS = 20_000;

  private static int failures = 0;
  private static int passes = 0;

  private static void check(boolean ok, String what) {
    if (ok) {
      passes++;
      System.out.println("PASS " + what);
    } else {
      failures++;
      System.out.println("FAIL " + what);
    }
  }

  private static void fail(String what, Throwable t) {
    failures++;
    System.out.println("FAIL " + what + ": " + t);
    t.printStackTrace(System.out);
  }

  private static String profile(String gateway, String extra) {
    return "{\"name\": \"java\", \"gateway\": \"" + gateway + "\",\n"
        + " \"local_id\": \"email:java@stowaway.test\",\n"
        + " \"remote_id\": \"fqdn:gw.stowaway.test\",\n"
        + " \"auth\": {\"psk\": \"" + PSK + "\"}" + extra + "}";
  }

  /** The gateway: started with a pipe on stdin; stops when it closes. */
  private static final class Gateway {
    final Process process;
    final String address;

    Gateway(String binary) throws Exception {
      process =
          new ProcessBuilder(
                  binary,
                  "--listen=127.0.0.1:0",
                  "--ike",
                  "--psk=" + PSK,
                  "--dns_record=files.stowaway.test=10.99.0.1",
                  "--stop_on_stdin_eof")
              .redirectError(ProcessBuilder.Redirect.INHERIT)
              .start();
      final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
      Thread reader =
          new Thread(
              () -> {
                try (BufferedReader r =
                    new BufferedReader(
                        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                  String line;
                  while ((line = r.readLine()) != null) lines.add(line);
                } catch (IOException e) {
                  // The gateway went; the deadline below reports it.
                }
                lines.add("");
              },
              "gateway-stdout");
      reader.setDaemon(true);
      reader.start();
      final long deadline = System.nanoTime() + TIMEOUT_MS * 1_000_000L;
      String ready = null;
      while (ready == null) {
        long left = (deadline - System.nanoTime()) / 1_000_000L;
        String line = left > 0 ? lines.poll(left, TimeUnit.MILLISECONDS) : null;
        if (line == null || line.isEmpty()) {
          process.destroy();
          throw new IllegalStateException("the gateway did not print READY");
        }
        if (line.startsWith("READY ")) ready = line.substring(6).trim();
      }
      address = ready;
    }

    int stop() throws Exception {
      process.getOutputStream().close();
      if (!process.waitFor(TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        return -1;
      }
      return process.exitValue();
    }
  }

  /** Session events as seen by a listener, on the network thread. */
  private static final class Recorder implements Session.Listener {
    final List<Integer> states = new ArrayList<>();
    final List<String> threads = new ArrayList<>();
    final AtomicInteger closedCalls = new AtomicInteger();
    final AtomicReference<StowException> closedError = new AtomicReference<>();
    final CountDownLatch closed = new CountDownLatch(1);
    final AtomicInteger blockingCallStatus = new AtomicInteger(1);
    // Counted down once the CONNECTED event was handled (awaitConnected may
    // return before the listener ran).
    final CountDownLatch connectedHandled = new CountDownLatch(1);

    @Override
    public void onStateChanged(Session session, int state, String reason, int retryAfterMs) {
      synchronized (this) {
        states.add(state);
        threads.add(Thread.currentThread().getName());
      }
      if (state == Session.CONNECTED) {
        // Blocking calls are refused on the network thread.
        try {
          session.awaitConnected(1);
          blockingCallStatus.set(0);
        } catch (StowException e) {
          blockingCallStatus.set(e.status());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        connectedHandled.countDown();
      }
    }

    @Override
    public void onClosed(Session session, StowException error) {
      closedCalls.incrementAndGet();
      closedError.set(error);
      closed.countDown();
    }
  }

  private static byte[] sha256(byte[] data, int len) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    md.update(data, 0, len);
    return md.digest();
  }

  private static String hex(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (byte x : b) sb.append(String.format("%02x", x));
    return sb.toString();
  }

  private static void testBasics() {
    check(!Engine.version().isEmpty(), "version is " + Engine.version());
    check(
        Engine.statusName(StowException.ERR_BAD_PROFILE).equals("STOW_ERR_BAD_PROFILE"),
        "status names");
    check(Engine.statusName(-12345).equals("STOW_ERR_UNKNOWN"), "unknown status name");
  }

  private static void testEngineAndProfiles(Engine engine) {
    try (Engine second = new Engine()) {
      check(false, "a second engine is refused");
    } catch (StowException e) {
      check(e.status() == StowException.ERR_ENGINE_EXISTS, "a second engine is refused: " + e);
    }
    String bad = profile("127.0.0.1:4500", ",\n \"timers\": {\"dpd_delay_s\": \"soon\"}");
    try (Session s = new Session(engine, bad, null)) {
      check(false, "a bad profile throws");
    } catch (StowException e) {
      check(
          e.status() == StowException.ERR_BAD_PROFILE
              && e.statusName().equals("STOW_ERR_BAD_PROFILE")
              && e.detail().contains("timers.dpd_delay_s")
              && e.detail().contains("line 5")
              && e.getMessage().startsWith("STOW_ERR_BAD_PROFILE: "),
          "a bad profile throws, naming the field and line: " + e.getMessage());
    }
    try (Session s = new Session(engine, "{\"name\": \"x\",\n \"gateway\": }", null)) {
      check(false, "a syntax error throws");
    } catch (StowException e) {
      check(
          e.status() == StowException.ERR_BAD_PROFILE && e.detail().contains("line 2"),
          "a syntax error names the line: " + e.getMessage());
    }
  }

  private static void testHttp(Session session, String gatewayAddress) throws Exception {
    try (TcpStream s = TcpStream.connect(session, "10.99.0.1", 80, TIMEOUT_MS)) {
      s.setReadTimeout((int) TIMEOUT_MS);
      OutputStream out = s.getOutputStream();
      out.write(
          "GET / HTTP/1.1\r\nHost: 10.99.0.1\r\nConnection: close\r\n\r\n"
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      ByteArrayOutputStream response = new ByteArrayOutputStream();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[4096];
      int n;
      while ((n = in.read(buf)) != -1) response.write(buf, 0, n);
      String text = new String(response.toByteArray(), StandardCharsets.UTF_8);
      int split = text.indexOf("\r\n\r\n");
      String head = split < 0 ? text : text.substring(0, split);
      String body = split < 0 ? "" : text.substring(split + 4);
      check(head.startsWith("HTTP/1.1 200"), "GET / answers 200: " + head.split("\r\n")[0]);
      check(body.startsWith("Stowaway gateway\n"), "the status page names the gateway");
      check(
          body.contains("listening on " + gatewayAddress),
          "the status page shows the gateway's address " + gatewayAddress);
    }
  }

  private static void testEcho(Session session) throws Exception {
    final byte[] data = new byte[1 << 20];
    new Random(1).nextBytes(data);
    try (final TcpStream s = TcpStream.connect(session, "10.99.0.1", 7, TIMEOUT_MS)) {
      s.setReadTimeout((int) TIMEOUT_MS);
      final AtomicReference<Throwable> writeError = new AtomicReference<>();
      Thread writer =
          new Thread(
              () -> {
                try {
                  OutputStream out = s.getOutputStream();
                  for (int off = 0; off < data.length; off += 10_000) {
                    out.write(data, off, Math.min(10_000, data.length - off));
                  }
                  s.shutdownOutput();
                } catch (Throwable t) {
                  writeError.set(t);
                }
              },
              "echo-writer");
      writer.start();
      byte[] received = new byte[data.length];
      int total = 0;
      InputStream in = s.getInputStream();
      while (total < received.length) {
        int n = in.read(received, total, received.length - total);
        if (n < 0) break;
        total += n;
      }
      writer.join(TIMEOUT_MS);
      check(writeError.get() == null, "the echo writer finished: " + writeError.get());
      check(total == data.length, "1 MiB echoed back (" + total + " bytes)");
      String want = hex(sha256(data, data.length));
      String got = hex(sha256(received, total));
      check(want.equals(got), "the echo's SHA-256 matches: " + got);
      // The echo service answers our FIN with its own.
      check(in.read() == -1, "end of stream after the echo");
    }
  }

  private static void testDns(Session session) throws Exception {
    String[] a = Dns.resolve(session, "files.stowaway.test", TIMEOUT_MS);
    check(
        Arrays.equals(a, new String[] {"10.99.0.1"}),
        "files.stowaway.test resolves to " + Arrays.toString(a));
    try {
      Dns.resolve(session, "nope.stowaway.test", TIMEOUT_MS);
      check(false, "an unknown name fails");
    } catch (StowException e) {
      check(
          e.status() == StowException.ERR_NAME_NOT_FOUND
              && e.category() == StowException.CATEGORY_DNS,
          "an unknown name fails with NAME_NOT_FOUND: " + e.getMessage());
    }
    try {
      Dns.resolve(session, "bad..name", TIMEOUT_MS);
      check(false, "a malformed name is refused");
    } catch (StowException e) {
      check(e.status() == StowException.ERR_BAD_NAME, "a malformed name is refused: " + e);
    }
    // Connecting by name goes through the same resolver.
    try (TcpStream s = TcpStream.connect(session, "files.stowaway.test", 7, TIMEOUT_MS)) {
      s.setReadTimeout((int) TIMEOUT_MS);
      s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
      byte[] b = new byte[4];
      int total = 0;
      while (total < 4) {
        int n = s.getInputStream().read(b, total, 4 - total);
        if (n < 0) break;
        total += n;
      }
      check(new String(b, 0, total, StandardCharsets.US_ASCII).equals("ping"), "connect by name");
    }
  }

  private static void testRefused(Session session) throws Exception {
    try (TcpStream s = TcpStream.connect(session, "10.99.0.1", 4444, TIMEOUT_MS)) {
      check(false, "a closed port is refused");
    } catch (StowException e) {
      check(
          e.status() == StowException.ERR_CONNECTION_REFUSED
              && e.category() == StowException.CATEGORY_PEER,
          "a closed port is refused: " + e.getMessage());
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: StowawayTest GATEWAY_BINARY");
      System.exit(2);
    }
    testBasics();
    Gateway gateway = new Gateway(args[0]);
    System.out.println("gateway at " + gateway.address);
    try (Engine engine = new Engine()) {
      testEngineAndProfiles(engine);
      final AtomicInteger logLines = new AtomicInteger();
      final AtomicReference<String> logThread = new AtomicReference<>();
      engine.setLogListener(
          Engine.LOG_DEBUG,
          (level, message) -> {
            logThread.set(Thread.currentThread().getName());
            logLines.incrementAndGet();
          });
      Recorder recorder = new Recorder();
      Session session = new Session(engine, profile(gateway.address, ""), recorder);
      session.start();
      try {
        session.start();
        check(false, "a second start is refused");
      } catch (StowException e) {
        check(e.status() == StowException.ERR_ALREADY_STARTED, "a second start is refused");
      }
      check(session.awaitConnected(TIMEOUT_MS), "the session connects");
      check(
          recorder.connectedHandled.await(TIMEOUT_MS, TimeUnit.MILLISECONDS),
          "the listener saw CONNECTED");
      synchronized (recorder) {
        check(
            recorder.states.size() >= 2
                && recorder.states.get(0) == Session.CONNECTING
                && recorder.states.contains(Session.CONNECTED),
            "events CONNECTING then CONNECTED: " + recorder.states);
        check(
            !recorder.threads.isEmpty() && recorder.threads.get(0).equals("stowaway-network"),
            "events arrive on the network thread: " + recorder.threads);
      }
      check(
          recorder.blockingCallStatus.get() == StowException.ERR_WRONG_THREAD,
          "a blocking call in a callback is refused: " + recorder.blockingCallStatus.get());
      check(session.state() == Session.CONNECTED, "state() is CONNECTED");
      check(
          logLines.get() > 0 && "stowaway-network".equals(logThread.get()),
          "log lines arrive on the network thread: " + logLines.get());
      engine.setLogListener(Engine.LOG_ERROR, null);
      String address = session.address();
      check(address.startsWith("10.99.100."), "assigned address " + address);
      String[] dns = session.dnsServers();
      check(Arrays.equals(dns, new String[] {"10.99.0.1"}), "DNS servers " + Arrays.toString(dns));
      check(session.stats().contains("\"esp_tx_packets\": "), "stats JSON");

      runGuarded("http", () -> testHttp(session, gateway.address));
      runGuarded("echo", () -> testEcho(session));
      runGuarded("dns", () -> testDns(session));
      runGuarded("refused", () -> testRefused(session));

      // Stopping aborts open streams and ends the session once, normally.
      TcpStream open = TcpStream.connect(session, "10.99.0.1", 7, TIMEOUT_MS);
      session.stop();
      check(recorder.closed.await(TIMEOUT_MS, TimeUnit.MILLISECONDS), "stop() ends the session");
      check(recorder.closedError.get() == null, "the session ended normally");
      try {
        open.setReadTimeout((int) TIMEOUT_MS);
        int n = open.getInputStream().read();
        check(false, "a read after the session stopped fails (got " + n + ")");
      } catch (StowException e) {
        check(
            e.status() == StowException.ERR_ABORTED,
            "a stream of a stopped session reads ABORTED: " + e.getMessage());
      }
      open.close();
      try {
        open.getOutputStream().write(1);
        check(false, "a closed stream refuses writes");
      } catch (StowException e) {
        check(e.status() == StowException.ERR_CLOSED, "a closed stream refuses writes");
      }
      session.close();
      session.close();
      try {
        session.start();
        check(false, "a closed session refuses calls");
      } catch (StowException e) {
        check(e.status() == StowException.ERR_BAD_HANDLE, "a closed session refuses calls");
      }
      check(recorder.closedCalls.get() == 1, "onClosed ran once");
    } catch (Throwable t) {
      fail("unexpected exception", t);
    }
    // A new engine after closing the first (one per process, not per run).
    try (Engine again = new Engine()) {
      check(true, "an engine can be made again after close");
    } catch (Throwable t) {
      fail("an engine can be made again after close", t);
    }
    int exit = gateway.stop();
    check(exit == 0, "the gateway exits cleanly (" + exit + ")");
    System.out.println(passes + " passed, " + failures + " failed");
    System.exit(failures == 0 ? 0 : 1);
  }

  private interface Body {
    void run() throws Exception;
  }

  private static void runGuarded(String name, Body body) {
    try {
      body.run();
    } catch (Throwable t) {
      fail(name, t);
    }
  }
}
