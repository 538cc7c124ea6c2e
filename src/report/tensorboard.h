// TensorBoard scalar curves written from C++: an `events.out.tfevents.*` file of TFRecords,
// each holding one serialized tensorflow.Event (src/report/tensorboard_event.proto).
//
// Note [TensorBoard without LibTorch headers]
// This header and tensorboard.cpp are torch-free and build into their own library
// (rt_tensorboard) without LibTorch's include folder: the torch wheel ships protobuf 3.13
// headers there, which would shadow Debian's protobuf 3.21 headers that protoc generates for.
// So the generated header is included only by tensorboard.cpp and tests, never from here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace rt {

// CRC-32C (Castagnoli), as TFRecord framing uses it; crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t size);
// The masked form stored in TFRecords: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t size);

// Appends scalar points to a new event file in `logdir`; view with `tensorboard --logdir`.
// Only one process should write into a given logdir at a time (rank 0 in training).
// Not thread-safe. Errors opening or writing throw UserError naming the file and the fix.
class TensorBoardWriter {
 public:
  // Creates `logdir` (and parents) and the file events.out.tfevents.<unix seconds>.<hostname>
  // (".1", ".2", ... appended if that name is taken), starting with the file_version record.
  explicit TensorBoardWriter(const std::string& logdir);
  ~TensorBoardWriter();  // flushes; errors there are ignored (call flush() to see them)
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One point of the curve `tag` (e.g. "train/loss") at `step`, stamped with the current
  // wall time. TensorBoard stores scalars as float32, so `value` is rounded to float.
  void add_scalar(const std::string& tag, double value, int64_t step);

  // Pushes buffered records to the file (fflush), so that a running TensorBoard sees them;
  // `durable` also forces them to the disk (fsync), which costs milliseconds.
  void flush(bool durable = true);

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);  // TFRecord framing around `data`
  void write_bytes(const void* data, size_t size);

  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace rt
