#include "state/chain.hpp"

// SHA-256 for short inputs: OpenSSL's low-level functions take half the time of EVP's (no
// provider dispatch); deprecated in 3.0 but still provided.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace theater::state {

namespace {

constexpr std::string_view kDomain = "theater-event-v1";  // 16 bytes: the layout's version
static_assert(kDomain.size() == 16);

constexpr const char* kEventNames[] = {"?",        "created",  "init",    "received", "sent",
                                       "request",  "replied",  "host",    "committed", "failure",
                                       "restart",  "upgrade",  "rollback", "stop",     "call",
                                       "note",     "continued"};
static_assert(std::size(kEventNames) == kLastEventType + 1);

constexpr const char* kHostNames[] = {
    "?",           "now_ms",       "timer_set",     "random_fill",   "store_put",
    "store_get",   "send",         "request",       "channel_open",  "channel_send",
    "channel_close", "spawn",      "stop_child",    "restart_child", "list_children",
    "child_state", "child_events", "monitor",       "demonitor",     "clock_time_get",
    "random_get",  "spawn_on"};
static_assert(std::size(kHostNames) == kLastHostCall + 1);

struct Sha256 {
  void begin() { SHA256_Init(&ctx); }
  void add(const void* p, size_t n) { SHA256_Update(&ctx, p, n); }
  void add(std::string_view s) { add(s.data(), s.size()); }
  Hash end() {
    Hash h;
    SHA256_Final(h.data(), &ctx);
    return h;
  }
  SHA256_CTX ctx;
};

Sha256& thread_sha() {
  thread_local Sha256 s;
  return s;
}

template <typename T>
void put_be(std::string& out, T v) {
  char b[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) b[i] = static_cast<char>(v >> (8 * (sizeof(T) - 1 - i)));
  out.append(b, sizeof(T));
}

// Text worth showing as text: valid UTF-8 without control characters (but tab and newlines).
bool printable(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f) return false;
      ++i;
      continue;
    }
    const size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || c == 0xc0 || c == 0xc1 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

std::string hex_bytes(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// A blob for people: its size and hash, and its bytes if kept (text, or hex when binary).
nlohmann::json blob_json(const Blob& b) {
  nlohmann::json j{{"size", b.size}, {"sha256", hex(b.hash)}};
  if (!b.stored.empty() || b.size == 0) {
    if (printable(b.stored)) {
      j["text"] = b.stored;
    } else {
      j["hex"] = hex_bytes(b.stored);
    }
    if (!b.complete()) j["truncated"] = true;
  } else {
    j["stored"] = false;
  }
  return j;
}

std::string blob_text(const Blob& b, size_t max = 60) {
  if (b.stored.empty() && b.size > 0) return fmt::format("<{} bytes, not stored>", b.size);
  std::string s = printable(b.stored) ? b.stored : "0x" + hex_bytes(b.stored);
  if (s.size() > max) s = s.substr(0, max) + "...";
  if (!b.complete()) s += fmt::format(" <{} bytes>", b.size);
  return s;
}

const char* reason_name(uint8_t r) {
  switch (r) {
    case 0: return "first start";
    case 1: return "restart";
    case 2: return "upgrade";
    case 3: return "resume";
  }
  return "?";
}

const char* message_kind_name(uint8_t k) {
  static constexpr const char* kNames[] = {"send", "request", "timer", "channel-open",
                                           "channel-message", "channel-close"};
  return k < std::size(kNames) ? kNames[k] : "?";
}

}  // namespace

Hash sha256(std::string_view bytes) {
  auto& s = thread_sha();
  s.begin();
  s.add(bytes);
  return s.end();
}

std::string hex(const Hash& h) {
  return hex_bytes(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
}

std::optional<Hash> parse_hex_hash(std::string_view text) {
  if (text.size() != 64) return std::nullopt;
  Hash h;
  for (size_t i = 0; i < 32; ++i) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    h[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return h;
}

const char* to_string(EventType t) {
  const auto i = static_cast<size_t>(t);
  return i < std::size(kEventNames) ? kEventNames[i] : "?";
}

std::optional<EventType> event_type_named(std::string_view name) {
  for (int i = 1; i <= kLastEventType; ++i) {
    if (name == kEventNames[i]) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

const char* to_string(HostCall c) {
  const auto i = static_cast<size_t>(c);
  return i < std::size(kHostNames) ? kHostNames[i] : "?";
}

EventType event_type_of(HostCall c) {
  switch (c) {
    case HostCall::Send:
    case HostCall::ChannelSend: return EventType::Sent;
    case HostCall::Request:
    case HostCall::ChannelOpen: return EventType::Request;
    default: return EventType::Host;
  }
}

Hash event_hash(const Hash& prev, uint64_t seq, int64_t time_ms, EventType type,
                std::string_view payload) {
  std::string head;
  head.reserve(16 + 32 + 8 + 8 + 1 + 4);
  head.append(kDomain);
  head.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  put_be(head, seq);
  put_be(head, static_cast<uint64_t>(time_ms));
  head += static_cast<char>(type);
  put_be(head, static_cast<uint32_t>(payload.size()));
  auto& s = thread_sha();
  s.begin();
  s.add(head);
  s.add(payload);
  return s.end();
}

// ---- payloads --------------------------------------------------------------------------------

PayloadWriter& PayloadWriter::u8(uint8_t v) {
  out_ += static_cast<char>(v);
  return *this;
}
PayloadWriter& PayloadWriter::u32(uint32_t v) {
  put_be(out_, v);
  return *this;
}
PayloadWriter& PayloadWriter::u64(uint64_t v) {
  put_be(out_, v);
  return *this;
}
PayloadWriter& PayloadWriter::str(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  out_.append(s);
  return *this;
}
std::optional<Hash> blob_hash(std::string_view bytes, size_t keep) {
  if (bytes.size() <= keep) return std::nullopt;
  return sha256(bytes);
}

PayloadWriter& PayloadWriter::blob(std::string_view bytes, size_t keep, const std::optional<Hash>& hash) {
  const size_t stored = std::min(bytes.size(), keep);
  u32(static_cast<uint32_t>(bytes.size()));
  u32(static_cast<uint32_t>(stored));
  out_.append(bytes.substr(0, stored));
  if (stored < bytes.size()) {
    const Hash h = hash ? *hash : sha256(bytes);
    out_.append(reinterpret_cast<const char*>(h.data()), h.size());
  }
  return *this;
}

PayloadWriter& PayloadWriter::raw(std::string_view bytes) {
  out_.append(bytes);
  return *this;
}

std::string_view PayloadReader::take(size_t n) {
  if (in_.size() - pos_ < n) throw PayloadError("payload is truncated");
  auto s = in_.substr(pos_, n);
  pos_ += n;
  return s;
}
uint8_t PayloadReader::u8() { return static_cast<uint8_t>(take(1)[0]); }
uint32_t PayloadReader::u32() {
  auto s = take(4);
  uint32_t v = 0;
  for (char c : s) v = v << 8 | static_cast<uint8_t>(c);
  return v;
}
uint64_t PayloadReader::u64() {
  auto s = take(8);
  uint64_t v = 0;
  for (char c : s) v = v << 8 | static_cast<uint8_t>(c);
  return v;
}
std::string PayloadReader::str() { return std::string(take(u32())); }
Blob PayloadReader::blob() {
  Blob b;
  b.size = u32();
  const uint32_t stored = u32();
  if (stored > b.size) throw PayloadError("blob keeps more bytes than it has");
  b.stored = std::string(take(stored));
  if (b.complete()) {
    b.hash = sha256(b.stored);
  } else {
    auto h = take(32);
    std::copy(h.begin(), h.end(), b.hash.begin());
  }
  return b;
}

HostRecord decode_host(std::string_view payload) {
  PayloadReader r(payload);
  HostRecord h;
  h.call = static_cast<HostCall>(r.u8());
  h.key = r.str();
  h.input = r.blob();
  h.rc = r.i64();
  h.output = r.blob();
  return h;
}

// ---- segments --------------------------------------------------------------------------------

void append_record(std::string& segment, uint64_t seq, int64_t time_ms, EventType type,
                   std::string_view payload, const Hash& hash) {
  put_be(segment, seq);
  put_be(segment, static_cast<uint64_t>(time_ms));
  segment += static_cast<char>(type);
  put_be(segment, static_cast<uint32_t>(payload.size()));
  segment.append(payload);
  segment.append(reinterpret_cast<const char*>(hash.data()), hash.size());
}

void append_record(std::string& segment, const StoredEvent& e) {
  append_record(segment, e.seq, e.time_ms, e.type, e.payload, e.hash);
}

std::vector<StoredEvent> decode_segment(std::string_view segment) {
  std::vector<StoredEvent> out;
  PayloadReader r(segment);
  while (!r.done()) {
    StoredEvent e;
    e.seq = r.u64();
    e.time_ms = r.i64();
    e.type = static_cast<EventType>(r.u8());
    e.payload = r.str();
    for (auto& b : e.hash) b = r.u8();
    out.push_back(std::move(e));
  }
  return out;
}

// ---- verification ----------------------------------------------------------------------------

std::optional<ChainHead> continued_from(const StoredEvent& e, std::string* from_node) {
  if (e.type != EventType::Continued) return std::nullopt;
  try {
    PayloadReader r(e.payload);
    auto from = r.str();
    ChainHead head;
    head.seq = r.u64();
    auto hash = parse_hex_hash(r.str());
    if (!hash || head.seq >= e.seq) return std::nullopt;
    head.hash = *hash;
    if (from_node) *from_node = std::move(from);
    return head;
  } catch (const PayloadError&) {
    return std::nullopt;
  }
}

std::optional<BrokenLink> verify_chain(std::span<const StoredEvent> events) {
  Hash prev{};
  uint64_t expect = 1;
  for (const auto& e : events) {
    if (auto head = continued_from(e); head && e.seq >= expect) {
      // The actor came here from another node: its chain goes on from the head it names there.
      prev = head->hash;
      expect = e.seq;
    }
    if (e.seq != expect) {
      return BrokenLink{expect, e.seq > expect
                                    ? fmt::format("event {} is missing (the next stored is {})", expect, e.seq)
                                    : fmt::format("event {} is stored twice or out of order", e.seq)};
    }
    const Hash h = event_hash(prev, e.seq, e.time_ms, e.type, e.payload);
    if (h != e.hash) {
      return BrokenLink{e.seq, fmt::format("{} event: its stored hash {} does not match its contents "
                                           "(hash {}): the event or its hash was changed",
                                           to_string(e.type), hex(e.hash), hex(h))};
    }
    prev = e.hash;
    ++expect;
  }
  return std::nullopt;
}

// ---- for people ------------------------------------------------------------------------------

nlohmann::json describe(const StoredEvent& e) {
  nlohmann::json j{{"seq", e.seq}, {"time_ms", e.time_ms}, {"type", to_string(e.type)}, {"hash", hex(e.hash)}};
  try {
    PayloadReader r(e.payload);
    switch (e.type) {
      case EventType::Created:
        j["id"] = r.str();
        j["name"] = r.str();
        j["parent"] = r.str();
        j["module"] = r.str();
        j["manifest"] = nlohmann::json::parse(r.str(), nullptr, false);
        j["initial_state"] = blob_json(r.blob());
        break;
      case EventType::Init:
        j["reason"] = r.u8();
        j["module"] = r.str();
        j["state"] = blob_json(r.blob());
        break;
      case EventType::Received:
        j["kind"] = message_kind_name(r.u8());
        j["from"] = r.str();
        if (auto ch = r.str(); !ch.empty()) j["channel"] = ch;
        if (auto tag = r.i64(); tag) j["tag"] = tag;
        j["bytes"] = blob_json(r.blob());
        break;
      case EventType::Sent:
      case EventType::Request:
      case EventType::Host: {
        auto h = decode_host(e.payload);
        j["call"] = to_string(h.call);
        if (!h.key.empty()) j["key"] = printable(h.key) ? h.key : hex_bytes(h.key);
        if (h.input.size) j["input"] = blob_json(h.input);
        j["rc"] = h.rc;
        if (h.output.size) j["output"] = blob_json(h.output);
        break;
      }
      case EventType::Replied: j["reply"] = blob_json(r.blob()); break;
      case EventType::Committed: {
        auto b = r.blob();
        j["state_bytes"] = b.size;
        j["state_sha256"] = hex(b.hash);
        break;
      }
      case EventType::Failure:
        j["kind"] = r.str();
        j["message"] = r.str();
        break;
      case EventType::Restart: j["restarts"] = r.u32(); break;
      case EventType::Upgrade:
        j["from_module"] = r.str();
        j["to_module"] = r.str();
        j["manifest"] = nlohmann::json::parse(r.str(), nullptr, false);
        break;
      case EventType::Rollback: j["reason"] = r.str(); break;
      case EventType::Stop:
        j["how"] = r.str();
        j["detail"] = blob_json(r.blob());
        break;
      case EventType::Call:
        j["export"] = r.str();
        j["a"] = blob_json(r.blob());
        j["b"] = blob_json(r.blob());
        break;
      case EventType::Note:
        j["note"] = r.str();
        j["detail"] = r.str();
        break;
      case EventType::Continued:
        j["from_node"] = r.str();
        j["prev_seq"] = r.u64();
        j["prev_hash"] = r.str();
        break;
    }
  } catch (const PayloadError& err) {
    j["payload_error"] = err.what();
    j["payload_hex"] = hex_bytes(e.payload);
  }
  return j;
}

std::string summary(const StoredEvent& e) {
  try {
    PayloadReader r(e.payload);
    switch (e.type) {
      case EventType::Created: {
        auto id = r.str(), name = r.str(), parent = r.str(), module = r.str();
        return fmt::format("{} ({}) under {}, module {}", id, name, parent.empty() ? "the runtime" : parent,
                           module.substr(0, 19));
      }
      case EventType::Init: {
        auto reason = r.u8();
        auto module = r.str();
        auto state = r.blob();
        return fmt::format("theater_init reason {} ({}), {} state bytes, module {}", reason, reason_name(reason),
                           state.size, module.substr(0, 19));
      }
      case EventType::Received: {
        auto kind = r.u8();
        auto from = r.str(), channel = r.str();
        auto tag = r.i64();
        auto bytes = r.blob();
        if (kind == 2) return fmt::format("timer tag {}", tag);
        return fmt::format("{} from {}{}: {}", message_kind_name(kind), from,
                           channel.empty() ? "" : " on " + channel, blob_text(bytes));
      }
      case EventType::Sent:
      case EventType::Request:
      case EventType::Host: {
        auto h = decode_host(e.payload);
        std::string s = to_string(h.call);
        if (!h.key.empty()) s += " " + (printable(h.key) ? h.key : "0x" + hex_bytes(h.key));
        if (h.input.size) s += ": " + blob_text(h.input);
        s += fmt::format(" -> {}", h.rc);
        if (h.output.size) s += " " + blob_text(h.output);
        return s;
      }
      case EventType::Replied: return "reply: " + blob_text(r.blob());
      case EventType::Committed: {
        auto b = r.blob();
        return fmt::format("{} bytes, sha256 {}", b.size, hex(b.hash));
      }
      case EventType::Failure: {
        auto kind = r.str();
        return kind + ": " + r.str();
      }
      case EventType::Restart: return fmt::format("restart {}", r.u32());
      case EventType::Upgrade: {
        auto from = r.str(), to = r.str();
        return fmt::format("{} -> {}", from.substr(0, 19), to.substr(0, 19));
      }
      case EventType::Rollback: return r.str();
      case EventType::Stop: {
        auto how = r.str();
        auto detail = r.blob();
        return detail.size ? how + ": " + blob_text(detail) : how;
      }
      case EventType::Call: {
        auto name = r.str();
        auto a = r.blob();
        return a.size ? name + " " + blob_text(a) : name;
      }
      case EventType::Note: {
        auto type = r.str();
        return type + ": " + r.str();
      }
      case EventType::Continued: {
        auto from = r.str();
        const auto seq = r.u64();
        return fmt::format("from node {}, after its event {} ({})", from, seq, r.str().substr(0, 16));
      }
    }
  } catch (const PayloadError& err) {
    return fmt::format("<unreadable payload: {}>", err.what());
  }
  return "";
}

}  // namespace theater::state
