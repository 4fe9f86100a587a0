// pcomp_run: the policy pipeline. Replaced by the ParallelComp stage driver (engine/src/policy/).
#include "../include/pcomp.h"
#include "error.h"
#include "session.h"

extern "C" {
pcomp_status pcomp_run(pcomp_session*, const pcomp_sample*, const char*, pcomp_progress_callback, void*,
                       pcomp_result**) {
  pcomp::set_last_error("pcomp_run: the policy pipeline is not built yet");
  return PCOMP_ERR_INPUT;
}
const int32_t* pcomp_result_tokens(const pcomp_result*, int* n) { *n = 0; return nullptr; }
const float* pcomp_result_nll(const pcomp_result*, int* n) { *n = 0; return nullptr; }
const char* pcomp_result_trace(const pcomp_result*) { return "{}"; }
void pcomp_result_free(pcomp_result*) {}
}
