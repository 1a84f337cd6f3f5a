// The worker count's CPU quota, read from cgroup trees laid out as v2 and v1 mount them.
#include "core/cpus.hpp"
#include "support/fixture.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include <sched.h>

namespace switchyard::test {
namespace {

TEST(Cpus, CgroupV2QuotaIsTheTightestOnThePathToTheRoot) {
  TempDir root;
  std::filesystem::create_directories(root.path() / "kubepods/pod1/ctr");
  root.write("cpu.max", "max 100000\n");
  root.write("kubepods/pod1/cpu.max", "250000 100000\n");  // 2.5 CPUs for the pod
  root.write("kubepods/pod1/ctr/cpu.max", "max 100000\n");  // none of its own
  auto q = cgroup_cpu_quota(root.path().string(), "0::/kubepods/pod1/ctr\n");
  ASSERT_TRUE(q.has_value());
  EXPECT_DOUBLE_EQ(*q, 2.5);
  root.write("kubepods/pod1/ctr/cpu.max", "50000 100000\n");
  EXPECT_DOUBLE_EQ(cgroup_cpu_quota(root.path().string(), "0::/kubepods/pod1/ctr\n").value(), 0.5);
}

TEST(Cpus, CgroupV2WithoutQuotaIsUnlimited) {
  TempDir root;
  root.write("cpu.max", "max 100000\n");
  EXPECT_FALSE(cgroup_cpu_quota(root.path().string(), "0::/\n").has_value());
  EXPECT_FALSE(cgroup_cpu_quota(root.path().string(), "").has_value());
}

TEST(Cpus, CgroupV1QuotaUnderEitherMountName) {
  TempDir root;
  std::filesystem::create_directories(root.path() / "cpu,cpuacct/docker/abc");
  root.write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "100000\n");
  root.write("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  const char* membership = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n";
  EXPECT_DOUBLE_EQ(cgroup_cpu_quota(root.path().string(), membership).value(), 1.0);

  TempDir split;  // "cpu" mounted alone; the container sees its own cgroup at the mount's root
  std::filesystem::create_directories(split.path() / "cpu");
  split.write("cpu/cpu.cfs_quota_us", "300000\n");
  split.write("cpu/cpu.cfs_period_us", "200000\n");
  EXPECT_DOUBLE_EQ(cgroup_cpu_quota(split.path().string(), "1:cpu:/docker/abc\n").value(), 1.5);
  split.write("cpu/cpu.cfs_quota_us", "-1\n");  // v1's "no quota"
  EXPECT_FALSE(cgroup_cpu_quota(split.path().string(), "1:cpu:/docker/abc\n").has_value());
}

TEST(Cpus, UsableCpusFollowsTheAffinityMask) {
  cpu_set_t saved;
  ASSERT_EQ(::sched_getaffinity(0, sizeof(saved), &saved), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &saved)) continue;
    CPU_SET(c, &one);
    break;
  }
  ASSERT_EQ(::sched_setaffinity(0, sizeof(one), &one), 0);
  const unsigned pinned = usable_cpus();
  ASSERT_EQ(::sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_EQ(pinned, 1u);
  EXPECT_LE(usable_cpus(), static_cast<unsigned>(CPU_COUNT(&saved)));
}

}  // namespace
}  // namespace switchyard::test
