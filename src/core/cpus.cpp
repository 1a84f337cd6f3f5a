#include "core/cpus.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <sched.h>

namespace switchyard {

namespace {

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// CPUs allowed by the quota file(s) of one cgroup directory, or nothing.
std::optional<double> quota_in(const std::string& dir, bool v2) {
  if (v2) {
    std::istringstream in(read_small_file(dir + "/cpu.max"));  // "max 100000" or "50000 100000"
    std::string quota;
    double period = 0;
    if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
    try {
      return std::stod(quota) / period;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  std::istringstream q(read_small_file(dir + "/cpu.cfs_quota_us"));  // -1: none
  std::istringstream p(read_small_file(dir + "/cpu.cfs_period_us"));
  double quota = 0;
  double period = 0;
  if (!(q >> quota) || !(p >> period) || quota <= 0 || period <= 0) return std::nullopt;
  return quota / period;
}

// The tightest quota from `dir` + `path` up to `dir` itself.
std::optional<double> tightest(const std::string& dir, std::string path, bool v2) {
  std::optional<double> best;
  for (;;) {
    if (auto q = quota_in(dir + (path == "/" ? "" : path), v2); q && (!best || *q < *best))
      best = q;
    if (path.empty() || path == "/") return best;
    path.erase(path.rfind('/'));
    if (path.empty()) path = "/";
  }
}

}  // namespace

std::optional<double> cgroup_cpu_quota(const std::string& fs_root, std::string_view membership) {
  std::istringstream lines{std::string(membership)};
  for (std::string line; std::getline(lines, line);) {
    // "HIERARCHY:CONTROLLERS:PATH"; v2 is "0::PATH"
    auto a = line.find(':');
    auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controllers.empty()) {
      if (auto q = tightest(fs_root, path, true)) return q;
      continue;
    }
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');) {
      if (name != "cpu") continue;
      for (const char* mount : {"/cpu,cpuacct", "/cpu"})  // how distributions mount v1
        if (auto q = tightest(fs_root + mount, path, false)) return q;
    }
  }
  return std::nullopt;
}

unsigned usable_cpus() {
  unsigned n = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0)
    n = std::max(1, CPU_COUNT(&set));
  auto quota = cgroup_cpu_quota("/sys/fs/cgroup", read_small_file("/proc/self/cgroup"));
  if (quota) n = std::min(n, std::max(1u, static_cast<unsigned>(std::ceil(*quota - 1e-9))));
  return n;
}

}  // namespace switchyard
