// Matrix products on a model's shapes: the engine's CPU kernels (f32 and bf16 weights, and the opt-in
// AVX512_BF16 kernel where the CPU has it) against
// OpenBLAS sgemm/sgemv, side by side in one process, interleaved per trial so both see the same
// machine load. Built and run by bench/run.ts (`npm run bench -- matmul`); prints one JSON line
// per shape. Bench-only: it links OpenBLAS, the engine never does.
//
// usage: bench_matmul THREADS D Q KV F V T[,T...] MIN_SECONDS TRIALS
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/kernels.h"
#include "threadpool.h"

extern "C" char* openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int);

using namespace pcomp;
using Clock = std::chrono::steady_clock;

namespace {

// Seconds per call of f: repeats until min_s has passed, so short products are timed over many calls.
template <class F>
double seconds_per_call(F&& f, double min_s) {
  f();  // warm caches and thread pools
  int reps = 0;
  const auto t0 = Clock::now();
  double el = 0;
  do {
    f();
    ++reps;
    el = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (el < min_s);
  return el / reps;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 10) {
    std::fprintf(stderr, "usage: bench_matmul THREADS D Q KV F V T[,T...] MIN_SECONDS TRIALS\n");
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const int D = std::atoi(argv[2]), Q = std::atoi(argv[3]), KV = std::atoi(argv[4]), F = std::atoi(argv[5]),
            V = std::atoi(argv[6]);
  std::vector<int> Ts;
  for (std::string s = argv[7]; !s.empty();) {
    const size_t c = s.find(',');
    Ts.push_back(std::atoi(s.substr(0, c).c_str()));
    s = c == std::string::npos ? "" : s.substr(c + 1);
  }
  const double min_s = std::atof(argv[8]);
  const int trials = std::atoi(argv[9]);
  set_threads(threads);
  openblas_set_num_threads(threads);
  const cpu::CpuFeatures feat = cpu::detect_cpu_features();
  // The opt-in AVX512_BF16 kernel (PCOMP_CPU_KERNEL=avx512bf16; activations rounded to bf16) is timed
  // beside the auto choice, called directly, wherever the CPU has the instructions.
  const bool has_bf16_kernel = feat.avx512f && feat.avx512bw && feat.avx512bf16;
  std::printf("{\"info\":true,\"openblas_core\":\"%s\",\"cpu_features\":\"%s\",\"kernels_f32\":\"%s\",\"kernels_bf16\":\"%s\",\"threads\":%d,\"avx512bf16_kernel\":%s}\n",
              openblas_get_corename(), feat.describe().c_str(), cpu::kernel_set_name(cpu::active_kernels().f32),
              cpu::kernel_set_name(cpu::active_kernels().bf16), threads, has_bf16_kernel ? "true" : "false");
  std::fflush(stdout);

  struct Shape { const char* name; int N, K; };
  const Shape shapes[] = {{"q_proj/o_proj", Q, D}, {"k_proj/v_proj", KV, D}, {"gate/up", F, D}, {"down", D, F}, {"lm_head", V, D}};
  std::mt19937 g(1);
  std::normal_distribution<float> nd(0.f, 0.02f);
  for (const Shape& s : shapes) {
    std::vector<float> w(size_t(s.N) * s.K);
    for (auto& v : w) v = nd(g);
    std::vector<uint16_t> wb(w.size());
    for (size_t i = 0; i < w.size(); ++i) wb[i] = cpu::f32_to_bf16(w[i]);
    for (int T : Ts) {
      if (std::string(s.name) == "lm_head" && T > 64) continue;  // the head only sees last rows
      std::vector<float> x(size_t(T) * s.K), y(size_t(T) * s.N);
      for (auto& v : x) v = nd(g) * 50.f;
      std::vector<double> e32, e16, e16r, blas;
      for (int tr = 0; tr < trials; ++tr) {
        e32.push_back(seconds_per_call([&] { cpu_backend().matmul(y.data(), x.data(), Weight(w.data()), nullptr, T, s.N, s.K); }, min_s));
        e16.push_back(seconds_per_call([&] { cpu_backend().matmul(y.data(), x.data(), Weight::from_bf16(wb.data()), nullptr, T, s.N, s.K); }, min_s));
        if (has_bf16_kernel)
          e16r.push_back(seconds_per_call([&] { cpu::matmul_avx512bf16(y.data(), x.data(), wb.data(), nullptr, T, s.N, s.K); }, min_s));
        blas.push_back(seconds_per_call([&] {
          if (T == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, s.N, s.K, 1.f, w.data(), s.K, x.data(), 1, 0.f, y.data(), 1);
          else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, s.N, s.K, 1.f, x.data(), s.K, w.data(), s.K, 0.f, y.data(), s.N);
        }, min_s));
      }
      const double flop = 2.0 * T * s.N * s.K;
      const double t32 = median(e32), t16 = median(e16), tb = median(blas);
      std::printf("{\"shape\":\"%s\",\"T\":%d,\"N\":%d,\"K\":%d,\"engine_f32_gflops\":%.2f,\"engine_bf16_gflops\":%.2f,"
                  "\"openblas_f32_gflops\":%.2f,\"ratio_f32\":%.3f,\"ratio_bf16\":%.3f",
                  s.name, T, s.N, s.K, flop / t32 * 1e-9, flop / t16 * 1e-9, flop / tb * 1e-9, tb / t32, tb / t16);
      if (has_bf16_kernel) {
        const double t16r = median(e16r);
        std::printf(",\"engine_avx512bf16_gflops\":%.2f,\"ratio_avx512bf16\":%.3f", flop / t16r * 1e-9, tb / t16r);
      }
      std::printf("}\n");
      std::fflush(stdout);
    }
  }
  return 0;
}
