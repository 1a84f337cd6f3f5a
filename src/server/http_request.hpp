// A client's HTTP/1.1 request as the session reads it (server/request_reader.hpp): the bytes of
// its head, which it owns, what core/http1.hpp found in them, and its body. Header-only, so that
// the fuzzer's request reader needs no server library.
#pragma once

#include "core/http1.hpp"

#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace switchyard {

// Owns its head's bytes and its body; the method, target and fields are offsets into the head,
// so they survive a move. Filled once by parse_head(), then read.
class HttpRequest {
 public:
  std::string body;

  std::string_view method() const { return at(method_); }
  std::string_view target() const { return at(target_); }
  int version() const { return version_; }
  bool keep_alive() const { return keep_alive_; }

  // The value of the first field named `name` (any case), or "" if there is none.
  std::string_view operator[](std::string_view name) const {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    for (const auto& [n, v] : fields_) {
      const std::string_view field = at(n);
      if (field.size() != name.size()) continue;
      std::size_t i = 0;
      while (i < name.size() && lower(field[i]) == lower(name[i])) ++i;
      if (i == name.size()) return at(v);
    }
    return {};
  }

  // Copies `head` (a whole request head, http1::head_end) and parses it into this request and
  // `out` (the framing, Host and Expect); Beast's http::error codes.
  http1::error_code parse_head(std::string_view head, http1::Head& out) {
    head_.assign(head);
    const auto span = [&](std::string_view s) {
      return Span{static_cast<std::uint32_t>(s.data() - head_.data()),
                  static_cast<std::uint32_t>(s.size())};
    };
    fields_.clear();
    auto ec = http1::parse_request_head(head_, out, [&](std::string_view n, std::string_view v) {
      fields_.emplace_back(span(n), span(v));
    });
    if (!out.method.empty()) method_ = span(out.method);
    if (!out.target.empty()) target_ = span(out.target);
    version_ = out.version ? out.version : 11;
    keep_alive_ = out.keep_alive;
    return ec;
  }

 private:
  struct Span {
    std::uint32_t at = 0, size = 0;
  };
  std::string_view at(Span s) const { return std::string_view(head_).substr(s.at, s.size); }

  std::string head_;
  Span method_, target_;
  boost::container::small_vector<std::pair<Span, Span>, 12> fields_;
  int version_ = 11;
  bool keep_alive_ = true;
};

}  // namespace switchyard
