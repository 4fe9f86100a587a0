// Minimal JSON reader for config.json, safetensors headers and policy configs.
// Parses the whole document into a tree of JsonValue; errors carry the byte offset.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace pcomp {

struct JsonValue {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<JsonValue> arr;
  std::vector<std::pair<std::string, JsonValue>> obj;  // keeps file order

  bool is_null() const { return kind == Null; }
  bool is_number() const { return kind == Number; }
  bool is_string() const { return kind == String; }
  bool is_object() const { return kind == Object; }
  bool is_array() const { return kind == Array; }
  const JsonValue* get(const std::string& key) const;  // nullptr when absent (objects only)
};

struct JsonError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

JsonValue json_parse(const char* data, size_t len);  // throws JsonError("offset N: ...")

}  // namespace pcomp
