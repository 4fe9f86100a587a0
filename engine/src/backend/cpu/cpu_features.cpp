#include "cpu_features.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define PCOMP_X86 1
#endif

namespace pcomp::cpu {

std::string CpuFeatures::describe() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (on) s += (s.empty() ? "" : " ") + std::string(name);
  };
  add(avx2, "avx2");
  add(fma, "fma");
  add(f16c, "f16c");
  add(avx512f, "avx512f");
  add(avx512bw, "avx512bw");
  add(avx512bf16, "avx512_bf16");
  add(amx_tile, "amx_tile");
  add(amx_bf16, "amx_bf16");
  return s.empty() ? "none" : s;
}

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#ifdef PCOMP_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  if (!osxsave || !avx) return f;
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool ymm_saved = (xlo & 0x6) == 0x6, zmm_saved = (xlo & 0xe6) == 0xe6, tiles_saved = (xlo & 0x60000) == 0x60000;
  if (!ymm_saved) {
    f.fma = f.f16c = false;
    return f;
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = b & (1u << 5);
    f.avx512f = zmm_saved && (b & (1u << 16));
    f.avx512bw = zmm_saved && (b & (1u << 30));
    // Linux also wants arch_prctl(ARCH_REQ_XCOMP_PERM) before tile data may be used; no kernel uses tiles yet.
    f.amx_tile = tiles_saved && (d & (1u << 24));
    f.amx_bf16 = tiles_saved && (d & (1u << 22));
    if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512bf16 = f.avx512f && (a & (1u << 5));
  }
#endif
  return f;
}

const char* kernel_set_name(KernelSet k) {
  switch (k) {
    case KernelSet::Avx2: return "avx2";
    case KernelSet::Avx512Bf16: return "avx512bf16";
    default: return "reference";
  }
}

KernelChoice choose_kernels(const CpuFeatures& f, const char* request) {
  KernelChoice k;
  const std::string want = request ? request : "";
  const bool has_avx2 = f.avx2 && f.fma, has_bf16 = f.avx512f && f.avx512bw && f.avx512bf16;
  const KernelSet best_f32 = has_avx2 ? KernelSet::Avx2 : KernelSet::Reference;
  auto note = [&](const std::string& s) { k.note += (k.note.empty() ? "" : "; ") + s; };
  if (want.empty() || want == "auto") {
    // bf16 weights are widened to f32 by default: VDPBF16PS also rounds the activations to bf16, which
    // moves logits by ~1e-3 relative, so the same file would score differently by CPU. It is opt-in.
    k.f32 = best_f32;
    k.bf16 = best_f32;
  } else if (want == "reference") {
    k.f32 = k.bf16 = KernelSet::Reference;
  } else if (want == "avx2") {
    k.f32 = k.bf16 = best_f32;
    if (!has_avx2) note("PCOMP_CPU_KERNEL=avx2 but this CPU lacks AVX2/FMA");
  } else if (want == "avx512bf16") {
    k.f32 = best_f32;
    k.bf16 = has_bf16 ? KernelSet::Avx512Bf16 : best_f32;
    if (!has_bf16) note("PCOMP_CPU_KERNEL=avx512bf16 but this CPU lacks AVX512_BF16");
  } else {
    k.f32 = k.bf16 = best_f32;
    note("unknown PCOMP_CPU_KERNEL=" + want + " (auto|reference|avx2|avx512bf16); using auto");
  }
  if (!has_avx2 && k.f32 == KernelSet::Reference) note("no AVX2/FMA: plain C++ kernels");
  if (f.amx_bf16) note("AMX present but there is no AMX kernel; bf16 weights use " + std::string(kernel_set_name(k.bf16)));
  return k;
}

namespace {
// Runs the AVX512_BF16 kernel on one awkward product and compares it with the reference (both see
// the same bf16 weights; x is rounded to bf16 only by the kernel, hence the loose bound).
bool avx512bf16_agrees_with_reference() {
  const int T = 3, N = 7, K = 77;
  std::vector<float> x(size_t(T) * K), bias(N), y(size_t(T) * N), r(size_t(T) * N);
  std::vector<uint16_t> w(size_t(N) * K);
  uint32_t s = 12345;
  auto rnd = [&] { s = s * 1664525u + 1013904223u; return float(int(s >> 9) % 2001 - 1000) / 1000.f; };
  for (auto& v : x) v = rnd();
  for (auto& v : w) v = f32_to_bf16(rnd());
  for (auto& v : bias) v = rnd();
  matmul_avx512bf16(y.data(), x.data(), w.data(), bias.data(), T, N, K);
  matmul_reference(r.data(), x.data(), Weight::from_bf16(w.data()), bias.data(), T, N, K);
  for (size_t i = 0; i < y.size(); ++i)
    if (!(std::fabs(y[i] - r[i]) <= 0.05f + 0.01f * std::fabs(r[i]))) return false;
  return true;
}
}  // namespace

const KernelChoice& active_kernels() {
  static const KernelChoice k = [] {
    KernelChoice c = choose_kernels(detect_cpu_features(), std::getenv("PCOMP_CPU_KERNEL"));
    if (c.bf16 == KernelSet::Avx512Bf16 && !avx512bf16_agrees_with_reference()) {
      c.bf16 = c.f32;
      c.note += std::string(c.note.empty() ? "" : "; ") + "avx512bf16 self-check failed; bf16 weights use " + kernel_set_name(c.f32);
    }
    return c;
  }();
  return k;
}

}  // namespace pcomp::cpu
