// Reader for an image folder: <dir>/<split>/<class>/*.jpg|*.jpeg|*.png, classes sorted by name
// (as torchvision's ImageFolder does). JPEGs are decoded with libjpeg-turbo, PNGs with
// libpng's simplified API. Every image must be 32x32 and in colour.
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "core/errors.h"
#include "core/files.h"
#include "data/dataset.h"

namespace rt {

namespace fs = std::filesystem;

namespace {

constexpr int kSide = 32;
constexpr int64_t kPixels = 3 * kSide * kSide;

struct ImageFile {
  std::string path;
  int64_t label;
};

std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// Decodes one file into 32*32*3 interleaved RGB bytes at `rgb`.
void decode_jpeg(tjhandle tj, const std::string& path, const std::vector<unsigned char>& bytes, uint8_t* rgb) {
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  RT_CHECK_USER(tjDecompressHeader3(tj, bytes.data(), bytes.size(), &width, &height, &subsamp, &colorspace) == 0 &&
                    width > 0 && height > 0,
                "{}: not a decodable JPEG ({}); replace or remove the file", path, tjGetErrorStr2(tj));
  RT_CHECK_USER(width == kSide && height == kSide, "{}: image is {}x{}, expected 32x32; resize it or remove it", path,
                width, height);
  RT_CHECK_USER(colorspace != TJCS_GRAY && colorspace != TJCS_CMYK && colorspace != TJCS_YCCK,
                "{}: image is not RGB (JPEG colour space {}); convert it to RGB", path, colorspace);
  RT_CHECK_USER(tjDecompress2(tj, bytes.data(), bytes.size(), rgb, kSide, 0, kSide, TJPF_RGB, TJFLAG_ACCURATEDCT) == 0,
                "{}: JPEG data is corrupt ({}); replace or remove the file", path, tjGetErrorStr2(tj));
}

void decode_png(const std::string& path, const std::vector<unsigned char>& bytes, uint8_t* rgb) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  const bool header_ok = png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0;
  std::unique_ptr<png_image, void (*)(png_imagep)> guard(&image, png_image_free);
  RT_CHECK_USER(header_ok, "{}: not a decodable PNG ({}); replace or remove the file", path, image.message);
  RT_CHECK_USER(image.width == kSide && image.height == kSide,
                "{}: image is {}x{}, expected 32x32; resize it or remove it", path, image.width, image.height);
  RT_CHECK_USER((image.format & PNG_FORMAT_FLAG_COLOR) != 0, "{}: image is greyscale, expected RGB; convert it to RGB",
                path);
  image.format = PNG_FORMAT_RGB;
  RT_CHECK_USER(png_image_finish_read(&image, nullptr, rgb, 0, nullptr) != 0,
                "{}: PNG data is corrupt ({}); replace or remove the file", path, image.message);
}

// Lists <dir>/<class>/* images; classes sorted by name, files sorted by name.
std::vector<ImageFile> list_split(const std::string& dir, std::vector<std::string>& class_names) {
  class_names.clear();
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) class_names.push_back(entry.path().filename().string());
  }
  std::sort(class_names.begin(), class_names.end());
  RT_CHECK_USER(class_names.size() >= 2, "{}: expected one sub-folder per class (at least 2), found {}", dir,
                class_names.size());
  std::vector<ImageFile> files;
  for (size_t label = 0; label < class_names.size(); ++label) {
    std::vector<std::string> paths;
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / class_names[label])) {
      const std::string ext = lower_extension(entry.path());
      if (ext != ".jpg" && ext != ".jpeg" && ext != ".png") continue;  // not an image, as torchvision's ImageFolder
      // An image's name on something that is not a file (a dangling link, a folder) is a problem
      // with the data, not a file to skip quietly.
      RT_CHECK_USER(
          entry.is_regular_file(), "{}: named as an image but not a readable file ({}); fix or remove it",
          entry.path().string(),
          entry.is_symlink() && !fs::exists(entry.path()) ? "a symbolic link to nothing" : "not a regular file");
      paths.push_back(entry.path().string());
    }
    RT_CHECK_USER(!paths.empty(), "{}/{}: class folder holds no .jpg/.jpeg/.png images", dir, class_names[label]);
    std::sort(paths.begin(), paths.end());
    for (auto& p : paths) files.push_back({std::move(p), static_cast<int64_t>(label)});
  }
  return files;
}

Dataset read_split(const std::string& dir) {
  Dataset d;
  const std::vector<ImageFile> files = list_split(dir, d.class_names);
  const auto n = static_cast<int64_t>(files.size());
  auto hwc = torch::empty({n, kSide, kSide, 3}, torch::kUInt8);
  uint8_t* out = hwc.data_ptr<uint8_t>();
  // Decoding is independent per file: spread it over the intra-op threads, one TurboJPEG
  // handle per chunk. A UserError thrown in a chunk is rethrown here by parallel_for.
  at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
    std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), tjDestroy);
    TORCH_INTERNAL_ASSERT(tj != nullptr, "tjInitDecompress failed");
    for (int64_t i = begin; i < end; ++i) {
      const auto& f = files[static_cast<size_t>(i)];
      const auto bytes = read_file_bytes(f.path);
      if (lower_extension(f.path) == ".png") {
        decode_png(f.path, bytes, out + i * kPixels);
      } else {
        decode_jpeg(tj.get(), f.path, bytes, out + i * kPixels);
      }
    }
  });
  d.images = hwc.permute({0, 3, 1, 2}).contiguous();  // -> [N, 3, 32, 32]
  std::vector<int64_t> labels(files.size());
  std::transform(files.begin(), files.end(), labels.begin(), [](const ImageFile& f) { return f.label; });
  d.labels = torch::tensor(labels, torch::kInt64);
  return d;
}

}  // namespace

DataSplits read_image_folder(const std::string& dir) {
  for (const char* split : {"train", "test"}) {
    RT_CHECK_USER(dir_exists(dir + "/" + split), "{}: image-folder split '{}' is missing; expected {}/{}/<class>/*.jpg",
                  dir, split, dir, split);
  }
  DataSplits s;
  s.train = read_split(dir + "/train");
  s.test = read_split(dir + "/test");
  RT_CHECK_USER(s.train.class_names == s.test.class_names,
                "{}: train and test hold different class folders ({} vs {} classes); both "
                "splits need the same <class> sub-folders",
                dir, s.train.class_names.size(), s.test.class_names.size());
  s.format = "image-folder";
  s.root = dir;
  return s;
}

}  // namespace rt
