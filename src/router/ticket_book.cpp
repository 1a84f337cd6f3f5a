#include "router/ticket_book.hpp"

#include "core/hash.hpp"

#include <algorithm>
#include <bit>
#include <random>
#include <type_traits>

namespace switchyard {

namespace {

constexpr std::uint64_t kSlotBits = 0xffff'ffffull;
constexpr std::size_t npos = std::string_view::npos;

std::uint32_t tag(std::uint64_t hash) { return static_cast<std::uint32_t>(hash); }
std::size_t slot_of(std::uint64_t entry) { return (entry & kSlotBits) - 1; }

}  // namespace

TicketBook::TicketBook() : TicketBook([] {
  std::random_device random;
  return (std::uint64_t{random()} << 32) | random();
}()) {}

TicketBook::TicketBook(std::uint64_t seed) : seed_(seed) {}

std::uint64_t TicketBook::hash(std::string_view id) const {
  const char* seed = reinterpret_cast<const char*>(&seed_);
  return hash_words({std::string_view(seed, sizeof seed_), id});
}

bool TicketBook::place(std::vector<std::uint64_t>& index, std::uint64_t hash, std::size_t slot) {
  const std::size_t mask = index.size() - 1;
  std::size_t i = tag(hash) & mask;
  for (std::size_t k = 0; k < kMaxProbe && k <= mask; ++k, i = (i + 1) & mask) {
    if (index[i] != 0) continue;
    index[i] = (std::uint64_t{tag(hash)} << 32) | (slot + 1);
    return true;
  }
  return false;
}

std::size_t TicketBook::Shard::find(std::uint64_t hash, std::string_view id) const {
  if (index.empty()) return npos;
  const std::size_t mask = index.size() - 1;
  std::size_t i = tag(hash) & mask;
  for (std::size_t k = 0; k < kMaxProbe && k <= mask; ++k, i = (i + 1) & mask) {
    const std::uint64_t e = index[i];
    if (e == 0) return npos;
    if ((e >> 32) != tag(hash)) continue;
    const Slot& s = ring[slot_of(e)];
    if (s.hash == hash && s.id == id) return i;
  }
  return npos;
}

// Backward-shift deletion: the entries after `position` in its run move up into the gap when
// their home is not between the gap and them, so that no probe stops early at it. An entry only
// ever moves towards its home, so each stays within kMaxProbe of it.
void TicketBook::Shard::unindex(std::size_t position) {
  const std::size_t mask = index.size() - 1;
  std::size_t gap = position;
  // Past kMaxProbe from the gap, every entry's home is after the gap: none moves.
  for (std::size_t i = (gap + 1) & mask; index[i] != 0 && ((i - gap) & mask) < kMaxProbe;
       i = (i + 1) & mask) {
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
  static_assert(std::is_nothrow_move_constructible_v<Slot>);  // the moves below cannot fail
  window_.store(window.count(), std::memory_order_relaxed);
  const std::size_t slots = (std::min<std::size_t>(capacity, kMaxPendingFeedback) + kShards - 1) /
                            kShards;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    if (s.capacity == slots) continue;
    // The open tickets oldest first, of which the newest `slots` are kept.
    std::vector<Slot*> open;
    const bool full = s.ring.size() == s.capacity;
    for (std::size_t k = 0; k < s.ring.size(); ++k) {
      Slot& slot = s.ring[full ? (s.next + k) % s.ring.size() : k];
      if (slot.open) open.push_back(&slot);
    }
    const std::size_t skip = open.size() > slots ? open.size() - slots : 0;
    // Everything that can throw comes before the shard changes.
    std::vector<std::uint64_t> index(slots == 0 ? 0 : std::bit_ceil(2 * slots), 0);
    std::vector<Slot> ring;
    ring.reserve(slots);  // puts never reallocate it (untouched, it costs address space only)
    for (std::size_t k = skip; k < open.size(); ++k) {
      ring.push_back(std::move(*open[k]));
      if (!place(index, ring.back().hash, ring.size() - 1)) ring.back().open = false;
    }
    s.ring.swap(ring);
    s.index.swap(index);
    s.capacity = slots;
    s.next = 0;  // the oldest, once the ring is full
  }
}

void TicketBook::put(std::string_view id, const TargetState* target, std::string_view client,
                     std::string_view route, std::string_view label, SteadyTime now) {
  const std::uint64_t h = hash(id);
  Shard& s = shards_[(h >> 32) % kShards];
  const auto expires =
      now + std::chrono::duration_cast<SteadyTime::duration>(
                std::chrono::nanoseconds(window_.load(std::memory_order_relaxed)));
  std::lock_guard lock(s.mutex);
  if (s.capacity == 0) return;
  if (auto same = s.find(h, id); same != npos) {
    s.ring[slot_of(s.index[same])].open = false;
    s.unindex(same);
  }
  std::size_t n = s.ring.size();
  if (n < s.capacity) {
    s.ring.emplace_back();
  } else {
    n = s.next;
    s.next = n + 1 == s.capacity ? 0 : n + 1;
  }
  Slot& slot = s.ring[n];
  if (slot.open) {  // an open slot is always indexed
    slot.open = false;
    if (auto at = s.find(slot.hash, slot.id); at != npos) s.unindex(at);
  }
  if (!place(s.index, h, n)) return;  // only ids chosen to collide get here
  slot.hash = h;
  slot.expires = expires;
  slot.open = true;
  slot.id.assign(id);
  slot.ticket.target = target;
  slot.ticket.client.assign(client);
  slot.ticket.route.assign(route);
  slot.ticket.label.assign(label);
}

std::optional<FeedbackTicket> TicketBook::take(std::string_view id, std::string_view client,
                                               SteadyTime now) {
  const std::uint64_t h = hash(id);
  Shard& s = shards_[(h >> 32) % kShards];
  std::lock_guard lock(s.mutex);
  const std::size_t at = s.find(h, id);
  if (at == npos) return std::nullopt;
  Slot& slot = s.ring[slot_of(s.index[at])];
  if (slot.expires <= now || slot.ticket.client != client) return std::nullopt;
  slot.open = false;
  s.unindex(at);
  return slot.ticket;
}

}  // namespace switchyard
