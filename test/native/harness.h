// A tiny test harness for the native tests: TEST(name) registers a function; CHECK records a
// failure with file:line and keeps going. main() prints one line per test and a summary.
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace t {
struct Case { const char* name; std::function<void()> fn; };
inline std::vector<Case>& cases() { static std::vector<Case> c; return c; }
inline int& failures() { static int f = 0; return f; }
inline std::vector<std::string>& skips() { static std::vector<std::string> s; return s; }
struct Reg { Reg(const char* n, std::function<void()> f) { cases().push_back({n, std::move(f)}); } };
}  // namespace t

#define TEST(name) \
  static void name(); \
  static t::Reg reg_##name(#name, name); \
  static void name()
#define CHECK(cond) \
  do { if (!(cond)) { ++t::failures(); std::fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_NEAR(a, b, tol) \
  do { double _a = (a), _b = (b); if (!(std::fabs(_a - _b) <= (tol))) { ++t::failures(); \
    std::fprintf(stderr, "  %s:%d: %s = %.9g, %s = %.9g, |diff| > %g\n", __FILE__, __LINE__, #a, _a, #b, _b, double(tol)); } } while (0)
#define SKIP(msg) do { t::skips().push_back(msg); return; } while (0)
