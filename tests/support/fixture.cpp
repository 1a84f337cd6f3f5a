#include "support/fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fstream>
#include <random>
#include <thread>

namespace switchyard::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("switchyard-test-" + std::to_string(rd()) + "-" +
                                       std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  auto target = path_ / name;
  auto tmp = path_ / (name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::rename(tmp, target);
  return target.string();
}

std::unique_ptr<SimServer> start_sim(const SimOptions& options) {
  auto sim = SimServer::start(options);
  EXPECT_TRUE(sim.has_value()) << (sim ? "" : sim.error().message);
  return sim ? std::move(*sim) : nullptr;
}

unsigned short closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

GatewayUnderTest::GatewayUnderTest(const std::string& yaml, unsigned workers) {
  config_path_ = dir_.write("switchyard.yaml", yaml);
  GatewayOptions o;
  o.config_path = config_path_;
  o.listen_override = "127.0.0.1:0";
  o.workers = workers;
  std::string error;
  gateway_ = Gateway::start(o, error);
  if (!gateway_) throw std::runtime_error("gateway did not start: " + error);
}

double metric(const std::string& text, const std::string& series) {
  for (auto at = text.find(series); at != std::string::npos; at = text.find(series, at + 1)) {
    if (at != 0 && text[at - 1] != '\n') continue;
    if (at + series.size() >= text.size() || text[at + series.size()] != ' ') continue;
    return std::stod(text.substr(at + series.size() + 1));
  }
  return -1;
}

std::string chat_body(const std::string& model, const std::string& extra) {
  std::string body = R"({"model":")" + model +
                     R"(","messages":[{"role":"user","content":"Say hello to the tests."}])";
  if (!extra.empty()) body += "," + extra;
  return body + "}";
}

}  // namespace switchyard::test
