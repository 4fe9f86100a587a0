// What the CPU can run, and which matrix-product kernels the backend uses on it. Detection reads
// CPUID and XGETBV (the OS must save the wider registers, or the instructions fault); the choice
// is a pure function of the features and an optional PCOMP_CPU_KERNEL request, so tests can check
// it for CPUs the test machine is not.
#pragma once
#include <string>

namespace pcomp::cpu {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512bf16 = false;
  bool amx_tile = false, amx_bf16 = false;
  std::string describe() const;  // e.g. "avx2 fma f16c"
};

CpuFeatures detect_cpu_features();

enum class KernelSet { Reference, Avx2, Avx512Bf16 };
const char* kernel_set_name(KernelSet k);

struct KernelChoice {
  KernelSet f32 = KernelSet::Reference;   // for f32 weights
  KernelSet bf16 = KernelSet::Reference;  // for bf16 weights
  std::string note;                        // why a request was not honoured, or what is missing
};

// request: null, "" or "auto" picks the fastest exact kernel the CPU has (bf16 weights widened to f32,
// so a bf16 file computes what its f32 widening computes); "reference", "avx2" or "avx512bf16" asks
// for one (falling back, with a note, when the CPU lacks it). "avx512bf16" also rounds activations to
// bf16 (VDPBF16PS), trading ~1e-3 relative logit error for prefill speed. There is no AMX kernel.
KernelChoice choose_kernels(const CpuFeatures& f, const char* request);

// The choice in force for this process (detected once, PCOMP_CPU_KERNEL read once, and the
// AVX512_BF16 kernel demoted to AVX2 if its start-up self-check disagrees with the reference).
const KernelChoice& active_kernels();

}  // namespace pcomp::cpu
