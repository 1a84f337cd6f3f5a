// Test fixtures: temporary files, an in-process simulated upstream and an in-process gateway on
// port 0, all on 127.0.0.1.
#pragma once

#include "server/gateway.hpp"
#include "sim/sim_server.hpp"
#include "support/http_client.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace switchyard::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  // Writes `content` to `name` inside the directory (atomically, via rename) and returns the path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

std::unique_ptr<SimServer> start_sim(const SimOptions& options = {});

// A port on 127.0.0.1 with nothing listening (bound, then closed).
unsigned short closed_port();

// Polls `cond` every 10 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& cond,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

// Runs a gateway from YAML text. `server:` keys in the YAML are used as given; the listener is
// always 127.0.0.1:0 and there are two workers, so tests exercise cross-worker behaviour.
class GatewayUnderTest {
 public:
  explicit GatewayUnderTest(const std::string& yaml, unsigned workers = 2);
  unsigned short port() const { return gateway_->port(); }
  Gateway& gateway() { return *gateway_; }
  const std::string& config_path() const { return config_path_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string config_path_;
  std::unique_ptr<Gateway> gateway_;
};

// The value of an unlabelled or fully labelled series (labels in name order, as exposed) in
// /metrics text, or -1 if absent.
double metric(const std::string& text, const std::string& series);

// A chat body for `model`; `extra` is spliced into the top-level object (e.g. R"("stream":true)").
std::string chat_body(const std::string& model, const std::string& extra = {});

}  // namespace switchyard::test
