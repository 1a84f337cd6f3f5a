#include "support/scripted_upstream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace switchyard::test {

ScriptedUpstream::ScriptedUpstream(std::vector<std::string> parts, std::chrono::milliseconds pause)
    : parts_(std::move(parts)), pause_(pause) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0)
    ADD_FAILURE() << "ScriptedUpstream cannot listen: " << std::strerror(errno);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ScriptedUpstream::~ScriptedUpstream() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string ScriptedUpstream::last_request() const {
  std::lock_guard lock(mutex_);
  return last_;
}

void ScriptedUpstream::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string got;
    char buf[16384];
    for (;;) {  // the head, then Content-Length bytes of body
      auto head_end = got.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        auto cl = got.find("Content-Length: ");
        if (cl == std::string::npos) cl = got.find("content-length: ");
        if (cl != std::string::npos && cl < head_end) length = std::strtoul(&got[cl + 16], nullptr, 10);
        if (got.size() >= head_end + 4 + length) break;
      }
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    {
      std::lock_guard lock(mutex_);
      last_ = got;
    }
    ++requests_;
    for (const std::string& part : parts_) {
      if (&part != &parts_.front()) std::this_thread::sleep_for(pause_);
      for (std::size_t sent = 0; sent < part.size();) {
        auto n = ::send(fd, part.data() + sent, part.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
    }
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }
}

}  // namespace switchyard::test
