// The feedback tickets' book: taken once, by the key that asked, within the window; the oldest
// go first past the capacity; and its index agrees with a plain map through random puts and
// takes (which exercise the backward-shift deletion).
#include "router/ticket_book.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>

namespace switchyard::test {
namespace {

using std::chrono::seconds;

const SteadyTime t0{seconds(1000)};

TEST(TicketBook, IsTakenOnceByItsClientWithinTheWindow) {
  TicketBook book;
  book.configure(100, seconds(60));
  book.put("req-1", nullptr, "team-a", "auto", "code", t0);

  EXPECT_FALSE(book.take("req-1", "team-b", t0));  // another key: as if unknown
  EXPECT_FALSE(book.take("req-2", "team-a", t0));
  auto ticket = book.take("req-1", "team-a", t0 + seconds(59));
  ASSERT_TRUE(ticket);
  EXPECT_EQ(ticket->route, "auto");
  EXPECT_EQ(ticket->label, "code");
  EXPECT_FALSE(book.take("req-1", "team-a", t0 + seconds(59)));  // already taken

  book.put("req-3", nullptr, "", "r", "", t0);
  EXPECT_FALSE(book.take("req-3", "", t0 + seconds(60)));  // the window has passed
}

TEST(TicketBook, APutUnderTheSameIdReplacesTheTicket) {
  TicketBook book;
  book.configure(100, seconds(60));
  book.put("same", nullptr, "a", "first", "", t0);
  book.put("same", nullptr, "a", "second", "", t0);
  auto ticket = book.take("same", "a", t0);
  ASSERT_TRUE(ticket);
  EXPECT_EQ(ticket->route, "second");
  EXPECT_FALSE(book.take("same", "a", t0));
}

TEST(TicketBook, PastItsCapacityTheOldestGoFirst) {
  TicketBook book;
  book.configure(800, seconds(60));  // 100 in each of 8 shards
  for (int i = 0; i < 2000; ++i) book.put("id-" + std::to_string(i), nullptr, "", "", "", t0);
  // Each shard had far more than 100 of the last 1,600 puts (about 200; fewer than 100 is
  // seven standard deviations away), so the first 400 are gone, and 800 in all remain.
  int open = 0, early = 0;
  for (int i = 0; i < 2000; ++i) {
    if (!book.take("id-" + std::to_string(i), "", t0)) continue;
    ++open;
    early += i < 400;
  }
  EXPECT_EQ(open, 800);
  EXPECT_EQ(early, 0);
}

TEST(TicketBook, AgreesWithAMapThroughRandomPutsAndTakes) {
  TicketBook book;
  book.configure(8000, seconds(60));
  std::unordered_map<std::string, std::string> open;  // id → client
  std::mt19937 rng(7);
  int taken = 0;
  for (int op = 0; op < 20000; ++op) {
    const std::string id = "r" + std::to_string(rng() % 200);
    const std::string client = rng() % 2 ? "a" : "b";
    if (rng() % 5 < 3) {
      book.put(id, nullptr, client, id, "", t0);
      open[id] = client;
      continue;
    }
    auto it = open.find(id);
    const bool expected = it != open.end() && it->second == client;
    auto ticket = book.take(id, client, t0);
    ASSERT_EQ(ticket.has_value(), expected) << "op " << op << " id " << id;
    if (!ticket) continue;
    EXPECT_EQ(ticket->route, id);
    open.erase(it);
    ++taken;
  }
  EXPECT_GT(taken, 1000);
  for (const auto& [id, client] : open) EXPECT_TRUE(book.take(id, client, t0)) << id;
}

TEST(TicketBook, KeepsNothingAtCapacityZero) {
  TicketBook book;
  book.configure(0, seconds(60));
  book.put("req", nullptr, "", "", "", t0);
  EXPECT_FALSE(book.take("req", "", t0));
}

}  // namespace
}  // namespace switchyard::test
