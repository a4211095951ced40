#include "cluster/wire.hpp"

#include <cstring>
#include <stdexcept>

namespace theater::cluster {

namespace {

template <typename T>
void put_int(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
}

template <typename Len>
void put_field(std::string& out, std::string_view s) {
  put_int<Len>(out, static_cast<Len>(s.size()));
  out.append(s);
}

struct Reader {
  std::string_view data;
  size_t pos = 0;
  bool ok = true;
  template <typename T>
  T get_int() {
    if (data.size() - pos < sizeof(T)) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data[pos + i])) << (8 * i);
    pos += sizeof(T);
    return static_cast<T>(v);
  }
  template <typename Len>
  std::string get_field() {
    const size_t n = get_int<Len>();
    if (!ok || data.size() - pos < n) {
      ok = false;
      return {};
    }
    std::string out(data.substr(pos, n));
    pos += n;
    return out;
  }
};

bool known_kind(uint8_t k) {
  switch (static_cast<WireKind>(k)) {
    case WireKind::Send: case WireKind::Request: case WireKind::ChannelOpen:
    case WireKind::ChannelMessage: case WireKind::ChannelClose: case WireKind::Reply:
    case WireKind::ChildFailed: case WireKind::ChildExited: case WireKind::Control:
      return true;
  }
  return false;
}

}  // namespace

std::string encode(const WireMessage& m) {
  std::string out;
  out.reserve(26 + m.from.size() + m.to.size() + m.channel.size() + m.reply_to.size() + m.bytes.size());
  put_int<uint8_t>(out, kWireVersion);
  put_int<uint8_t>(out, static_cast<uint8_t>(m.kind));
  put_int<int32_t>(out, m.rc);
  put_int<uint64_t>(out, m.request_id);
  put_field<uint16_t>(out, m.from);
  put_field<uint16_t>(out, m.to);
  put_field<uint16_t>(out, m.channel);
  put_field<uint16_t>(out, m.reply_to);
  put_field<uint32_t>(out, m.bytes);
  return out;
}

std::optional<WireMessage> decode(std::string_view data) {
  Reader r{data};
  WireMessage m;
  if (r.get_int<uint8_t>() != kWireVersion) return std::nullopt;
  const auto kind = r.get_int<uint8_t>();
  if (!r.ok || !known_kind(kind)) return std::nullopt;
  m.kind = static_cast<WireKind>(kind);
  m.rc = r.get_int<int32_t>();
  m.request_id = r.get_int<uint64_t>();
  m.from = r.get_field<uint16_t>();
  m.to = r.get_field<uint16_t>();
  m.channel = r.get_field<uint16_t>();
  m.reply_to = r.get_field<uint16_t>();
  m.bytes = r.get_field<uint32_t>();
  if (!r.ok || r.pos != data.size()) return std::nullopt;
  return m;
}

std::string encode_spawn_text(std::string_view manifest_text, std::string_view init_state) {
  std::string out;
  put_field<uint32_t>(out, manifest_text);
  out.append(init_state);
  return out;
}

std::pair<std::string, std::string> decode_spawn_text(std::string_view bytes) {
  Reader r{bytes};
  auto text = r.get_field<uint32_t>();
  if (!r.ok) throw std::runtime_error("a spawn's manifest text is cut short");
  return {std::move(text), std::string(bytes.substr(r.pos))};
}

void append_to_batch(std::string& batch, std::string_view encoded) {
  if (batch.empty()) {
    put_int<uint8_t>(batch, kWireVersion);
    put_int<uint8_t>(batch, kBatchKind);
  }
  put_field<uint32_t>(batch, encoded);
}

std::optional<std::vector<std::string_view>> split_batch(std::string_view data) {
  Reader r{data};
  if (r.get_int<uint8_t>() != kWireVersion || r.get_int<uint8_t>() != kBatchKind || !r.ok) return std::nullopt;
  std::vector<std::string_view> out;
  while (r.pos < data.size()) {
    const size_t n = r.get_int<uint32_t>();
    if (!r.ok || data.size() - r.pos < n) return std::nullopt;
    out.push_back(data.substr(r.pos, n));
    r.pos += n;
  }
  return out;
}

std::string encode(const ReplicatedState& s) {
  std::string out;
  out.reserve(2 + (s.head ? 40 : 0) + s.state.size());
  put_int<uint8_t>(out, kWireVersion);
  put_int<uint8_t>(out, s.head ? 1 : 0);
  if (s.head) {
    put_int<uint64_t>(out, s.head->seq);
    out.append(reinterpret_cast<const char*>(s.head->hash.data()), s.head->hash.size());
  }
  out.append(s.state);
  return out;
}

std::optional<ReplicatedState> decode_state(std::string_view data) {
  Reader r{data};
  if (r.get_int<uint8_t>() != kWireVersion) return std::nullopt;
  const uint8_t has_head = r.get_int<uint8_t>();
  if (!r.ok || has_head > 1) return std::nullopt;
  ReplicatedState s;
  if (has_head) {
    state::ChainHead head;
    head.seq = r.get_int<uint64_t>();
    if (!r.ok || data.size() - r.pos < head.hash.size()) return std::nullopt;
    std::memcpy(head.hash.data(), data.data() + r.pos, head.hash.size());
    r.pos += head.hash.size();
    s.head = head;
  }
  s.state = std::string(data.substr(r.pos));
  return s;
}

}  // namespace theater::cluster
