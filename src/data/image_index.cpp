#include "data/image_index.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"

namespace rt {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCacheHeader = "ringtrain-image-index 1";

// A folder's modification time in nanoseconds (0 when it cannot be read).
int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

ImageIndex list_split(const std::string& dir) {
  ImageIndex index;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) index.class_names.push_back(entry.path().filename().string());
  }
  std::sort(index.class_names.begin(), index.class_names.end());
  RT_CHECK_USER(index.class_names.size() >= 2, "{}: expected one sub-folder per class (at least 2), found {}", dir,
                index.class_names.size());
  for (size_t label = 0; label < index.class_names.size(); ++label) {
    std::vector<std::string> paths;
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / index.class_names[label])) {
      if (!is_image_name(entry.path().string())) continue;  // not an image, as torchvision's ImageFolder
      // An image's name on something that is not a file (a dangling link, a folder) is a problem
      // with the data, not a file to skip quietly.
      RT_CHECK_USER(
          entry.is_regular_file(), "{}: named as an image but not a readable file ({}); fix or remove it",
          entry.path().string(),
          entry.is_symlink() && !fs::exists(entry.path()) ? "a symbolic link to nothing" : "not a regular file");
      paths.push_back(entry.path().string());
    }
    RT_CHECK_USER(!paths.empty(), "{}/{}: class folder holds no .jpg/.jpeg/.png images", dir, index.class_names[label]);
    std::sort(paths.begin(), paths.end());
    for (auto& p : paths) {
      index.paths.push_back(std::move(p));
      index.labels.push_back(static_cast<int64_t>(label));
    }
  }
  return index;
}

// The folders whose times vouch for the cache: the split, then each class.
std::vector<std::string> watched_folders(const std::string& dir, const std::vector<std::string>& classes) {
  std::vector<std::string> folders{dir};
  for (const auto& c : classes) folders.push_back(dir + "/" + c);
  return folders;
}

// Cache file: the header; "classes N", the N class names; "times", the watched folders'
// mtimes; "files M", then M lines "<label>\t<path relative to the split>".
std::string cache_text(const std::string& dir, const ImageIndex& index) {
  std::ostringstream out;
  out << kCacheHeader << "\nclasses " << index.class_names.size() << "\n";
  for (const auto& c : index.class_names) out << c << "\n";
  out << "times";
  for (const auto& f : watched_folders(dir, index.class_names)) out << " " << mtime_ns(f);
  out << "\nfiles " << index.paths.size() << "\n";
  for (size_t i = 0; i < index.paths.size(); ++i) {
    out << index.labels[i] << "\t" << index.paths[i].substr(dir.size() + 1) << "\n";
  }
  return out.str();
}

// The cached index if the cache exists, is whole and the folders have not changed since.
bool read_cache(const std::string& cache, const std::string& dir, ImageIndex& index) {
  std::ifstream in(cache);
  std::string line, word;
  if (!in || !std::getline(in, line) || line != kCacheHeader) return false;
  size_t classes = 0, files = 0;
  if (!(in >> word >> classes) || word != "classes") return false;
  std::getline(in, line);
  index.class_names.resize(classes);
  for (auto& c : index.class_names) {
    if (!std::getline(in, c)) return false;
  }
  if (!(in >> word) || word != "times") return false;
  for (const auto& f : watched_folders(dir, index.class_names)) {
    int64_t t = 0;
    if (!(in >> t) || t == 0 || t != mtime_ns(f)) return false;
  }
  if (!(in >> word >> files) || word != "files") return false;
  std::getline(in, line);
  index.paths.reserve(files);
  index.labels.reserve(files);
  for (size_t i = 0; i < files; ++i) {
    if (!std::getline(in, line)) return false;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) return false;
    const int64_t label = std::atoll(line.substr(0, tab).c_str());
    if (label < 0 || label >= static_cast<int64_t>(classes)) return false;
    index.labels.push_back(label);
    index.paths.push_back(dir + "/" + line.substr(tab + 1));
  }
  index.from_cache = true;
  return true;
}

}  // namespace

bool is_image_name(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

ImageIndex index_split(const std::string& root, const std::string& split) {
  const std::string dir = root + "/" + split;
  const std::string cache = root + "/.ringtrain-index/" + split + ".tsv";
  ImageIndex index;
  if (read_cache(cache, dir, index)) return index;
  index = list_split(dir);
  // A folder changed in the last seconds may change again within its timestamp's granularity
  // unseen (git's "racy index"): cache only a listing of folders that have been still since.
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& f : watched_folders(dir, index.class_names)) {
    if (mtime_ns(f) > now_ns - 2'000'000'000) return index;
  }
  // Best effort: a read-only data folder is listed again next time.
  try {
    make_dirs(root + "/.ringtrain-index");
    write_file_atomic(cache, cache_text(dir, index));
  } catch (const UserError& e) {
    log_info("not caching the file index of {} ({}); it will be listed again next time", dir, e.what());
  }
  return index;
}

}  // namespace rt
