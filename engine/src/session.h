// Internal definitions behind the opaque C handles.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "../include/pcomp.h"
#include "backend/backend.h"
#include "error.h"
#include "forward.h"
#include "kv_cache.h"
#include "model.h"

struct pcomp_model {
  std::unique_ptr<pcomp::Model> model;  // on the host: the CPU's weights, or the source of the upload
  std::string info_json;
  // The device the model was loaded for (cpu, or cuda) and its tensors there; every call of the
  // C API runs the one forward and pipeline on it.
  const pcomp::Backend* backend = nullptr;
  std::unique_ptr<pcomp::ModelWeights> weights;  // declared after model: destroyed before it
};

struct pcomp_session {
  pcomp_model* owner = nullptr;
  const pcomp::Model* model = nullptr;
  const pcomp::ModelWeights* weights = nullptr;
  const pcomp::Backend* backend = nullptr;
  std::unique_ptr<pcomp::KVCache> cache;
  pcomp::Workspace ws;
  const int32_t* cancel_flag = nullptr;
  std::atomic<int> cancel{0};  // mirrors *cancel_flag; checked between layers
  void poll_cancel() {
    if (cancel_flag && __atomic_load_n(cancel_flag, __ATOMIC_RELAXED)) cancel.store(1);
  }
};

namespace pcomp {
// Sets the thread-local error message returned by pcomp_last_error().
void set_last_error(const std::string& msg);

// Runs f and turns what it throws into a C status code plus the thread-local message:
// EngineError → PCOMP_ERR_INPUT, Cancelled → PCOMP_ERR_CANCELLED, anything else → PCOMP_ERR_INTERNAL.
template <class F>
pcomp_status guarded(F&& f) {
  try {
    f();
    set_last_error("");
    return PCOMP_OK;
  } catch (const Cancelled&) {
    set_last_error("cancelled");
    return PCOMP_ERR_CANCELLED;
  } catch (const EngineError& e) {
    set_last_error(e.what());
    return PCOMP_ERR_INPUT;
  } catch (const std::bad_alloc&) {
    set_last_error("out of memory");
    return PCOMP_ERR_INTERNAL;
  } catch (const std::exception& e) {
    set_last_error(std::string("internal error: ") + e.what());
    return PCOMP_ERR_INTERNAL;
  }
}
}  // namespace pcomp
