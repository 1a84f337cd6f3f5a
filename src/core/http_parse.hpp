// Parsing what an HTTP connection has buffered without a read. A Beast read on a parser whose
// message is already whole completes at once and posts that completion to the event loop (a
// round of it: an epoll_wait that does not block, the handler, the coroutine's resumption), and
// parses one chunk a call; a request's body usually comes with its head, an answer's with its
// head, and a stream's events several to a read. Included by .cpp files and the request reader.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

namespace switchyard {

// Parses what `buffer` (a Beast dynamic buffer) holds into `p` and drops the bytes it used: all
// it can when `p` is eager, the head and no more when it is not. need_more is not an error: the
// caller reads more. A parser already done (a head that says there is no body, with bytes after
// it) is left alone: the caller checks is_done().
template <class Parser, class Buffer>
boost::beast::error_code parse_buffered(Parser& p, Buffer& buffer) {
  boost::beast::error_code ec;
  if (buffer.size() > 0 && !p.is_done()) buffer.consume(p.put(buffer.data(), ec));
  return ec == boost::beast::http::error::need_more ? boost::beast::error_code{} : ec;
}

}  // namespace switchyard
