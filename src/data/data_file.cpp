#include "data/data_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/errors.h"

namespace rt {

namespace {

// What a non-regular file is, for the message.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// Closes the descriptor on every way out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens `path` for reading without blocking (a FIFO with no writer would block a plain open,
// and every read after it) and checks that it is a regular file; its size in `size`.
int open_regular(const std::string& path, int64_t& size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    struct stat lst {};
    const bool dangling = err == ENOENT && ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
    throw UserError(fmt::format("{}: cannot be opened ({}); fix or remove it", path,
                                dangling ? "a symbolic link to nothing" : std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw UserError(fmt::format("{}: cannot be read ({}); fix or remove it", path, std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw UserError(fmt::format("{}: {}, not a regular file; only files can be read as data: remove it", path,
                                kind_of(st.st_mode)));
  }
  size = static_cast<int64_t>(st.st_size);
  return fd;
}

}  // namespace

int64_t data_file_size(const std::string& path) {
  int64_t size = 0;
  Fd fd{open_regular(path, size)};
  return size;
}

std::vector<unsigned char> read_data_file(const std::string& path, int64_t max_bytes, const char* what) {
  int64_t size = 0;
  Fd fd{open_regular(path, size)};
  RT_CHECK_USER(size <= max_bytes,
                "{}: {} bytes, more than {} bytes, the most read as {}; this is not a valid data file (or a "
                "sparse or growing one): replace or remove it",
                path, size, max_bytes, what);
  std::vector<unsigned char> bytes(static_cast<size_t>(size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    RT_CHECK_USER(n >= 0, "{}: cannot be read ({}); fix or remove it", path, std::strerror(errno));
    RT_CHECK_USER(n > 0, "{}: ended after {} of its {} bytes (it changed while read); run again once it is whole", path,
                  done, size);
    done += static_cast<size_t>(n);
  }
  return bytes;
}

}  // namespace rt
