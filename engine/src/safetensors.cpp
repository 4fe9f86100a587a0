#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "error.h"
#include "json.h"

namespace pcomp {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}

size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 2; }

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw EngineError(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw EngineError(path + ": cannot stat (" + std::strerror(errno) + ")");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw EngineError(path + ": cannot map (" + std::strerror(errno) + ")");
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(new MappedFile(path)) {
  const size_t size = file_->size();
  if (size < 8) throw EngineError(path + ": truncated safetensors file (" + std::to_string(size) + " bytes, no header)");
  uint64_t hlen = 0;
  std::memcpy(&hlen, file_->data(), 8);
  // The reference reader (huggingface/safetensors, safetensors/src/tensor.rs, read_metadata) refuses
  // headers over 100,000,000 bytes (HeaderTooLarge); so does this one.
  if (hlen > 100000000ull)
    throw EngineError(path + ": safetensors header length " + std::to_string(hlen) +
                      " exceeds the format's limit of 100000000 bytes (corrupt file)");
  if (hlen > size - 8)
    throw EngineError(path + ": safetensors header length " + std::to_string(hlen) + " exceeds the file size " +
                      std::to_string(size) + " (truncated or corrupt file)");
  JsonValue header;
  try {
    header = json_parse(reinterpret_cast<const char*>(file_->data() + 8), size_t(hlen));
  } catch (const JsonError& e) {
    throw EngineError(path + ": safetensors header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw EngineError(path + ": safetensors header is not a JSON object");
  const uint8_t* base = file_->data() + 8 + hlen;
  const size_t data_size = size - 8 - size_t(hlen);
  for (const auto& kv : header.obj) {
    if (kv.first == "__metadata__") continue;
    const std::string where = path + ": tensor '" + kv.first + "'";
    const JsonValue& t = kv.second;
    const JsonValue* dt = t.get("dtype");
    const JsonValue* shape = t.get("shape");
    const JsonValue* offs = t.get("data_offsets");
    if (!dt || !dt->is_string()) throw EngineError(where + ": missing field \"dtype\"");
    if (!shape || !shape->is_array()) throw EngineError(where + ": missing field \"shape\"");
    if (!offs || !offs->is_array() || offs->arr.size() != 2) throw EngineError(where + ": missing field \"data_offsets\"");
    TensorInfo info;
    info.name = kv.first;
    info.file = path;
    if (dt->str == "F32") info.dtype = DType::F32;
    else if (dt->str == "F16") info.dtype = DType::F16;
    else if (dt->str == "BF16") info.dtype = DType::BF16;
    else throw EngineError(where + ": unsupported dtype \"" + dt->str + "\" (supported: F32, F16, BF16)");
    for (const auto& s : shape->arr) {
      if (!s.is_number() || s.num < 0) throw EngineError(where + ": bad shape entry");
      info.shape.push_back(int64_t(s.num));
    }
    if (!offs->arr[0].is_number() || !offs->arr[1].is_number() || offs->arr[0].num != double(int64_t(offs->arr[0].num)) ||
        offs->arr[1].num != double(int64_t(offs->arr[1].num)))
      throw EngineError(where + ": data_offsets must be two integers");
    double b = offs->arr[0].num, e = offs->arr[1].num;
    if (!(b >= 0 && e >= b && e <= double(data_size)))
      throw EngineError(where + ": data_offsets [" + std::to_string(int64_t(b)) + ", " + std::to_string(int64_t(e)) +
                        "] out of bounds (data section is " + std::to_string(data_size) + " bytes; truncated file?)");
    info.nbytes = size_t(e - b);
    if (info.nbytes != size_t(info.numel()) * dtype_size(info.dtype))
      throw EngineError(where + ": byte length " + std::to_string(info.nbytes) + " does not match shape and dtype (" +
                        std::to_string(info.numel()) + " x " + std::to_string(dtype_size(info.dtype)) + " bytes)");
    info.data = base + size_t(b);
    info.begin = size_t(b);
    if (!tensors_.emplace(info.name, std::move(info)).second)
      throw EngineError(where + ": named twice in the safetensors header");
  }
  // The format's own rule (huggingface/safetensors, safetensors/src/tensor.rs: Metadata::validate and
  // read_metadata): sorted by data_offsets, the tensors tile the byte buffer exactly -- the first
  // starts at 0, each starts where the previous one ended (InvalidOffset otherwise), and the last
  // ends at the end of the file (MetadataIncompleteBuffer otherwise). So no overlap (two tensors
  // sharing bytes), no gap and no trailing data: every byte of the data section belongs to exactly
  // one tensor. Zero-length tensors are allowed anywhere in the sequence.
  std::vector<const TensorInfo*> order;
  order.reserve(tensors_.size());
  for (const auto& kv : tensors_) order.push_back(&kv.second);
  std::sort(order.begin(), order.end(), [](const TensorInfo* x, const TensorInfo* y) {
    return x->begin != y->begin ? x->begin < y->begin : x->nbytes < y->nbytes;
  });
  size_t at = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : order) {
    const std::string range = "[" + std::to_string(t->begin) + ", " + std::to_string(t->begin + t->nbytes) + "]";
    if (t->begin < at)
      throw EngineError(path + ": tensor '" + t->name + "': data_offsets " + range + " overlap tensor '" + prev->name +
                        "' (which ends at " + std::to_string(at) + "); safetensors tensors may not share bytes");
    if (t->begin > at)
      throw EngineError(path + ": tensor '" + t->name + "': data_offsets " + range + " leave a gap of " +
                        std::to_string(t->begin - at) + " bytes " +
                        (prev ? "after tensor '" + prev->name + "'" : std::string("at the start of the data section")) +
                        "; safetensors tensors must cover the data section contiguously");
    at = t->begin + t->nbytes;
    prev = t;
  }
  if (at != data_size)
    throw EngineError(path + ": " + std::to_string(data_size - at) + " bytes of trailing data after " +
                      (prev ? "the last tensor ('" + prev->name + "')" : std::string("the header (no tensors)")) +
                      "; a safetensors data section ends where its last tensor ends");
}

float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) u = sign;
    else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) { man <<= 1; --exp; }
      man &= 0x3ff;
      u = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000 | (man << 13);
  } else {
    u = sign | ((exp - 15 + 127) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void convert_to_f32(DType src, const uint8_t* in, float* out, size_t n) {
  switch (src) {
    case DType::F32: std::memcpy(out, in, n * 4); break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) { uint16_t h; std::memcpy(&h, in + 2 * i, 2); out[i] = bf16_to_f32(h); }
      break;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) { uint16_t h; std::memcpy(&h, in + 2 * i, 2); out[i] = f16_to_f32(h); }
      break;
  }
}

}  // namespace pcomp
