// Parses the input as a config-auth reply; on success, echoes the form back
// through BuildAuthReply and requires the result to parse as XML.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "sdk/tunnel/tls/auth_xml.h"

using namespace stow::tunnel::tls;  // NOLINT: fuzzer harness.

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  (void)ParseXml(in);
  auto m = ParseAuthServerMessage(in);
  if (!m.ok()) return 0;
  std::vector<std::pair<std::string, std::string>> values;
  for (const AuthField& f : m->form.fields) values.emplace_back(f.name, f.label);
  auto reply = BuildAuthReply(AuthClientInfo(), values, m->form.opaque_xml);
  if (!reply.ok() || !ParseXml(*reply).ok()) abort();
  return 0;
}
