// EngineError: a failure the user can act on (bad file, bad config); its message names the file
// and the tensor or field. The C API turns it into PCOMP_ERR_INPUT plus the message.
#pragma once
#include <stdexcept>
#include <string>

namespace pcomp {

struct EngineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("cancelled") {}
};

}  // namespace pcomp
