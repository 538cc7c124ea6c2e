#include "core/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/errors.h"
#include "core/log.h"

namespace rt {

namespace fs = std::filesystem;

namespace {
std::string thousands(uint64_t n) {
  return n > static_cast<uint64_t>(std::numeric_limits<long long>::max()) ? "unlimited"
                                                                          : with_thousands(static_cast<long long>(n));
}
}  // namespace

std::vector<unsigned char> read_file_bytes(const std::string& path) {
  return read_file_bytes(path, std::numeric_limits<uint64_t>::max(), "a file");
}

std::vector<unsigned char> read_file_bytes(const std::string& path, uint64_t max_bytes, const std::string& kind) {
  // O_NONBLOCK: opening a FIFO that no process writes would wait forever. Only regular files
  // and pipes (`--config <(...)`) are read; a FIFO without a writer reads as empty.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  RT_CHECK_USER(fd >= 0, "cannot open {}: {}; check the path", path, std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  RT_CHECK_USER(::fstat(fd, &st) == 0, "cannot read {}: {}", path, std::strerror(errno));
  const bool regular = S_ISREG(st.st_mode), pipe = S_ISFIFO(st.st_mode);
  RT_CHECK_USER(regular || pipe, "{} is not a regular file ({}); pass {}", path,
                S_ISDIR(st.st_mode) ? "a folder" : "a device or socket", kind);
  if (pipe) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (regular) {
    RT_CHECK_USER(static_cast<uint64_t>(st.st_size) <= max_bytes,
                  "{} is {} bytes, more than {} can be ({} at most); check the path", path,
                  with_thousands(static_cast<long long>(st.st_size)), kind, thousands(max_bytes));
  }
  std::vector<unsigned char> bytes;
  if (regular) bytes.reserve(static_cast<size_t>(st.st_size));
  unsigned char chunk[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    RT_CHECK_USER(n >= 0, "cannot read {}: {}", path, std::strerror(errno));
    if (n == 0) break;
    RT_CHECK_USER(bytes.size() + static_cast<size_t>(n) <= max_bytes,
                  "{} holds more than {} bytes, more than {} can be; check the path", path, thousands(max_bytes), kind);
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  return bytes;
}

std::string read_file_at_most(const std::string& path, uint64_t max_bytes, const std::string& kind) {
  const auto bytes = read_file_bytes(path, max_bytes, kind);
  return std::string(bytes.begin(), bytes.end());
}

namespace {

// Writes all of `size` bytes, retrying short writes; false with errno set on failure.
bool write_all(int fd, const char* p, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size, bool durable) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  RT_CHECK_USER(fd >= 0, "cannot create a temporary file in {}: {}", dir.string(), std::strerror(errno));
  bool ok = write_all(fd, static_cast<const char*>(data), size) && (!durable || ::fsync(fd) == 0);
  const int saved_errno = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = ok ? errno : saved_errno;
    ::unlink(tmp.c_str());
    throw UserError(
        fmt::format("cannot write {}: {}; the previous version (if any) is kept", path, std::strerror(err)));
  }
  ::chmod(path.c_str(), 0644);
  if (durable) sync_dir(dir.string());  // make the rename itself durable
}

void sync_dir(const std::string& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

int remove_stale_temporaries(const std::string& dir, const std::string& name) {
  const std::string prefix = "." + name + ".tmp.";
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    // mkstemp's six characters after the prefix, and a regular file (never a link's target)
    if (f.size() == prefix.size() + 6 && f.compare(0, prefix.size(), prefix) == 0 && e.is_regular_file(ec) &&
        !e.is_symlink(ec)) {
      removed += fs::remove(e.path(), ec) ? 1 : 0;
    }
  }
  return removed;
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  RT_CHECK_USER(!ec && fs::is_directory(path), "cannot create folder {}: {}", path, ec.message());
}

bool file_exists(const std::string& path) { return fs::is_regular_file(path); }
int64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}
bool dir_exists(const std::string& path) { return fs::is_directory(path); }

}  // namespace rt
