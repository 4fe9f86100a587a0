// Stage 3: chunk eviction by the question's self-information given a chunk, from the NLL of the
// question tokens appended to that chunk (the first one predicted by the chunk's last token).
#include <algorithm>
#include <numeric>

#include "../error.h"
#include "registry.h"
#include "run.h"

namespace pcomp {

double score_mean_nll(const std::vector<double>& nll) {
  if (nll.empty()) throw EngineError("chunkEvict.score=mean-nll needs at least 1 question token");
  return std::accumulate(nll.begin(), nll.end(), 0.0) / double(nll.size());
}

// pcw_wrapper.nll_loss_query: the sum over the question tokens divided by their count - 1.
double score_reference_sum(const std::vector<double>& nll) {
  if (nll.size() < 2) throw EngineError("chunkEvict.score=reference-sum needs at least 2 question tokens");
  return std::accumulate(nll.begin(), nll.end(), 0.0) / double(nll.size() - 1);
}

double chunk_score(const std::vector<double>& question_nll, const std::string& mode, int last_n) {
  std::vector<double> used = question_nll;
  if (last_n > 0 && last_n < int(used.size())) used.erase(used.begin(), used.end() - last_n);
  return find_chunk_scorer(mode)(used);
}

// The paper's online priority queue: rank the surviving chunks (lowest score first, ties to the
// earlier chunk) and free every chunk past the k-th at once.
void chunk_evict_selfinfo(RunContext& ctx, std::vector<ChunkRun>& runs, std::vector<int>& alive, int k) {
  std::stable_sort(alive.begin(), alive.end(), [&](int a, int b) {
    return runs[a].score < runs[b].score || (runs[a].score == runs[b].score && runs[a].chunk < runs[b].chunk);
  });
  while (int(alive.size()) > k) {
    ChunkRun& worst = runs[alive.back()];
    alive.pop_back();
    ctx.cache.free_seq(worst.seq);
    worst.alive = false;
    worst.kv_keep.clear();
    ctx.trace.freed_order.push_back(worst.chunk);
  }
}

}  // namespace pcomp
