// Fetches the CIFAR-10 binary archive (libcurl, resumable), checks its MD5 (OpenSSL) and
// unpacks it (libarchive) into DIR/cifar-10-batches-bin, all or nothing: a failed or
// interrupted run leaves at most DIR/<archive>.ringtrain-part, which the next run resumes. It
// deletes only files it made (Note [Only what it made] in download.cpp). Torch-free.
#pragma once

#include <cstdint>
#include <string>

#include "data/cifar_archive.h"

namespace rt {

// Where the data set lives (Krizhevsky's page) and the MD5 published with it.
inline constexpr const char* kCifar10Url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
inline constexpr const char* kCifar10Md5 = "c32a1d4ab5d03f1284b67883e8d87530";

// The partial download's suffix: a name of ringtrain's own, so that resuming or cleaning up
// never touches a user's "<archive>.part".
inline constexpr const char* kPartSuffix = ".ringtrain-part";

struct DownloadOptions {
  std::string to;                 // folder that will hold cifar-10-batches-bin (created)
  std::string url = kCifar10Url;  // http(s)://, ftp:// or file:///path of the .tar.gz
  std::string md5 = kCifar10Md5;  // expected MD5 of the archive, 32 hex digits
  int timeout_seconds = 60;       // a transfer receiving nothing this long is retried
  int retries = 3;                // retries after a broken transfer (each resumes)
  bool keep_archive = false;      // keep DIR/<archive> after unpacking
};

// Makes `o.to`/cifar-10-batches-bin hold a complete data set and returns its path. Does no
// network I/O when it is already there. Throws UserError (one line: what failed, the fix)
// for anything the user can fix: no network, HTTP errors, checksum mismatch, bad archive.
std::string download_cifar10(const DownloadOptions& o);

// Public for the unit tests:
// The file name the URL names ("…/cifar-10-binary.tar.gz?x=1" -> "cifar-10-binary.tar.gz");
// "cifar-10-binary.tar.gz" when it names none.
std::string archive_name_from_url(const std::string& url);

}  // namespace rt
