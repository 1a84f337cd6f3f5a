// switchyard: the gateway daemon. Flags, --validate-config, signals and the config watcher; the
// rest lives in server/. `switchyard eval` and `switchyard train` are offline (offline/).
#include "offline/eval.hpp"
#include "offline/train.hpp"
#include "router/snapshot.hpp"
#include "server/access_log.hpp"
#include "server/gateway.hpp"
#include "server/probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <sys/resource.h>

#ifdef SWITCHYARD_MIMALLOC
#include <mimalloc.h>
#endif

namespace {

constexpr const char* kUsage = R"(usage: switchyard [options]
       switchyard eval --config FILE --data FILE[:split] [options]   (eval --help)
       switchyard train --data FILE[:split] --out MODEL [options]   (train --help)

  --config FILE        YAML config (default: config/switchyard.yaml)
  --listen HOST:PORT   override server.listen
  --workers N          override server.workers (0: the CPUs this process may use)
  --validate-config    check the config and exit 0 (valid) or 1 (invalid)
  --health             GET /healthz from the running gateway (server.admin_listen, else
                       server.listen or --listen) and exit 0 if it answers 200 within 2 s
  --log-format FORMAT  access log as "text" (default) or "json"
  --version            print the version and exit

Signals: SIGHUP reloads the config (so does a change to the file); SIGTERM and SIGINT drain
in-flight requests for up to server.drain_timeout_s, then exit 0.
)";

// Raises the soft descriptor limit to the hard one, as nginx's worker_rlimit_nofile and Go's
// runtime do: a gateway holds two descriptors per request, and 1024 is the usual soft default.
void raise_descriptor_limit() {
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "eval") == 0)
    return switchyard::offline::eval_main(argc - 2, argv + 2);
  if (argc > 1 && std::strcmp(argv[1], "train") == 0)
    return switchyard::offline::train_main(argc - 2, argv + 2);
  switchyard::GatewayOptions opts;
  opts.config_path = "config/switchyard.yaml";
  bool validate_only = false;
  bool health = false;
  bool json_log = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "switchyard: %s needs a value\n%s", a.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config") opts.config_path = value();
    else if (a == "--listen") opts.listen_override = value();
    else if (a == "--workers") {
      auto v = value();
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), opts.workers);
      if (ec != std::errc() || p != v.data() + v.size()) {
        std::fprintf(stderr, "switchyard: --workers expects a number, got \"%s\"\n", v.c_str());
        return 2;
      }
    }
    else if (a == "--validate-config") validate_only = true;
    else if (a == "--health") health = true;
    else if (a == "--log-format") {
      auto f = value();
      if (f != "json" && f != "text") {
        std::fprintf(stderr, "switchyard: --log-format must be json or text\n");
        return 2;
      }
      json_log = f == "json";
    } else if (a == "--version") {
      std::printf("switchyard %s\n", SWITCHYARD_VERSION);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else {
      std::fprintf(stderr, "switchyard: unknown option %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }

  if (health) {
    auto loaded = switchyard::load_config_file(opts.config_path);
    if (!loaded.config) {
      std::fprintf(stderr, "unhealthy: %s\n", loaded.error.c_str());
      return 1;
    }
    const auto& sc = loaded.config->server;
    const auto& target = !sc.admin_listen.empty() ? sc.admin_listen
                         : opts.listen_override.empty() ? sc.listen
                                                        : opts.listen_override;
    const int status = switchyard::probe(target, "/healthz", std::chrono::seconds(2));
    if (status == 200) return 0;
    std::fprintf(stderr, "unhealthy: GET http://%s/healthz: %s\n", target.c_str(),
                 status ? std::to_string(status).c_str() : "no answer");
    return 1;
  }

  if (validate_only) {
    auto loaded = switchyard::load_config_file(opts.config_path);
    if (!loaded.config) {
      std::fprintf(stderr, "invalid: %s\n", loaded.error.c_str());
      return 1;
    }
    switchyard::Metrics metrics;
    auto built = switchyard::build_snapshot(std::move(*loaded.config), metrics);
    if (!built.snapshot) {
      std::fprintf(stderr, "invalid: %s: %s\n", opts.config_path.c_str(), built.error.c_str());
      return 1;
    }
    std::printf("valid: %s\n", opts.config_path.c_str());
    return 0;
  }

  // stdout carries the access log and nothing else, so that a JSON log stays JSON: every other
  // line goes to stderr.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  switchyard::init_access_log(json_log);
  std::string error;
  raise_descriptor_limit();
  // A closed stdout (the access log's pipe) must not kill the gateway; sockets already say so.
  std::signal(SIGPIPE, SIG_IGN);
  auto gateway = switchyard::Gateway::start(opts, error);
  if (!gateway) {
    spdlog::error("{}", error);
    return 1;
  }
#ifdef SWITCHYARD_MIMALLOC
  // The linker keeps only the libraries a binary names: this line names mimalloc, which then
  // serves every malloc of the process.
  spdlog::info("allocator: mimalloc {}", mi_version());
#endif

  boost::asio::io_context control(1);
  boost::asio::signal_set signals(control, SIGHUP, SIGTERM, SIGINT);
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading {}", opts.config_path);
        gateway->reload();
        wait_signal();
        return;
      }
      spdlog::info("{}: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      gateway->drain();
      control.stop();
    });
  };
  wait_signal();

  boost::asio::steady_timer poll(control);
  std::function<void()> arm_poll = [&] {
    auto every = gateway->snapshot()->config.server.reload_poll_ms;
    if (every == 0) every = 1000;  // re-checked each tick, so turning polling on works too
    poll.expires_after(std::chrono::milliseconds(every));
    poll.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (gateway->snapshot()->config.server.reload_poll_ms) gateway->poll_config_file();
      arm_poll();
    });
  };
  arm_poll();

  control.run();
  gateway.reset();
  switchyard::stop_access_log();
  spdlog::info("stopped");
  spdlog::shutdown();
  return 0;
}
