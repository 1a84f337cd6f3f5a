// `switchyard --health`: the container's own health check, for images without curl.
#pragma once

#include <chrono>
#include <string>

namespace switchyard {

// GETs `path` from the gateway listening on "HOST:PORT" (a wildcard host means this machine's
// loopback) and returns the HTTP status, or 0 when nothing answered within `timeout`. Blocks; owns
// everything it uses.
int probe(const std::string& host_port, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace switchyard
