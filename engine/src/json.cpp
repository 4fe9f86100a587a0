#include "json.h"

#include <cstdlib>
#include <cstring>

namespace pcomp {

const JsonValue* JsonValue::get(const std::string& key) const {
  if (kind != Object) return nullptr;
  for (const auto& kv : obj)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

namespace {

struct Parser {
  const char* p;
  const char* end;
  const char* begin;

  [[noreturn]] void fail(const std::string& what) {
    throw JsonError("offset " + std::to_string(p - begin) + ": " + what);
  }
  void ws() {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  }
  bool lit(const char* s) {
    size_t n = std::strlen(s);
    if (size_t(end - p) >= n && std::memcmp(p, s, n) == 0) {
      p += n;
      return true;
    }
    return false;
  }
  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
    }
  }
  uint32_t hex4() {
    if (end - p < 4) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = *p++;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail("bad \\u escape");
    }
    return v;
  }
  std::string string() {
    if (p >= end || *p != '"') fail("expected string");
    ++p;
    std::string out;
    while (true) {
      if (p >= end) fail("unterminated string");
      char c = *p++;
      if (c == '"') break;
      if (c != '\\') { out += c; continue; }
      if (p >= end) fail("unterminated escape");
      char e = *p++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            p += 2;
            uint32_t lo = hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
    return out;
  }
  JsonValue value(int depth) {
    if (depth > 200) fail("nesting too deep");
    ws();
    if (p >= end) fail("unexpected end of input");
    JsonValue v;
    char c = *p;
    if (c == '{') {
      ++p;
      v.kind = JsonValue::Object;
      ws();
      if (p < end && *p == '}') { ++p; return v; }
      while (true) {
        ws();
        std::string k = string();
        ws();
        if (p >= end || *p != ':') fail("expected ':'");
        ++p;
        v.obj.emplace_back(std::move(k), value(depth + 1));
        ws();
        if (p < end && *p == ',') { ++p; continue; }
        if (p < end && *p == '}') { ++p; break; }
        fail("expected ',' or '}'");
      }
    } else if (c == '[') {
      ++p;
      v.kind = JsonValue::Array;
      ws();
      if (p < end && *p == ']') { ++p; return v; }
      while (true) {
        v.arr.push_back(value(depth + 1));
        ws();
        if (p < end && *p == ',') { ++p; continue; }
        if (p < end && *p == ']') { ++p; break; }
        fail("expected ',' or ']'");
      }
    } else if (c == '"') {
      v.kind = JsonValue::String;
      v.str = string();
    } else if (lit("true")) { v.kind = JsonValue::Bool; v.b = true; }
    else if (lit("false")) { v.kind = JsonValue::Bool; v.b = false; }
    else if (lit("null")) { v.kind = JsonValue::Null; }
    else if (lit("NaN")) { v.kind = JsonValue::Number; v.num = __builtin_nan(""); }
    else if (lit("Infinity")) { v.kind = JsonValue::Number; v.num = __builtin_inf(); }
    else if (lit("-Infinity")) { v.kind = JsonValue::Number; v.num = -__builtin_inf(); }
    else if (c == '-' || (c >= '0' && c <= '9')) {
      const char* s = p;
      while (p < end && (std::strchr("+-.eE", *p) || (*p >= '0' && *p <= '9'))) ++p;
      std::string tok(s, p);
      char* stop = nullptr;
      v.kind = JsonValue::Number;
      v.num = std::strtod(tok.c_str(), &stop);
      if (stop != tok.c_str() + tok.size()) fail("bad number '" + tok + "'");
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
    return v;
  }
};

}  // namespace

JsonValue json_parse(const char* data, size_t len) {
  Parser ps{data, data + len, data};
  JsonValue v = ps.value(0);
  ps.ws();
  if (ps.p != ps.end) ps.fail("trailing characters after the document");
  return v;
}

}  // namespace pcomp
