#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

// An upstream base_url split for connecting: https://api.example.com:8443/v1 →
// {tls, "api.example.com", "8443", "/v1"}. IPv6 literals are written [::1].
struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string prefix;       // no trailing slash; "" for the root
  std::string host_header;  // host[:port] as sent in Host
};

std::optional<Url> parse_url(std::string_view url);

}  // namespace switchyard
