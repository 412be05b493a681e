#include "authd/domain/tokens.h"

#include <algorithm>
#include <mutex>

#include "authd/base/encoding.h"
#include "authd/base/json.h"
#include "authd/base/log.h"

namespace authd::domain {
namespace {

constexpr auto kReloadInterval = std::chrono::seconds(30);
constexpr size_t kMaxTokenLength = 8192;

std::string SealContext(std::string_view kid) { return "signing_key:" + std::string(kid); }

Result<JwsAlg> AlgFromName(std::string_view name) {
  if (name == "ES256") return JwsAlg::kES256;
  if (name == "EdDSA") return JwsAlg::kEdDSA;
  return Err(ErrorCode::kInternal, "stored signing key has an unknown algorithm");
}

}  // namespace

std::string JtiTimePrefix(int64_t millis) {
  std::string out(10, '0');
  auto ms = static_cast<uint64_t>(std::max<int64_t>(millis, 0)) & ((uint64_t{1} << 48) - 1);
  for (int i = 9; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kCrockfordBase32Alphabet[ms & 31];
    ms >>= 5;
  }
  return out;
}

std::string NewJti(int64_t now_millis) {
  // 80 random bits: 16 characters.
  return JtiTimePrefix(now_millis) + CrockfordBase32Encode(RandomBytes(10));
}

std::optional<std::string> JtiOf(std::string_view token) {
  if (!LooksLikeJws(token)) return std::nullopt;
  const size_t first = token.find('.');
  const size_t second = token.find('.', first + 1);
  auto payload = Base64UrlDecode(token.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  // Only a hint for the lookup: the record found must still match the whole token's hash, so a
  // forged payload can at worst name some other token, which then does not match.
  static constexpr std::string_view kKey = "\"jti\":\"";
  std::string_view text(reinterpret_cast<const char*>(payload->data()), payload->size());
  const size_t at = text.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t begin = at + kKey.size();
  const size_t end = text.find('"', begin);
  if (end == std::string_view::npos || end == begin || end - begin > kMaxJtiLength) return std::nullopt;
  std::string jti(text.substr(begin, end - begin));
  for (char c : jti) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return std::nullopt;
  }
  return jti;
}

bool LooksLikeJws(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenLength) return false;
  int dots = 0;
  for (char c : token) {
    if (c == '.') {
      ++dots;
      continue;
    }
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return dots == 2;
}

TokenService::TokenService(Store& store, const Keyring& keyring, const Clock& clock, TokenOptions options)
    : store_(store), keyring_(keyring), clock_(clock), options_(std::move(options)) {
  options_.key_overlap_seconds = std::max(options_.key_overlap_seconds, options_.ttl_seconds + 60);
}

SigningKeyRecord TokenService::NewKeyRecord(const SigningKey& key, std::string kid) const {
  SigningKeyRecord rec;
  rec.kid = std::move(kid);
  rec.alg = std::string(JwsAlgName(key.alg()));
  rec.public_jwk = "{" + key.PublicJwkFields() + ",\"kid\":\"" + rec.kid + "\",\"alg\":\"" + rec.alg +
                   "\",\"use\":\"sig\"}";
  SecretBytes der = key.PrivateDer();
  rec.private_sealed = keyring_.Seal(der.view(), SealContext(rec.kid));
  rec.created_at = clock_.NowSeconds();
  return rec;
}

Status TokenService::Init() {
  AUTHD_RETURN_IF_ERROR(store_.Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(auto keys, tx.ListSigningKeys());
    for (const auto& k : keys) {
      if (k.retired_at == 0 && k.alg == JwsAlgName(options_.alg)) return Ok();
    }
    // No key signs with the configured algorithm: retire what there is and start one.
    auto kid = Rotate(tx);
    if (!kid) return kid.error();
    return Ok();
  }));
  return Reload();
}

Result<std::string> TokenService::Rotate(WriteTx& tx) {
  int64_t now = clock_.NowSeconds();
  AUTHD_RETURN_IF_ERROR(tx.RetireSigningKeys(now));
  AUTHD_RETURN_IF_ERROR(tx.DeleteSigningKeysRetiredBefore(now - options_.key_overlap_seconds));
  SigningKey key = SigningKey::Generate(options_.alg);
  SigningKeyRecord rec = NewKeyRecord(key, RandomId(12));
  AUTHD_RETURN_IF_ERROR(tx.InsertSigningKey(rec));
  {
    std::unique_lock lock(mu_);
    keys_.reset();  // force a reload after the transaction
  }
  return rec.kid;
}

Status TokenService::Reload() {
  std::vector<SigningKeyRecord> records;
  AUTHD_RETURN_IF_ERROR(store_.Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(records, tx.ListSigningKeys());
    return Ok();
  }));
  auto set = std::make_shared<KeySet>();
  int64_t now = clock_.NowSeconds();
  Json jwks = {{"keys", Json::array()}};
  for (const auto& r : records) {
    if (r.retired_at != 0 && r.retired_at + options_.key_overlap_seconds < now) continue;
    auto jwk = ParseJsonStrict(r.public_jwk);
    if (jwk.ok()) jwks["keys"].push_back(std::move(jwk.value()));
    if (r.retired_at == 0 && r.alg == JwsAlgName(options_.alg) && !set->active) {
      AUTHD_ASSIGN_OR_RETURN(auto der, keyring_.Open(r.private_sealed, SealContext(r.kid)));
      AUTHD_ASSIGN_OR_RETURN(auto alg, AlgFromName(r.alg));
      AUTHD_ASSIGN_OR_RETURN(auto key, SigningKey::FromPrivateDer(alg, der.view()));
      set->active = std::make_shared<SigningKey>(std::move(key));
      set->active_kid = r.kid;
      const Json header = {{"alg", JwsAlgName(set->active->alg())}, {"typ", "at+jwt"}, {"kid", r.kid}};
      set->header_b64 = Base64UrlEncode(AsBytes(DumpJson(header)));
    }
  }
  if (!set->active) return Err(ErrorCode::kInternal, "no signing key; restart authd to create one");
  set->jwks = DumpJson(jwks);
  set->loaded = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  keys_ = std::move(set);
  return Ok();
}

Result<std::shared_ptr<const TokenService::KeySet>> TokenService::Keys() {
  {
    std::shared_lock lock(mu_);
    if (keys_ && std::chrono::steady_clock::now() - keys_->loaded < kReloadInterval) return keys_;
  }
  AUTHD_RETURN_IF_ERROR(Reload());
  std::shared_lock lock(mu_);
  return keys_;
}

Result<std::string> TokenService::JwksJson() {
  AUTHD_ASSIGN_OR_RETURN(auto keys, Keys());
  return keys->jwks;
}

Result<IssuedToken> TokenService::Issue(WriteTx& tx, const User& user, std::string_view credential_id,
                                        std::string_view client_id, const std::vector<std::string>& amr,
                                        int64_t auth_time) {
  AUTHD_ASSIGN_OR_RETURN(IssuedToken out, Mint(user, credential_id, client_id, amr, auth_time));
  AUTHD_RETURN_IF_ERROR(Record(tx, out));
  return out;
}

Status TokenService::Record(WriteTx& tx, const IssuedToken& token) { return tx.InsertToken(token.record); }

Result<IssuedToken> TokenService::Mint(const User& user, std::string_view credential_id, std::string_view client_id,
                                       const std::vector<std::string>& amr, int64_t auth_time) {
  AUTHD_ASSIGN_OR_RETURN(auto keys, Keys());
  const int64_t now = clock_.NowSeconds();
  TokenRecord rec;
  rec.jti = NewJti(clock_.NowMillis());
  rec.user_id = user.id;
  rec.username = user.username;
  rec.credential_id = std::string(credential_id);
  rec.client_id = std::string(client_id);
  rec.audience = client_id.empty() ? options_.default_audience : std::string(client_id);
  rec.amr = amr;
  rec.roles = user.roles;
  rec.issued_at = now;
  rec.expires_at = now + options_.ttl_seconds;
  rec.auth_time = auth_time;

  // The claims in DumpJson's (sorted) order, so the payload is byte for byte what it wrote.
  const std::string claims = JsonObjectWriter()
                                 .Strings("amr", rec.amr)
                                 .String("aud", rec.audience)
                                 .Int("auth_time", rec.auth_time)
                                 .String("client_id", client_id.empty() ? std::string_view("authd") : client_id)
                                 .Int("exp", rec.expires_at)
                                 .Int("iat", rec.issued_at)
                                 .String("iss", options_.issuer)
                                 .String("jti", rec.jti)
                                 .Int("nbf", rec.issued_at)
                                 .Strings("roles", rec.roles)
                                 .String("sub", rec.user_id)
                                 .String("username", rec.username)
                                 .Finish();
  std::string input = keys->header_b64 + "." + Base64UrlEncode(AsBytes(claims));
  Bytes sig = keys->active->Sign(AsBytes(input));
  IssuedToken out;
  out.access_token = input + "." + Base64UrlEncode(sig);
  rec.token_hash = Sha256(AsBytes(out.access_token));
  out.record = std::move(rec);
  return out;
}

Result<std::optional<TokenRecord>> TokenService::Find(ReadTx& tx, std::string_view token) const {
  auto jti = JtiOf(token);
  if (!jti) return std::optional<TokenRecord>();
  AUTHD_ASSIGN_OR_RETURN(auto rec, tx.FindTokenByJti(*jti));
  // The jti only names the record; the token is ours only if all of it hashes to what was stored.
  if (rec && !IsRecordOf(*rec, token)) return std::optional<TokenRecord>();
  return rec;
}

bool TokenService::IsRecordOf(const TokenRecord& record, std::string_view token) {
  return SafeEquals(record.token_hash, Sha256(AsBytes(token)));
}

bool TokenService::IsLive(const TokenRecord& r) const {
  int64_t now = clock_.NowSeconds();
  return r.revoked_at == 0 && now >= r.issued_at && now < r.expires_at;
}

}  // namespace authd::domain
