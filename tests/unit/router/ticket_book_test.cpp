// The feedback tickets' book: taken once, by the key that asked, within the window; the oldest
// go first past the capacity; its index agrees with a plain map through random puts and takes,
// and finds every ticket after deletions from a half-full index; a reload keeps what fits; and
// ids chosen to collide cost a bounded probe.
#include "router/ticket_book.hpp"

#include "core/hash.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <random>
#include <string>
#include <unordered_map>

namespace switchyard::test {
namespace {

using std::chrono::seconds;

const SteadyTime t0{seconds(1000)};

TEST(TicketBook, IsTakenOnceByItsClientWithinTheWindow) {
  TicketBook book(42);
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
  TicketBook book(42);
  book.configure(100, seconds(60));
  book.put("same", nullptr, "a", "first", "", t0);
  book.put("same", nullptr, "a", "second", "", t0);
  auto ticket = book.take("same", "a", t0);
  ASSERT_TRUE(ticket);
  EXPECT_EQ(ticket->route, "second");
  EXPECT_FALSE(book.take("same", "a", t0));
}

TEST(TicketBook, PastItsCapacityTheOldestGoFirst) {
  TicketBook book(42);
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
  TicketBook book(42);
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

TEST(TicketBook, FindsEveryTicketAfterDeletionsFromAHalfFullIndex) {
  // 8 shards of 1,024 slots and a 2,048-entry index each; 7,200 tickets fill each index to
  // about 0.44 (no shard gets 1,024: that is 4 standard deviations away), so runs are long
  // and some wrap around the end, and no slot is overwritten.
  TicketBook book(7);
  book.configure(8 * 1024, seconds(60));
  constexpr int n = 7200;
  for (int i = 0; i < n; ++i) {
    const auto id = "id-" + std::to_string(i);
    book.put(id, nullptr, "c", id, "", t0);
  }
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(3));
  for (int i : order) {  // half, then the other half: each take must still find its ticket
    const auto id = "id-" + std::to_string(i);
    auto ticket = book.take(id, "c", t0);
    ASSERT_TRUE(ticket) << id;
    EXPECT_EQ(ticket->route, id);
  }
  EXPECT_FALSE(book.take("id-0", "c", t0));
}

TEST(TicketBook, AReloadKeepsTheNewestOpenTicketsThatFit) {
  TicketBook book(5);
  const auto id = [](int i) { return "id-" + std::to_string(i); };
  book.configure(800, seconds(60));  // 100 a shard
  for (int i = 0; i < 1200; ++i) book.put(id(i), nullptr, "", "", "", t0);
  book.configure(800, seconds(60));  // the same capacity: kept
  EXPECT_TRUE(book.take(id(1199), "", t0 + seconds(59)));

  // From full, wrapped rings (each shard had about 150 puts) to 10 a shard: the newest of each
  // shard stay, every one from the last 200 puts (each shard had about 25 of them). Puts after
  // the reload replace the oldest; growing again keeps all 80, and the rings grow past them.
  book.configure(80, seconds(60));
  const auto after = [](int k) { return "after-" + std::to_string(k); };
  for (int k = 0; k < 8; ++k) book.put(after(k), nullptr, "", "", "", t0);
  book.configure(1600, seconds(60));
  for (int k = 8; k < 108; ++k) book.put(after(k), nullptr, "", "", "", t0);
  int open = 0, newest = 0;
  for (int i = 0; i < 1199; ++i) {
    if (!book.take(id(i), "", t0)) continue;
    ++open;
    newest += i >= 1000;
  }
  EXPECT_EQ(open, 72);
  EXPECT_EQ(newest, 72);
  for (int k = 0; k < 108; ++k) EXPECT_TRUE(book.take(after(k), "", t0)) << k;

  // A capacity of 0 keeps nothing until it is raised again.
  book.configure(0, seconds(60));
  book.put("z", nullptr, "", "", "", t0);
  EXPECT_FALSE(book.take("z", "", t0));
  book.configure(800, seconds(60));
  book.put("z", nullptr, "", "", "", t0);
  EXPECT_TRUE(book.take("z", "", t0));

  book.configure(800, seconds(10));  // a new window is for the tickets put from now on
  book.put("late", nullptr, "", "", "", t0);
  book.put("late-2", nullptr, "", "", "", t0);
  EXPECT_TRUE(book.take("late-2", "", t0 + seconds(9)));
  EXPECT_FALSE(book.take("late", "", t0 + seconds(10)));
}

TEST(TicketBook, IdsChosenToCollideCostABoundedProbe) {
  // Ids with the same shard and home as TicketBook hashes them (the seed prefixed to the id),
  // found by search: the first 64 are kept, one run of the index; the rest are not.
  constexpr std::uint64_t seed = 11;
  TicketBook book(seed);
  book.configure(8 * 100, seconds(60));  // 100 slots a shard, a 256-entry index
  const auto place = [&](const std::string& id) {
    const auto h = hash_words(
        {std::string_view(reinterpret_cast<const char*>(&seed), sizeof seed), id});
    return std::pair((h >> 32) % 8, static_cast<std::uint32_t>(h) & 255);
  };
  std::vector<std::string> same;
  const auto target = place("x-0");
  for (int i = 1; same.size() < 70; ++i)
    if (auto id = "x-" + std::to_string(i); place(id) == target) same.push_back(id);
  for (const auto& id : same) book.put(id, nullptr, "", "", "", t0);
  for (std::size_t i = 0; i < same.size(); ++i)
    EXPECT_EQ(book.take(same[i], "", t0).has_value(), i < 64) << i;
}

TEST(TicketBook, KeepsNothingAtCapacityZero) {
  TicketBook book(42);
  book.configure(0, seconds(60));
  book.put("req", nullptr, "", "", "", t0);
  EXPECT_FALSE(book.take("req", "", t0));
}

}  // namespace
}  // namespace switchyard::test
