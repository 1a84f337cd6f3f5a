#include "core/http_head.hpp"

#include <gtest/gtest.h>

#include <string>

namespace switchyard {
namespace {

using namespace std::string_literals;

TEST(HttpHead, FindsALineBreakOrNulAtAnyPlace) {
  EXPECT_FALSE(has_line_break(""));
  EXPECT_FALSE(has_line_break("x-switchyard-upstream"));
  EXPECT_FALSE(has_line_break("\x0c\x0b\x0e\t \x8d\x8a\xff"));  // near misses, high bytes
  // Every length up to three words, every position: the eight-byte steps and the last word.
  for (std::size_t size = 1; size <= 24; ++size) {
    EXPECT_FALSE(has_line_break(std::string(size, '\x8d'))) << "size " << size;
    for (std::size_t at = 0; at < size; ++at)
      for (const char c : {'\r', '\n', '\0'}) {
        std::string s(size, 'a');
        s[at] = c;
        EXPECT_TRUE(has_line_break(s)) << "size " << size << " at " << at << " char "
                                       << int{c};
      }
  }
}

TEST(HttpHead, AppendsALineAndBlanksWhatWouldEndIt) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  append_header(head, "x-a", "1");
  append_header(head, "x-b\r\nSet-Cookie", "v\0al\nue"s);
  EXPECT_EQ(head, "HTTP/1.1 200 OK\r\nx-a: 1\r\nx-b  Set-Cookie: v al ue\r\n");
}

}  // namespace
}  // namespace switchyard
