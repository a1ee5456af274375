#include "sdk/tunnel/tls/anyconnect_client.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sdk/crypto/random.h"

namespace stow::tunnel::tls {
namespace {

void Append(absl::string_view text, std::vector<uint8_t>* out) {
  out->insert(out->end(), text.begin(), text.end());
}

// The first line of a server message, for errors ("Login failed.").
std::string FirstLine(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  size_t nl = text.find('\n');
  return std::string(absl::StripAsciiWhitespace(text.substr(0, nl)));
}

}  // namespace

AnyConnectClient::AnyConnectClient(AnyConnectClientConfig config,
                                   Delegate* delegate)
    : config_(std::move(config)),
      delegate_(delegate),
      reader_(kCstpMaxPayload) {
  info_.group_access = absl::StrCat("https://", config_.host, config_.path);
  // Offered with PSK-NEGOTIATE as openconnect does; only legacy DTLS
  // (which we do not offer) would use it.
  std::vector<uint8_t> secret = crypto::RandomVector(48);
  dtls_master_secret_hex_ = absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(secret.data()), secret.size()));
  absl::AsciiStrToUpper(&dtls_master_secret_hex_);
}

void AnyConnectClient::AppendRequest(absl::string_view method,
                                     absl::string_view path,
                                     absl::string_view body,
                                     std::vector<uint8_t>* out) {
  std::string head = absl::StrCat(method, " ", path,
                                  " HTTP/1.1\r\nHost: ", config_.host,
                                  "\r\nUser-Agent: ", config_.user_agent,
                                  "\r\n");
  if (!context_cookie_.empty()) {
    absl::StrAppend(&head, "Cookie: webvpncontext=", context_cookie_, "\r\n");
  }
  absl::StrAppend(&head, "X-Transcend-Version: 1\r\nX-Aggregate-Auth: 1\r\n",
                  "Accept: */*\r\nAccept-Encoding: identity\r\n",
                  "Content-Type: application/xml; charset=utf-8\r\n",
                  "Content-Length: ", body.size(), "\r\n\r\n");
  Append(head, out);
  Append(body, out);
  parser_ = std::make_unique<HttpResponseParser>(
      HttpResponseParser::Mode::kWithBody);
}

void AnyConnectClient::AppendConnect(std::vector<uint8_t>* out) {
  std::string head = absl::StrCat(
      "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: ", config_.host,
      "\r\nUser-Agent: ", config_.user_agent, "\r\nCookie: webvpn=", cookie_,
      "\r\nX-CSTP-Version: 1\r\nX-CSTP-Hostname: ", config_.hostname,
      "\r\nX-CSTP-Base-MTU: ", config_.base_mtu,
      "\r\nX-CSTP-MTU: ", config_.mtu,
      "\r\nX-CSTP-Address-Type: IPv6,IPv4\r\n"
      "X-CSTP-Full-IPv6-Capability: true\r\n");
  if (config_.request_dtls) {
    absl::StrAppend(&head, "X-DTLS-Master-Secret: ", dtls_master_secret_hex_,
                    "\r\nX-DTLS-CipherSuite: PSK-NEGOTIATE\r\n");
  }
  absl::StrAppend(&head, "\r\n");
  Append(head, out);
  phase_ = Phase::kConnect;
  parser_ = std::make_unique<HttpResponseParser>(
      HttpResponseParser::Mode::kConnect);
}

void AnyConnectClient::Start(std::vector<uint8_t>* out) {
  if (!config_.cookie.empty()) {
    cookie_ = config_.cookie;
    AppendConnect(out);
    return;
  }
  rounds_ = 1;
  AppendRequest("POST", config_.path, BuildAuthInit(info_), out);
}

bool AnyConnectClient::Finish(absl::Status status) {
  if (phase_ != Phase::kDone) {
    phase_ = Phase::kDone;
    result_ = std::move(status);
  }
  return false;
}

bool AnyConnectClient::OnBytes(absl::Span<const uint8_t> bytes,
                               std::vector<uint8_t>* out) {
  while (phase_ == Phase::kLogin || phase_ == Phase::kConnect) {
    if (bytes.empty()) return true;
    size_t consumed = 0;
    absl::Status status = parser_->Feed(
        absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                          bytes.size()),
        &consumed);
    if (!status.ok()) {
      return Finish(absl::InvalidArgumentError(
          absl::StrCat("bad HTTP reply from the gateway: ",
                       status.message())));
    }
    bytes.remove_prefix(consumed);
    if (!parser_->done()) return true;
    std::unique_ptr<HttpResponseParser> parser = std::move(parser_);
    bool go_on = phase_ == Phase::kLogin
                     ? OnLoginResponse(parser->response(), out)
                     : OnConnectResponse(parser->response());
    if (!go_on) return false;
  }
  if (phase_ != Phase::kTunnel) return false;
  reader_.Append(bytes);
  return OnFrames(out);
}

absl::Status AnyConnectClient::FillForm(
    const AuthForm& form,
    std::vector<std::pair<std::string, std::string>>* values) {
  for (const AuthField& field : form.fields) {
    const std::string name = absl::AsciiStrToLower(field.name);
    switch (field.kind) {
      case AuthField::Kind::kHidden:
        values->emplace_back(field.name, field.value);
        break;
      case AuthField::Kind::kPassword:
        if (name != "password" && name != "passwd") {
          return absl::UnauthenticatedError(absl::StrCat(
              "the gateway asks for \"", field.label.empty() ? field.name
                                                             : field.label,
              "\" (field ", field.name,
              "), which the profile does not provide"));
        }
        if (config_.password.empty()) {
          return absl::UnauthenticatedError(
              "the gateway asks for a password and the profile has none");
        }
        values->emplace_back(field.name, config_.password);
        password_sent_ = true;
        break;
      case AuthField::Kind::kText:
        if (name != "username" && name != "user" && name != "login") {
          return absl::UnauthenticatedError(absl::StrCat(
              "the gateway asks for \"", field.label.empty() ? field.name
                                                             : field.label,
              "\" (field ", field.name,
              "), which the profile does not provide"));
        }
        if (config_.username.empty()) {
          return absl::UnauthenticatedError(
              "the gateway asks for a username and the profile has none");
        }
        values->emplace_back(field.name, config_.username);
        break;
      case AuthField::Kind::kSelect: {
        if (field.options.empty()) break;
        std::string chosen = field.options.front().value;
        if (!config_.group.empty()) {
          bool found = false;
          std::vector<std::string> offered;
          for (const AuthOption& option : field.options) {
            offered.push_back(option.value);
            if (option.value == config_.group ||
                option.label == config_.group) {
              chosen = option.value;
              found = true;
            }
          }
          if (!found) {
            return absl::UnauthenticatedError(
                absl::StrCat("group \"", config_.group,
                             "\" is not offered by the gateway (it offers: ",
                             absl::StrJoin(offered, ", "), ")"));
          }
        }
        values->emplace_back(field.name, chosen);
        break;
      }
      case AuthField::Kind::kOther:
        // Buttons and the like carry no value we must send.
        break;
    }
  }
  return absl::OkStatus();
}

bool AnyConnectClient::OnLoginResponse(const HttpResponse& response,
                                       std::vector<uint8_t>* out) {
  if (response.status != 200) {
    return Finish(absl::InvalidArgumentError(
        absl::StrCat("login: the gateway answered HTTP ", response.status,
                     " ", response.reason)));
  }
  std::string storage;
  if (const std::string* c = response.FindSetCookie("webvpncontext", &storage);
      c != nullptr) {
    context_cookie_ = *c;
  }
  absl::StatusOr<AuthServerMessage> message =
      ParseAuthServerMessage(response.body);
  if (!message.ok()) {
    return Finish(absl::InvalidArgumentError(absl::StrCat(
        "login: bad XML from the gateway: ", message.status().message())));
  }
  if (message->kind == AuthServerMessage::Kind::kComplete) {
    const std::string* webvpn = response.FindSetCookie("webvpn", &storage);
    if (webvpn != nullptr && !webvpn->empty()) {
      cookie_ = *webvpn;
    } else if (!message->session_token.empty()) {
      cookie_ = message->session_token;
    } else {
      return Finish(absl::InvalidArgumentError(
          "login: the gateway completed the login without a webvpn cookie"));
    }
    message_ = message->banner;
    context_cookie_.clear();
    AppendConnect(out);
    return true;
  }
  const AuthForm& form = message->form;
  message_ = !form.error.empty() ? form.error : form.message;
  bool asks_password = false;
  for (const AuthField& field : form.fields) {
    asks_password |= field.kind == AuthField::Kind::kPassword;
  }
  if (password_sent_ && asks_password) {
    std::string why = FirstLine(message_);
    return Finish(absl::UnauthenticatedError(absl::StrCat(
        "login failed for user \"", config_.username, "\"",
        why.empty() ? "" : ": the gateway says \"", why,
        why.empty() ? "" : "\"")));
  }
  if (++rounds_ > config_.max_rounds) {
    return Finish(absl::UnauthenticatedError(
        absl::StrCat("login: still asked for input after ",
                     config_.max_rounds, " rounds")));
  }
  std::vector<std::pair<std::string, std::string>> values;
  if (absl::Status s = FillForm(form, &values); !s.ok()) {
    return Finish(std::move(s));
  }
  absl::StatusOr<std::string> body =
      BuildAuthReply(info_, values, form.opaque_xml);
  if (!body.ok()) {
    return Finish(absl::InvalidArgumentError(
        absl::StrCat("login: cannot answer the form: ",
                     body.status().message())));
  }
  std::string action = form.action.empty() ? config_.path : form.action;
  if (action.empty() || action[0] != '/') {
    // Absolute URLs to another host are not followed.
    size_t scheme = action.find("://");
    size_t slash = scheme == std::string::npos
                       ? std::string::npos
                       : action.find('/', scheme + 3);
    action = slash == std::string::npos ? "/" : action.substr(slash);
  }
  AppendRequest("POST", action, *body, out);
  return true;
}

bool AnyConnectClient::OnConnectResponse(const HttpResponse& response) {
  if (response.status == 401 || response.status == 403) {
    return Finish(absl::PermissionDeniedError(
        absl::StrCat("the gateway refused the session cookie: HTTP ",
                     response.status, " ", response.reason)));
  }
  if (response.status < 200 || response.status > 299) {
    return Finish(absl::InvalidArgumentError(
        absl::StrCat("CONNECT: the gateway answered HTTP ", response.status,
                     " ", response.reason)));
  }
  absl::StatusOr<CstpConfig> config = ParseCstpConfig(response);
  if (!config.ok()) {
    return Finish(absl::InvalidArgumentError(absl::StrCat(
        "CONNECT reply: ", config.status().message())));
  }
  cstp_ = *std::move(config);
  phase_ = Phase::kTunnel;
  delegate_->OnConnected(cstp_);
  return phase_ == Phase::kTunnel;
}

bool AnyConnectClient::OnFrames(std::vector<uint8_t>* out) {
  CstpFrame frame;
  while (phase_ == Phase::kTunnel) {
    CstpReadResult r = reader_.Next(&frame);
    if (r == CstpReadResult::kNeedMore) return true;
    if (r == CstpReadResult::kBadMagic) {
      return Finish(
          absl::InvalidArgumentError("CSTP: a frame without the STF header"));
    }
    if (r == CstpReadResult::kTooLarge) {
      return Finish(absl::InvalidArgumentError("CSTP: oversized frame"));
    }
    switch (frame.type) {
      case static_cast<uint8_t>(CstpType::kData):
        counters_.rx_data++;
        delegate_->OnPacket(frame.payload);
        break;
      case static_cast<uint8_t>(CstpType::kDpdRequest): {
        counters_.rx_dpd_requests++;
        std::vector<uint8_t> reply = BuildCstpDpdResponse();
        out->insert(out->end(), reply.begin(), reply.end());
        break;
      }
      case static_cast<uint8_t>(CstpType::kDpdResponse):
        counters_.rx_dpd_responses++;
        delegate_->OnDpdResponse();
        break;
      case static_cast<uint8_t>(CstpType::kKeepalive):
        counters_.rx_keepalives++;
        break;
      case static_cast<uint8_t>(CstpType::kCompressedData):
        counters_.rx_compressed_dropped++;
        break;
      case static_cast<uint8_t>(CstpType::kDisconnect):
      case static_cast<uint8_t>(CstpType::kTerminate): {
        CstpDisconnect d = ParseCstpDisconnect(frame.payload);
        return Finish(absl::AbortedError(absl::StrCat(
            "the gateway ended the session (", CstpTypeName(frame.type),
            d.text.empty() ? "" : ": ", d.text, ")")));
      }
      default:
        counters_.rx_unknown_dropped++;
        break;
    }
  }
  return false;
}

bool AnyConnectClient::AppendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments,
    std::vector<uint8_t>* out) {
  size_t total = 0;
  for (absl::Span<const uint8_t> f : fragments) total += f.size();
  if (total > kCstpMaxPayload) {
    counters_.tx_too_large++;
    return false;
  }
  AppendCstpHeader(static_cast<uint8_t>(CstpType::kData), total, out);
  for (absl::Span<const uint8_t> f : fragments) {
    out->insert(out->end(), f.begin(), f.end());
  }
  counters_.tx_data++;
  return true;
}

void AnyConnectClient::AppendDpdRequest(std::vector<uint8_t>* out) {
  std::vector<uint8_t> f = BuildCstpDpdRequest();
  out->insert(out->end(), f.begin(), f.end());
}

void AnyConnectClient::AppendKeepalive(std::vector<uint8_t>* out) {
  std::vector<uint8_t> f = BuildCstpKeepalive();
  out->insert(out->end(), f.begin(), f.end());
}

void AnyConnectClient::AppendDisconnect(absl::string_view reason,
                                        std::vector<uint8_t>* out) {
  if (phase_ == Phase::kTunnel) {
    std::vector<uint8_t> f = BuildCstpDisconnect(reason);
    out->insert(out->end(), f.begin(), f.end());
  }
  Finish(absl::CancelledError(absl::StrCat("disconnected: ", reason)));
}

}  // namespace stow::tunnel::tls
