#include "store/redis.hpp"

#include <hiredis/hiredis.h>

namespace switchyard {

namespace {

timeval as_timeval(std::uint32_t ms) {
  return {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::string;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_NIL: out.type = RedisReply::Type::nil; break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.items.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.items.push_back(convert(r->element[i]));
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::error;
      out.text.assign(r->str, r->len);
      break;
    default: out.type = RedisReply::Type::other; break;
  }
  return out;
}

}  // namespace

RedisConnection::RedisConnection(RedisConfig config) : config_(std::move(config)) {}

RedisConnection::~RedisConnection() { drop(); }

void RedisConnection::drop() {
  if (context_) redisFree(context_);
  context_ = nullptr;
}

Result<void> RedisConnection::connect() {
  const timeval tv = as_timeval(config_.timeout_ms);
  context_ = redisConnectWithTimeout(config_.host.c_str(), config_.port, tv);
  if (!context_ || context_->err) {
    std::string why = context_ ? context_->errstr : "out of memory";
    drop();
    return make_error(Reason::connect, "redis " + config_.host + ":" +
                                           std::to_string(config_.port) + ": " + why);
  }
  redisSetTimeout(context_, tv);
  std::vector<std::vector<std::string>> hello;
  if (!config_.password.empty()) hello.push_back({"AUTH", config_.password});
  if (config_.db != 0) hello.push_back({"SELECT", std::to_string(config_.db)});
  if (hello.empty()) return {};
  auto replies = pipeline(hello);
  if (!replies) return replies.error();
  for (const auto& r : *replies) {
    if (r.type == RedisReply::Type::error) {
      drop();
      return make_error(Reason::upstream_auth, "redis refused AUTH or SELECT: " + r.text);
    }
  }
  return {};
}

Result<std::vector<RedisReply>> RedisConnection::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (!context_) {
    if (auto c = connect(); !c) return c.error();
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& command : commands) {
    argv.clear();
    lens.clear();
    for (const auto& arg : command) {
      argv.push_back(arg.data());
      lens.push_back(arg.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                               lens.data()) != REDIS_OK) {
      drop();
      return make_error(Reason::internal, "redis: out of memory for a command");
    }
  }
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || !raw) {
      std::string why = context_->errstr;
      drop();
      return make_error(Reason::timeout_total, "redis " + config_.host + ":" +
                                                   std::to_string(config_.port) + ": " + why);
    }
    auto* reply = static_cast<redisReply*>(raw);
    replies.push_back(convert(reply));
    freeReplyObject(reply);
  }
  return replies;
}

}  // namespace switchyard
