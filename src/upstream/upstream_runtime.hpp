// What the upstream layer needs to call one configured upstream: its config, parsed URL, TLS
// context and credentials. Built into the Snapshot (router/snapshot.hpp) on the control thread;
// immutable afterwards except for the shared in-flight counter.
#pragma once

#include "switchyard/config.hpp"
#include "upstream/url.hpp"

#include <atomic>
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
  // Calls in flight across all workers, against config->max_concurrent. Shared with the next
  // snapshot's runtime of the same name, so calls still running on an old config are counted.
  std::shared_ptr<std::atomic<std::uint32_t>> in_flight;
};

}  // namespace switchyard
