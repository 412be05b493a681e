// Strict JSON for untrusted input: bounded size and depth, duplicate object keys refused,
// invalid UTF-8 and lone surrogates refused, NUL characters refused, non-finite numbers refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "authd/base/result.h"

namespace authd {

using Json = nlohmann::json;

struct JsonLimits {
  size_t max_bytes = 64 * 1024;
  size_t max_depth = 32;
  size_t max_string = 16 * 1024;
};

// kBadRequest with a short reason on any violation. Never throws.
Result<Json> ParseJsonStrict(std::string_view text, const JsonLimits& limits = {});

// Typed field access for request DTOs. Each returns kBadRequest naming the field when the member
// has the wrong type; the Optional* forms accept an absent member (or null) and yield `fallback`.
Result<std::string> RequiredString(const Json& obj, std::string_view key, size_t max_len = 1024);
Result<std::string> OptionalString(const Json& obj, std::string_view key, std::string fallback = {},
                                   size_t max_len = 1024);
Result<int64_t> OptionalInt(const Json& obj, std::string_view key, int64_t fallback, int64_t min,
                            int64_t max);
Result<bool> OptionalBool(const Json& obj, std::string_view key, bool fallback);

// Serialises without throwing: invalid UTF-8 inside strings is replaced (U+FFFD).
std::string DumpJson(const Json& j);

// One JSON object written straight into a string, for hot answers of a fixed shape (no
// intermediate Json values). Strings come out exactly as DumpJson writes them. Members are written
// in the order given; give them in DumpJson's (sorted) order to get its very bytes.
class JsonObjectWriter {
 public:
  JsonObjectWriter& String(std::string_view key, std::string_view value);
  JsonObjectWriter& Int(std::string_view key, int64_t value);
  JsonObjectWriter& Bool(std::string_view key, bool value);
  JsonObjectWriter& Strings(std::string_view key, const std::vector<std::string>& values);
  // A member whose value is an object another writer finished.
  JsonObjectWriter& Object(std::string_view key, std::string_view finished_object);
  // A member whose value is an array of objects other writers finished.
  JsonObjectWriter& Objects(std::string_view key, const std::vector<std::string>& finished_objects);
  std::string Finish();  // the object's text; the writer is spent

 private:
  void Key(std::string_view key);
  // A member holding `items`: as JSON strings, or as JSON text already written.
  void Array(std::string_view key, const std::vector<std::string>& items, bool as_strings);
  std::string out_ = "{";
};

// Appends `s` as a JSON string, as DumpJson would write it.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace authd
