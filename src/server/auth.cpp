#include "server/auth.hpp"

#include "core/sha256.hpp"
#include "router/snapshot.hpp"

#include <boost/beast/core/string.hpp>

namespace switchyard {

Result<const Client*> identify(const Snapshot& snap, std::string_view header) {
  if (snap.clients.empty()) return nullptr;
  // The scheme is case-insensitive (RFC 7235); the key is not.
  if (header.size() > 7 && boost::beast::iequals(header.substr(0, 7), "bearer ")) {
    if (auto it = snap.clients.find(sha256(header.substr(7))); it != snap.clients.end())
      return &it->second;
  }
  return make_error(Reason::unauthorized,
                    "Incorrect API key provided. Pass a key configured in clients.keys or "
                    "server.api_keys as 'Authorization: Bearer <key>'.");
}

}  // namespace switchyard
