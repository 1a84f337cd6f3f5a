// switchyard-sim: a local OpenAI-compatible model fleet for demos, benchmarks and tests.
#include "sim/sim_server.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

constexpr const char* kUsage = R"(usage: switchyard-sim [options]

  --listen HOST:PORT   where to listen (default 127.0.0.1:9001; port 0 picks one)
  --workers N          threads (default 1)
  --fleet FILE         model catalogue (e.g. config/sim-fleet.yaml); without it, any model name
                       is served instantly
  --dataset FILE       replay recorded outcomes (../shared/data/*.jsonl format); its models join
                       the fleet, priced from models.json beside it
  --split NAME         load only this split of the dataset (e.g. test)
  --models-json FILE   price and latency catalogue for dataset models (default: beside dataset)
  --time-scale F       multiply every simulated delay and episode time by F (e.g. 0.1)
  --tls-cert PEM --tls-key PEM   serve HTTPS
)";

// A numeric flag value, or exit 2 naming the flag.
template <class T>
T number(const std::string& text, const std::string& flag) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    std::fprintf(stderr, "switchyard-sim: %s expects a number, got \"%s\"\n", flag.c_str(),
                 text.c_str());
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  switchyard::SimOptions o;
  o.listen = "127.0.0.1:9001";
  std::string fleet_path, dataset_path, split, models_json;
  double time_scale = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "switchyard-sim: %s needs a value\n%s", a.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen") o.listen = value();
    else if (a == "--workers") o.workers = number<unsigned>(value(), a);
    else if (a == "--fleet") fleet_path = value();
    else if (a == "--dataset") dataset_path = value();
    else if (a == "--split") split = value();
    else if (a == "--models-json") models_json = value();
    else if (a == "--time-scale") time_scale = number<double>(value(), a);
    else if (a == "--tls-cert") o.tls_cert_file = value();
    else if (a == "--tls-key") o.tls_key_file = value();
    else {
      std::fprintf(a == "--help" ? stdout : stderr, "%s", kUsage);
      return a == "--help" ? 0 : 2;
    }
  }

  std::shared_ptr<switchyard::sim::Fleet> fleet;
  if (!fleet_path.empty()) {
    auto f = switchyard::sim::load_fleet(fleet_path);
    if (!f) {
      spdlog::error("{}", f.error().message);
      return 1;
    }
    fleet = std::move(*f);
  } else if (!dataset_path.empty()) {
    fleet = std::make_shared<switchyard::sim::Fleet>();
  }
  if (!dataset_path.empty()) {
    auto ds = switchyard::sim::Dataset::load(dataset_path, split);
    if (!ds) {
      spdlog::error("{}", ds.error().message);
      return 1;
    }
    fleet->dataset = *ds;
    if (models_json.empty())
      models_json = (std::filesystem::path(dataset_path).parent_path() / "models.json").string();
    if (auto r = switchyard::sim::add_dataset_models(*fleet, models_json); !r) {
      spdlog::error("{}", r.error().message);
      return 1;
    }
    spdlog::info("replaying {} prompts of {}{}", (*ds)->size(), dataset_path,
                 split.empty() ? "" : " (split " + split + ")");
  }
  if (fleet && time_scale > 0) fleet->time_scale = time_scale;
  o.fleet = fleet;

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
  spdlog::info("switchyard-sim listening on {}:{} ({} models)",
               o.listen.substr(0, o.listen.rfind(':')), (*sim)->port(),
               fleet ? std::to_string(fleet->models.size()) : std::string("any"));
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("switchyard-sim stopping");
  return 0;
}
