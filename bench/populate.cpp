// Fills an authd database with many users and WebAuthn keys, through the store's own write
// path (the same inserts registration makes), for the memory and start-up figures of
// docs/PERFORMANCE.md. Every key shares one real ES256 public key; ids, users and handles are
// distinct. Run it on a stopped authd's database (it is an ordinary writer, so a running authd
// would only wait for it).
//
//   populate --db PATH [--users 1000000] [--keys-per-user 2] [--key-out PEM]
//
// --key-out writes that key's private half (PEM, mode 0600), with which bench/loadgen logs in as
// any of the users (webauthn-login --spread-users).

#include <fcntl.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/log.h"
#include "authd/domain/store.h"
#include "authd/store/sqlite_store.h"
#include "webauthn/test_authenticator.h"

int main(int argc, char** argv) {
  std::string db, key_out;
  long users = 1000000, per_user = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--db") db = argv[i + 1];
    else if (a == "--users") users = std::stol(argv[i + 1]);
    else if (a == "--keys-per-user") per_user = std::stol(argv[i + 1]);
    else if (a == "--key-out") key_out = argv[i + 1];
    else {
      std::fprintf(stderr, "populate: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (db.empty() || users < 1 || per_user < 0) {
    std::fprintf(stderr, "usage: populate --db PATH [--users N] [--keys-per-user K]\n");
    return 2;
  }
  authd::SetLogLevel(authd::LogLevel::kWarn);
  auto store = authd::store::OpenSqliteStore(db);
  if (!store) {
    std::fprintf(stderr, "populate: %s\n", store.error().detail.c_str());
    return 1;
  }
  const authd::webauthn::testing::TestAuthenticator shared_key;
  const authd::Bytes cose = shared_key.CoseKey();
  if (!key_out.empty()) {
    const int fd = ::open(key_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE* f = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
    const bool written = f && PEM_write_PrivateKey(f, shared_key.key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (f) std::fclose(f);
    else if (fd >= 0) ::close(fd);
    if (!written) {
      std::fprintf(stderr, "populate: cannot write the key to %s\n", key_out.c_str());
      return 1;
    }
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const auto start = std::chrono::steady_clock::now();
  constexpr long kBatch = 20000;
  for (long first = 0; first < users; first += kBatch) {
    const long last = std::min(users, first + kBatch);
    authd::Status s = (*store)->Write([&](authd::domain::WriteTx& tx) -> authd::Status {
      for (long n = first; n < last; ++n) {
        authd::domain::User u;
        u.id = authd::Base64UrlEncode(authd::RandomBytes(16));
        u.username = "pop" + std::to_string(n);
        u.display_name = u.username;
        u.created_at = u.updated_at = now;
        AUTHD_RETURN_IF_ERROR(tx.InsertUser(u));
        for (long k = 0; k < per_user; ++k) {
          authd::domain::WebAuthnCredential w;
          w.raw_id = authd::RandomBytes(32);
          w.id = authd::Base64UrlEncode(w.raw_id);
          w.user_id = u.id;
          w.public_key = cose;
          w.alg = -7;
          w.transports = {"usb"};
          w.aaguid = authd::Bytes(16, 0);
          w.fmt = "none";
          w.attestation_type = "none";
          authd::domain::Credential c;
          c.id = w.id;
          c.user_id = u.id;
          c.type = "webauthn";
          c.nickname = "key " + std::to_string(k + 1);
          c.created_at = now;
          AUTHD_RETURN_IF_ERROR(tx.InsertCredential(c));
          AUTHD_RETURN_IF_ERROR(tx.InsertWebAuthnCredential(w));
        }
      }
      return authd::Ok();
    });
    if (!s) {
      std::fprintf(stderr, "populate: %s\n", s.error().detail.c_str());
      return 1;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\rpopulate: %ld of %ld users (%ld keys each), %.0f s", last, users, per_user, secs);
  }
  std::fprintf(stderr, "\n");
  return 0;
}
