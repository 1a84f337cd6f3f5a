// What the upstream layer needs to call one configured upstream: its config, parsed URL, TLS
// context and credentials. Built into the Snapshot (router/snapshot.hpp) on the control thread;
// immutable afterwards.
#pragma once

#include "switchyard/config.hpp"
#include "upstream/url.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace switchyard {

class LazyCounters;  // metrics/metrics.hpp

struct UpstreamRuntime {
  const UpstreamConfig* config = nullptr;
  Url url;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null for http://
  std::string authorization;                       // "Bearer <key>", or empty
  LazyCounters* errors = nullptr;                   // by Reason
  // What its connections depend on (name, URL, TLS, pool settings): each worker keeps its pool
  // across a reload while this stays the same.
  std::string pool_key;
};

}  // namespace switchyard
