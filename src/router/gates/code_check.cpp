// Process control by hand (fork, setrlimit, execve, poll, waitpid): Boost.Process cannot set a
// child's resource limits before it execs, and posix_spawn cannot either.
#include "router/gates/code_check.hpp"

#include "config/yaml_map.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace switchyard {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kKeptOutput = 4096;  // bytes of the command's output kept for the reason

// `name` found on PATH (or as given, when it names a directory); empty if not executable.
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    std::string candidate = std::string(dirs.substr(0, colon)) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return "";
}

struct Ran {
  int status = 0;  // as waitpid reports it
  bool timed_out = false;
  std::string output;  // stdout and stderr, the first kKeptOutput bytes
  std::string failure;  // why it could not run at all
};

// Runs `args` in `dir` under the check's caps and waits for it, at most the timeout. Blocking:
// on the code pool only.
Ran run_capped(const CodeCheck& check, const std::vector<std::string>& args, const fs::path& dir) {
  Ran ran;
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string home = "HOME=" + dir.string();
  char path_env[] = "PATH=/usr/local/bin:/usr/bin:/bin";
  char lang_env[] = "LANG=C.UTF-8";
  char* envp[] = {path_env, lang_env, const_cast<char*>(home.c_str()), nullptr};
  const std::string cwd = dir.string();
  const auto cpu_seconds = static_cast<rlim_t>(
      std::chrono::duration_cast<std::chrono::seconds>(check.timeout).count() + 1);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ran.failure = "cannot make a pipe";
    return ran;
  }
  const int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = ::fork();
  if (pid == 0) {  // the child: only async-signal-safe calls until execve
    ::setpgid(0, 0);
    if (null_in < 0 || ::dup2(null_in, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(out[1], 2) < 0)
      ::_exit(127);
    // None of the gateway's sockets and files: not every one is opened close-on-exec.
    ::close_range(3, ~0U, 0);
    const auto cap = [](int resource, rlim_t value) {
      const rlimit r{value, value};
      ::setrlimit(resource, &r);
    };
    cap(RLIMIT_AS, check.memory_bytes);
    cap(RLIMIT_CPU, cpu_seconds);
    cap(RLIMIT_FSIZE, rlim_t{16} << 20);
    cap(RLIMIT_NOFILE, 64);
    cap(RLIMIT_CORE, 0);
    if (::chdir(cwd.c_str()) == 0) ::execve(argv[0], argv.data(), envp);
    ::_exit(127);
  }
  ::close(out[1]);
  if (null_in >= 0) ::close(null_in);
  if (pid < 0) {
    ::close(out[0]);
    ran.failure = "cannot start a process";
    return ran;
  }
  ::setpgid(pid, pid);  // also here, so that a kill before the child ran it reaches the group
  const auto keep = [&](const char* buf, ssize_t n) {
    if (n > 0 && ran.output.size() < kKeptOutput)
      ran.output.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n),
                                                   kKeptOutput - ran.output.size()));
  };
  // Until the command exits (noticed, not reaped: its group ID stays its own) or runs out of
  // time, reading what it says, so that a full pipe never stalls it.
  const auto deadline = Clock::now() + check.timeout;
  bool open = true;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid == pid)
      break;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      ran.timed_out = true;
      break;
    }
    const int wait_ms = static_cast<int>(std::min<std::int64_t>(left.count(), 10));
    pollfd p{out[0], POLLIN, 0};
    if (!open) {
      ::poll(nullptr, 0, wait_ms);
    } else if (::poll(&p, 1, wait_ms) > 0) {
      char buf[4096];
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      keep(buf, n);
      open = n > 0;
    }
  }
  // Anything it left running in its group goes, then the rest of what it said, then the
  // command itself is reaped.
  ::kill(-pid, SIGKILL);
  char buf[4096];
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) keep(buf, n);
  ::close(out[0]);
  ::waitpid(pid, &ran.status, 0);
  return ran;
}

// The code pool: checks run here, never on a worker. Two threads: a check is mostly waiting.
// At most kMaxChecks wait or run at once; more fail at once rather than queue behind them.
constexpr int kMaxChecks = 8;
std::atomic<int> checks{0};

boost::asio::thread_pool& code_pool() {
  static boost::asio::thread_pool pool(2);
  return pool;
}

// Writes `code` where the command will read it and runs the command: the finding.
std::string run_check(const CodeCheck& check, const std::string& code) {
  std::error_code ec;
  std::string dir_template = (fs::temp_directory_path(ec) / "switchyard-code-XXXXXX").string();
  if (ec || !::mkdtemp(dir_template.data())) return "code check: cannot make a directory";
  const fs::path dir = dir_template;
  std::string finding;
  {
    std::ofstream f(dir / check.file, std::ios::binary);
    f << code;
    if (!f) finding = "code check: cannot write the code";
  }
  if (finding.empty()) {
    std::vector<std::string> args = check.command;
    const std::string file = (dir / check.file).string();
    for (auto& a : args)
      for (std::size_t at; (at = a.find("{file}")) != std::string::npos;)
        a.replace(at, 6, file);
    const Ran ran = run_capped(check, args, dir);
    std::string said = ran.output.substr(0, ran.output.find('\n'));
    for (char& c : said)
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    if (!ran.failure.empty())
      finding = "code check: " + ran.failure;
    else if (ran.timed_out)
      finding = fmt::format("no verdict within {} ms", check.timeout.count());
    else if (WIFSIGNALED(ran.status))
      finding = fmt::format("killed by signal {}{}{}", WTERMSIG(ran.status),
                            said.empty() ? "" : ": ", said);
    else if (WEXITSTATUS(ran.status) != 0)
      finding = fmt::format("exit {}{}{}", WEXITSTATUS(ran.status), said.empty() ? "" : ": ",
                            said);
  }
  // Once more if something it started was still writing there when it was killed.
  if (fs::remove_all(dir, ec); ec) fs::remove_all(dir, ec);
  return finding;
}

// The check by value: a snapshot may go while it runs.
Task<std::string> run_on_pool(CodeCheck check, std::string code) {
  std::string finding = run_check(check, code);
  checks.fetch_sub(1, std::memory_order_relaxed);
  co_return finding;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<std::string> code_block(std::string_view text,
                                      const std::vector<std::string>& languages) {
  std::size_t at = 0;
  while ((at = text.find("```", at)) != std::string_view::npos) {
    const std::size_t line_end = text.find('\n', at);
    if (line_end == std::string_view::npos) return std::nullopt;
    std::string_view info = text.substr(at + 3, line_end - at - 3);
    while (!info.empty() && std::isspace(static_cast<unsigned char>(info.back())))
      info.remove_suffix(1);
    info = info.substr(0, info.find(' '));
    const std::size_t close = text.find("```", line_end + 1);
    if (close == std::string_view::npos) return std::nullopt;
    const bool taken =
        languages.empty() || info.empty() ||
        std::find(languages.begin(), languages.end(), lower(info)) != languages.end();
    if (taken) return std::string(text.substr(line_end + 1, close - line_end - 1));
    at = close + 3;
  }
  return std::nullopt;
}

CodeCheck read_code_check(const YAML::Node& node, const std::string& path) {
  CodeCheck c;
  Map m(node, path);
  std::uint32_t timeout_ms = 5000, memory_mb = 512;
  m.req("command", c.command);
  m.opt("file", c.file);
  m.opt("languages", c.languages);
  m.opt("timeout_ms", timeout_ms);
  m.opt("memory_mb", memory_mb);
  m.finish();
  if (c.command.empty()) fail(m.at("command"), "must name a program");
  if (std::none_of(c.command.begin(), c.command.end(),
                   [](const std::string& a) { return a.find("{file}") != std::string::npos; }))
    fail(m.at("command"), "must pass \"{file}\", where the code block is written");
  const std::string program = find_program(c.command.front());
  if (program.empty())
    fail(m.at("command") + "[0]", "\"" + c.command.front() + "\" is not an executable on PATH");
  c.command.front() = program;
  if (c.file.empty() || c.file.find('/') != std::string::npos || c.file == "." || c.file == "..")
    fail(m.at("file"), "must be a plain file name");
  if (timeout_ms == 0 || timeout_ms > 60000) fail(m.at("timeout_ms"), "must be 1 to 60000");
  if (memory_mb < 16) fail(m.at("memory_mb"), "must be at least 16");
  c.timeout = milliseconds(timeout_ms);
  c.memory_bytes = std::uint64_t{memory_mb} << 20;
  for (auto& l : c.languages) l = lower(l);
  return c;
}

Task<std::string> check_code(const CodeCheck& check, std::string_view answer_text) {
  auto code = code_block(answer_text, check.languages);
  if (!code) co_return "";
  if (checks.fetch_add(1, std::memory_order_relaxed) >= kMaxChecks) {
    checks.fetch_sub(1, std::memory_order_relaxed);
    co_return fmt::format("code check busy: {} checks already waiting or running", kMaxChecks);
  }
  // Runs on the pool; the caller resumes on its own executor. The caller's cancellation is not
  // passed on: a check is not interruptible, and a signal emitted from another thread into the
  // pool's coroutine would race it.
  std::string finding = co_await boost::asio::co_spawn(
      code_pool(), run_on_pool(check, std::move(*code)),
      boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(),
                                          boost::asio::use_awaitable));
  co_return finding;
}

}  // namespace switchyard
