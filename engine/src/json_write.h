// Small JSON writers shared by the C API's info strings and the run traces (CPU and CUDA).
#pragma once
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace pcomp {

/* A JSON string body: quotes, backslashes and control characters escaped. */
inline std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (c == '\n') o += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += c;
  }
  return o;
}

/* A number with full double precision; NaN and infinities (not JSON) as null. */
inline void json_num(std::ostringstream& o, double v) {
  if (!std::isfinite(v)) { o << "null"; return; }
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  o << b;
}

/* An array of integers. */
template <class T>
void json_ints(std::ostringstream& o, const std::vector<T>& v) {
  o << '[';
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  o << ']';
}

}  // namespace pcomp
