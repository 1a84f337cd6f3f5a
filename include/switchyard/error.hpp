// Errors are values on the data plane: every fallible step returns Result<T>.
#pragma once

#include <boost/system/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

// Why something failed. The reason alone decides the HTTP status, the OpenAI error type, whether
// a dispatcher may fall back to the next candidate, and the metrics label.
enum class Reason : std::uint8_t {
  bad_request,          // 400: malformed JSON, missing field, bad type
  unauthorized,         // 401: client key missing or wrong
  forbidden,            // 403: the client's key may not use that route or model
  not_found,            // 404: unknown model, route or path
  method_not_allowed,   // 405
  body_too_large,       // 413
  headers_too_large,    // 431
  client_timeout,       // 408: the client was too slow sending its request
  too_many_requests,    // 429: the gateway's own concurrency limit
  draining,             // 503: shutting down
  upstream_saturated,   // 503: every candidate is at its max_concurrent
  connect,              // 502: DNS, refused, reset before the response
  tls,                  // 502: handshake or verification failed
  protocol,             // 502: the upstream sent something that is not HTTP / SSE / JSON
  response_too_large,   // 502: the upstream's answer exceeds its max_response_bytes
  upstream_auth,        // 502: the upstream refused the gateway's own key (its 401 / 403)
  upstream_status,      // the upstream's own 5xx / 429 (status kept in Error::status)
  timeout_connect,      // 504
  timeout_first_token,  // 504
  timeout_total,        // 504
  timeout_idle_stream,  // 504
  cancelled,            // 499: the client went away
  internal,             // 500
};

// One failed upstream call of a request that failed as a whole.
struct AttemptError {
  std::string upstream;  // the upstream's configured name
  std::string model;     // the model's name as clients know it
  int status = 0;        // the upstream's HTTP status, 0 if it gave none
  Reason reason = Reason::internal;
  std::string message;
};

// A failure with everything needed to answer the client in OpenAI's shape. `param` and `code`
// may be empty (rendered as null). `retry_after_ms` > 0 adds retry-after headers. When several
// upstream calls failed, `attempts` keeps each one, in order, as data (the message lists them
// too, for humans and SDKs that only show the message).
struct Error {
  Reason reason = Reason::internal;
  int status = 500;
  std::string message;
  std::string param;
  std::string code;
  std::uint32_t retry_after_ms = 0;
  std::vector<AttemptError> attempts;
};

template <class T>
using Result = boost::system::result<T, Error>;

// Builds an Error with the status and code that `reason` implies.
Error make_error(Reason reason, std::string message, std::string param = {});

// The upstream answered with `status` (5xx or 429); `retry_after_ms` from its headers, if any.
Error upstream_status_error(int status, std::string message, std::uint32_t retry_after_ms = 0);

// Metric label and log word for a reason, e.g. "timeout_first_token".
std::string_view reason_name(Reason reason) noexcept;

// OpenAI's `error.type` for a reason, e.g. "invalid_request_error".
std::string_view error_type(Reason reason) noexcept;

// True when a dispatcher may try the next candidate (nothing has reached the client yet).
bool is_retryable(const Error& error) noexcept;

// {"error":{"message","type","param","code"}}, plus "attempts":[{"upstream","model","status",
// "reason","message"}] when there were several.
std::string to_openai_json(const Error& error);

// boost::system::result::value() on an error calls this; the data plane never does (it checks
// has_value() first), so reaching it is a programming error.
[[noreturn]] void throw_exception_from_error(const Error& error,
                                             const boost::source_location& loc);

}  // namespace switchyard
