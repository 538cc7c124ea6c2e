// Implements data/download.h in three phases: fetch (libcurl, resumable .ringtrain-part file),
// verify (MD5 over the whole file), unpack (data/cifar_archive.h: a temporary folder, then
// one rename). See Note [Resuming] and Note [All or nothing].
#include "data/download.h"

#include <curl/curl.h>  // defines: curl_easy_*, curl_url_* (the transfer)

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"

namespace rt {

namespace fs = std::filesystem;

namespace {

// "170.5 MB", or "5,000 bytes" below 1 MB.
std::string megabytes(int64_t bytes) {
  if (bytes < 1000000) return with_thousands(bytes) + " bytes";
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

// ---- verify ------------------------------------------------------------------------------

// Throws (and deletes `path` when `delete_on_mismatch`) unless its MD5 is `expected`.
void verify_md5(const std::string& path, const std::string& expected, const std::string& url, bool delete_on_mismatch) {
  const std::string got = md5_hex_of_file(path);
  if (got == expected) {
    log_info("checksum (MD5) {} matches", got);
    return;
  }
  std::error_code ec;
  if (delete_on_mismatch) fs::remove(path, ec);
  throw UserError(
      fmt::format("checksum (MD5) mismatch for {} (from {}): expected {}, got {}{}; re-run to download it "
                  "again, or pass --url a mirror (and --md5 HEX if it is a different archive)",
                  path, url, expected, got, delete_on_mismatch ? "; the file was deleted" : ""));
}

// ---- fetch -------------------------------------------------------------------------------

// libcurl's global state is set up once per process and never torn down (the process ends).
void init_curl_once() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) throw std::runtime_error(fmt::format("curl_global_init: {}", curl_easy_strerror(code)));
}

// Where the body goes, and what progress has been reported.
struct Sink {
  std::FILE* file = nullptr;
  int64_t resume_from = 0;  // bytes already in the .part file before this attempt
  int write_errno = 0;      // why writing the .part failed (e.g. ENOSPC); 0 if it did not
  int64_t last_mark = -1;   // the last tenth (or 16 MB step) printed
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t bytes = size * count;
  if (std::fwrite(data, 1, bytes, sink->file) != bytes) {
    sink->write_errno = errno;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  return bytes;
}

// Prints a line at each tenth of the archive (each 16 MB when the size is unknown), not per
// chunk: a log of a 170 MB download stays about ten lines long.
int report_progress(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* sink = static_cast<Sink*>(user);
  if (dlnow == 0) return 0;  // the body has not started: dltotal is not known yet
  const int64_t have = sink->resume_from + dlnow;
  const int64_t total = dltotal > 0 ? sink->resume_from + dltotal : 0;
  const int64_t mark = total > 0 ? have * 10 / total : have / (16 << 20);
  if (mark <= sink->last_mark) return 0;
  sink->last_mark = mark;
  if (total > 0) {
    log_info("  {} of {} ({}%)", megabytes(have), megabytes(total), have * 100 / total);
  } else {
    log_info("  {}", megabytes(have));
  }
  return 0;
}

// What one transfer attempt ended with.
struct Attempt {
  CURLcode code = CURLE_OK;
  long http_status = 0;  // 0 for file://
  bool connected = false;
  std::string error;  // curl's text, with the detail from its error buffer
  int write_errno = 0;
};

// One GET of `url`, appending to `part` from its current size (Note [Resuming]).
Attempt transfer_once(const DownloadOptions& o, const std::string& part) {
  Sink sink;
  sink.resume_from = file_size_or_zero(part);
  sink.file = std::fopen(part.c_str(), "ab");
  RT_CHECK_USER(sink.file != nullptr,
                "cannot open {} for writing: {}; check the folder's permissions or choose another --to", part,
                std::strerror(errno));
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    std::fclose(sink.file);
    throw std::runtime_error("curl_easy_init failed");
  }
  CURL* h = curl.get();
  char error_buffer[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h, CURLOPT_URL, o.url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, report_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &sink);
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);     // HTTP >= 400: an error, not a body to save
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);  // mirrors redirect
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "ringtrain");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts
  // Nothing may hang: a connection must open within the timeout (30 s at most), and a
  // transfer that receives nothing for --timeout seconds is abandoned (and retried).
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(std::min(o.timeout_seconds, 30)));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.timeout_seconds));
  if (sink.resume_from > 0) {
    curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(sink.resume_from));
  }

  Attempt a;
  a.code = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.http_status);
  curl_off_t connect_us = 0;
  curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
  a.connected = a.http_status > 0 || connect_us > 0;  // the connect time may read 0 on loopback
  a.error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(a.code);
  a.write_errno = sink.write_errno;
  if (std::fclose(sink.file) != 0 && a.write_errno == 0) a.write_errno = errno;
  if (file_size_or_zero(part) == 0) std::remove(part.c_str());  // nothing to resume: leave no litter
  return a;
}

bool is_unreachable(const Attempt& a) {
  return a.code == CURLE_COULDNT_RESOLVE_HOST || a.code == CURLE_COULDNT_RESOLVE_PROXY ||
         a.code == CURLE_COULDNT_CONNECT || (a.code == CURLE_OPERATION_TIMEDOUT && !a.connected);
}

// Errors another attempt cannot fix (a bad URL, a refused certificate, a missing file).
bool is_permanent(CURLcode code) {
  return code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT || code == CURLE_PEER_FAILED_VERIFICATION ||
         code == CURLE_SSL_CACERT_BADFILE || code == CURLE_LOGIN_DENIED || code == CURLE_REMOTE_FILE_NOT_FOUND ||
         code == CURLE_FILE_COULDNT_READ_FILE || code == CURLE_TOO_MANY_REDIRECTS;
}

// Note [Resuming]
// Every attempt appends to DIR/<archive>.ringtrain-part from its current size with a Range request
// (CURLOPT_RESUME_FROM_LARGE), so a dropped connection, and a re-run after Ctrl-C, continue
// where they stopped. A server that ignores the Range answers 200 with the whole body:
// libcurl then stops with CURLE_RANGE_ERROR before writing anything, and we truncate the
// .part and start from zero rather than append a full body to a partial file. A .part that
// is already complete (a run killed before the rename) gets 416, or a 200 of the same size
// that libcurl reports as done; both go on to the check.
// Whatever was fetched, the MD5 check decides whether it is the archive.
void fetch(const DownloadOptions& o, const std::string& part) {
  init_curl_once();
  int failures = 0;
  for (;;) {
    const int64_t have = file_size_or_zero(part);
    if (have > 0) {
      log_info("resuming {} into {} from {}", o.url, part, megabytes(have));
    } else {
      log_info("downloading {} to {}", o.url, part);
    }
    const Attempt a = transfer_once(o, part);
    if (a.code == CURLE_OK) {
      log_info("downloaded {} ({})", part, megabytes(file_size_or_zero(part)));
      return;
    }
    if (a.code == CURLE_HTTP_RETURNED_ERROR && a.http_status == 416 && have > 0) {
      log_info("the server has nothing past {}: the partial download is complete", megabytes(have));
      return;
    }
    RT_CHECK_USER(a.write_errno == 0,
                  "cannot write {}: {}; free some space (the archive is ~170 MB, unpacked ~185 MB) or choose "
                  "another --to, then re-run to resume",
                  part, std::strerror(a.write_errno));
    if ((a.code == CURLE_RANGE_ERROR || a.code == CURLE_BAD_DOWNLOAD_RESUME) && have > 0) {
      log_warn("{} cannot resume at {} ({}); starting again from zero", o.url, megabytes(have), a.error);
      std::FILE* truncated = std::fopen(part.c_str(), "wb");
      RT_CHECK_USER(truncated != nullptr, "cannot truncate {}: {}", part, std::strerror(errno));
      std::fclose(truncated);
      continue;  // not a failure of the transfer: the next attempt requests the whole file
    }
    RT_CHECK_USER(!is_unreachable(a),
                  "cannot reach {}: {}; there may be no network here. Download {} on a machine that has it "
                  "and pass it with --url file:///path/to/{}, or use a mirror with --url URL",
                  o.url, a.error, archive_name_from_url(o.url), archive_name_from_url(o.url));
    RT_CHECK_USER(!(a.code == CURLE_HTTP_RETURNED_ERROR && a.http_status < 500),
                  "{} answered HTTP {}; check the URL (the default is {}), or pass a mirror with --url URL "
                  "(and --md5 HEX if it is a different archive)",
                  o.url, a.http_status, kCifar10Url);
    RT_CHECK_USER(!is_permanent(a.code),
                  "cannot download {}: {}; check the URL (file:///absolute/path for a local file)", o.url, a.error);
    // A broken transfer (dropped connection, stall, server error): retry, resuming.
    if (++failures > o.retries) {
      throw UserError(
          fmt::format("download of {} failed after {} attempt{}, last: {}; {} are kept in {}: re-run to resume, raise "
                      "--retries or --timeout, or download the archive elsewhere and pass --url file:///path",
                      o.url, failures, failures == 1 ? "" : "s", a.error, megabytes(file_size_or_zero(part)), part));
    }
    const int wait_seconds = std::min(failures, 5);
    log_warn("transfer broke at {} ({}); retry {} of {} in {} s", megabytes(file_size_or_zero(part)), a.error, failures,
             o.retries, wait_seconds);
    std::this_thread::sleep_for(std::chrono::seconds(wait_seconds));
  }
}

// The local path a file:// URL names ("" for other URLs), to never overwrite or delete the
// user's own copy of the archive when it already sits at DIR/<archive>.
std::string local_path_of(const std::string& url) {
  if (url.rfind("file://", 0) != 0) return "";
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
  char* path = nullptr;
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
    return "";
  }
  std::string out = path;
  curl_free(path);
  return out;
}

}  // namespace

std::string archive_name_from_url(const std::string& url) {
  const std::string kDefault = "cifar-10-binary.tar.gz";
  const std::string path = url.substr(0, url.find_first_of("?#"));
  const size_t scheme = path.find("://");
  // "https://host" names no file: the path starts at the first '/' after the host.
  if (scheme != std::string::npos && path.find('/', scheme + 3) == std::string::npos) return kDefault;
  const std::string name = path.substr(path.find_last_of('/') + 1);  // npos + 1 == 0: no slash
  return name.empty() || name == "." || name == ".." ? kDefault : name;
}

// ---- the command -------------------------------------------------------------------------

std::string download_cifar10(const DownloadOptions& o) {
  RT_CHECK_USER(is_md5_hex(o.md5), "--md5 '{}' is not an MD5: expected 32 hex digits, e.g. {}", o.md5, kCifar10Md5);
  RT_CHECK_USER(o.url.find("://") != std::string::npos,
                "--url '{}' has no scheme: expected https://..., http://... or file:///absolute/path", o.url);
  RT_CHECK_USER(o.timeout_seconds > 0, "--timeout {} must be positive (seconds)", o.timeout_seconds);
  RT_CHECK_USER(o.retries >= 0, "--retries {} must be 0 or more", o.retries);
  std::string expected_md5 = o.md5;
  std::transform(expected_md5.begin(), expected_md5.end(), expected_md5.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

  std::string to = o.to;  // "data/" -> "data", so messages name "data/cifar-10-batches-bin"
  while (to.size() > 1 && to.back() == '/') to.pop_back();
  const std::string data_dir = to + "/" + kCifarFolderName;
  if (dir_exists(data_dir)) {
    const std::string problem = cifar_layout_problem(data_dir);
    RT_CHECK_USER(problem.empty(),
                  "{} exists but is not a complete CIFAR-10 data set ({}); move it away or delete it, "
                  "then re-run",
                  data_dir, problem);
    log_info("{} already holds CIFAR-10 ({}); nothing to download", data_dir, describe_cifar_folder(data_dir));
    return data_dir;
  }
  make_dirs(to);

  // Note [Only what it made]: ringtrain deletes only files it made: its own partial download
  // DIR/<archive>.ringtrain-part (this run's, or an interrupted run's that it resumes). A file
  // already at DIR/<archive> is the user's: used in place if it is the archive (never deleted),
  // left alone if it is not.
  const std::string archive = to + "/" + archive_name_from_url(o.url);
  const std::string part = archive + kPartSuffix;
  std::error_code ec;
  const std::string source = local_path_of(o.url);
  std::string unpack_from = archive;  // what is unpacked: the user's file, or our own download
  const bool archive_is_source = !source.empty() && fs::equivalent(source, archive, ec);
  if (archive_is_source) {
    verify_md5(archive, expected_md5, o.url, /*delete_on_mismatch=*/false);
  } else if (file_exists(archive) && md5_hex_of_file(archive) == expected_md5) {
    log_info("using {} (checksum matches); it is kept", archive);  // an earlier --keep-archive, or the user's copy
  } else {
    RT_CHECK_USER(!o.keep_archive || !file_exists(archive),
                  "--keep-archive would replace {}, which is not the archive: move it away or choose another --to",
                  archive);
    if (file_exists(archive)) {
      log_warn("{} is not the archive (its MD5 is not {}); leaving it as it is and downloading to {}", archive,
               expected_md5, part);
    }
    fetch(o, part);
    verify_md5(part, expected_md5, o.url, /*delete_on_mismatch=*/true);
    unpack_from = part;
  }

  // A failed run leaves no archive of its own: a verified download that does not unpack is
  // deleted (downloading it again would not help); the user's files stay.
  const bool ours = unpack_from == part;
  try {
    unpack_cifar_archive(unpack_from, to, data_dir);
  } catch (const UserError&) {
    if (ours) fs::remove(part, ec);
    throw;
  }
  if (ours && o.keep_archive) {
    RT_CHECK_USER(std::rename(part.c_str(), archive.c_str()) == 0, "cannot rename {} to {}: {}", part, archive,
                  std::strerror(errno));
  } else if (ours) {
    fs::remove(part, ec);
  }
  return data_dir;
}

}  // namespace rt
