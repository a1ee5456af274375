// Fuzz target for the TLS gateway's request path: bytes (cut into pieces of
// a size the first byte picks) through HttpRequestReader, every request
// through AnyConnectServer::Handle, and every response serialized and read
// back with the client-side HttpResponseParser (the two must agree: a
// response our own client cannot parse aborts).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "sdk/gateway/tls/anyconnect_server.h"
#include "sdk/gateway/tls/http_request_reader.h"
#include "sdk/tunnel/tls/http_response.h"

namespace {

using stow::gateway::tls::AnyConnectResponse;
using stow::gateway::tls::AnyConnectServer;
using stow::gateway::tls::AnyConnectServerConfig;
using stow::gateway::tls::HttpRequestReader;
using stow::gateway::tls::PasswordFile;
using stow::gateway::tls::RequestReadResult;

std::shared_ptr<const PasswordFile> Users() {
  static const auto* users = [] {
    auto* file = new std::shared_ptr<PasswordFile>(new PasswordFile);
    // The password is "pw"; a low count keeps logins cheap.
    (void)(*file)->Add(*stow::gateway::tls::MakePasswordEntry(
        "alice", {"a", "b"}, "pw", stow::gateway::tls::kMinPbkdf2Iterations));
    return file;
  }();
  return *users;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  ++data;
  --size;
  AnyConnectServerConfig config;
  config.users = Users();
  config.dtls = true;
  config.dtls_port = 443;
  config.max_failures = 2;
  auto server = AnyConnectServer::Create(config);
  if (!server.ok()) std::abort();
  HttpRequestReader reader;
  const stow::IpAddress peer = stow::IpAddress::V4(127, 0, 0, 1);
  absl::Duration now = absl::Seconds(1);
  for (size_t off = 0; off < size; off += chunk) {
    const size_t n = std::min(chunk, size - off);
    reader.Append(absl::MakeConstSpan(data + off, n));
    stow::gateway::HttpRequest request;
    std::string body;
    while (reader.Next(&request, &body) == RequestReadResult::kRequest) {
      AnyConnectResponse r = (*server)->Handle(request, body, peer, now);
      const std::string wire = r.Serialize();
      stow::tunnel::tls::HttpResponseParser parser(
          r.tunnel_session != 0
              ? stow::tunnel::tls::HttpResponseParser::Mode::kConnect
              : stow::tunnel::tls::HttpResponseParser::Mode::kWithBody);
      size_t consumed = 0;
      if (!parser.Feed(wire, &consumed).ok() || !parser.done() ||
          consumed != wire.size()) {
        std::abort();
      }
      if (r.tunnel_session != 0) {
        (*server)->TunnelClosed(r.tunnel_session, (off & 1) != 0, now);
      }
      now += absl::Seconds(7);
      (*server)->Expire(now);
    }
  }
  (void)reader.TakeRemaining();
  return 0;
}
