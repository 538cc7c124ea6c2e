// The file index of an image folder split, <split>/<class>/.../<file>: classes sorted by name,
// the files of a class found in its sub-folders too and ordered as torchvision's ImageFolder
// orders them (by folder, then name). Listing a large data set's folders takes long on network
// file systems, so the index is kept in a small cache file beside the data
// (<root>/.ringtrain-index/<split>.tsv) and reused while every listed folder keeps its
// modification time (adding, removing or renaming an entry changes its folder's).
#pragma once

#include <string>
#include <vector>

namespace rt {

struct ImageIndex {
  std::vector<std::string> class_names;  // label = position
  std::vector<std::string> paths;        // one per sample, full paths
  std::vector<int64_t> labels;           // one per sample
  std::vector<std::string> folders;      // every folder listed (the split's, the classes', theirs)
};

// Whether a file name counts as an image: .jpg, .jpeg or .png in any case (as torchvision's
// ImageFolder, which skips other names).
bool is_image_name(const std::string& path);

// Lists (or reads from the cache) <root>/<split>. A file counts as an image by its name
// (.jpg/.jpeg/.png, any case); such a name on something that is not a readable file is a
// UserError naming it, as are fewer than 2 classes, a class without images and a folder that
// cannot be read.
ImageIndex index_split(const std::string& root, const std::string& split);

}  // namespace rt
