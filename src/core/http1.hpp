// Reading HTTP/1.1 messages: a head parsed in one pass over bytes that hold it whole, and a body
// decoder for its framing (a length, chunks, or the end of the connection). Stricter than RFC
// 9112 requires wherever two readings of the same bytes could differ (the framing a request
// smuggler plays on): one Content-Length of digits only, one Transfer-Encoding that is exactly
// "chunked" and never beside a Content-Length, no line folding, no bare CR or LF, no chunk
// extensions. Beast's parser walked each head three times a byte at a time and asked a hash
// table for every field's name: about 1,000 instructions a field (bench/instructions.sh,
// docs/performance.md). Errors are Beast's http::error codes, so that callers and messages keep
// their meaning. Nothing here allocates; the views point into the caller's bytes.
#pragma once

#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace switchyard::http1 {

using boost::beast::error_code;
using Error = boost::beast::http::error;

// How the body after a head is delimited.
enum class Framing : std::uint8_t { none, length, chunked, until_close };

// What a head says. Views into the bytes parsed.
struct Head {
  int version = 11;  // 10 or 11
  int status = 0;    // a response's
  std::string_view method, target;  // a request's
  std::size_t size = 0;  // the head's bytes, through the blank line
  Framing framing = Framing::none;
  std::uint64_t length = 0;  // with Framing::length
  bool keep_alive = true;
  int hosts = 0;                 // Host lines
  bool expect_continue = false;  // Expect: 100-continue
};

namespace detail {

// tchar (RFC 9110 §5.6.2): the bytes of a token, such as a field's name.
constexpr std::array<bool, 256> kToken = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// The bytes of a field's value or a reason phrase: visible, obs-text, space and tab; no CTL.
constexpr std::array<bool, 256> kText = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 256; ++c) t[c] = c != 0x7f;
  t['\t'] = true;
  return t;
}();

inline bool is_token(char c) { return kToken[static_cast<unsigned char>(c)]; }
inline bool is_text(char c) { return kText[static_cast<unsigned char>(c)]; }

// Whether every byte of `s` is text, eight at a time: a word has a byte below 0x20 if
// (x - 0x2020…) & ~x & 0x8080… is not zero, a byte 0x7f if x ^ 0x7f7f… has a zero byte; such a
// word (a tab, most likely) is looked at byte by byte.
inline bool all_text(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101u, kHighs = kOnes * 0x80;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, s.data() + i, 8);
    const std::uint64_t del = x ^ (kOnes * 0x7f);
    if ((((x - kOnes * 0x20) & ~x) | ((del - kOnes) & ~del)) & kHighs)
      for (std::size_t k = i; k < i + 8; ++k)
        if (!is_text(s[k])) return false;
  }
  for (; i < s.size(); ++i)
    if (!is_text(s[i])) return false;
  return true;
}

// `s` equals `lower_name` (lower-case letters, digits and '-'), ignoring case. `c | 0x20` is c
// in lower case for a letter, and equals '-' or a digit only for that byte or a control byte,
// which no token or field value here holds (all_text ran first).
inline bool iequals(std::string_view s, std::string_view lower_name) {
  if (s.size() != lower_name.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((s[i] | 0x20) != lower_name[i]) return false;
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "HTTP/1.0" or "HTTP/1.1" as 10 or 11; 0 for anything else.
inline int version_of(std::string_view s) {
  if (s.size() != 8 || s.substr(0, 7) != "HTTP/1." || (s[7] != '0' && s[7] != '1')) return 0;
  return s[7] == '1' ? 11 : 10;
}

// Digits only, at most 18 of them (no overflow); false otherwise.
inline bool parse_length(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

// The framing fields of a head, gathered line by line.
struct Framer {
  int lengths = 0, encodings = 0, hosts = 0;
  bool close = false, keep_alive = false, expect_continue = false;
  std::uint64_t length = 0;

  // An error when the field makes the framing ambiguous. Names are told apart by length first:
  // most fields are compared with one name at most.
  error_code field(std::string_view name, std::string_view value) {
    switch (name.size()) {
      case 4:
        if (iequals(name, "host")) ++hosts;
        break;
      case 6:
        if (iequals(name, "expect"))
          expect_continue = expect_continue || iequals(value, "100-continue");
        break;
      case 14:
        if (iequals(name, "content-length") && (++lengths > 1 || !parse_length(value, length)))
          return Error::bad_content_length;
        break;
      case 17:
        if (iequals(name, "transfer-encoding") && (++encodings > 1 || !iequals(value, "chunked")))
          return Error::bad_transfer_encoding;
        break;
      case 10:
      case 16:
        if (iequals(name, "connection") || iequals(name, "proxy-connection"))
          return connection(value);
        break;
      default: break;
    }
    return {};
  }

  error_code connection(std::string_view list) {
    while (!list.empty()) {
      const auto comma = list.find(',');
      const auto token = trim(list.substr(0, comma));
      for (const char c : token)
        if (!is_token(c)) return Error::bad_value;  // a list of tokens, or nothing
      close = close || iequals(token, "close");
      keep_alive = keep_alive || iequals(token, "keep-alive");
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
    return {};
  }
};

// The line at the start of `bytes` (without its CRLF); `rest` is what follows the CRLF. False if
// the first CR is not followed by LF (bytes that end with a CRLF always have one).
inline bool take_line(std::string_view bytes, std::string_view& line, std::string_view& rest) {
  const auto* cr = static_cast<const char*>(std::memchr(bytes.data(), '\r', bytes.size()));
  if (!cr) return false;
  const auto at = static_cast<std::size_t>(cr - bytes.data());
  if (at + 1 == bytes.size() || bytes[at + 1] != '\n') return false;
  line = {bytes.data(), at};
  rest = {cr + 2, bytes.size() - at - 2};
  return true;
}

// Hands each field line of `fields` (a head after its start line, through the blank line) to
// `framer` and to on_field(name, value), the value without surrounding spaces. Error: a line not
// ended by CRLF, a field line that folds or is not `token: text`, an ambiguous framing.
template <class OnField>
error_code for_each_field(std::string_view fields, Framer& framer, OnField&& on_field) {
  for (std::string_view line; take_line(fields, line, fields);) {
    if (line.empty()) return fields.empty() ? error_code{} : Error::bad_line_ending;
    const auto* at = static_cast<const char*>(std::memchr(line.data(), ':', line.size()));
    const auto colon = at ? static_cast<std::size_t>(at - line.data()) : 0;
    bool token = colon > 0;
    for (std::size_t i = 0; i < colon; ++i) token &= is_token(line[i]);  // no branch a byte
    if (!token) return Error::bad_field;
    const std::string_view name(line.data(), colon);
    const std::string_view value = trim({name.end() + 1, line.size() - colon - 1});
    if (!all_text(value)) return Error::bad_value;
    if (auto ec = framer.field(name, value)) return ec;
    on_field(name, value);
  }
  return Error::bad_line_ending;
}

// What the framing fields say, into `out` (its version set): chunks, a length or neither, and
// whether the connection is kept. Chunks only on HTTP/1.1 and never beside a length.
inline error_code frame(const Framer& framer, Head& out) {
  if (framer.encodings && (framer.lengths || out.version == 10))
    return Error::bad_transfer_encoding;
  out.framing = framer.encodings ? Framing::chunked
                : framer.lengths ? Framing::length
                                 : Framing::none;
  out.length = framer.length;
  out.keep_alive = out.version == 11 ? !framer.close : framer.keep_alive && !framer.close;
  return {};
}

}  // namespace detail

// The end of a head in `bytes`: the offset just past its blank line, or 0 while it is not all
// there. `from`: where a search over fewer of the same bytes stopped (they are not read again).
inline std::size_t head_end(std::string_view bytes, std::size_t& from) {
  std::size_t at = from >= 3 ? from - 3 : 0;
  from = bytes.size();
  while (at < bytes.size()) {
    const auto* lf = static_cast<const char*>(std::memchr(bytes.data() + at, '\n',
                                                          bytes.size() - at));
    if (!lf) return 0;
    const auto i = static_cast<std::size_t>(lf - bytes.data());
    if (i >= 3 && bytes.substr(i - 3, 3) == "\r\n\r") return i + 1;
    at = i + 1;
  }
  return 0;
}

// Parses a response head: `head` holds it whole, through its blank line (head_end), and nothing
// after. Each field goes to on_field(name, value) in order, the framing fields too. A status
// 1xx, 204 or 304 has no body; a head without a length or chunks has one that ends with the
// connection, which is then not kept.
template <class OnField>
error_code parse_response_head(std::string_view head, Head& out, OnField&& on_field) {
  std::string_view line, fields;
  if (!detail::take_line(head, line, fields)) return Error::bad_line_ending;
  // HTTP/1.1 SP 3DIGIT SP reason
  out.version = detail::version_of(line.substr(0, 8));
  if (out.version == 0) return Error::bad_version;
  if (line.size() < 13 || line[8] != ' ' || line[12] != ' ') return Error::bad_status;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return Error::bad_status;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) return Error::bad_status;
  if (!detail::all_text(line.substr(13))) return Error::bad_reason;
  detail::Framer framer;
  if (auto ec = detail::for_each_field(fields, framer, on_field)) return ec;
  out.status = status;
  if (auto ec = detail::frame(framer, out)) return ec;
  out.size = head.size();
  if (status < 200 || status == 204 || status == 304) {
    out.framing = Framing::none;
  } else if (out.framing == Framing::none) {
    out.framing = Framing::until_close;
    out.keep_alive = false;
  }
  return {};
}

// Parses a request head, as parse_response_head a response's: `method SP target SP version`,
// the target any visible ASCII. A request without a length or chunks has no body.
template <class OnField>
error_code parse_request_head(std::string_view head, Head& out, OnField&& on_field) {
  std::string_view line, fields;
  if (!detail::take_line(head, line, fields)) return Error::bad_line_ending;
  std::size_t sp = 0;
  while (sp < line.size() && detail::is_token(line[sp])) ++sp;
  if (sp == 0 || sp == line.size() || line[sp] != ' ') return Error::bad_method;
  out.method = line.substr(0, sp);
  line.remove_prefix(sp + 1);
  sp = 0;
  while (sp < line.size() && line[sp] > ' ' && line[sp] < 0x7f) ++sp;
  if (sp == 0 || sp == line.size() || line[sp] != ' ') return Error::bad_target;
  out.target = line.substr(0, sp);
  out.version = detail::version_of(line.substr(sp + 1));
  if (out.version == 0) return Error::bad_version;
  detail::Framer framer;
  if (auto ec = detail::for_each_field(fields, framer, on_field)) return ec;
  if (auto ec = detail::frame(framer, out)) return ec;
  out.size = head.size();
  out.hosts = framer.hosts;
  out.expect_continue = framer.expect_continue;
  return {};
}

// Decodes a body's framing. put() takes bytes as they come and hands the body's bytes to
// take(std::string_view), which returns false to stop (the caller's limit: body_limit). A
// chunked body's trailer fields are checked like a head's and dropped. A chunk's size line and
// the trailers are each at most kMaxFraming bytes (header_limit past it), so that framing alone
// cannot fill memory or time; a body's number of chunks is not bounded (a long stream sends
// one per event), its time is, by the caller.
class BodyDecoder {
 public:
  static constexpr std::size_t kMaxFraming = 8 * 1024;

  void start(Framing f, std::uint64_t length) {
    remaining_ = f == Framing::length ? length : 0;
    framing_bytes_ = 0;
    state_ = f == Framing::length && length > 0 ? State::length
             : f == Framing::chunked            ? State::size_first
             : f == Framing::until_close        ? State::until_close
                                                : State::done;
  }
  bool done() const { return state_ == State::done; }

  // The end of the connection: the end of a body that ends so, else a message cut short.
  error_code eof() {
    if (state_ == State::until_close) state_ = State::done;
    return done() ? error_code{} : error_code(Error::partial_message);
  }

  // Consumes what it can of `in`; returns how much (all of it unless the body ended or failed).
  template <class Take>
  std::size_t put(std::string_view in, Take&& take, error_code& ec) {
    std::size_t i = 0;
    const auto give = [&](std::size_t n) {
      if (!take(in.substr(i, n))) {
        ec = Error::body_limit;
        return false;
      }
      i += n;
      return true;
    };
    while (i < in.size() && state_ != State::done) {
      switch (state_) {
        case State::length:
        case State::data: {
          const std::size_t n = static_cast<std::size_t>(
              std::min<std::uint64_t>(remaining_, in.size() - i));
          if (!give(n)) return i;
          remaining_ -= n;
          if (remaining_ == 0) state_ = state_ == State::length ? State::done : State::data_cr;
          continue;
        }
        case State::until_close:
          if (!give(in.size() - i)) return i;
          continue;
        default: break;
      }
      // One byte of the chunked framing.
      if (++framing_bytes_ > kMaxFraming) {
        ec = Error::header_limit;
        return i;
      }
      if (!framing(in[i])) {
        ec = state_ == State::bad_extension ? Error::bad_chunk_extension
             : state_ == State::bad_trailer ? Error::bad_field
                                            : Error::bad_chunk;
        return i;
      }
      ++i;
    }
    return i;
  }

 private:
  enum class State : std::uint8_t {
    length, until_close,
    size_first, size, size_lf, data, data_cr, data_lf,  // chunks
    trailer_start, trailer_name, trailer_value, trailer_lf, end_lf,  // after the last chunk
    done, bad_extension, bad_trailer
  };

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool step(bool ok, State next) {
    if (ok) state_ = next;
    return ok;
  }

  // Advances the chunked framing by one byte; false if the byte does not belong there.
  bool framing(char c) {
    switch (state_) {
      case State::size_first:
      case State::size:
        if (const int v = hex(c); v >= 0) {
          if (remaining_ >> 56) return false;  // over 2^60 bytes: no real chunk
          remaining_ = remaining_ * 16 + static_cast<unsigned>(v);
          state_ = State::size;
          return true;
        }
        if (c == ';' && state_ == State::size) state_ = State::bad_extension;
        if (c != '\r' || state_ != State::size) return false;
        state_ = State::size_lf;
        return true;
      case State::size_lf:
        if (remaining_ > 0) framing_bytes_ = 0;  // the next size line counts from here
        return step(c == '\n', remaining_ == 0 ? State::trailer_start : State::data);
      case State::data_cr: return step(c == '\r', State::data_lf);
      case State::data_lf: return step(c == '\n', State::size_first);
      case State::trailer_start:
        if (c == '\r') return step(true, State::end_lf);
        name_size_ = 0;
        state_ = State::trailer_name;
        [[fallthrough]];
      case State::trailer_name:
        if (detail::is_token(c)) {
          if (name_size_ < name_.size()) name_[name_size_] = static_cast<char>(c | 0x20);
          ++name_size_;
          return true;
        }
        state_ = c == ':' && name_size_ > 0 && !framing_field() ? State::trailer_value
                                                                : State::bad_trailer;
        return state_ != State::bad_trailer;
      case State::trailer_value:
        if (c == '\r') state_ = State::trailer_lf;
        else if (!detail::is_text(c)) state_ = State::bad_trailer;
        return state_ != State::bad_trailer;
      case State::trailer_lf: return step(c == '\n', State::trailer_start);
      case State::end_lf: return step(c == '\n', State::done);
      default: return false;
    }
  }

  // A trailer may not say how the message is framed or what happens to the connection (RFC 9110
  // §6.5.1): too late, and a reader that took it would read the next message differently.
  bool framing_field() const {
    if (name_size_ > name_.size()) return false;
    const std::string_view name(name_.data(), name_size_);
    return name == "content-length" || name == "transfer-encoding" || name == "connection" ||
           name == "proxy-connection";
  }

  State state_ = State::done;
  std::array<char, 17> name_{};  // the trailer field's name so far, in lower case
  std::size_t name_size_ = 0;
  std::uint64_t remaining_ = 0;  // of the length, or of the chunk being read or sized
  std::size_t framing_bytes_ = 0;
};

}  // namespace switchyard::http1
