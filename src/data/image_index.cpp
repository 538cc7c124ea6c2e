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

constexpr const char* kCacheHeader = "ringtrain-image-index 2";

// A folder's modification time in nanoseconds (0 when it cannot be read).
int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// One class folder's images, sub-folders included (following links, as torchvision's os.walk
// with followlinks=True), ordered by (folder, file name) as torchvision's sorted(os.walk(...)).
std::vector<std::string> list_class(const fs::path& folder, std::vector<std::string>& folders) {
  std::vector<std::pair<std::string, std::string>> found;  // {folder, name}
  folders.push_back(folder.string());
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::follow_directory_symlink);
       it != fs::recursive_directory_iterator(); ++it) {
    const auto& entry = *it;
    if (entry.is_directory()) {
      folders.push_back(entry.path().string());
      continue;
    }
    if (!is_image_name(entry.path().string())) continue;  // not an image, as torchvision's ImageFolder
    // An image's name on something that is not a file (a dangling link, a folder) is a problem
    // with the data, not a file to skip quietly.
    RT_CHECK_USER(
        entry.is_regular_file(), "{}: named as an image but not a readable file ({}); fix or remove it",
        entry.path().string(),
        entry.is_symlink() && !fs::exists(entry.path()) ? "a symbolic link to nothing" : "not a regular file");
    found.emplace_back(entry.path().parent_path().string(), entry.path().filename().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (const auto& [dir, name] : found) paths.push_back(dir + "/" + name);
  return paths;
}

ImageIndex list_split(const std::string& dir) {
  ImageIndex index;
  index.folders.push_back(dir);
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) index.class_names.push_back(entry.path().filename().string());
  }
  std::sort(index.class_names.begin(), index.class_names.end());
  RT_CHECK_USER(index.class_names.size() >= 2, "{}: expected one sub-folder per class (at least 2), found {}", dir,
                index.class_names.size());
  for (size_t label = 0; label < index.class_names.size(); ++label) {
    auto paths = list_class(fs::path(dir) / index.class_names[label], index.folders);
    RT_CHECK_USER(!paths.empty(), "{}/{}: class folder holds no .jpg/.jpeg/.png images", dir, index.class_names[label]);
    for (auto& p : paths) {
      index.paths.push_back(std::move(p));
      index.labels.push_back(static_cast<int64_t>(label));
    }
  }
  return index;
}

std::string relative(const std::string& dir, const std::string& path) {
  return path.size() > dir.size() ? path.substr(dir.size() + 1) : ".";
}

// Cache file: the header; "classes N", the N class names; "folders K", K lines
// "<mtime>\t<folder relative to the split>"; "files M", M lines "<label>\t<path relative to the split>".
std::string cache_text(const std::string& dir, const ImageIndex& index) {
  std::ostringstream out;
  out << kCacheHeader << "\nclasses " << index.class_names.size() << "\n";
  for (const auto& c : index.class_names) out << c << "\n";
  out << "folders " << index.folders.size() << "\n";
  for (const auto& f : index.folders) out << mtime_ns(f) << "\t" << relative(dir, f) << "\n";
  out << "files " << index.paths.size() << "\n";
  for (size_t i = 0; i < index.paths.size(); ++i)
    out << index.labels[i] << "\t" << relative(dir, index.paths[i]) << "\n";
  return out.str();
}

// Reads "<number>\t<text>" lines; false when the line is not one.
bool split_line(const std::string& line, int64_t& number, std::string& text) {
  const size_t tab = line.find('\t');
  if (tab == std::string::npos || tab == 0) return false;
  char* end = nullptr;
  number = std::strtoll(line.c_str(), &end, 10);
  if (end != line.c_str() + tab) return false;
  text = line.substr(tab + 1);
  return true;
}

// The cached index if the cache exists, is whole and no listed folder has changed since.
bool read_cache(const std::string& cache, const std::string& dir, ImageIndex& index) {
  std::ifstream in(cache);
  std::string line, word, text;
  int64_t number = 0;
  if (!in || !std::getline(in, line) || line != kCacheHeader) return false;
  size_t count = 0;
  if (!(in >> word >> count) || word != "classes" || count < 2 || count > 1000000) return false;
  std::getline(in, line);
  for (size_t c = 0; c < count; ++c) {
    if (!std::getline(in, line)) return false;
    index.class_names.push_back(line);
  }
  if (!(in >> word >> count) || word != "folders") return false;
  std::getline(in, line);
  for (size_t f = 0; f < count; ++f) {
    if (!std::getline(in, line) || !split_line(line, number, text)) return false;
    const std::string folder = text == "." ? dir : dir + "/" + text;
    if (number == 0 || number != mtime_ns(folder)) return false;
    index.folders.push_back(folder);
  }
  if (!(in >> word >> count) || word != "files") return false;
  std::getline(in, line);
  for (size_t i = 0; i < count; ++i) {
    if (!std::getline(in, line) || !split_line(line, number, text)) return false;
    if (number < 0 || number >= static_cast<int64_t>(index.class_names.size())) return false;
    index.labels.push_back(number);
    index.paths.push_back(dir + "/" + text);
  }
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
  try {
    index = list_split(dir);
  } catch (const fs::filesystem_error& e) {
    throw UserError(fmt::format("{}: cannot be listed ({}); check that it exists and can be read",
                                e.path1().empty() ? dir : e.path1().string(), e.code().message()));
  }
  // A folder changed in the last seconds may change again within its timestamp's granularity
  // unseen (git's "racy index"): cache only a listing of folders that have been still since.
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& f : index.folders) {
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
