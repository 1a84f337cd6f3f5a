// A blocking Redis connection for one background thread (hiredis): commands go out pipelined,
// one round trip per batch, each bounded by a timeout. Never used on a worker: the gateway's
// shared state is exchanged by its own thread (server/shared_state.hpp), so a slow or dead Redis
// costs the data plane nothing.
#pragma once

#include "switchyard/config.hpp"
#include "switchyard/error.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct redisContext;

namespace switchyard {

// One reply: an integer, a string (bulk or status), nil, an error string, or an array of
// replies (HGETALL's fields and values in turn; XRANGE's entries, each an id and its fields).
struct RedisReply {
  enum class Type : std::uint8_t { integer, string, nil, error, array, other } type = Type::nil;
  long long integer = 0;
  std::string text;
  std::vector<RedisReply> items;
};

class RedisConnection {
 public:
  explicit RedisConnection(RedisConfig config);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends every command (each a list of arguments) in one batch and reads their replies in
  // order. Connects first if need be (AUTH and SELECT included). On a connection error or
  // timeout the connection is dropped, to be made again by the next call, and the error says
  // what failed; replies already read are lost with it. Blocks for up to timeout_ms per read.
  Result<std::vector<RedisReply>> pipeline(const std::vector<std::vector<std::string>>& commands);

  bool connected() const { return context_ != nullptr; }

 private:
  Result<void> connect();
  void drop();

  RedisConfig config_;
  redisContext* context_ = nullptr;
};

}  // namespace switchyard
