// Session tokens: JWT access tokens (RFC 9068 profile) signed with ES256 or EdDSA, every one
// recorded so that introspection (RFC 7662) and revocation (RFC 7009) are exact.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "authd/base/clock.h"
#include "authd/base/crypto.h"
#include "authd/domain/keyring.h"
#include "authd/domain/store.h"

namespace authd::domain {

struct TokenOptions {
  std::string issuer = "http://localhost:8080";
  std::string default_audience = "http://localhost:8080";
  int64_t ttl_seconds = 300;
  JwsAlg alg = JwsAlg::kES256;
  // How long a retired signing key stays in the JWKS: at least the longest token lifetime.
  int64_t key_overlap_seconds = 3600;
};

struct IssuedToken {
  std::string access_token;
  TokenRecord record;
};

// Thread-safe: the signing keys sit behind a shared mutex and are reloaded from the store
// when they are older than the reload interval (so a rotation by another node or by authctl
// is picked up).
class TokenService {
 public:
  TokenService(Store& store, const Keyring& keyring, const Clock& clock, TokenOptions options);

  // Creates the first signing key if the store has none that signs, then loads the keys.
  Status Init();
  // Retires the signing key (it stays in the JWKS for key_overlap_seconds) and starts a new one.
  // Returns the new kid. Call Refresh() after the transaction commits.
  Result<std::string> Rotate(WriteTx& tx);
  // Reloads the signing keys from the store now.
  Status Refresh() { return Reload(); }

  // RFC 7517 key set of the signing key and every retired key still in its overlap window.
  Result<std::string> JwksJson();

  // Mints and records a token inside the caller's transaction. `client_id` empty means the
  // token's audience is the default audience (authd itself and its admin API).
  Result<IssuedToken> Issue(WriteTx& tx, const User& user, std::string_view credential_id,
                            std::string_view client_id, const std::vector<std::string>& amr,
                            int64_t auth_time);
  // The two halves of Issue, for the hot paths: the signature is made before the write, so the
  // store's group-commit leader (which runs every queued write) does not sign for the others.
  // A minted token is valid for nothing until Record has committed (introspection finds it only
  // then, and it is handed out only then).
  Result<IssuedToken> Mint(const User& user, std::string_view credential_id, std::string_view client_id,
                           const std::vector<std::string>& amr, int64_t auth_time);
  static Status Record(WriteTx& tx, const IssuedToken& token);

  // The record of a token if it is well-formed and was issued by us (looked up by its jti, then
  // its SHA-256 compared with the stored one, so a token with any byte changed is unknown). Says nothing about expiry or revocation.
  Result<std::optional<TokenRecord>> Find(ReadTx& tx, std::string_view token) const;
  // Whether `token` is the one `record` was stored for (its SHA-256, compared in constant time).
  static bool IsRecordOf(const TokenRecord& record, std::string_view token);
  // Unrevoked and within [issued_at, expires_at).
  bool IsLive(const TokenRecord& record) const;

  const TokenOptions& options() const { return options_; }

 private:
  struct KeySet {
    std::string active_kid;
    std::shared_ptr<SigningKey> active;
    std::string header_b64;  // the active key's JWS header, base64url: the same for every token
    std::string jwks;
    std::chrono::steady_clock::time_point loaded;
  };
  Status Reload();
  Result<std::shared_ptr<const KeySet>> Keys();
  SigningKeyRecord NewKeyRecord(const SigningKey& key, std::string kid) const;

  Store& store_;
  const Keyring& keyring_;
  const Clock& clock_;
  TokenOptions options_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<const KeySet> keys_;
};

// Cheap structural check of a compact JWS (three base64url segments, bounded length).
bool LooksLikeJws(std::string_view token);

// Longest jti accepted from a token's payload (ours are 26 characters; older ones 22).
inline constexpr size_t kMaxJtiLength = 64;

// A token id that sorts as its issue time does, so new records land together at the end of the
// store's token table: 48 bits of milliseconds then 80 random bits, in Crockford's base32
// (26 characters, the ULID layout).
std::string NewJti(int64_t now_millis);
// The first ten characters of every jti NewJti makes at `millis`; jtis made earlier sort below it.
std::string JtiTimePrefix(int64_t millis);

// The "jti" claim of a compact JWS, read from its payload without verifying anything: a lookup
// key only. Nothing if the token is malformed or the claim absent, empty, too long or not
// made of base64url characters.
std::optional<std::string> JtiOf(std::string_view token);

}  // namespace authd::domain
