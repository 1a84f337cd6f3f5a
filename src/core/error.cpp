#include "switchyard/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <stdexcept>

namespace switchyard {

namespace {

int status_of(Reason r) noexcept {
  switch (r) {
    case Reason::bad_request: return 400;
    case Reason::unauthorized: return 401;
    case Reason::forbidden: return 403;
    case Reason::not_found: return 404;
    case Reason::method_not_allowed: return 405;
    case Reason::body_too_large: return 413;
    case Reason::headers_too_large: return 431;
    case Reason::client_timeout: return 408;
    case Reason::too_many_requests: return 429;
    case Reason::draining:
    case Reason::upstream_saturated: return 503;
    case Reason::connect:
    case Reason::tls:
    case Reason::protocol:
    case Reason::response_too_large:
    case Reason::upstream_auth:
    case Reason::upstream_status: return 502;
    case Reason::timeout_connect:
    case Reason::timeout_first_token:
    case Reason::timeout_total:
    case Reason::timeout_idle_stream: return 504;
    case Reason::cancelled: return 499;
    case Reason::internal: return 500;
  }
  return 500;
}

}  // namespace

std::string_view reason_name(Reason r) noexcept {
  switch (r) {
    case Reason::bad_request: return "bad_request";
    case Reason::unauthorized: return "unauthorized";
    case Reason::forbidden: return "forbidden";
    case Reason::not_found: return "not_found";
    case Reason::method_not_allowed: return "method_not_allowed";
    case Reason::body_too_large: return "body_too_large";
    case Reason::headers_too_large: return "headers_too_large";
    case Reason::client_timeout: return "client_timeout";
    case Reason::too_many_requests: return "too_many_requests";
    case Reason::draining: return "draining";
    case Reason::upstream_saturated: return "upstream_saturated";
    case Reason::connect: return "connect";
    case Reason::tls: return "tls";
    case Reason::protocol: return "protocol";
    case Reason::response_too_large: return "response_too_large";
    case Reason::upstream_auth: return "upstream_auth";
    case Reason::upstream_status: return "upstream_status";
    case Reason::timeout_connect: return "timeout_connect";
    case Reason::timeout_first_token: return "timeout_first_token";
    case Reason::timeout_total: return "timeout_total";
    case Reason::timeout_idle_stream: return "timeout_idle_stream";
    case Reason::cancelled: return "cancelled";
    case Reason::internal: return "internal";
  }
  return "internal";
}

std::string_view error_type(Reason r) noexcept {
  switch (r) {
    case Reason::bad_request:
    case Reason::not_found:
    case Reason::method_not_allowed:
    case Reason::body_too_large:
    case Reason::headers_too_large:
    case Reason::client_timeout: return "invalid_request_error";
    case Reason::unauthorized: return "authentication_error";
    case Reason::forbidden: return "permission_error";
    case Reason::too_many_requests: return "rate_limit_error";
    case Reason::timeout_connect:
    case Reason::timeout_first_token:
    case Reason::timeout_total:
    case Reason::timeout_idle_stream: return "timeout_error";
    case Reason::draining:
    case Reason::upstream_saturated: return "service_unavailable_error";
    default: return "api_error";
  }
}

Error make_error(Reason reason, std::string message, std::string param) {
  Error e;
  e.reason = reason;
  e.status = status_of(reason);
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::string(reason_name(reason));
  if (reason == Reason::too_many_requests || reason == Reason::draining ||
      reason == Reason::upstream_saturated)
    e.retry_after_ms = 1000;
  return e;
}

Error upstream_status_error(int status, std::string message, std::uint32_t retry_after_ms) {
  Error e = make_error(Reason::upstream_status, std::move(message));
  // A 429 or 503 from the last upstream is passed on as such so clients back off; any other 5xx
  // becomes a 502 (the gateway got a bad answer from upstream).
  e.status = (status == 429 || status == 503) ? status : 502;
  e.code = status == 429 ? "upstream_rate_limited" : "upstream_error";
  if (status == 429) e.reason = Reason::upstream_status;
  e.retry_after_ms = retry_after_ms ? retry_after_ms : (status == 429 || status == 503 ? 1000 : 0);
  return e;
}

bool is_retryable(const Error& e) noexcept {
  switch (e.reason) {
    case Reason::connect:
    case Reason::tls:
    case Reason::protocol:
    case Reason::response_too_large:
    case Reason::upstream_auth:
    case Reason::upstream_status:
    case Reason::upstream_saturated:
    case Reason::timeout_connect:
    case Reason::timeout_first_token:
    case Reason::timeout_total:
    case Reason::timeout_idle_stream: return true;
    default: return false;
  }
}

std::string to_openai_json(const Error& e) {
  nlohmann::json j;
  auto& err = j["error"];
  err["message"] = e.message;
  // An upstream's 429 passed on is a rate limit to the client, like the gateway's own.
  err["type"] = e.status == 429 ? std::string_view("rate_limit_error") : error_type(e.reason);
  err["param"] = e.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.param);
  err["code"] = e.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.code);
  if (!e.attempts.empty()) {
    auto& list = err["attempts"] = nlohmann::json::array();
    for (const auto& a : e.attempts)
      list.push_back({{"upstream", a.upstream},
                      {"model", a.model},
                      {"status", a.status},
                      {"reason", reason_name(a.reason)},
                      {"message", a.message}});
  }
  // Client-supplied text can be invalid UTF-8; replace rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void throw_exception_from_error(const Error& error, const boost::source_location&) {
  throw std::runtime_error(error.message);
}

}  // namespace switchyard
