#include "authd/domain/webauthn_service.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>

#include "authd/base/encoding.h"
#include "domain/fixture.h"
#include "webauthn/builders.h"
#include "webauthn/test_authenticator.h"

namespace authd::domain {
namespace {

using webauthn::testing::AuthDataSpec;
using webauthn::testing::ClientDataJson;
using webauthn::testing::MakeAuthData;
using webauthn::testing::NewKey;
using webauthn::testing::SignWith;

class WebAuthnServiceTest : public CoreFixture {
 protected:
  struct Key {
    EvpPkeyPtr pkey;
    Bytes raw_id;
    uint32_t count = 0;
  };

  // Imports a new P-256 key for `user`.
  Key Import(const std::string& user, int n) {
    Key k{NewKey(webauthn::cose::kES256), ToBytes("credential-" + user + "-" + std::to_string(n)), 0};
    auto cose = webauthn::EncodeCoseKey(k.pkey.get(), webauthn::cose::kES256);
    EXPECT_TRUE(cose);
    auto w = service_->ImportCredential(user, k.raw_id, *cose, "pam://localhost", "test", Ctx());
    EXPECT_TRUE(w) << (w ? "" : w.error().detail);
    return k;
  }

  // One login ceremony of `user` with credential `id`, its assertion signed by `signer`;
  // `between`, if given, runs after the assertion was checked and before its write;
  // `after_options` after the options and before the verification. `issued`: the token.
  Status LogIn(const std::string& user, const Bytes& id, EVP_PKEY* signer, uint32_t count,
               const std::function<void()>& between = nullptr, const std::function<void()>& after_options = nullptr,
               IssuedToken* issued = nullptr) {
    auto started = service_->StartAuthentication({user, "", "discouraged"}, Ctx());
    if (!started) return started.error();
    if (after_options) after_options();
    auto options = ParseJsonStrict(started->public_key);
    if (!options) return options.error();
    auto challenge = Base64UrlDecode((*options)["challenge"].get<std::string>());
    if (!challenge) return Err(ErrorCode::kInternal, "no challenge");
    AuthenticationCredential cred;
    cred.raw_id = id;
    cred.client_data_json = ToBytes(ClientDataJson("webauthn.get", *challenge, "http://localhost:8080"));
    AuthDataSpec spec;
    spec.sign_count = count;
    cred.authenticator_data = MakeAuthData(spec);
    Bytes signed_data = cred.authenticator_data;
    const Bytes hash = Sha256(cred.client_data_json);
    signed_data.insert(signed_data.end(), hash.begin(), hash.end());
    cred.signature = SignWith(signer, webauthn::cose::kES256, signed_data);
    auto plan = service_->PlanFinishAuthentication(started->handle, cred, Ctx());
    if (!plan) return plan.error();
    if (between) between();
    auto token = RunNow(*store_, std::move(plan.value()));
    if (!token) return token.error();
    if (issued) *issued = std::move(token.value());
    return Ok();
  }

  void MakeService(size_t kept_keys) {
    WebAuthnOptions o;
    o.kept_keys = kept_keys;
    service_ = std::make_unique<WebAuthnService>(*core_, *keyring_, o);
  }

  std::unique_ptr<WebAuthnService> service_;
};

// With more keys in use than it keeps, the service lets one kept key go for each new one: the
// count stays at its bound, and every login still checks its signature against its own key (a
// key signing for another credential is refused).
TEST_F(WebAuthnServiceTest, KeepsAtMostItsBoundOfParsedKeysAndEachLoginUsesItsOwn) {
  MakeService(3);
  std::vector<std::pair<std::string, Key>> keys;
  for (int u = 0; u < 4; ++u) {
    const std::string name = "user" + std::to_string(u);
    MakeUser(name);
    for (int n = 0; n < 2; ++n) keys.emplace_back(name, Import(name, n));
  }
  for (int round = 0; round < 3; ++round) {
    for (auto& [user, key] : keys) {
      const Status s = LogIn(user, key.raw_id, key.pkey.get(), ++key.count);
      ASSERT_TRUE(s) << user << " round " << round << ": " << s.error().detail;
      EXPECT_LE(service_->KeptKeys(), 3u);
    }
  }
  EXPECT_EQ(service_->KeptKeys(), 3u);
  // user0's first credential, signed with its second key (both kept or not): refused.
  auto& [user, first] = keys[0];
  const Status wrong = LogIn(user, first.raw_id, keys[1].second.pkey.get(), ++first.count);
  EXPECT_EQ(wrong.code(), ErrorCode::kSignatureInvalid);
  EXPECT_TRUE(LogIn(user, first.raw_id, first.pkey.get(), ++first.count));
}

// A login whose assertion was checked before an administrator disabled its user, or revoked its
// key, and whose write comes after: the write finds the change, so no token is issued after the
// administrator's answer (whose revocation of the user's tokens could not have found it), and
// nothing is consumed.
TEST_F(WebAuthnServiceTest, ALoginCheckedBeforeItsUserWasDisabledOrItsKeyRevokedIssuesNoToken) {
  MakeService(8);
  MakeUser("carol");
  Key key = Import("carol", 0);

  const Status disabled = LogIn("carol", key.raw_id, key.pkey.get(), ++key.count, [&] {
    ASSERT_TRUE(core_->SetUserStatus(Ctx(), "carol", kStatusDisabled));
  });
  EXPECT_EQ(disabled.code(), ErrorCode::kUserDisabled);
  ExpectNewestRefusal("webauthn.authenticate", "user_disabled");
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "carol", kStatusActive));
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "carol").value(), 0);  // none was issued
  // The refused write advanced nothing: the same signature count is accepted next.
  ASSERT_TRUE(LogIn("carol", key.raw_id, key.pkey.get(), key.count));
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "carol").value(), 1);

  const std::string id = Base64UrlEncode(key.raw_id);
  const Status revoked = LogIn("carol", key.raw_id, key.pkey.get(), ++key.count, [&] {
    ASSERT_TRUE(core_->RevokeCredential(Ctx(), "carol", id));
  });
  EXPECT_EQ(revoked.code(), ErrorCode::kCredentialRevoked);
  ExpectNewestRefusal("webauthn.authenticate", "credential_revoked");
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "carol").value(), 0);
}

// The verification takes its key's owner as the options read it, unless a user or credential
// record changed in between (the store's change count moved): a user disabled between the two
// is refused at the verification's read. A change made outside authd's store, which the count
// does not see, shows from the next ceremony's options on.
TEST_F(WebAuthnServiceTest, AVerificationTakesTheOwnerTheOptionsReadUnlessARecordChangedBetween) {
  MakeService(8);
  MakeUser("erin");
  Key key = Import("erin", 0);

  int writes = 0;
  const Status disabled = LogIn("erin", key.raw_id, key.pkey.get(), ++key.count, [&] { writes = 1; }, [&] {
    ASSERT_TRUE(core_->SetUserStatus(Ctx(), "erin", kStatusDisabled));
  });
  EXPECT_EQ(disabled.code(), ErrorCode::kUserDisabled);
  EXPECT_EQ(writes, 0);  // refused by the check, before any write was planned
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "erin", kStatusActive));

  auto rename_outside = [&](const char* from, const char* to) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.File("authd.db").c_str(), &db), SQLITE_OK);
    const std::string sql = std::string("UPDATE users SET username = '") + to + "' WHERE username = '" + from + "'";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);
  };
  IssuedToken token;
  ASSERT_TRUE(LogIn("erin", key.raw_id, key.pkey.get(), ++key.count, nullptr,
                    [&] { rename_outside("erin", "erin2"); }, &token));
  EXPECT_EQ(token.record.username, "erin");
  ASSERT_TRUE(LogIn("erin2", key.raw_id, key.pkey.get(), ++key.count, nullptr, nullptr, &token));
  EXPECT_EQ(token.record.username, "erin2");
}

// A registration whose user is disabled after its attestation was checked and before its write
// stores no key.
TEST_F(WebAuthnServiceTest, ARegistrationFinishedAsItsUserIsDisabledStoresNoKey) {
  MakeService(8);
  const User dave = MakeUser("dave");
  RegistrationRequest req;
  req.username = "dave";
  req.attestation = "none";
  auto started = service_->StartRegistration(Operator(), req, Ctx());
  ASSERT_TRUE(started) << started.error().detail;
  auto options = ParseJsonStrict(started->public_key);
  ASSERT_TRUE(options);
  auto challenge = Base64UrlDecode((*options)["challenge"].get<std::string>());
  ASSERT_TRUE(challenge);
  webauthn::testing::TestAuthenticator authenticator;
  const webauthn::RegistrationResponse response = authenticator.Register(*challenge, authenticator.NewRegistration());
  RegistrationCredential cred;
  cred.raw_id = authenticator.credential_id;
  cred.client_data_json = response.client_data_json;
  cred.attestation_object = response.attestation_object;
  auto keys = [&] {
    std::vector<Credential> all;
    EXPECT_TRUE(store_->Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(all, tx.ListCredentials(dave.id));
      return Ok();
    }));
    return all.size();
  };

  counting_->BeforeNextWrite([&] { ASSERT_TRUE(core_->SetUserStatus(Ctx(), "dave", kStatusDisabled)); });
  EXPECT_EQ(service_->FinishRegistration(started->handle, cred, "key", Ctx()).code(), ErrorCode::kUserDisabled);
  EXPECT_EQ(keys(), 0u);
  ExpectNewestRefusal("webauthn.register", "user_disabled");
  // The refused ceremony is spent, as every refused one is.
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "dave", kStatusActive));
  EXPECT_EQ(service_->FinishRegistration(started->handle, cred, "key", Ctx()).code(), ErrorCode::kChallengeUnknown);
  EXPECT_EQ(keys(), 0u);
}

}  // namespace
}  // namespace authd::domain
