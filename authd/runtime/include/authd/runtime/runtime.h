// Opens everything a process needs to serve or administer authd: the store, the master key,
// the services. authd and authctl both start here, so they always agree on the store.
#pragma once

#include <memory>

#include "authd/base/clock.h"
#include "authd/domain/core.h"
#include "authd/domain/otp_service.h"
#include "authd/domain/webauthn_service.h"
#include "authd/runtime/config.h"

namespace authd::runtime {

struct Runtime {
  Config config;
  std::unique_ptr<Clock> clock;
  std::unique_ptr<domain::Store> store;
  std::unique_ptr<domain::Keyring> keyring;
  std::unique_ptr<domain::Core> core;
  std::unique_ptr<domain::WebAuthnService> webauthn;
  std::unique_ptr<domain::OtpService> otp;
};

// Opens the store and the master key. A new, empty store gets a freshly generated master key
// (written 0600); an existing store refuses a missing or wrong key with a sentence that says
// which file to restore. Creates the first signing key if there is none.
Result<std::unique_ptr<Runtime>> OpenRuntime(const Config& config);

// Reads a master key file (64 hex characters). kInvalidArgument with the reason.
Result<SecretBytes> ReadMasterKey(const std::string& path);
// Writes a new master key with mode 0600: temporary file, fsync, rename, fsync of the folder.
Status WriteMasterKey(const std::string& path, const SecretBytes& key);

domain::CoreOptions CoreOptionsFrom(const Config& config);
// kInvalidArgument when a trust anchor file cannot be read.
Result<domain::WebAuthnOptions> WebAuthnOptionsFrom(const Config& config);
domain::OtpOptions OtpOptionsFrom(const Config& config);

}  // namespace authd::runtime
