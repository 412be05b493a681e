// authctl backup FILE | restore FILE: online, consistent copies sealed with the master key.

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "authd/base/crypto.h"
#include "authd/store/sqlite_store.h"
#include "cli.h"
#include "authd/base/files.h"

namespace authctl {
namespace {

constexpr std::string_view kMagic = "AUTHD-BACKUP-1\n";
constexpr std::string_view kContext = "backup:sqlite:v1";

}  // namespace

void RegisterBackupCommands(CLI::App& app, Context& ctx) {
  {
    auto* backup = app.add_subcommand("backup", "write a consistent copy of the store, sealed with the master key");
    auto file = std::make_shared<std::string>();
    backup->add_option("FILE", *file, "where to write the backup")->required();
    backup->callback([&ctx, file] {
      auto& rt = ctx.Runtime();
      std::fprintf(stderr, "authctl: taking a snapshot of %s ...\n", rt.store->Describe().c_str());
      authd::Bytes image = Check(rt.store->Snapshot());
      authd::Bytes sealed = rt.keyring->Seal(image, kContext);
      OPENSSL_cleanse(image.data(), image.size());
      std::string out(kMagic);
      out.append(reinterpret_cast<const char*>(sealed.data()), sealed.size());
      Check(authd::WriteFileDurably(*file, authd::AsBytes(out)));
      std::printf("backup of %zu bytes written to %s; it opens only with %s\n", out.size(), file->c_str(),
                  rt.config.master_key_file.c_str());
    });
  }
  {
    auto* restore = app.add_subcommand(
        "restore", "replace the store with a backup (stop authd first); needs the same master key");
    auto file = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    restore->add_option("FILE", *file, "a file written by authctl backup")->required();
    restore->add_flag("--force", *force, "overwrite an existing database");
    restore->callback([&ctx, file, force] {
      auto config = authd::runtime::LoadConfig(ctx.config_file, authd::runtime::ProcessEnvironment());
      if (!config) throw Failure{config.error().detail};
      if (config->db.rfind("postgres", 0) == 0) throw Failure{"restore works on a SQLite store only"};
      if (::access(config->db.c_str(), F_OK) == 0 && !*force) {
        throw Failure{config->db + " exists; stop authd, then run again with --force to replace it"};
      }
      auto key = authd::runtime::ReadMasterKey(config->master_key_file);
      if (!key) throw Failure{key.error().detail + "; restore the master key file first"};
      authd::domain::Keyring keyring(*key);
      auto read = authd::ReadWholeFile(*file);
      if (!read) throw Failure{"cannot read " + *file};
      const std::string& data = *read;
      if (data.compare(0, kMagic.size(), kMagic) != 0) throw Failure{*file + " is not an authd backup"};
      auto sealed = authd::AsBytes(std::string_view(data).substr(kMagic.size()));
      auto image = keyring.Open(sealed, kContext);
      if (!image) {
        throw Failure{"the backup does not open with the master key in " + config->master_key_file +
                      "; use the key file of the server that made it"};
      }
      Check(authd::store::WriteSqliteImage(image->view(), config->db));
      std::printf("restored %s from %s; start authd\n", config->db.c_str(), file->c_str());
    });
  }
}

}  // namespace authctl
