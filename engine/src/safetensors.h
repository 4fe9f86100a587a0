// Memory-mapped safetensors files: u64 LE header length, JSON header, raw little-endian data.
// Every offset is checked against the file size before any byte is read.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pcomp {

enum class DType { F32, F16, BF16 };
const char* dtype_name(DType d);
size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the mapping
  size_t nbytes = 0;
  size_t begin = 0;  // data_offsets[0], within the data section
  std::string file;  // for error messages
  int64_t numel() const {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
};

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws EngineError naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// One safetensors file: parses and validates the header, indexes the tensors. Holds the format to
// its reference rules: every tensor in bounds, its byte length equal to shape x dtype, and the
// tensors covering the data section exactly (no overlap, gap or trailing bytes).
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::string& path() const { return file_->path(); }

 private:
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, TensorInfo> tensors_;
};

// Converts one element range to f32.
void convert_to_f32(DType src, const uint8_t* in, float* out, size_t n);
float bf16_to_f32(uint16_t h);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace pcomp
