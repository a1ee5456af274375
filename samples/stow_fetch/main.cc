// stow-fetch: a curl-like HTTP GET through a Stowaway tunnel, written
// against the public C API only (sdk/include/stowaway/stowaway.h).
//
//   stow-fetch --profile=FILE [-o FILE] [--timeout=S] [--progress] URL
//
// The URL's host is resolved by the tunnel's DNS servers (stow_tcp_connect
// does it), never by the OS. The connection is driven from the main thread:
// the callbacks only note that something changed, and the main thread calls
// stow_tcp_read/stow_tcp_write (allowed from any thread), so a slow disk or
// pipe never blocks the network thread; the peer sends only as fast as we
// read (the window reopens by what stow_tcp_read takes).
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "samples/stow_fetch/tunnel.h"
#include "sdk/include/stowaway/stowaway.h"

namespace {

using namespace stow_samples;  // NOLINT: a program's own helpers.
using Clock = std::chrono::steady_clock;

constexpr char kProg[] = "stow-fetch";

constexpr char kUsage[] =
    "stow-fetch: download an http:// URL through a Stowaway tunnel.\n"
    "\n"
    "usage: stow-fetch --profile=FILE [-o FILE] [--timeout=S] [--progress]\n"
    "                  [--silent] [--verbose] URL\n"
    "\n"
    "  --profile=FILE  the tunnel's JSON profile (gateway, identities, PSK)\n"
    "  -o FILE         write the body to FILE instead of standard output\n"
    "  --timeout=S     give up when the tunnel is not up after S seconds or\n"
    "                  the transfer makes no progress for S seconds\n"
    "                  (default 30; 0: wait forever)\n"
    "  --progress      show a progress bar on stderr (default: when stderr\n"
    "                  is a terminal); --silent never shows it\n"
    "  --verbose       log the engine's lines and the response head\n"
    "  --help          this text\n"
    "\n"
    "The request is HTTP/1.1 GET with Connection: close; bodies framed by\n"
    "Content-Length, chunked transfer coding, or the end of the connection\n"
    "are all accepted. Names resolve through the tunnel's DNS servers.\n"
    "\n"
    "exit status: 0 ok; 1 usage; 2 bad profile; 3 tunnel not up (gateway\n"
    "unreachable, authentication); 4 name not found (NXDOMAIN) or DNS\n"
    "failure; 5 connection refused or reset; 6 HTTP status >= 400 (the body\n"
    "is still written); 7 timeout; 8 malformed response or local I/O error.\n";

struct Options {
  std::string profile;
  std::string output;
  int timeout_s = 30;
  bool progress = false;
  bool silent = false;
  bool verbose = false;
  std::string url;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n(see stow-fetch --help)\n", kProg,
               message.c_str());
  return kExitUsage;
}

// Parses argv; returns -1 to go on, else an exit code.
int ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& name, std::string* out) {
      return FlagValue(argc, argv, &i, name, out);
    };
    std::string v;
    if (a == "--help" || a == "-h" || a == "-help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (value("profile", &v)) {
      o->profile = v;
    } else if (value("o", &v) || value("output", &v)) {
      o->output = v;
    } else if (value("timeout", &v)) {
      if (!ParseSeconds(v, &o->timeout_s)) {
        return UsageError("--timeout: not a number of seconds: " + v);
      }
    } else if (a == "--progress" || a == "-progress" || a == "-#") {
      o->progress = true;
    } else if (a == "--silent" || a == "-s") {
      o->silent = true;
    } else if (a == "--verbose" || a == "-v") {
      o->verbose = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      return UsageError("unknown option " + a);
    } else if (o->url.empty()) {
      o->url = a;
    } else {
      return UsageError("only one URL, please");
    }
  }
  if (o->profile.empty()) return UsageError("--profile=FILE is required");
  if (o->url.empty()) return UsageError("no URL given");
  return -1;
}

struct Url {
  std::string host;  // Without brackets.
  uint16_t port = 80;
  std::string host_field;  // For the Host header.
  std::string target;      // "/path?query".
};

bool ParseUrl(const std::string& url, Url* out, std::string* error) {
  const std::string scheme = "http://";
  if (url.size() < scheme.size() ||
      strncasecmp(url.c_str(), scheme.c_str(), scheme.size()) != 0) {
    *error = url.rfind("https://", 0) == 0
                 ? "https:// is not supported by this sample; use http://"
                 : "not an http:// URL: " + url;
    return false;
  }
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  out->target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (out->target[0] == '?') out->target = "/" + out->target;
  const size_t hash = out->target.find('#');
  if (hash != std::string::npos) out->target.resize(hash);
  if (out->target.empty()) out->target = "/";
  if (authority.find('@') != std::string::npos) {
    *error = "user information in URLs is not supported";
    return false;
  }
  out->host_field = authority;
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      *error = "unterminated [IPv6] in URL";
      return false;
    }
    out->host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        *error = "junk after ]";
        return false;
      }
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out->host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (out->host.empty()) {
    *error = "no host in URL";
    return false;
  }
  if (!port_text.empty()) {
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) {
      *error = "bad port in URL: " + port_text;
      return false;
    }
    out->port = static_cast<uint16_t>(p);
  }
  return true;
}

// The connection: callbacks on the network thread record what happened;
// the main thread waits for a change and does the reading and writing.
class Connection {
 public:
  stow_status Connect(stow_session* session, const Url& url) {
    stow_tcp_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.struct_size = sizeof(cb);
    cb.context = this;
    cb.on_connected = [](void* c, stow_tcp*) {
      static_cast<Connection*>(c)->Bump(&Connection::connected_);
    };
    cb.on_readable = [](void* c, stow_tcp*) {
      static_cast<Connection*>(c)->Bump(nullptr);
    };
    cb.on_writable = [](void* c, stow_tcp*) {
      static_cast<Connection*>(c)->Bump(nullptr);
    };
    cb.on_closed = [](void* c, stow_tcp*, const stow_error* e) {
      auto* self = static_cast<Connection*>(c);
      std::lock_guard<std::mutex> lock(self->mu_);
      self->closed_ = true;
      self->closed_status_ = e->status;
      self->closed_message_ = e->message;
      self->seq_++;
      self->cv_.notify_all();
    };
    return stow_tcp_connect(session, url.host.c_str(), url.port, &cb, &tcp_);
  }
  ~Connection() { stow_tcp_destroy(tcp_); }

  uint64_t seq() {
    std::lock_guard<std::mutex> lock(mu_);
    return seq_;
  }
  // Waits until a callback ran after `seq` was taken; false on timeout.
  bool WaitChange(uint64_t seq, int timeout_s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(
        lock, std::chrono::seconds(timeout_s > 0 ? timeout_s : 1 << 30),
        [&] { return seq_ != seq; });
  }
  bool closed(stow_status* status, std::string* message) {
    std::lock_guard<std::mutex> lock(mu_);
    *status = closed_status_;
    *message = closed_message_;
    return closed_;
  }
  bool connected() {
    std::lock_guard<std::mutex> lock(mu_);
    return connected_;
  }
  stow_tcp* tcp() const { return tcp_; }

 private:
  void Bump(bool Connection::*flag) {
    std::lock_guard<std::mutex> lock(mu_);
    if (flag != nullptr) this->*flag = true;
    seq_++;
    cv_.notify_all();
  }

  stow_tcp* tcp_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t seq_ = 0;
  bool connected_ = false;
  bool closed_ = false;
  stow_status closed_status_ = STOW_OK;
  std::string closed_message_;
};

// Reports a failure of the connection: the terminal callback's reason when
// there is one (NXDOMAIN, refused...), else `status`.
int ConnectionFailure(Connection* conn, stow_status status,
                      const std::string& host) {
  std::string message;
  stow_status closed_status = STOW_OK;
  if (conn->closed(&closed_status, &message) && closed_status != STOW_OK) {
    status = closed_status;
  } else {
    message = stow_last_error_message();
  }
  if (status == STOW_ERR_NAME_NOT_FOUND) {
    std::fprintf(stderr, "%s: %s: name not found (NXDOMAIN): %s\n", kProg,
                 host.c_str(), Describe(status, message).c_str());
  } else {
    std::fprintf(stderr, "%s: %s: %s\n", kProg, host.c_str(),
                 Describe(status, message).c_str());
  }
  return ExitCodeFor(status) == kExitOk ? kExitInternal : ExitCodeFor(status);
}

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(Clock::now()) {}
  void Update(uint64_t done, int64_t total, bool final = false) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double secs =
        std::chrono::duration<double>(now - start_).count() + 1e-9;
    const double rate = done / secs / (1 << 20);
    char line[160];
    if (total >= 0) {
      const double frac = total == 0 ? 1.0 : double(done) / double(total);
      const int width = 30;
      const int filled = static_cast<int>(frac * width);
      std::string bar(filled, '=');
      if (filled < width) bar += '>';
      bar.resize(width, ' ');
      std::snprintf(line, sizeof(line),
                    "\r%3d%% [%s] %8.2f / %.2f MiB %7.2f MiB/s ",
                    static_cast<int>(frac * 100), bar.c_str(),
                    done / 1048576.0, total / 1048576.0, rate);
    } else {
      std::snprintf(line, sizeof(line), "\r%8.2f MiB %7.2f MiB/s ",
                    done / 1048576.0, rate);
    }
    std::fputs(line, stderr);
    if (final) std::fputs("\n", stderr);
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  Clock::time_point start_;
  Clock::time_point last_{};
};

// Reads the response from the connection, on the main thread.
class ResponseReader {
 public:
  ResponseReader(Connection* conn, int timeout_s)
      : conn_(conn), timeout_s_(timeout_s) {}

  // Appends at least one more byte to buf_; false at the end of the stream
  // (eof_ set) or on an error (status_ set).
  bool Fill() {
    uint8_t tmp[65536];
    while (true) {
      const uint64_t seq = conn_->seq();
      size_t n = 0;
      stow_status s = stow_tcp_read(conn_->tcp(), tmp, sizeof(tmp), &n);
      if (s == STOW_OK && n > 0) {
        buf_.insert(buf_.end(), tmp, tmp + n);
        return true;
      }
      if (s == STOW_ERR_EOF) {
        eof_ = true;
        return false;
      }
      if (s != STOW_OK && s != STOW_ERR_WOULD_BLOCK) {
        status_ = s;
        return false;
      }
      std::string message;
      stow_status closed_status = STOW_OK;
      if (conn_->closed(&closed_status, &message) && seq == conn_->seq()) {
        // Closed and nothing more to read.
        if (closed_status == STOW_OK) {
          eof_ = true;
        } else {
          status_ = closed_status;
        }
        return false;
      }
      if (!conn_->WaitChange(seq, timeout_s_)) {
        status_ = STOW_ERR_TIMED_OUT;
        return false;
      }
    }
  }
  std::vector<uint8_t>& buf() { return buf_; }
  bool eof() const { return eof_; }
  stow_status status() const { return status_; }

 private:
  Connection* conn_;
  int timeout_s_;
  std::vector<uint8_t> buf_;
  bool eof_ = false;
  stow_status status_ = STOW_OK;
};

bool WriteAll(int fd, const uint8_t* data, size_t len) {
  while (len > 0) {
    const ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

struct Head {
  int status = 0;
  std::string status_line;
  int64_t content_length = -1;
  bool chunked = false;
};

int Fetch(const Options& options, stow_session* session, const Url& url) {
  Connection conn;
  stow_status s = conn.Connect(session, url);
  if (s != STOW_OK) return ConnectionFailure(&conn, s, url.host);

  const std::string request =
      "GET " + url.target + " HTTP/1.1\r\nHost: " + url.host_field +
      "\r\nUser-Agent: stow-fetch/" + stow_version() +
      "\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    const uint64_t seq = conn.seq();
    size_t n = 0;
    s = stow_tcp_write(conn.tcp(),
                       reinterpret_cast<const uint8_t*>(request.data()) + sent,
                       request.size() - sent, &n);
    sent += n;
    if (s == STOW_OK) continue;
    if (s != STOW_ERR_WOULD_BLOCK) return ConnectionFailure(&conn, s, url.host);
    stow_status closed_status;
    std::string message;
    if (conn.closed(&closed_status, &message)) {
      return ConnectionFailure(&conn, STOW_ERR_CLOSED, url.host);
    }
    if (!conn.WaitChange(seq, options.timeout_s)) {
      return ConnectionFailure(&conn, STOW_ERR_TIMED_OUT, url.host);
    }
  }

  ResponseReader reader(&conn, options.timeout_s);
  auto read_failure = [&]() -> int {
    if (reader.status() != STOW_OK) {
      return ConnectionFailure(&conn, reader.status(), url.host);
    }
    std::fprintf(stderr, "%s: the connection ended before the response did\n",
                 kProg);
    return kExitProtocol;
  };

  // The head; 1xx interim responses are skipped.
  Head head;
  std::vector<uint8_t>& buf = reader.buf();
  while (true) {
    size_t end = std::string::npos;
    while (true) {
      const std::string text(buf.begin(), buf.end());
      end = text.find("\r\n\r\n");
      if (end != std::string::npos) break;
      if (buf.size() > 64 * 1024) {
        std::fprintf(stderr, "%s: response head over 64 KiB\n", kProg);
        return kExitProtocol;
      }
      if (!reader.Fill()) {
        if (buf.empty() && reader.status() == STOW_OK) {
          std::fprintf(stderr, "%s: empty reply from server\n", kProg);
          return kExitProtocol;
        }
        return read_failure();
      }
    }
    const std::string text(buf.begin(), buf.begin() + end);
    buf.erase(buf.begin(), buf.begin() + end + 4);
    size_t pos = text.find("\r\n");
    head = Head();
    head.status_line = text.substr(0, pos);
    int minor = 0;
    if (std::sscanf(head.status_line.c_str(), "HTTP/1.%d %d", &minor,
                    &head.status) != 2 ||
        head.status < 100 || head.status > 999) {
      std::fprintf(stderr, "%s: malformed status line: %s\n", kProg,
                   head.status_line.c_str());
      return kExitProtocol;
    }
    while (pos != std::string::npos) {
      const size_t next = text.find("\r\n", pos + 2);
      const std::string line = text.substr(
          pos + 2, next == std::string::npos ? std::string::npos
                                             : next - pos - 2);
      pos = next;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string name = Lower(Trim(line.substr(0, colon)));
      const std::string value = Trim(line.substr(colon + 1));
      if (name == "content-length") {
        char* e = nullptr;
        const long long n = std::strtoll(value.c_str(), &e, 10);
        if (value.empty() || *e != '\0' || n < 0) {
          std::fprintf(stderr, "%s: bad Content-Length: %s\n", kProg,
                       value.c_str());
          return kExitProtocol;
        }
        head.content_length = n;
      } else if (name == "transfer-encoding") {
        head.chunked = Lower(value).find("chunked") != std::string::npos;
      }
    }
    if (options.verbose) std::fprintf(stderr, "< %s\n", text.c_str());
    if (head.status >= 200) break;
  }
  if (head.chunked) head.content_length = -1;
  const bool no_body = head.status == 204 || head.status == 304;

  int out = STDOUT_FILENO;
  if (!options.output.empty()) {
    out = open(options.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
               0644);
    if (out < 0) {
      std::fprintf(stderr, "%s: cannot open %s: %s\n", kProg,
                   options.output.c_str(), strerror(errno));
      return kExitProtocol;
    }
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd != STDOUT_FILENO) close(fd);
    }
  } closer{out};

  Progress progress(!options.silent &&
                    (options.progress || isatty(STDERR_FILENO)));
  uint64_t written = 0;
  const auto start = Clock::now();
  auto emit = [&](const uint8_t* data, size_t len) -> bool {
    if (!WriteAll(out, data, len)) {
      std::fprintf(stderr, "%s: cannot write %s: %s\n", kProg,
                   options.output.empty() ? "standard output"
                                          : options.output.c_str(),
                   strerror(errno));
      return false;
    }
    written += len;
    progress.Update(written, head.content_length);
    return true;
  };

  if (no_body) {
    // Nothing follows.
  } else if (head.chunked) {
    // chunk-size [; ext] CRLF data CRLF ... 0 CRLF [trailers] CRLF
    while (true) {
      std::string text(buf.begin(), buf.end());
      size_t eol = text.find("\r\n");
      while (eol == std::string::npos) {
        if (buf.size() > 4096) {
          std::fprintf(stderr, "%s: malformed chunk size line\n", kProg);
          return kExitProtocol;
        }
        if (!reader.Fill()) return read_failure();
        text.assign(buf.begin(), buf.end());
        eol = text.find("\r\n");
      }
      char* e = nullptr;
      const std::string size_text = text.substr(0, eol);
      const unsigned long long size = std::strtoull(size_text.c_str(), &e, 16);
      if (e == size_text.c_str() || (*e != '\0' && *e != ';' && *e != ' ')) {
        std::fprintf(stderr, "%s: malformed chunk size: %s\n", kProg,
                     size_text.c_str());
        return kExitProtocol;
      }
      buf.erase(buf.begin(), buf.begin() + eol + 2);
      if (size == 0) {
        // Trailers up to the empty line; then we are done.
        while (true) {
          text.assign(buf.begin(), buf.end());
          const size_t t = text.find("\r\n");
          if (t == 0) break;
          if (t != std::string::npos) {
            buf.erase(buf.begin(), buf.begin() + t + 2);
            continue;
          }
          if (!reader.Fill()) break;  // Lenient about a missing last CRLF.
        }
        break;
      }
      unsigned long long left = size;
      while (left > 0) {
        if (buf.empty() && !reader.Fill()) return read_failure();
        const size_t take = static_cast<size_t>(
            std::min<unsigned long long>(left, buf.size()));
        if (!emit(buf.data(), take)) return kExitProtocol;
        buf.erase(buf.begin(), buf.begin() + take);
        left -= take;
      }
      while (buf.size() < 2) {
        if (!reader.Fill()) return read_failure();
      }
      if (buf[0] != '\r' || buf[1] != '\n') {
        std::fprintf(stderr, "%s: chunk not followed by CRLF\n", kProg);
        return kExitProtocol;
      }
      buf.erase(buf.begin(), buf.begin() + 2);
    }
  } else {
    // Content-Length, or everything until the server closes.
    const bool framed = head.content_length >= 0;
    uint64_t left = framed ? static_cast<uint64_t>(head.content_length) : 0;
    while (!framed || left > 0) {
      if (buf.empty()) {
        if (!reader.Fill()) {
          if (!framed && reader.eof()) break;
          if (reader.eof()) {
            std::fprintf(stderr,
                         "%s: the connection ended after %llu of %lld body "
                         "bytes\n",
                         kProg, static_cast<unsigned long long>(written),
                         static_cast<long long>(head.content_length));
            return kExitProtocol;
          }
          return read_failure();
        }
      }
      size_t take = buf.size();
      if (framed) take = static_cast<size_t>(std::min<uint64_t>(left, take));
      if (!emit(buf.data(), take)) return kExitProtocol;
      buf.erase(buf.begin(), buf.begin() + take);
      if (framed) left -= take;
    }
  }
  progress.Update(written, head.content_length, /*final=*/true);
  const double secs =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (options.verbose) {
    std::fprintf(stderr, "%s: %llu bytes in %.3f s\n", kProg,
                 static_cast<unsigned long long>(written), secs);
  }
  stow_tcp_close(conn.tcp());
  if (head.status >= 400) {
    std::fprintf(stderr, "%s: the server answered %s\n", kProg,
                 head.status_line.c_str());
    return kExitHttp;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  const int parsed = ParseArgs(argc, argv, &options);
  if (parsed >= 0) return parsed;
  Url url;
  std::string error;
  if (!ParseUrl(options.url, &url, &error)) return UsageError(error);

  // A closed output pipe is an error to report, not a silent death.
  signal(SIGPIPE, SIG_IGN);
  Tunnel tunnel;
  int rc = tunnel.Open(kProg, options.profile, options.timeout_s,
                       options.verbose);
  if (rc != kExitOk) return rc;
  rc = Fetch(options, tunnel.session(), url);
  tunnel.Close();
  return rc;
}
