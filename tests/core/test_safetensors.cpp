// The safetensors container: a round trip, and every way a header can lie refused with a
// UserError before any tensor byte is read.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/safetensors.h"

namespace rt {

namespace {

const unsigned char* bytes_of(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// A file made by hand: the header text as given (no checksum), then `data_bytes` zero bytes.
std::string handmade(const std::string& header, size_t data_bytes) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  return out + header + std::string(data_bytes, '\0');
}

std::string parse_error(const std::string& file, bool checksum = false) {
  try {
    parse_safetensors(bytes_of(file), file.size(), "f.safetensors", checksum);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Safetensors, RoundTripWithChecksum) {
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const int64_t b[1] = {42};
  const std::string file = encode_safetensors(
      {{"a", "F32", {2, 3}, a, sizeof a}, {"b", "I64", {1}, b, sizeof b}, {"empty", "U8", {0, 5}, nullptr, 0}},
      {{"format", "x"}, {"note", "quote \" and newline \n"}}, /*checksum=*/true);
  EXPECT_EQ((file.size() - 8 - sizeof a - sizeof b) % 8, 0u);  // the data starts 8-byte aligned
  const auto f = parse_safetensors(bytes_of(file), file.size(), "f", /*require_checksum=*/true);
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.tensors[0].name, "a");
  EXPECT_EQ(f.tensors[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(file.data() + f.data_offset + f.tensors[0].begin, a, sizeof a), 0);
  EXPECT_EQ(f.tensors[1].dtype, "I64");
  EXPECT_EQ(f.metadata.at("note"), "quote \" and newline \n");
  EXPECT_EQ(f.metadata.at("crc32").size(), 8u);
  // Every single flipped byte is caught by the checksum or the structure checks.
  for (size_t at = 0; at < file.size(); at += 7) {
    std::string bad = file;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    EXPECT_NE(parse_error(bad, /*checksum=*/true), "") << "byte " << at;
  }
  // Without a checksum the file is refused where one is required.
  const std::string plain = encode_safetensors({{"a", "F32", {2, 3}, a, sizeof a}}, {}, /*checksum=*/false);
  EXPECT_NO_THROW(parse_safetensors(bytes_of(plain), plain.size(), "f", false));
  EXPECT_NE(parse_error(plain, /*checksum=*/true).find("no ringtrain checksum"), std::string::npos);
}

TEST(Safetensors, LyingHeadersAreRefused) {
  const auto entry = [](const std::string& rest) { return "{\"t\":{" + rest + "}}"; };
  struct Case {
    std::string file, expect;
  };
  const std::vector<Case> cases = {
      {"", "too short"},
      {std::string(8, '\xff'), "header claims"},
      {handmade("{}", 0).substr(0, 9), "header claims"},
      {handmade("[1]", 0), "not a JSON object"},
      {handmade("{\"t\":", 0), "not valid JSON"},
      {handmade(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])"), 4), "lies at bytes"},
      {handmade(entry(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), 8), "needs 12 bytes"},
      {handmade(entry(R"("dtype":"Q8","shape":[2],"data_offsets":[0,8])"), 8), "unknown dtype"},
      {handmade(entry(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"), 8), "not a non-negative integer"},
      {handmade(entry(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,8])"), 8), "not a non-negative integer"},
      {handmade(entry(R"("dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8])"), 8),
       "more elements than can exist"},
      {handmade(entry(R"("dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8])"), 8),
       "more bytes than can exist"},
      {handmade(entry(R"("dtype":"F32","shape":[2],"data_offsets":[8,0])"), 8), "lies at bytes"},
      {handmade(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0,-8])"), 8), "data_offsets"},
      {handmade(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1)"), 8), "exactly dtype"},
      {handmade(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])"), 16), "follow its last tensor"},
      {handmade(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
       "overlap or leave a gap"},
      {handmade(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "overlap or leave a gap"},
      {handmade(R"({"__metadata__":{"k":1}})", 0), "not a string"},
      {handmade(R"({"__metadata__":[]})", 0), "must map strings"},
      {handmade(std::string(100, '[') + std::string(100, ']'), 0), "not a JSON object"},
      {handmade("{\"t\":" + std::string(5000, '[') + std::string(5000, ']') + "}", 0), "not valid JSON"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string error = parse_error(cases[i].file);
    EXPECT_NE(error.find(cases[i].expect), std::string::npos) << "case " << i << ": " << error;
  }
  // A header the JSON way but not a safetensors one is not mistaken for one.
  EXPECT_FALSE(looks_like_safetensors(bytes_of("PK\x03\x04 zip"), 8));
  EXPECT_TRUE(looks_like_safetensors(bytes_of(handmade("{}", 0)), 10));
}

TEST(Safetensors, Crc32IsZlibsAndContinuesAcrossPieces) {
  // zlib's crc32 takes 32-bit lengths; crc32_of feeds it in pieces. Same result either way.
  std::vector<unsigned char> data(3000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7);
  const uint32_t whole = crc32_of(data.data(), data.size());
  const uint32_t pieces = crc32_of(data.data() + 1000, 2000, crc32_of(data.data(), 1000));
  EXPECT_EQ(whole, pieces);
  EXPECT_EQ(crc32_of(reinterpret_cast<const unsigned char*>("123456789"), 9), 0xcbf43926u);  // the check value
}

}  // namespace rt
