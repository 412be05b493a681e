// OtpService rules that need a clock the test controls: the growing delay and its expiry, the
// hard lock, a server clock stepped back (T08), enrolment expiry, and the persisted counters.

#include "authd/domain/otp_service.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "authd/base/encoding.h"
#include "domain/fixture.h"
#include "util/yubikey_otp.h"

namespace authd::domain {
namespace {

class OtpServiceTest : public CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    OtpOptions o;
    o.delay_after = 2;
    o.delay_seconds = 10;
    o.max_failures = 4;
    otp_ = std::make_unique<OtpService>(*core_, *keyring_, o);
    alice_ = MakeUser("alice");
  }

  // Starts a TOTP enrolment for alice: its handle and raw secret.
  std::pair<std::string, Bytes> StartEnrolment() {
    TotpEnrollmentRequest r;
    r.username = "alice";
    auto started = otp_->StartTotpEnrollment(Operator(), r, Ctx());
    EXPECT_TRUE(started) << (started ? "" : started.error().detail);
    if (!started) return {};
    std::string b32 = started->secret;
    b32.append((8 - b32.size() % 8) % 8, '=');
    return {started->handle, Base32Decode(b32).value()};
  }
  // Enrols and confirms TOTP for alice; returns the raw secret (and the credential's id).
  Bytes Enrol(std::string* id = nullptr) {
    auto [handle, secret] = StartEnrolment();
    auto cred = otp_->ConfirmTotpEnrollment(handle, CodeAt(secret, 0), Ctx());
    EXPECT_TRUE(cred) << cred.error().detail;
    if (id && cred) *id = cred->id;
    return secret;
  }
  std::string CodeAt(const Bytes& secret, int64_t offset_seconds) {
    return otp::Hotp(secret, static_cast<uint64_t>(otp::TimeStep(clock_.NowSeconds() + offset_seconds, 30)),
                     otp::HashAlg::kSha1, 6);
  }
  ErrorCode Verify(const std::string& code) {
    auto r = otp_->VerifyTotp("alice", code, "", Ctx("anonymous"));
    return r ? ErrorCode::kInternal : r.code();
  }
  std::string Wrong(const Bytes& secret) {
    for (const char* c : {"000000", "000001", "000002", "000003"}) {
      bool hit = false;
      for (int d = -2; d <= 2; ++d) hit = hit || CodeAt(secret, 30 * d) == c;
      if (!hit) return c;
    }
    return "999999";
  }

  // A ykval client and a YubiKey of alice's, registered.
  struct YkvalSetup {
    ClientSecrets client;
    Bytes client_key;
    Bytes aes, uid;
    std::string public_id = "vvccccfhcbcb";
    std::string credential_id;
    std::string Otp(uint16_t counter) const {
      return public_id + testing::GenerateWithLibyubikey(aes, uid, counter, 0);
    }
  };
  YkvalSetup SetUpYkval() {
    YkvalSetup y;
    auto client = core_->CreateClient(Ctx(), {"legacy", {"ykval"}, {}});
    EXPECT_TRUE(client) << (client ? "" : client.error().detail);
    if (!client) return y;
    y.client = *client;
    y.client_key = Base64Decode(client->ykval_key).value();
    y.aes = RandomBytes(16);
    y.uid = RandomBytes(6);
    YubiOtpRegistration reg;
    reg.public_id = y.public_id;
    reg.private_id = HexEncode(y.uid);
    reg.aes_key = HexEncode(y.aes);
    auto cred = otp_->RegisterYubiOtp(Ctx(), "alice", reg);
    EXPECT_TRUE(cred) << (cred ? "" : cred.error().detail);
    if (cred) y.credential_id = cred->id;
    return y;
  }

  std::unique_ptr<OtpService> otp_;
  User alice_;
};

TEST_F(OtpServiceTest, DelayGrowsAndExpiresThenHardLockHoldsUntilUnlock) {
  Bytes secret = Enrol();
  clock_.AdvanceSeconds(60);
  const std::string wrong = Wrong(secret);
  EXPECT_EQ(Verify(wrong), ErrorCode::kOtpInvalid);  // 1
  EXPECT_EQ(Verify(wrong), ErrorCode::kOtpInvalid);  // 2: now wait 10 s
  EXPECT_EQ(otp_->LockedFor("user:" + alice_.id).value(), 10);
  EXPECT_EQ(Verify(CodeAt(secret, 0)), ErrorCode::kOtpInvalid);  // refused while waiting, not counted
  clock_.AdvanceSeconds(11);
  EXPECT_EQ(Verify(wrong), ErrorCode::kOtpInvalid);  // 3: now wait 20 s
  EXPECT_EQ(otp_->LockedFor("user:" + alice_.id).value(), 20);
  clock_.AdvanceSeconds(21);
  EXPECT_EQ(Verify(wrong), ErrorCode::kOtpInvalid);  // 4: locked for good
  clock_.AdvanceSeconds(365 * 24 * 3600);
  EXPECT_GT(otp_->LockedFor("user:" + alice_.id).value(), 1'000'000);
  EXPECT_EQ(Verify(CodeAt(secret, 0)), ErrorCode::kOtpInvalid);
  EXPECT_EQ(otp_->Unlock(Ctx(), "alice").value(), 1);
  EXPECT_TRUE(otp_->VerifyTotp("alice", CodeAt(secret, 0), "", Ctx()));
}

TEST_F(OtpServiceTest, SuccessClearsTheFailureCount) {
  Bytes secret = Enrol();
  clock_.AdvanceSeconds(60);
  EXPECT_EQ(Verify(Wrong(secret)), ErrorCode::kOtpInvalid);
  EXPECT_TRUE(otp_->VerifyTotp("alice", CodeAt(secret, 0), "", Ctx()));
  EXPECT_EQ(Verify(Wrong(secret)), ErrorCode::kOtpInvalid);
  EXPECT_EQ(otp_->LockedFor("user:" + alice_.id).value(), 0);  // one failure since, not two
}

// A verification checked before an administrator disabled its user, or revoked its key, and
// written after: the write finds the change, consumes nothing and issues no token; the answer is
// the one the check gives a disabled user or a revoked key, the audit says which.
TEST_F(OtpServiceTest, AVerificationCheckedBeforeItsUserWasDisabledOrItsKeyRevokedIssuesNoToken) {
  std::string id;
  const Bytes secret = Enrol(&id);
  clock_.AdvanceSeconds(60);
  auto checked_then = [&](const std::function<void()>& change) {
    auto plan = otp_->PlanVerifyTotp("alice", CodeAt(secret, 0), "", Ctx("anonymous"));
    EXPECT_TRUE(plan) << (plan ? "" : plan.error().detail);
    if (!plan) return std::optional<ErrorCode>(ErrorCode::kInternal);
    change();
    auto r = RunNow(*store_, std::move(plan.value()));
    return r ? std::nullopt : std::optional<ErrorCode>(r.code());
  };

  EXPECT_EQ(checked_then([&] { ASSERT_TRUE(core_->SetUserStatus(Ctx(), "alice", kStatusDisabled)); }),
            ErrorCode::kOtpInvalid);
  ExpectNewestRefusal("totp.verify", "user_disabled");
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "alice", kStatusActive));
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "alice").value(), 0);  // none was issued
  // The step was not consumed: the same code verifies now.
  EXPECT_TRUE(otp_->VerifyTotp("alice", CodeAt(secret, 0), "", Ctx()));
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "alice").value(), 1);

  clock_.AdvanceSeconds(30);
  EXPECT_EQ(checked_then([&] { ASSERT_TRUE(core_->RevokeCredential(Ctx(), "alice", id)); }), ErrorCode::kOtpInvalid);
  ExpectNewestRefusal("totp.verify", "credential_revoked");
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "alice").value(), 0);
}

// The same when the user is disabled by another process writing the same database file (as
// authctl does), which the store learns of through the change count beside the file.
TEST_F(OtpServiceTest, AVerificationCheckedBeforeAnotherProcessDisabledItsUserIssuesNoToken) {
  const Bytes secret = Enrol();
  clock_.AdvanceSeconds(60);
  auto other = store::OpenSqliteStore(dir_.File("authd.db"));
  ASSERT_TRUE(other) << other.error().detail;
  auto plan = otp_->PlanVerifyTotp("alice", CodeAt(secret, 0), "", Ctx("anonymous"));
  ASSERT_TRUE(plan) << plan.error().detail;
  ASSERT_TRUE((*other)->Write([&](WriteTx& tx) -> Status {
    User changed = alice_;
    changed.status = kStatusDisabled;
    return tx.UpdateUser(changed);
  }));
  auto r = RunNow(*store_, std::move(plan.value()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), ErrorCode::kOtpInvalid);
  EXPECT_EQ(NewestAudit().reason, "user_disabled");
}

// A right code checked before wrong ones, sent at the same time, locked the account and written
// after them is refused as every code is while the account is locked (P8 across concurrent
// requests), and its step is not used.
TEST_F(OtpServiceTest, ARightCodeWrittenAfterWrongOnesLockedTheAccountIsRefused) {
  const Bytes secret = Enrol();
  clock_.AdvanceSeconds(60);
  auto plan = otp_->PlanVerifyTotp("alice", CodeAt(secret, 0), "", Ctx("anonymous"));
  ASSERT_TRUE(plan) << plan.error().detail;
  const std::string wrong = Wrong(secret);
  EXPECT_EQ(Verify(wrong), ErrorCode::kOtpInvalid);
  EXPECT_EQ(Verify(wrong), ErrorCode::kOtpInvalid);  // the second one delays the account by 10 s
  ASSERT_GT(otp_->LockedFor("user:" + alice_.id).value(), 0);
  auto r = RunNow(*store_, std::move(plan.value()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), ErrorCode::kOtpInvalid);
  EXPECT_EQ(NewestAudit().reason, "locked");
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "alice").value(), 0);  // none was issued
  clock_.AdvanceSeconds(11);
  EXPECT_TRUE(otp_->VerifyTotp("alice", CodeAt(secret, -11), "", Ctx()));  // the same step: not used
}

// The same for a YubiKey OTP, through the token route and through ykval (which answers BAD_OTP, as
// it answers a revoked key).
TEST_F(OtpServiceTest, AYubiKeyOtpCheckedBeforeItsKeyWasRevokedIsNotAccepted) {
  const YkvalSetup y = SetUpYkval();
  auto otp = [&](uint16_t counter) { return y.Otp(counter); };

  auto plan = otp_->PlanVerifyYubiOtp(otp(1), "", Ctx("anonymous"));
  ASSERT_TRUE(plan) << plan.error().detail;
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "alice", kStatusDisabled));
  auto r = RunNow(*store_, std::move(plan.value()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), ErrorCode::kUserDisabled);
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "alice", kStatusActive));
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "alice").value(), 0);

  std::map<std::string, std::string> params = {
      {"id", std::to_string(y.client.client.ykval_id)}, {"otp", otp(1)}, {"nonce", "0123456789abcdef"}};
  params["h"] = otp::YkvalSignature(params, y.client_key);
  Plan<YkvalAnswer> ykval = otp_->PlanYkval(params, "127.0.0.1", Ctx("ykval"));
  ASSERT_TRUE(ykval.write);  // the OTP was not consumed by the refused write: it checks out
  ASSERT_TRUE(core_->RevokeCredential(Ctx(), "alice", y.credential_id));
  auto answer = RunNow(*store_, std::move(ykval));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->fields["status"], "BAD_OTP");
  ExpectNewestRefusal("ykval.verify", "credential_revoked");
}

TEST_F(OtpServiceTest, T08_ClockSteppedBackDoesNotRevivePastSteps) {
  Bytes secret = Enrol();
  clock_.AdvanceSeconds(3600);
  ASSERT_TRUE(otp_->VerifyTotp("alice", CodeAt(secret, 0), "", Ctx()));
  clock_.AdvanceSeconds(-3600);  // the server's clock goes back an hour
  EXPECT_EQ(Verify(CodeAt(secret, 0)), ErrorCode::kOtpReplayed);
  // The replay was audited with the drift alarm.
  auto events = core_->ListAudit(0, 0, 5);
  ASSERT_TRUE(events);
  bool alarm = false;
  for (const auto& e : *events) alarm = alarm || (e.action == "totp.verify" && e.detail.find("clock_behind") != std::string::npos);
  EXPECT_TRUE(alarm);
}

TEST_F(OtpServiceTest, ACodeSharedWithTheUsedStepIsAcceptedForTheCurrentOneOnce) {
  // A credential with RFC 6238's SHA-1 secret, whose steps 59061240 and 59061241 share a code;
  // the earlier one was used. At step 59061241 that code is the current step's and logs in once.
  const std::string rfc = "12345678901234567890";
  const Bytes secret(rfc.begin(), rfc.end());
  const int64_t s = 59061241;
  clock_.AdvanceSeconds(s * 30 + 10 - clock_.NowSeconds());
  Credential cred;
  cred.id = "totp_shared";
  cred.user_id = alice_.id;
  cred.type = "totp";
  cred.nickname = "TOTP";
  cred.info = "{}";
  cred.created_at = clock_.NowSeconds();
  TotpCredential t;
  t.id = cred.id;
  t.user_id = alice_.id;
  t.secret_sealed = keyring_->Seal(secret, "totp:" + cred.id);  // the credential's context
  t.algorithm = "SHA1";
  t.digits = 6;
  t.period = 30;
  t.last_step = s - 1;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertCredential(cred));
    return tx.InsertTotpCredential(t);
  }));
  const std::string code = CodeAt(secret, 0);
  ASSERT_EQ(code, "963181");
  auto token = otp_->VerifyTotp("alice", code, "", Ctx());
  EXPECT_TRUE(token) << (token ? "" : token.error().detail);
  EXPECT_EQ(Verify(code), ErrorCode::kOtpReplayed);  // both steps are used now
}

// A ykval call looks its client and the YubiKey up in one read transaction, and looks no key up
// for a client that may not verify.
TEST_F(OtpServiceTest, YkvalReadsItsClientAndTheKeyInOneTransaction) {
  const YkvalSetup y = SetUpYkval();
  const Bytes& client_key = y.client_key;

  int calls = 0;
  auto call = [&](uint16_t counter, ByteView key) {
    ++calls;
    std::map<std::string, std::string> params = {
        {"id", std::to_string(y.client.client.ykval_id)},
        {"otp", y.Otp(counter)},
        {"nonce", "0123456789abcdef" + std::to_string(calls)}};
    params["h"] = otp::YkvalSignature(params, key);
    const int64_t before = counting_->reads();
    YkvalAnswer answer = otp_->Ykval(params, "127.0.0.1", Ctx("ykval"));
    return std::make_pair(answer.fields["status"], counting_->reads() - before);
  };
  EXPECT_EQ(call(1, client_key), std::make_pair(std::string("OK"), int64_t{1}));
  EXPECT_EQ(call(2, client_key), std::make_pair(std::string("OK"), int64_t{1}));
  EXPECT_EQ(call(2, client_key), std::make_pair(std::string("REPLAYED_OTP"), int64_t{1}));
  EXPECT_EQ(call(3, RandomBytes(20)), std::make_pair(std::string("BAD_SIGNATURE"), int64_t{1}));
  // The refused request did not use the OTP: it verifies afterwards.
  EXPECT_EQ(call(3, client_key), std::make_pair(std::string("OK"), int64_t{1}));
}

// An OTP verification that names its client finds the client among the records kept for
// introspection: once the client is kept, the verification reads the store once.
TEST_F(OtpServiceTest, AVerificationNamingAKeptClientReadsOnce) {
  auto client = core_->CreateClient(Ctx(), {"wiki", {"introspect"}, {}});
  ASSERT_TRUE(client) << client.error().detail;
  const std::string id = client->client.client_id;
  const Bytes secret = Enrol();
  auto verify = [&](int64_t offset) {
    const int64_t before = counting_->reads();
    auto r = otp_->VerifyTotp("alice", CodeAt(secret, offset), id, Ctx("anonymous"));
    EXPECT_TRUE(r) << r.error().detail;
    if (r) {
      EXPECT_EQ(r->record.client_id, id);
    }
    return counting_->reads() - before;
  };
  clock_.AdvanceSeconds(60);
  EXPECT_EQ(verify(0), 2);   // the client read and kept, then the user's TOTP records
  EXPECT_EQ(verify(30), 1);  // the next step's code, inside the window
  // An unknown client is still refused, before any code is checked.
  EXPECT_EQ(otp_->VerifyTotp("alice", CodeAt(secret, -30), "c_unknown", Ctx("anonymous")).code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(OtpServiceTest, EnrolmentExpiresAndIsNotUsableBeforeConfirmation) {
  const auto [handle, secret] = StartEnrolment();
  EXPECT_EQ(Verify(CodeAt(secret, 0)), ErrorCode::kOtpInvalid);
  clock_.AdvanceSeconds(601);
  EXPECT_EQ(otp_->ConfirmTotpEnrollment(handle, CodeAt(secret, 0), Ctx()).code(), ErrorCode::kChallengeExpired);
}

// An enrolment confirmed after its user was disabled (checked, then disabled before the write)
// stores no credential.
TEST_F(OtpServiceTest, AnEnrolmentConfirmedAsItsUserIsDisabledStoresNothing) {
  const auto [handle, secret] = StartEnrolment();
  counting_->BeforeNextWrite([&] { ASSERT_TRUE(core_->SetUserStatus(Ctx(), "alice", kStatusDisabled)); });
  EXPECT_EQ(otp_->ConfirmTotpEnrollment(handle, CodeAt(secret, 0), Ctx()).code(), ErrorCode::kUserDisabled);
  std::vector<Credential> creds;
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(creds, tx.ListCredentials(alice_.id));
    return Ok();
  }));
  EXPECT_TRUE(creds.empty());
  // Nothing was consumed either: enabled again, the enrolment can still be confirmed.
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "alice", kStatusActive));
  EXPECT_TRUE(otp_->ConfirmTotpEnrollment(handle, CodeAt(secret, 0), Ctx()));
}

// A revoked TOTP credential verifies nothing; the user's other, active one still does.
TEST_F(OtpServiceTest, OnlyActiveTotpCredentialsVerify) {
  std::string first_id, second_id;
  Bytes first = Enrol(&first_id);
  Bytes second = Enrol(&second_id);
  ASSERT_NE(first_id, second_id);
  clock_.AdvanceSeconds(60);
  ASSERT_TRUE(core_->RevokeCredential(Ctx(), "alice", first_id));
  EXPECT_EQ(Verify(CodeAt(first, 0)), ErrorCode::kOtpInvalid);
  auto ok = otp_->VerifyTotp("alice", CodeAt(second, 0), "", Ctx());
  ASSERT_TRUE(ok) << ok.error().detail;
  clock_.AdvanceSeconds(30);
  ASSERT_TRUE(core_->RevokeCredential(Ctx(), "alice", second_id));
  EXPECT_EQ(Verify(CodeAt(second, 0)), ErrorCode::kOtpInvalid);
}

TEST_F(OtpServiceTest, SecretsAreSealedAtRest) {
  Bytes secret = Enrol();
  std::vector<TotpCredential> creds;
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(creds, tx.ListTotpCredentials(alice_.id));
    return Ok();
  }));
  ASSERT_EQ(creds.size(), 1u);
  const Bytes& sealed = creds[0].secret_sealed;
  EXPECT_EQ(std::search(sealed.begin(), sealed.end(), secret.begin(), secret.end()), sealed.end());
  // Bound to its credential: under another id it does not open.
  EXPECT_FALSE(keyring_->Open(sealed, "totp:another"));
  EXPECT_TRUE(keyring_->Open(sealed, "totp:" + creds[0].id));
}

}  // namespace
}  // namespace authd::domain
