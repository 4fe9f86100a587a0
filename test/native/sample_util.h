// A pcomp_sample for native tests that drive pcomp_run or the CUDA plan: seeded token ids, owned here,
// with the C struct pointing into them. Edit the vectors, then call finish() to point `s` at them again.
#pragma once
#include <cstdint>
#include <vector>

#include "../../engine/include/pcomp.h"

namespace t {
struct SeededSample {
  std::vector<std::vector<int32_t>> chunks;
  std::vector<int32_t> question, eval, stops;
  int max_new = 5;
  std::vector<const int32_t*> ptrs;
  std::vector<int> lens;
  pcomp_sample s{};

  /* Chunks of the given lengths (each starting with token `bos` unless it is negative), a question and eval
     tokens, all other ids seeded in [3, vocab) (0-2 are the specials of the test models). */
  SeededSample(const std::vector<int>& lengths, int question_len, int eval_len, int vocab, int bos, uint32_t seed,
               int max_new_tokens)
      : max_new(max_new_tokens) {
    uint32_t x = seed;
    auto next = [&] { x = x * 1664525u + 1013904223u; return int32_t(3 + (x >> 8) % uint32_t(vocab - 3)); };
    for (int n : lengths) {
      std::vector<int32_t> c(n);
      for (int i = 0; i < n; ++i) c[i] = i == 0 && bos >= 0 ? bos : next();
      chunks.push_back(c);
    }
    for (int i = 0; i < question_len; ++i) question.push_back(next());
    for (int i = 0; i < eval_len; ++i) eval.push_back(next());
    finish();
  }
  SeededSample(const SeededSample&) = delete;  // `s` points into this object's vectors
  SeededSample& operator=(const SeededSample&) = delete;

  void finish() {
    ptrs.clear();
    lens.clear();
    for (auto& c : chunks) { ptrs.push_back(c.data()); lens.push_back(int(c.size())); }
    s.chunks = ptrs.data();
    s.chunk_lens = lens.data();
    s.n_chunks = int(chunks.size());
    s.question = question.data();
    s.question_len = int(question.size());
    s.eval_tokens = eval.empty() ? nullptr : eval.data();
    s.eval_len = int(eval.size());
    s.max_new_tokens = max_new;
    s.stop_ids = stops.empty() ? nullptr : stops.data();
    s.n_stop_ids = int(stops.size());
  }
};
}  // namespace t
