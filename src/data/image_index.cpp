#include "data/image_index.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <set>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "data/data_file.h"

namespace rt {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCacheName = "ringtrain-image-index";  // the header, before its version
constexpr const char* kCacheHeader = "ringtrain-image-index 4";
constexpr int64_t kMaxCacheBytes = int64_t{1} << 30;  // some 20 million files
constexpr int64_t kMaxClasses = 1000000;

// A folder's modification time in nanoseconds (0 when it cannot be read).
int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// What an image name is on, when not a regular file: for the message.
std::string not_a_file(const fs::directory_entry& entry) {
  std::error_code ec;
  const auto status = entry.status(ec);
  if (entry.is_symlink(ec) && status.type() == fs::file_type::not_found) return "a symbolic link to nothing";
  if (ec) return ec.message();
  switch (status.type()) {
    case fs::file_type::fifo:
      return "a FIFO (named pipe)";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::block:
    case fs::file_type::character:
      return "a device";
    default:
      return "not a regular file";
  }
}

// One class folder's images, sub-folders included (following links, as torchvision's os.walk
// with followlinks=True), ordered by (folder, file name) as torchvision's sorted(os.walk(...)).
// A folder reached twice through links is refused: in a loop the walk would never end, and a
// chain of folders each linked twice doubles the walk at every level.
std::vector<std::string> list_class(const fs::path& folder, bool skip_bad, ImageIndex& index) {
  std::vector<std::pair<std::string, std::string>> found;  // {folder, name}
  std::set<std::pair<uint64_t, uint64_t>> seen;            // {device, inode} of each folder listed
  const auto enter = [&](const fs::path& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return;  // the listing reports it
    RT_CHECK_USER(seen.emplace(st.st_dev, st.st_ino).second,
                  "{}: a folder reached a second time through symbolic links (a loop, or two links to one "
                  "folder), whose images would be listed again and again; remove the link",
                  dir.string());
    index.folders.push_back(dir.string());
  };
  enter(folder);
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::follow_directory_symlink);
       it != fs::recursive_directory_iterator(); ++it) {
    const auto& entry = *it;
    std::error_code ec;
    if (entry.is_directory(ec)) {
      enter(entry.path());
      continue;
    }
    if (!is_image_name(entry.path().string())) continue;  // not an image, as torchvision's ImageFolder
    // An image's name on something that is not a file (a dangling link, a FIFO) is a problem
    // with the data, not a file to skip quietly.
    if (!entry.is_regular_file(ec)) {
      std::string why = fmt::format("{}: named as an image but not a readable file ({}); fix or remove it",
                                    entry.path().string(), not_a_file(entry));
      if (!skip_bad) throw UserError(why);
      index.skipped.push_back(std::move(why));
      continue;
    }
    found.emplace_back(entry.path().parent_path().string(), entry.path().filename().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (const auto& [dir, name] : found) paths.push_back(dir + "/" + name);
  return paths;
}

ImageIndex list_split(const std::string& dir, bool skip_bad) {
  ImageIndex index;
  index.folders.push_back(dir);
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) index.class_names.push_back(entry.path().filename().string());
  }
  std::sort(index.class_names.begin(), index.class_names.end());
  RT_CHECK_USER(index.class_names.size() >= 2, "{}: expected one sub-folder per class (at least 2), found {}", dir,
                index.class_names.size());
  for (size_t label = 0; label < index.class_names.size(); ++label) {
    auto paths = list_class(fs::path(dir) / index.class_names[label], skip_bad, index);
    RT_CHECK_USER(!paths.empty(),
                  "{}/{}: class folder holds no {}images (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, as "
                  "torchvision's ImageFolder)",
                  dir, index.class_names[label], skip_bad ? "readable " : "");
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

// Control bytes, DEL and '%' as %XX: a name then holds no newline or tab of the cache's own.
std::string escape(const std::string& name) {
  std::string out;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '%') {
      out += fmt::format("%{:02X}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool unescape(const std::string& text, std::string& name) {
  name.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return false;  // never written unescaped
    if (c != '%') {
      name += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return false;
    const int hi = hex_digit(text[i + 1]), lo = hex_digit(text[i + 2]);
    if (hi < 0 || lo < 0) return false;
    name += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

// A folder or file name of the split: not empty, no '/', NUL, "." or "..".
bool valid_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// A path relative to the split: valid names joined by single '/' (so neither absolute nor
// leaving the split).
bool valid_relative(const std::string& path) {
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (!valid_name(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start))) return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

// The cache's text, a line at a time; every line ends in '\n'.
class Lines {
 public:
  explicit Lines(const std::string& text) : text_(text), left_(std::count(text.begin(), text.end(), '\n')) {}
  bool next(std::string& line) {
    const size_t end = text_.find('\n', pos_);
    if (end == std::string::npos) return false;
    line.assign(text_, pos_, end - pos_);
    pos_ = end + 1;
    --left_;
    return true;
  }
  int64_t left() const { return left_; }  // whole lines not read yet
  bool done() const { return pos_ == text_.size(); }

 private:
  const std::string& text_;
  size_t pos_ = 0;
  int64_t left_;
};

// Digits only (no sign), at most int64's largest; -1 otherwise.
int64_t parse_number(const std::string& digits) {
  if (digits.empty() || digits.size() > 19) return -1;
  int64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9' || n > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// "<word> <count>", the count at most the lines left: -1 otherwise.
int64_t parse_count(Lines& lines, const std::string& word) {
  std::string line;
  if (!lines.next(line) || line.compare(0, word.size() + 1, word + " ") != 0) return -1;
  const int64_t n = parse_number(line.substr(word.size() + 1));
  return n <= lines.left() ? n : -1;
}

// "<number>\t<escaped path>".
bool parse_entry(Lines& lines, int64_t& number, std::string& path) {
  std::string line;
  if (!lines.next(line)) return false;
  const size_t tab = line.find('\t');
  if (tab == std::string::npos) return false;
  number = parse_number(line.substr(0, tab));
  return number >= 0 && unescape(line.substr(tab + 1), path);
}

// The cache of a listing (Note [Index cache]).
IndexCache cache_of(const std::string& dir, const ImageIndex& index) {
  IndexCache cache;
  cache.class_names = index.class_names;
  for (const auto& f : index.folders) cache.folders.emplace_back(mtime_ns(f), relative(dir, f));
  for (size_t i = 0; i < index.paths.size(); ++i)
    cache.files.emplace_back(index.labels[i], relative(dir, index.paths[i]));
  return cache;
}

// The cached index if the cache exists, is valid and no listed folder has changed since. One
// that is not valid is named in a warning; another version's is replaced quietly.
bool read_cache(const std::string& path, const std::string& dir, ImageIndex& index) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;  // none yet
  IndexCache cache;
  std::string why;
  try {
    const auto bytes = read_data_file(path, kMaxCacheBytes, "a file-index cache");
    const std::string text(bytes.begin(), bytes.end());
    if (text.rfind(std::string(kCacheName) + " ", 0) == 0 && text.rfind(std::string(kCacheHeader) + "\n", 0) != 0)
      return false;
    parse_index_cache(text, cache, why);
  } catch (const UserError& e) {
    why = e.what();
  }
  if (!why.empty()) {
    log_warn("ignoring the file-index cache {} ({}); listing {} again", path, why, dir);
    return false;
  }
  for (const auto& [mtime, folder] : cache.folders) {
    const std::string full = folder == "." ? dir : dir + "/" + folder;
    if (mtime != mtime_ns(full)) return false;  // changed since: listed again
    index.folders.push_back(full);
  }
  index.class_names = std::move(cache.class_names);
  for (auto& [label, file] : cache.files) {
    index.labels.push_back(label);
    index.paths.push_back(dir + "/" + file);
  }
  return true;
}

}  // namespace

bool is_image_name(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}) {
    if (ext == e) return true;
  }
  return false;
}

std::string index_cache_text(const IndexCache& cache) {
  std::string out = fmt::format("{}\nclasses {}\n", kCacheHeader, cache.class_names.size());
  for (const auto& c : cache.class_names) out += escape(c) + "\n";
  out += fmt::format("folders {}\n", cache.folders.size());
  for (const auto& [mtime, folder] : cache.folders) out += fmt::format("{}\t{}\n", mtime, escape(folder));
  out += fmt::format("files {}\n", cache.files.size());
  for (const auto& [label, file] : cache.files) out += fmt::format("{}\t{}\n", label, escape(file));
  return out;
}

bool parse_index_cache(const std::string& text, IndexCache& cache, std::string& why) {
  cache = IndexCache{};
  const auto fail = [&](std::string reason) {
    why = std::move(reason);
    cache = IndexCache{};
    return false;
  };
  Lines lines(text);
  std::string line, name;
  if (!lines.next(line) || line != kCacheHeader) return fail(fmt::format("its first line is not '{}'", kCacheHeader));
  const int64_t classes = parse_count(lines, "classes");
  if (classes < 2 || classes > kMaxClasses) return fail("no valid 'classes N' line (at least 2 classes)");
  for (int64_t c = 0; c < classes; ++c) {
    lines.next(line);  // there are enough lines: parse_count checked
    if (!unescape(line, name) || !valid_name(name)) return fail(fmt::format("class {} has no valid name", c));
    if (c > 0 && !(cache.class_names.back() < name)) return fail("class names are not sorted and unique");
    cache.class_names.push_back(name);
  }
  const auto class_of = [&](const std::string& path) -> int64_t {  // the class folder a path is in, else -1
    const auto it =
        std::lower_bound(cache.class_names.begin(), cache.class_names.end(), path.substr(0, path.find('/')));
    return it != cache.class_names.end() && *it == path.substr(0, path.find('/')) ? it - cache.class_names.begin() : -1;
  };
  const int64_t folders = parse_count(lines, "folders");
  if (folders < 1 + classes) return fail("no valid 'folders K' line (the split's and each class's at least)");
  std::set<std::string> folder_set;
  for (int64_t f = 0; f < folders; ++f) {
    int64_t mtime = 0;
    if (!parse_entry(lines, mtime, name) || mtime == 0) return fail(fmt::format("folder line {} is not valid", f + 1));
    const bool ok = f == 0 ? name == "." : valid_relative(name) && class_of(name) >= 0;
    if (!ok || !folder_set.insert(name).second)
      return fail(fmt::format("folder line {} is not a folder of the split, or is listed twice", f + 1));
    cache.folders.emplace_back(mtime, name);
  }
  const int64_t files = parse_count(lines, "files");
  if (files < classes) return fail("no valid 'files M' line (a file per class at least)");
  std::vector<int64_t> per_class(static_cast<size_t>(classes));
  for (int64_t i = 0; i < files; ++i) {
    int64_t label = 0;
    if (!parse_entry(lines, label, name) || label >= classes)
      return fail(fmt::format("file line {} is not valid", i + 1));
    const size_t slash = name.rfind('/');
    if (!valid_relative(name) || class_of(name) != label || !is_image_name(name) || slash == std::string::npos ||
        folder_set.count(name.substr(0, slash)) == 0)
      return fail(fmt::format("file line {} is not an image in its class's listed folders", i + 1));
    if (i > 0) {  // listing order: by label, then (folder, name)
      const auto& [prev_label, prev] = cache.files.back();
      const size_t prev_slash = prev.rfind('/');
      const auto key = std::make_pair(name.substr(0, slash), name.substr(slash + 1));
      const auto prev_key = std::make_pair(prev.substr(0, prev_slash), prev.substr(prev_slash + 1));
      if (label < prev_label || (label == prev_label && !(prev_key < key)))
        return fail(fmt::format("file line {} is out of order or repeated", i + 1));
    }
    ++per_class[static_cast<size_t>(label)];
    cache.files.emplace_back(label, name);
  }
  if (std::count(per_class.begin(), per_class.end(), 0) > 0) return fail("a class has no file");
  if (!lines.done()) return fail("text follows the last file");
  why.clear();
  return true;
}

ImageIndex index_split(const std::string& root, const std::string& split, bool skip_bad) {
  const std::string dir = root + "/" + split;
  const std::string cache = root + "/.ringtrain-index/" + split + ".tsv";
  ImageIndex index;
  if (read_cache(cache, dir, index)) return index;
  index = ImageIndex{};
  try {
    index = list_split(dir, skip_bad);
  } catch (const fs::filesystem_error& e) {
    throw UserError(fmt::format("{}: cannot be listed ({}); check that it exists and can be read",
                                e.path1().empty() ? dir : e.path1().string(), e.code().message()));
  }
  // Files left out are to be named again next time: such a listing is not cached.
  if (!index.skipped.empty()) return index;
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
    write_file_atomic(cache, index_cache_text(cache_of(dir, index)));
  } catch (const UserError& e) {
    log_info("not caching the file index of {} ({}); it will be listed again next time", dir, e.what());
  }
  return index;
}

}  // namespace rt
