#include "router/ticket_book.hpp"

#include "core/hash.hpp"

#include <bit>
#include <random>

namespace switchyard {

namespace {

constexpr std::uint64_t kSlotBits = 0xffff'ffffull;

std::uint32_t tag(std::uint64_t hash) {
  return static_cast<std::uint32_t>(hash);
}

std::uint64_t entry(std::uint64_t hash, std::size_t slot) {
  return (std::uint64_t{tag(hash)} << 32) | (slot + 1);
}

std::size_t slot_of(std::uint64_t entry) {
  return (entry & kSlotBits) - 1;
}

}  // namespace

TicketBook::TicketBook() {
  std::random_device random;
  seed_ = (std::uint64_t{random()} << 32) | random();
}

std::uint64_t TicketBook::hash(std::string_view id) const {
  const char* seed = reinterpret_cast<const char*>(&seed_);
  return hash_words({std::string_view(seed, sizeof seed_), id});
}

std::size_t TicketBook::Shard::find(std::uint64_t hash, std::string_view id) const {
  if (index.empty()) return std::string_view::npos;
  const std::size_t mask = index.size() - 1;
  for (std::size_t i = tag(hash) & mask;; i = (i + 1) & mask) {
    const std::uint64_t e = index[i];
    if (e == 0) return std::string_view::npos;
    if ((e >> 32) != tag(hash)) continue;
    const Slot& s = ring[slot_of(e)];
    if (s.hash == hash && s.id == id) return i;
  }
}

// Backward-shift deletion: the entries after `position` in its run move up into the gap when
// their home is not between the gap and them, so that no probe stops early at it.
void TicketBook::Shard::unindex(std::size_t position) {
  const std::size_t mask = index.size() - 1;
  std::size_t gap = position;
  for (std::size_t i = (gap + 1) & mask; index[i] != 0; i = (i + 1) & mask) {
    const std::size_t home = (index[i] >> 32) & mask;
    // Stays if its home lies cyclically in (gap, i].
    const bool stays = gap <= i ? (gap < home && home <= i) : (gap < home || home <= i);
    if (stays) continue;
    index[gap] = index[i];
    gap = i;
  }
  index[gap] = 0;
}

void TicketBook::configure(std::size_t capacity, std::chrono::nanoseconds window) {
  window_.store(window.count(), std::memory_order_relaxed);
  const std::size_t slots = capacity == 0 ? 0 : (capacity + kShards - 1) / kShards;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    if (s.ring.size() == slots) continue;
    s.ring.assign(slots, Slot{});  // drops the open tickets: rare, and feedback is best-effort
    s.index.assign(slots == 0 ? 0 : std::bit_ceil(2 * slots), 0);
    s.next = 0;
  }
}

void TicketBook::put(std::string_view id, const TargetState* target, std::string_view client,
                     std::string_view route, std::string_view label, SteadyTime now) {
  const std::uint64_t h = hash(id);
  Shard& s = shards_[(h >> 32) % kShards];
  const auto expires = now + SteadyTime::duration(window_.load(std::memory_order_relaxed));
  std::lock_guard lock(s.mutex);
  if (s.ring.empty()) return;
  if (auto same = s.find(h, id); same != std::string_view::npos) {
    s.ring[slot_of(s.index[same])].open = false;
    s.unindex(same);
  }
  const std::size_t n = s.next;
  s.next = n + 1 == s.ring.size() ? 0 : n + 1;
  Slot& slot = s.ring[n];
  if (slot.open)  // an open slot is always indexed
    if (auto at = s.find(slot.hash, slot.id); at != std::string_view::npos) s.unindex(at);
  slot.hash = h;
  slot.expires = expires;
  slot.open = true;
  slot.id.assign(id);
  slot.ticket.target = target;
  slot.ticket.client.assign(client);
  slot.ticket.route.assign(route);
  slot.ticket.label.assign(label);
  const std::size_t mask = s.index.size() - 1;
  std::size_t i = tag(h) & mask;
  while (s.index[i] != 0) i = (i + 1) & mask;
  s.index[i] = entry(h, n);
}

std::optional<FeedbackTicket> TicketBook::take(std::string_view id, std::string_view client,
                                               SteadyTime now) {
  const std::uint64_t h = hash(id);
  Shard& s = shards_[(h >> 32) % kShards];
  std::lock_guard lock(s.mutex);
  const std::size_t at = s.find(h, id);
  if (at == std::string_view::npos) return std::nullopt;
  Slot& slot = s.ring[slot_of(s.index[at])];
  if (slot.expires <= now || slot.ticket.client != client) return std::nullopt;
  slot.open = false;
  s.unindex(at);
  return slot.ticket;
}

}  // namespace switchyard
