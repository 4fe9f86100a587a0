#include <cstring>

#include "harness.h"

int main(int argc, char** argv) {
  int passed = 0, failed = 0, skipped = 0;
  const char* filter = argc > 1 ? argv[1] : nullptr;
  for (auto& c : t::cases()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    const int before = t::failures();
    const size_t skips_before = t::skips().size();
    c.fn();
    if (t::failures() != before) { ++failed; std::printf("FAIL %s\n", c.name); }
    else if (t::skips().size() != skips_before) { ++skipped; std::printf("SKIP %s: %s\n", c.name, t::skips().back().c_str()); }
    else { ++passed; std::printf("ok   %s\n", c.name); }
  }
  std::printf("native: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed ? 1 : 0;
}
