// The code validator: a quality gate that runs a configured command on the answer's first fenced
// code block, such as a compiler's syntax check. Configured as a mapping:
//
//   code:
//     command: [python3, -m, py_compile, "{file}"]  # "{file}": where the block is written
//     file: answer.py       # the file's name, for tools that read its extension (default code.txt)
//     languages: [python]   # optional: only blocks fenced as one of these, or unlabelled
//     timeout_ms: 5000      # the command is killed past it (default 5000)
//     memory_mb: 512        # its address space (default 512)
//
// The command runs off the worker threads, on a small pool of its own, as a child process in a
// fresh directory and process group, with stdin empty, a minimal environment, and capped time
// (the whole group is killed), address space, CPU, file size (16 MB) and open files (64). Those
// caps bound a mistake, not an attacker: the child runs as the gateway's user with its network,
// so run untrusted code only where the gateway's container confines it. A CodeCheck is immutable
// and shared by every worker.
#pragma once

#include "switchyard/router.hpp"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

struct CodeCheck {
  std::vector<std::string> command;  // command[0] resolved to an absolute path
  std::string file = "code.txt";
  std::vector<std::string> languages;  // lower-case; empty: any block
  std::chrono::milliseconds timeout{5000};
  std::uint64_t memory_bytes = std::uint64_t{512} << 20;
};

// Reads a `code` mapping and finds its command on PATH; throws ConfigFailure naming the path
// (call inside read_guarded).
CodeCheck read_code_check(const YAML::Node& node, const std::string& path);

// Checks the first code block of `answer_text` that `check` takes: empty when the command exits 0
// or there is no such block, else why not (its exit and the first line of its output, the time
// it ran out of, or that 8 checks are already waiting or running). Completes on the caller's
// executor; a client that goes away does not stop a check already queued or running, which ends
// by its timeout at the latest once it runs.
Task<std::string> check_code(const CodeCheck& check, std::string_view answer_text);

// The first fenced (```) code block of `text` whose language is one of `languages` or none (any
// block when `languages` is empty), without its fences.
std::optional<std::string> code_block(std::string_view text,
                                      const std::vector<std::string>& languages);

}  // namespace switchyard
