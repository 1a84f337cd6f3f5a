// switchyard-sim: a local OpenAI-compatible model fleet for demos and tests (no API key needed).
#include "sim/sim_server.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  switchyard::SimOptions o;
  o.listen = "127.0.0.1:9001";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "switchyard-sim: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen") o.listen = value();
    else if (a == "--workers") o.workers = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--tls-cert") o.tls_cert_file = value();
    else if (a == "--tls-key") o.tls_key_file = value();
    else {
      std::fprintf(stderr,
                   "usage: switchyard-sim [--listen HOST:PORT] [--workers N] "
                   "[--tls-cert PEM --tls-key PEM]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  // Block the stop signals before any thread starts, then wait for one synchronously.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto sim = switchyard::SimServer::start(o);
  if (!sim) {
    spdlog::error("{}", sim.error().message);
    return 1;
  }
  spdlog::info("switchyard-sim listening on {}:{}", o.listen.substr(0, o.listen.rfind(':')),
               (*sim)->port());
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("switchyard-sim stopping");
  return 0;
}
