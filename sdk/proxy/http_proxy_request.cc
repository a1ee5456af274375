#include "sdk/proxy/http_proxy_request.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sdk/base/ip_address.h"

namespace stow::proxy {
namespace {

using gateway::HttpParseResult;
using gateway::HttpParseState;

HttpProxyParseResult Error(int status, std::string message) {
  HttpProxyParseResult result;
  result.state = HttpParseState::kError;
  result.error_status = status;
  result.error = std::move(message);
  return result;
}

// Hop-by-hop fields (RFC 9110 section 7.6.1) and the proxy's own.
bool IsHopByHopField(absl::string_view name) {
  return name == "connection" || name == "proxy-connection" ||
         name == "keep-alive" || name == "proxy-authorization" ||
         name == "proxy-authenticate" || name == "te" || name == "trailer" ||
         name == "upgrade";
}

}  // namespace

bool CheckProxyAuthorization(const gateway::HttpRequest& request,
                             absl::string_view username,
                             absl::string_view password) {
  const std::string* value = request.FindHeader("proxy-authorization");
  if (value == nullptr) return false;
  absl::string_view v = *value;
  if (v.size() < 6 || !absl::EqualsIgnoreCase(v.substr(0, 6), "basic ")) {
    return false;
  }
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(v.substr(6)),
                            &decoded)) {
    return false;
  }
  return decoded == absl::StrCat(username, ":", password);
}

bool ParseAuthority(absl::string_view authority, uint16_t default_port,
                    std::string* host, uint16_t* port) {
  if (authority.empty()) return false;
  absl::string_view h;
  absl::string_view rest;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return false;
    h = authority.substr(1, close - 1);
    rest = authority.substr(close + 1);
    if (!IpAddress::Parse(h).ok()) return false;
  } else {
    size_t colon = authority.find(':');
    h = authority.substr(0, colon);
    rest = colon == absl::string_view::npos ? absl::string_view()
                                            : authority.substr(colon);
  }
  if (h.empty()) return false;
  for (char c : h) {
    if (c == '@' || c == '/' || c == ' ' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x21) {
      return false;
    }
  }
  if (rest.empty()) {
    if (default_port == 0) return false;
    *port = default_port;
  } else {
    if (rest.front() != ':') return false;
    absl::optional<uint64_t> p = gateway::ParseDecimal(rest.substr(1));
    if (!p.has_value() || *p == 0 || *p > 65535) return false;
    *port = static_cast<uint16_t>(*p);
  }
  *host = std::string(h);
  return true;
}

HttpProxyParseResult ParseHttpProxyRequest(absl::Span<const uint8_t> data,
                                           size_t max_head_bytes) {
  absl::string_view text(reinterpret_cast<const char*>(data.data()),
                         data.size());
  // The parser takes origin, absolute and asterisk forms; CONNECT's
  // authority form ("host:port") is swapped for "/" in a copy, so the same
  // parser checks the rest of the head.
  size_t start = 0;
  while (start < text.size() && (text[start] == '\r' || text[start] == '\n')) {
    ++start;
  }
  std::string copy;
  absl::string_view connect_target;
  size_t delta = 0;
  if (absl::StartsWith(text.substr(start), "CONNECT ")) {
    const size_t target_begin = start + 8;
    const size_t target_end = text.find(' ', target_begin);
    const size_t line_end = text.find('\n', start);
    if (target_end == absl::string_view::npos ||
        (line_end != absl::string_view::npos && line_end < target_end)) {
      if (line_end != absl::string_view::npos) {
        return Error(400, "malformed CONNECT request line");
      }
      if (text.size() > max_head_bytes) {
        return Error(414, "request line too long");
      }
      return HttpProxyParseResult();  // kNeedMore.
    }
    connect_target = text.substr(target_begin, target_end - target_begin);
    if (connect_target.empty()) return Error(400, "empty CONNECT target");
    copy = absl::StrCat(text.substr(0, target_begin), "/",
                        text.substr(target_end));
    delta = connect_target.size() - 1;
    data = absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(copy.data()),
                               copy.size());
  }
  HttpParseResult parsed = gateway::ParseHttpRequest(
      data, max_head_bytes > delta ? max_head_bytes - delta : 1);
  if (parsed.state == HttpParseState::kNeedMore) return HttpProxyParseResult();
  if (parsed.state == HttpParseState::kError) {
    return Error(parsed.error_status, parsed.error);
  }
  HttpProxyParseResult result;
  result.state = HttpParseState::kComplete;
  result.head_bytes = parsed.head_bytes + delta;
  HttpProxyRequest& out = result.request;
  out.request = std::move(parsed.request);
  gateway::HttpRequest& request = out.request;

  if (!connect_target.empty()) {
    request.target = std::string(connect_target);
    request.path.clear();
    out.is_connect = true;
    if (!ParseAuthority(connect_target, 0, &out.host, &out.port)) {
      return Error(400, absl::StrCat("CONNECT target \"", connect_target,
                                     "\" is not host:port"));
    }
    return result;
  }
  if (request.method == "CONNECT") {
    return Error(400, "CONNECT needs a host:port target");
  }
  absl::string_view target = request.target;
  if (target.empty() || target.front() == '/' || target == "*") {
    return Error(405, "this is a proxy: send an absolute URI "
                      "(http://host/path) or CONNECT");
  }
  const size_t scheme_end = target.find("://");
  absl::string_view scheme = target.substr(0, scheme_end);
  if (!absl::EqualsIgnoreCase(scheme, "http")) {
    return Error(501, absl::StrCat("scheme \"", scheme,
                                   "\" is not supported; use CONNECT for "
                                   "https"));
  }
  absl::string_view rest = target.substr(scheme_end + 3);
  const size_t path_start = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, path_start);
  if (authority.find('@') != absl::string_view::npos) {
    return Error(400, "userinfo in the request URI is not allowed");
  }
  if (!ParseAuthority(authority, 80, &out.host, &out.port)) {
    return Error(400, absl::StrCat("bad host in the request URI \"",
                                   authority, "\""));
  }
  std::string origin = path_start == absl::string_view::npos
                           ? std::string("/")
                           : std::string(rest.substr(path_start));
  if (const size_t hash = origin.find('#'); hash != std::string::npos) {
    origin.resize(hash);  // Fragments are not sent.
  }
  if (origin.empty() || origin.front() != '/') origin.insert(0, "/");

  // Fields named by Connection are hop-by-hop too.
  std::vector<std::string> listed;
  for (const gateway::HttpHeaderField& field : request.headers) {
    if (field.name != "connection" && field.name != "proxy-connection") {
      continue;
    }
    for (absl::string_view token : absl::StrSplit(field.value, ',')) {
      token = absl::StripAsciiWhitespace(token);
      if (!token.empty()) listed.push_back(absl::AsciiStrToLower(token));
    }
  }
  std::string& head = out.upstream_head;
  absl::StrAppend(&head, request.method, " ", origin, " HTTP/1.",
                  request.version_minor, "\r\n");
  bool has_host = false;
  for (const gateway::HttpHeaderField& field : request.headers) {
    if (IsHopByHopField(field.name) ||
        std::find(listed.begin(), listed.end(), field.name) != listed.end()) {
      continue;
    }
    if (field.name == "host") has_host = true;
    absl::StrAppend(&head, field.name, ": ", field.value, "\r\n");
  }
  if (!has_host) absl::StrAppend(&head, "host: ", authority, "\r\n");
  absl::StrAppend(&head, "Connection: close\r\n\r\n");
  return result;
}

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 407: return "Proxy Authentication Required";
    case 502: return "Bad Gateway";
    case 504: return "Gateway Timeout";
    default: return gateway::HttpReasonPhrase(status);
  }
}

std::string HttpProxyErrorResponse(int status, absl::string_view body,
                                   absl::string_view extra_fields) {
  std::string text = absl::StrCat(body, "\n");
  return absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status),
                      "\r\n", extra_fields,
                      "Content-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: ",
                      text.size(), "\r\nConnection: close\r\n\r\n", text);
}

}  // namespace stow::proxy
