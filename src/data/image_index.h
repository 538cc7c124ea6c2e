// The file index of an image folder split, <split>/<class>/.../<file>: classes sorted by name,
// the files of a class found in its sub-folders too and ordered as torchvision's ImageFolder
// orders them (by folder, then name). Listing a large data set's folders takes long on network
// file systems, so the index is kept in a small cache file beside the data
// (<root>/.ringtrain-index/<split>.tsv) and reused while every listed folder keeps its
// modification time (adding, removing or renaming an entry changes its folder's).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rt {

struct ImageIndex {
  std::vector<std::string> class_names;  // label = position
  std::vector<std::string> paths;        // one per sample, full paths
  std::vector<int64_t> labels;           // one per sample
  std::vector<std::string> folders;      // every folder listed (the split's, the classes', theirs)
  std::vector<std::string> skipped;      // with skip_bad: image names left out, "path: why"
};

// Whether a file name counts as an image: torchvision's IMG_EXTENSIONS (.jpg .jpeg .png .ppm .bmp
// .pgm .tif .tiff .webp) in any case, as its ImageFolder, which skips other names.
bool is_image_name(const std::string& path);

// Lists (or reads from the cache) <root>/<split>. A file counts as an image by its name
// (is_image_name); such a name on something that is not a regular file (a link to
// nothing, a FIFO, a device) is a UserError naming it, or with `skip_bad` is left out and named
// in `skipped`. Fewer than 2 classes, a class without images, a folder that cannot be read and a
// folder reached twice through links (a loop) are UserErrors too. A cache that is not valid (see
// parse_index_cache) is ignored with a warning naming it, and the split listed again.
ImageIndex index_split(const std::string& root, const std::string& split, bool skip_bad = false);

// Note [Index cache]: the cache file's content, every path relative to the split folder.
// Text lines: "ringtrain-image-index 4"; "classes N", N class names; "folders K", K lines
// "<mtime ns>\t<folder>" (the first "." the split itself); "files M", M lines
// "<label>\t<path>". Names are percent-escaped (control bytes, DEL and '%' as %XX), so that any
// byte of a file name (a newline, a tab) round-trips.
struct IndexCache {
  std::vector<std::string> class_names;
  std::vector<std::pair<int64_t, std::string>> folders;  // {modification time in ns, folder}
  std::vector<std::pair<int64_t, std::string>> files;    // {label, path}
};

std::string index_cache_text(const IndexCache& cache);

// Parses and checks a cache file's text: the header, counts that the text holds, class names
// sorted and unique, every path relative to the split without "." or ".." components, each file
// an image name inside its label's class folder and in a listed folder, labels in range, files
// in listing order, every class with a file. False with the reason in `why` when any of it fails
// (never throws for any text).
bool parse_index_cache(const std::string& text, IndexCache& cache, std::string& why);

}  // namespace rt
