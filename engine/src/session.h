// Internal definitions behind the opaque C handles.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "forward.h"
#include "kv_cache.h"
#include "model.h"

struct pcomp_model {
  std::unique_ptr<pcomp::Model> model;
  std::string info_json;
};

struct pcomp_session {
  pcomp_model* owner = nullptr;
  const pcomp::Model* model = nullptr;
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
}  // namespace pcomp
