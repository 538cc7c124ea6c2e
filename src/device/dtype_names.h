// LibTorch's scalar types by the names safetensors gives them ("F32", "I64", ...): the one table
// the checkpoint format (checkpoint/checkpoint.h) and the torch.save reader (core/restricted_unpickler.h
// declares storages in these names) share.
#pragma once

#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace rt {

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
inline constexpr DtypeName kDtypeNames[] = {
    {torch::kFloat32, "F32"}, {torch::kFloat16, "F16"}, {torch::kBFloat16, "BF16"}, {torch::kFloat64, "F64"},
    {torch::kInt64, "I64"},   {torch::kInt32, "I32"},   {torch::kInt16, "I16"},     {torch::kInt8, "I8"},
    {torch::kUInt8, "U8"},    {torch::kBool, "BOOL"}};

// The name of a scalar type; throws std::logic_error for one without (complex, quantised).
inline const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypeNames) {
    if (d.type == t) return d.name;
  }
  throw std::logic_error(std::string("no safetensors name for ") + c10::toString(t));
}

// The scalar type of a name; throws std::logic_error for another name (callers pass names
// that parse_safetensors or unpickle_restricted have already checked).
inline torch::ScalarType dtype_of(const std::string& name) {
  for (const auto& d : kDtypeNames) {
    if (name == d.name) return d.type;
  }
  throw std::logic_error("no scalar type named " + name);
}

}  // namespace rt
