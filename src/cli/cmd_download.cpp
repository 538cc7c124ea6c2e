// `ringtrain download`: fetches, verifies and unpacks CIFAR-10 (data/download.h).
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/log.h"
#include "data/download.h"

namespace rt {

CommandRunner add_download_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("download", "Download CIFAR-10 (binary version), check its MD5 and unpack it");
  auto o = std::make_shared<DownloadOptions>();
  cmd->add_option("--to", o->to, "Folder to put cifar-10-batches-bin in (created)")->required();
  cmd->add_option("--url", o->url, "Archive URL: a mirror, or file:///path of a copy downloaded elsewhere")
      ->capture_default_str();
  cmd->add_option("--md5", o->md5, "Expected MD5 of the archive (32 hex digits)")->capture_default_str();
  cmd->add_option("--timeout", o->timeout_seconds, "Seconds without data (or to connect) before a transfer is retried")
      ->capture_default_str();
  cmd->add_option("--retries", o->retries, "Retries after a broken transfer; each resumes where it stopped")
      ->capture_default_str();
  cmd->add_flag("--keep-archive", o->keep_archive, "Keep the .tar.gz after unpacking");
  cmd->footer(
      "Resumes an interrupted download (DIR/<archive>.ringtrain-part), also on a re-run. Without network, download the "
      "archive elsewhere and pass it with --url file:///path/to/cifar-10-binary.tar.gz.\n"
      "Example:\n  ringtrain download --to data && ringtrain train --data data/cifar-10-batches-bin");
  return [o] {
    const std::string data_dir = download_cifar10(*o);
    print_line(fmt::format("CIFAR-10 is in {}; train on it with: ringtrain train --data {}", data_dir, data_dir));
    return 0;
  };
}

}  // namespace rt
