#include "server/auth.hpp"

#include "router/snapshot.hpp"

#include <boost/beast/core/string.hpp>

namespace switchyard {

namespace {

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

}  // namespace

bool authorized(const Snapshot& snap, std::string_view header) {
  if (snap.api_keys.empty()) return true;
  // The scheme is case-insensitive (RFC 7235); the key is not.
  if (header.size() < 7 || !boost::beast::iequals(header.substr(0, 7), "bearer ")) return false;
  auto key = header.substr(7);
  bool ok = false;
  for (const auto& k : snap.api_keys) ok |= constant_time_equal(k, key);
  return ok;
}

}  // namespace switchyard
