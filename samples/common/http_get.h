// A minimal HTTP/1.1 client over a netstack TCP connection, for the samples
// and tests: one request, Content-Length bodies only, body streamed to a
// callback as it arrives (never buffered whole).
#ifndef STOWAWAY_SAMPLES_COMMON_HTTP_GET_H_
#define STOWAWAY_SAMPLES_COMMON_HTTP_GET_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "sdk/base/ip_address.h"

namespace stow::samples {

struct HttpResponseHead {
  int status = 0;
  std::string reason;
  uint64_t content_length = 0;
};

// One request (GET, or POST with `body`). Callbacks run on the loop thread:
// on_head once, on_body for each piece of the body, then on_done exactly
// once (OK when the whole Content-Length arrived; kDataLoss when the
// connection ended early; kInvalidArgument for a malformed response; the
// connection's error otherwise). The object may be destroyed from on_done
// only by posting; destroying it earlier aborts the request silently.
//
// Threading: loop thread only.
class HttpGet : private netstack::TcpConnection::Delegate {
 public:
  struct Callbacks {
    absl::AnyInvocable<void(const HttpResponseHead&)> on_head;
    absl::AnyInvocable<void(absl::Span<const uint8_t>)> on_body;
    absl::AnyInvocable<void(absl::Status)> on_done;
  };

  static absl::StatusOr<std::unique_ptr<HttpGet>> Start(
      netstack::Stack* stack, const SocketAddress& server,
      const std::string& path, Callbacks callbacks,
      std::string post_body = "");
  ~HttpGet() override;

  uint64_t body_received() const { return body_received_; }

 private:
  HttpGet(Callbacks callbacks, std::string request);
  void OnConnected() override;
  void OnReadable() override;
  void OnWritable() override;
  void OnError(absl::Status status) override;
  void SendMore();
  // Parses the head from head_buffer_; false when more bytes are needed.
  bool ParseHead();
  void Finish(absl::Status status);

  Callbacks callbacks_;
  std::string request_;
  size_t request_sent_ = 0;
  std::unique_ptr<netstack::TcpConnection> connection_;
  std::string head_buffer_;
  bool have_head_ = false;
  HttpResponseHead head_;
  uint64_t body_received_ = 0;
  bool done_ = false;
};

}  // namespace stow::samples

#endif  // STOWAWAY_SAMPLES_COMMON_HTTP_GET_H_
