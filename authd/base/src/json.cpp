#include "authd/base/json.h"

#include <cmath>
#include <string>
#include <vector>

#include "authd/base/encoding.h"

namespace authd {
namespace {

// Builds a nlohmann::json DOM from SAX events while enforcing our limits. nlohmann's lexer
// already refuses invalid UTF-8, control characters and unpaired surrogate escapes.
class StrictSax final : public nlohmann::json_sax<Json> {
 public:
  explicit StrictSax(const JsonLimits& limits) : limits_(limits) {}

  bool null() override { return Put(Json(nullptr)); }
  bool boolean(bool v) override { return Put(Json(v)); }
  bool number_integer(number_integer_t v) override { return Put(Json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Put(Json(v)); }
  bool number_float(number_float_t v, const string_t&) override {
    if (!std::isfinite(v)) return Fail("number out of range");
    return Put(Json(v));
  }
  bool string(string_t& v) override {
    if (!CheckString(v)) return false;
    return Put(Json(std::move(v)));
  }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) override { return Open(Json::object()); }
  bool key(string_t& k) override {
    if (!CheckString(k)) return false;
    Json& obj = *stack_.back();
    if (obj.contains(k)) return Fail("duplicate member \"" + Printable(k) + "\"");
    pending_key_ = std::move(k);
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(Json::array()); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    if (reason_.empty()) reason_ = "invalid JSON at byte " + std::to_string(position);
    return false;
  }

  Json& root() { return root_; }
  const std::string& reason() const { return reason_; }

 private:
  static std::string Printable(const std::string& s) {
    std::string out;
    for (char c : s.substr(0, 32)) out.push_back((c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?');
    return out;
  }
  bool Fail(std::string why) {
    if (reason_.empty()) reason_ = std::move(why);
    return false;
  }
  bool CheckString(const std::string& s) {
    if (s.size() > limits_.max_string) return Fail("string too long");
    if (s.find('\0') != std::string::npos) return Fail("NUL character in string");
    return true;
  }
  bool Put(Json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Json& top = *stack_.back();
    if (top.is_object()) {
      top.emplace(std::move(pending_key_), std::move(v));
    } else {
      top.push_back(std::move(v));
    }
    return true;
  }
  bool Open(Json v) {
    if (stack_.size() >= limits_.max_depth) return Fail("nesting too deep");
    Json* slot;
    if (stack_.empty()) {
      root_ = std::move(v);
      slot = &root_;
    } else {
      Json& top = *stack_.back();
      if (top.is_object()) {
        auto it = top.emplace(std::move(pending_key_), std::move(v)).first;
        slot = &it.value();
      } else {
        top.push_back(std::move(v));
        slot = &top.back();
      }
    }
    stack_.push_back(slot);
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  const JsonLimits& limits_;
  Json root_;
  std::vector<Json*> stack_;
  std::string pending_key_;
  std::string reason_;
};

}  // namespace

Result<Json> ParseJsonStrict(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) return Err(ErrorCode::kBadRequest, "JSON document too large");
  // A UTF-8 byte order mark is not JSON text (RFC 8259 §8.1 lets parsers refuse it); callers
  // whose specification says to strip one (WebAuthn clientDataJSON) do so before calling.
  if (text.size() >= 3 && text.substr(0, 3) == "\xef\xbb\xbf") {
    return Err(ErrorCode::kBadRequest, "a byte order mark is not allowed");
  }
  StrictSax sax(limits);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &sax, nlohmann::detail::input_format_t::json, true);
  } catch (const std::exception&) {
    ok = false;
  }
  if (!ok) {
    return Err(ErrorCode::kBadRequest, sax.reason().empty() ? "invalid JSON" : sax.reason());
  }
  return std::move(sax.root());
}

Result<std::string> OptionalString(const Json& obj, std::string_view key, std::string fallback,
                                   size_t max_len) {
  if (!obj.is_object()) return Err(ErrorCode::kBadRequest, "expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string()) return Err(ErrorCode::kBadRequest, std::string(key) + " must be a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max_len) return Err(ErrorCode::kBadRequest, std::string(key) + " is too long");
  return s;
}

Result<std::string> RequiredString(const Json& obj, std::string_view key, size_t max_len) {
  if (!obj.is_object()) return Err(ErrorCode::kBadRequest, "expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Err(ErrorCode::kBadRequest, std::string(key) + " is required");
  return OptionalString(obj, key, {}, max_len);
}

Result<bool> OptionalBool(const Json& obj, std::string_view key, bool fallback) {
  if (!obj.is_object()) return Err(ErrorCode::kBadRequest, "expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return Err(ErrorCode::kBadRequest, std::string(key) + " must be true or false");
  return it->get<bool>();
}

Result<int64_t> OptionalInt(const Json& obj, std::string_view key, int64_t fallback, int64_t min,
                            int64_t max) {
  if (!obj.is_object()) return Err(ErrorCode::kBadRequest, "expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) return Err(ErrorCode::kBadRequest, std::string(key) + " must be an integer");
  int64_t v;
  if (it->is_number_unsigned()) {
    auto u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return Err(ErrorCode::kBadRequest, std::string(key) + " is out of range");
    v = static_cast<int64_t>(u);
  } else {
    v = it->get<int64_t>();
  }
  if (v < min || v > max) return Err(ErrorCode::kBadRequest, std::string(key) + " is out of range");
  return v;
}

std::string DumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void AppendJsonString(std::string& out, std::string_view s) {
  if (!IsUtf8(AsBytes(s))) {
    // Rare (our own records are valid UTF-8): let the library replace what is invalid, as DumpJson does.
    out += DumpJson(Json(std::string(s)));
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void JsonObjectWriter::Key(std::string_view key) {
  if (out_.size() > 1) out_.push_back(',');
  AppendJsonString(out_, key);
  out_.push_back(':');
}

JsonObjectWriter& JsonObjectWriter::String(std::string_view key, std::string_view value) {
  Key(key);
  AppendJsonString(out_, value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Int(std::string_view key, int64_t value) {
  Key(key);
  out_ += std::to_string(value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Bool(std::string_view key, bool value) {
  Key(key);
  out_ += value ? "true" : "false";
  return *this;
}

void JsonObjectWriter::Array(std::string_view key, const std::vector<std::string>& items, bool as_strings) {
  Key(key);
  out_.push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out_.push_back(',');
    if (as_strings) {
      AppendJsonString(out_, items[i]);
    } else {
      out_ += items[i];
    }
  }
  out_.push_back(']');
}

JsonObjectWriter& JsonObjectWriter::Strings(std::string_view key, const std::vector<std::string>& values) {
  Array(key, values, true);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Object(std::string_view key, std::string_view finished_object) {
  Key(key);
  out_ += finished_object;
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Objects(std::string_view key, const std::vector<std::string>& finished_objects) {
  Array(key, finished_objects, false);
  return *this;
}

std::string JsonObjectWriter::Finish() {
  out_.push_back('}');
  return std::move(out_);
}

}  // namespace authd
