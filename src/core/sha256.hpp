// SHA-256 of a byte string, for client keys: the config keeps only their hashes and a presented
// key is hashed before it is looked up.
#pragma once

#include <string>
#include <string_view>

namespace switchyard {

// The 32-byte digest of `data`, as raw bytes.
std::string sha256(std::string_view data);

// `digest` (any bytes) as lowercase hex.
std::string to_hex(std::string_view digest);

}  // namespace switchyard
