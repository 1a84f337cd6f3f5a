// How many CPUs this process may really use: inside a container limited to one CPU the host may
// still show 64 cores, and a worker per host core would only contend for that one CPU.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

// The CPUs in this process's affinity mask, capped by its cgroup's CPU quota (rounded up), at
// least 1. Reads /proc and /sys once per call; call it at start-up, not per request.
unsigned usable_cpus();

// The CPU quota, in CPUs, of the cgroup that `membership` (the text of /proc/self/cgroup) names,
// read from the cgroup file system mounted at `fs_root`: cgroup v2's cpu.max, or v1's
// cpu.cfs_quota_us over cpu.cfs_period_us, the tightest of the cgroup and its ancestors. Empty
// when no quota applies or nothing can be read.
std::optional<double> cgroup_cpu_quota(const std::string& fs_root, std::string_view membership);

}  // namespace switchyard
