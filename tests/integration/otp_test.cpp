// TOTP and YubiKey OTP over HTTP against the real authd: enrolment confirmed with codes from
// Debian's oathtool, YubiKey OTPs made by libyubikey (standing in for the key's button), the
// Yubico validation protocol driven by Debian's ykclient, lockout, unlock and rate limits.

#include <sys/socket.h>
#include <unistd.h>
#include <yubikey.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <ctime>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/domain/otp.h"
#include "integration/harness.h"
#include "util/loopback.h"

namespace authd::testing {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// oathtool's TOTP for `secret` (base32) at Unix time `at`.
std::string Oathtool(const std::string& secret, int64_t at, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {"/usr/bin/oathtool", "-b", "--now", "@" + std::to_string(at)};
  const bool mode = std::any_of(extra.begin(), extra.end(), [](const std::string& a) { return a.starts_with("--totp"); });
  if (!mode) argv.push_back("--totp");
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(secret);
  CommandResult r = RunCommand(argv, {}, "/tmp", 10);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return Trim(r.out);
}

struct SoftYubiKey {
  Bytes aes_key = RandomBytes(16);
  Bytes uid = RandomBytes(6);
  std::string public_id = "vvccccfhcbcb";
  uint16_t power_ups = 1;
  uint8_t presses = 0;

  // The next OTP, as libyubikey makes it for the key's firmware.
  std::string Press(bool caps_lock = false) {
    yubikey_token_st tok{};
    std::memcpy(tok.uid, uid.data(), 6);
    tok.ctr = static_cast<uint16_t>(power_ups | (caps_lock ? 0x8000 : 0));
    tok.tstpl = static_cast<uint16_t>(presses * 100);
    tok.use = presses++;
    tok.rnd = static_cast<uint16_t>(RandomBytes(2)[0]);
    tok.crc = static_cast<uint16_t>(~yubikey_crc16(reinterpret_cast<uint8_t*>(&tok), YUBIKEY_BLOCK_SIZE - 2));
    char out[YUBIKEY_OTP_SIZE + 1] = {};
    yubikey_generate(&tok, aes_key.data(), out);
    return public_id + std::string(out, YUBIKEY_OTP_SIZE);
  }
  void Replug() {
    ++power_ups;
    presses = 0;
  }
  Json Registration() const {
    return {{"public_id", public_id}, {"private_id", HexEncode(uid)}, {"aes_key", HexEncode(aes_key)}};
  }
};

class OtpHttp : public ::testing::Test {
 protected:
  explicit OtpHttp(std::map<std::string, std::string> env = {}) : server_(std::move(env)) {}
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.log();
    enroller_ = server_.TokenFor("officer", {"enroller"});
    ASSERT_EQ(server_.Authctl({"user", "add", "alice"}).exit_code, 0);
  }
  std::string Code(const std::string& user) { return Trim(server_.Authctl({"enrollment-code", user}).out); }

  // Enrols TOTP for alice with an enrolment code and confirms it with oathtool's current code.
  // Returns the base32 secret.
  std::string EnrolTotp(const std::vector<std::string>& oath_args = {}, const Json& extra = Json::object()) {
    Json req = {{"username", "alice"}, {"enrollment_code", Code("alice")}};
    req.update(extra);
    HttpResult start = server_.PostJson("/v1/totp/enrollment", req);
    EXPECT_EQ(start.status, 200) << start.body;
    const std::string secret = start.json().value("secret", "");
    HttpResult confirm = server_.PostJson(
        "/v1/totp/enrollment/confirm",
        {{"enrollment", start.json()["enrollment"]}, {"code", Oathtool(secret, std::time(nullptr), oath_args)}});
    EXPECT_EQ(confirm.status, 201) << confirm.body;
    return secret;
  }

  // The current time, once at least `margin` seconds are left of its 30 s step (waiting for the
  // next step if fewer are), so that checks relative to it see the server in the same step.
  static int64_t NowWellInsideStep(int64_t margin = 5) {
    const int64_t now = std::time(nullptr);
    if (30 - now % 30 >= margin) return now;
    std::this_thread::sleep_for(std::chrono::seconds(30 - now % 30));
    return std::time(nullptr);
  }

  HttpResult Totp(const std::string& code, const std::string& user = "alice") {
    return server_.PostJson("/v1/totp/verify", {{"username", user}, {"code", code}});
  }

  AuthdProcess server_;
  std::string enroller_;
};

TEST_F(OtpHttp, TotpEnrolmentReturnsSecretUriAndQrAndNeedsConfirmation) {
  HttpResult start = server_.PostJson("/v1/totp/enrollment", {{"username", "alice"}, {"enrollment_code", Code("alice")}});
  ASSERT_EQ(start.status, 200) << start.body;
  Json j = start.json();
  const std::string secret = j["secret"];
  EXPECT_GE(Base32Decode(secret + std::string((8 - secret.size() % 8) % 8, '='))->size(), 20u);  // >= 160 bits
  EXPECT_TRUE(j["otpauth_uri"].get<std::string>().starts_with("otpauth://totp/authd:alice?secret=" + secret));
  EXPECT_TRUE(j["qr_svg"].get<std::string>().starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(j["algorithm"], "SHA1");
  EXPECT_EQ(j["digits"], 6);
  EXPECT_EQ(j["period"], 30);
  // Not usable before confirmation.
  HttpResult early = Totp(Oathtool(secret, std::time(nullptr)));
  EXPECT_EQ(early.status, 422);
  EXPECT_EQ(early.json()["code"], "otp_invalid");
  // A wrong confirmation code keeps it unusable; the right one makes it a credential.
  HttpResult wrong = server_.PostJson("/v1/totp/enrollment/confirm", {{"enrollment", j["enrollment"]}, {"code", "000000"}});
  if (Oathtool(secret, std::time(nullptr)) != "000000") {
    EXPECT_EQ(wrong.json()["code"], "otp_invalid");
  }
  HttpResult ok = server_.PostJson("/v1/totp/enrollment/confirm",
                                   {{"enrollment", j["enrollment"]}, {"code", Oathtool(secret, std::time(nullptr))}});
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok.json()["credential"]["type"], "totp");
  // The enrolment is single-use.
  HttpResult again = server_.PostJson("/v1/totp/enrollment/confirm",
                                      {{"enrollment", j["enrollment"]}, {"code", Oathtool(secret, std::time(nullptr))}});
  EXPECT_EQ(again.json()["code"], "challenge_unknown");
}

TEST_F(OtpHttp, T09_RefusesBadParametersAndUnauthorisedEnrolment) {
  EXPECT_EQ(server_.PostJson("/v1/totp/enrollment", {{"username", "alice"}}).json()["code"], "invalid_token");
  EXPECT_EQ(server_.PostJson("/v1/totp/enrollment", {{"username", "alice"}, {"enrollment_code", "nope"}}).json()["code"],
            "invalid_enrollment_code");
  for (const Json& bad : {Json{{"digits", 7}}, Json{{"period", 45}}, Json{{"algorithm", "MD5"}}}) {
    Json req = {{"username", "alice"}, {"enrollment_code", Code("alice")}};
    req.update(bad);
    HttpResult r = server_.PostJson("/v1/totp/enrollment", req);
    EXPECT_EQ(r.status, 400) << bad.dump();
  }
}

TEST_F(OtpHttp, OathtoolCodesLogInOnceEach) {
  const int64_t now = NowWellInsideStep();
  const std::string secret = EnrolTotp();
  // The next step's code (inside the window): a token with amr otp.
  const std::string next = Oathtool(secret, now + 30);
  HttpResult ok = Totp(next);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.json()["amr"], Json::array({"otp"}));
  EXPECT_EQ(ok.json()["user"]["username"], "alice");
  // T01: the same code again.
  HttpResult replay = Totp(next);
  EXPECT_EQ(replay.status, 422);
  EXPECT_EQ(replay.json()["code"], "otp_replayed");
  // T02: an older step after a newer one was accepted.
  EXPECT_EQ(Totp(Oathtool(secret, now - 30)).json()["code"], "otp_replayed");
  // T03: two steps away.
  const std::string far = Oathtool(secret, now + 90);
  if (far != next) {
    EXPECT_EQ(Totp(far).json()["code"], "otp_invalid");
  }
}

TEST_F(OtpHttp, Sha256EightDigitSixtySecondCredentialsWork) {
  const std::string secret =
      EnrolTotp({"--totp=sha256", "--digits=8", "--time-step-size=60s"},
                {{"algorithm", "SHA256"}, {"digits", 8}, {"period", 60}});
  HttpResult ok = Totp(Oathtool(secret, std::time(nullptr) + 60, {"--totp=sha256", "--digits=8", "--time-step-size=60s"}));
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(OtpHttp, T07_MalformedCodesAreRefusedAndCounted) {
  EnrolTotp();
  for (const char* bad : {"12345", "1234567", " 123456", "12345a", "１２３４５６"}) {
    HttpResult r = Totp(bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.json()["code"], "otp_format") << bad;
  }
  // Counted: the account is now in its delay window.
  HttpResult audit = server_.Get("/v1/admin/audit?limit=5", {{"Authorization", "Bearer " + server_.TokenFor("aud", {"auditor"})}});
  EXPECT_NE(audit.body.find("otp_format"), std::string::npos);
}

TEST_F(OtpHttp, MalformedRequestsAreProblemsThatStoreNothing) {
  const std::vector<std::string> routes = {"/v1/totp/enrollment", "/v1/totp/enrollment/confirm", "/v1/totp/verify",
                                           "/v1/yubiotp/verify", "/v1/admin/users/alice/yubiotp"};
  const std::map<std::string, std::string> json = {{"Content-Type", "application/json"},
                                                   {"Authorization", "Bearer " + enroller_}};
  for (const auto& route : routes) {
    for (const std::string& body : {std::string("{"), std::string("[]"), std::string(R"({"username":5,"code":[]})"),
                                    std::string(R"({"otp":"a","otp":"b","username":"alice","code":"1"})")}) {
      HttpResult r = server_.Request("POST", route, body, json);
      EXPECT_EQ(r.status, 400) << route << " " << body;
      EXPECT_EQ(r.header("content-type"), "application/problem+json") << route;
      EXPECT_TRUE(r.json().contains("code")) << route;
      EXPECT_FALSE(r.json().contains("access_token")) << route;
    }
    HttpResult form = server_.Request("POST", route, "code=1", {{"Content-Type", "application/x-www-form-urlencoded"},
                                                                {"Authorization", "Bearer " + enroller_}});
    EXPECT_EQ(form.status, 415) << route;
    EXPECT_EQ(form.json()["code"], "unsupported_media_type") << route;
  }
  // Unknown users and bad YubiKey values at the admin routes.
  EXPECT_EQ(server_.PostJson("/v1/admin/users/nobody/unlock", Json::object(), enroller_).json()["code"], "not_found");
  SoftYubiKey key;
  EXPECT_EQ(server_.PostJson("/v1/admin/users/nobody/yubiotp", key.Registration(), enroller_).json()["code"], "not_found");
  Json bad_uid = key.Registration();
  bad_uid["private_id"] = "0123456789AB";  // upper case
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", bad_uid, enroller_).json()["code"], "invalid_argument");
  // Nothing of it was stored.
  const std::string shown = server_.Authctl({"user", "show", "alice"}).out;
  EXPECT_NE(shown.find("\"credentials\":[]"), std::string::npos) << shown;
}

TEST_F(OtpHttp, UnknownUsersLookLikeWrongCodes) {
  EnrolTotp();
  HttpResult wrong = Totp("000001");
  HttpResult unknown = Totp("000001", "nobody");
  HttpResult no_totp = Totp("000001", "officer");
  ASSERT_EQ(wrong.status, 422);
  for (const HttpResult* r : {&unknown, &no_totp}) {
    EXPECT_EQ(r->status, wrong.status);
    EXPECT_EQ(r->json()["code"], wrong.json()["code"]);
    EXPECT_EQ(r->json()["detail"], wrong.json()["detail"]);
  }
}

// The same code sent by many clients at once: exactly one token (the step moves by CAS).
int ConcurrentSuccesses(const std::function<HttpResult()>& call, int n) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, replayed{0};
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      HttpResult r = call();
      if (r.status == 200) ++ok;
      if (r.status == 422 && r.json().value("code", "") == "otp_replayed") ++replayed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok + replayed, n);
  return ok;
}

TEST_F(OtpHttp, ConcurrentDuplicatesOfOneCodeYieldExactlyOneToken) {
  const std::string secret = EnrolTotp();
  const std::string code = Oathtool(secret, std::time(nullptr) + 30);
  EXPECT_EQ(ConcurrentSuccesses([&] { return Totp(code); }, 8), 1);
}

class Lockout : public OtpHttp {
 protected:
  Lockout()
      : OtpHttp({{"AUTHD_LOCKOUT_DELAY_AFTER", "100"}, {"AUTHD_LOCKOUT_MAX_FAILURES", "5"}, {"AUTHD_RATE_LIMIT", "0"}}) {}
};

TEST_F(Lockout, T04_LockedAfterNFailuresSameAnswerSurvivesRestartUntilUnlocked) {
  const std::string secret = EnrolTotp();
  const int64_t now = std::time(nullptr);
  std::string wrong = "000000";
  for (int64_t d = -1; d <= 1; ++d) {
    if (Oathtool(secret, now + 30 * d) == wrong) wrong = "000001";
  }
  HttpResult first = Totp(wrong);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(Totp(wrong).status, 422);
  // Locked: the right code gets exactly the answer a wrong one gets.
  HttpResult locked = Totp(Oathtool(secret, now + 30));
  EXPECT_EQ(locked.status, first.status);
  EXPECT_EQ(locked.json()["code"], first.json()["code"]);
  EXPECT_EQ(locked.json()["detail"], first.json()["detail"]);
  // Persisted: a restart does not unlock.
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  ASSERT_TRUE(server_.Start()) << server_.log();
  EXPECT_EQ(Totp(Oathtool(secret, std::time(nullptr) + 30)).json()["code"], "otp_invalid");
  // An auditor cannot unlock; an enroller can, over the API; authctl can too.
  const std::string auditor = server_.TokenFor("aud", {"auditor"});
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/unlock", Json::object(), auditor).status, 403);
  HttpResult unlock = server_.PostJson("/v1/admin/users/alice/unlock", Json::object(), enroller_);
  ASSERT_EQ(unlock.status, 200) << unlock.body;
  EXPECT_EQ(unlock.json()["cleared"], 1);
  HttpResult ok = Totp(Oathtool(secret, std::time(nullptr) + 30));
  EXPECT_EQ(ok.status, 200) << ok.body;
  CommandResult cli = server_.Authctl({"user", "unlock", "alice"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("alice is unlocked"), std::string::npos);
}

class Delay : public OtpHttp {
 protected:
  Delay()
      : OtpHttp({{"AUTHD_LOCKOUT_DELAY_AFTER", "2"}, {"AUTHD_LOCKOUT_DELAY", "30"}, {"AUTHD_RATE_LIMIT", "0"}}) {}
};

TEST_F(Delay, GrowingDelayRefusesEvenTheRightCodeUntilItPasses) {
  const std::string secret = EnrolTotp();
  const int64_t now = std::time(nullptr);
  std::string wrong = "000000";
  for (int64_t d = -1; d <= 1; ++d) {
    if (Oathtool(secret, now + 30 * d) == wrong) wrong = "000001";
  }
  EXPECT_EQ(Totp(wrong).status, 422);
  EXPECT_EQ(Totp(wrong).status, 422);  // the second failure starts a 30 s wait
  EXPECT_EQ(Totp(Oathtool(secret, now + 30)).json()["code"], "otp_invalid");
}

class RateLimit : public OtpHttp {
 protected:
  RateLimit() : OtpHttp({{"AUTHD_RATE_LIMIT", "2"}}) {}
};

TEST_F(RateLimit, H10_BurstFromOneAddressGets429WithRetryAfter) {
  int limited = 0;
  for (int i = 0; i < 12; ++i) {
    HttpResult r = Totp("123456", "nobody");
    if (r.status == 429) {
      ++limited;
      EXPECT_EQ(r.json()["code"], "rate_limited");
      EXPECT_FALSE(r.header("retry-after").empty());
    } else {
      EXPECT_EQ(r.status, 422);
    }
  }
  EXPECT_GE(limited, 6);  // a burst of 4, then about 2 per second
  // Admin routes are not throttled.
  EXPECT_EQ(server_.Get("/v1/admin/users", {{"Authorization", "Bearer " + enroller_}}).status, 403);
}

class CappedOtpHttp : public OtpHttp {
 protected:
  CappedOtpHttp() : OtpHttp({{"AUTHD_MAX_CREDENTIALS_PER_USER", "2"}}) {}
  HttpResult Start() { return server_.PostJson("/v1/totp/enrollment", {{"username", "alice"}}, enroller_); }
  HttpResult Confirm(const HttpResult& start) {
    return server_.PostJson("/v1/totp/enrollment/confirm",
                            {{"enrollment", start.json()["enrollment"]},
                             {"code", Oathtool(start.json()["secret"], std::time(nullptr))}});
  }
};

TEST_F(CappedOtpHttp, UnconfirmedEnrolmentsTakeRoomUntilConfirmed) {
  HttpResult first = Start(), second = Start();
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(second.status, 200) << second.body;
  // Two enrolments wait for their codes: no room for a third, nor for any other credential.
  HttpResult third = Start();
  EXPECT_EQ(third.status, 409);
  EXPECT_EQ(third.json()["code"], "too_many_credentials");
  EXPECT_NE(third.json()["detail"].get<std::string>().find("2 unconfirmed TOTP enrolments"), std::string::npos)
      << third.body;
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", SoftYubiKey().Registration(), enroller_).json()["code"],
            "too_many_credentials");
  EXPECT_EQ(server_.PostJson("/v1/webauthn/registration/options", {{"username", "alice"}}, enroller_).json()["code"],
            "too_many_credentials");
  // Confirming turns an enrolment's room into the credential's.
  ASSERT_EQ(Confirm(first).status, 201);
  EXPECT_EQ(Start().json()["code"], "too_many_credentials");
  ASSERT_EQ(Confirm(second).status, 201);
  HttpResult full = Start();
  EXPECT_EQ(full.json()["code"], "too_many_credentials");
  EXPECT_NE(full.json()["detail"].get<std::string>().find("holds 2 credentials"), std::string::npos) << full.body;
}

// --- YubiKey OTP ---

class YubiOtpHttp : public OtpHttp {
 protected:
  explicit YubiOtpHttp(std::map<std::string, std::string> env = {}) : OtpHttp(std::move(env)) {}
  void SetUp() override {
    OtpHttp::SetUp();
    HttpResult reg = server_.PostJson("/v1/admin/users/alice/yubiotp", key_.Registration(), enroller_);
    ASSERT_EQ(reg.status, 201) << reg.body;
    EXPECT_EQ(reg.json()["credential"]["type"], "yubiotp");
    credential_id_ = reg.json()["credential"]["id"];
  }
  HttpResult Verify(const std::string& otp) { return server_.PostJson("/v1/yubiotp/verify", {{"otp", otp}}); }
  SoftYubiKey key_;
  std::string credential_id_;
};

TEST_F(YubiOtpHttp, RegistrationNeedsAnEnrollerAndValidValues) {
  const std::string auditor = server_.TokenFor("aud", {"auditor"});
  SoftYubiKey other;
  other.public_id = "vvccccfhcbcc";
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", other.Registration(), auditor).status, 403);
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", key_.Registration(), enroller_).json()["code"],
            "credential_exists");
  Json bad = other.Registration();
  bad["aes_key"] = "00";
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", bad, enroller_).status, 400);
  bad = other.Registration();
  bad["public_id"] = "abcdef";
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", bad, enroller_).status, 400);
}

TEST_F(YubiOtpHttp, OtpsLogInOnceAndOnlyForward) {
  const std::string first = key_.Press();
  HttpResult ok = Verify(first);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.json()["amr"], Json::array({"otp"}));
  EXPECT_EQ(ok.json()["credential_id"], credential_id_);
  // Y01: the same OTP again.
  EXPECT_EQ(Verify(first).json()["code"], "otp_replayed");
  // A later press in the same session, then one after replugging (caps lock on: Y10).
  const std::string second = key_.Press();
  const std::string third = key_.Press();
  EXPECT_EQ(Verify(third).status, 200);
  // Y03: an older OTP that was never used.
  EXPECT_EQ(Verify(second).json()["code"], "otp_replayed");
  key_.Replug();
  EXPECT_EQ(Verify(key_.Press(true)).status, 200);
}

// An answer sent after its commit (by the store's writer thread) is counted before it leaves,
// like any other: the client that has it finds it in /metrics, with the outcome.
TEST_F(YubiOtpHttp, AnswersSentAfterTheCommitAreCountedBeforeTheyLeave) {
  const std::string otp = key_.Press();
  ASSERT_EQ(Verify(otp).status, 200);
  EXPECT_EQ(Verify(otp).status, 422);
  HttpResult m = server_.Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("authd_http_requests_total{method=\"POST\",route=\"/v1/yubiotp/verify\",status=\"200\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("authd_authentications_total{factor=\"yubiotp\",result=\"success\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("authd_authentications_total{factor=\"yubiotp\",result=\"otp_replayed\"} 1"),
            std::string::npos);
}

TEST_F(YubiOtpHttp, ConcurrentDuplicatesOfOneOtpYieldExactlyOneToken) {
  const std::string otp = key_.Press();
  EXPECT_EQ(ConcurrentSuccesses([&] { return Verify(otp); }, 8), 1);
}

TEST_F(YubiOtpHttp, WrongOtpsLockTheKeyUntilUnlocked) {
  SoftYubiKey impostor = key_;  // right public id, wrong AES key
  impostor.aes_key = RandomBytes(16);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Verify(impostor.Press()).json()["code"], "otp_invalid");
  // The third failure started a wait: the real key's OTP is refused the same way.
  HttpResult locked = Verify(key_.Press());
  EXPECT_EQ(locked.status, 422);
  EXPECT_EQ(locked.json()["code"], "otp_invalid");
  ASSERT_EQ(server_.Authctl({"user", "unlock", "alice"}).exit_code, 0);
  EXPECT_EQ(Verify(key_.Press()).status, 200);
}

// A success clears the failures counted against the key and its owner; with none counted, a
// success has nothing to clear and the next failures count from one.
TEST_F(YubiOtpHttp, ASuccessClearsTheFailuresOfTheKeyAndItsOwner) {
  const std::string db = server_.dir().File("authd.db");
  SoftYubiKey impostor = key_;  // right public id, wrong AES key
  impostor.aes_key = RandomBytes(16);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Verify(impostor.Press()).json()["code"], "otp_invalid");
  EXPECT_EQ(SqlScalar(db, "SELECT count(*) FROM failure_counters"), "2");  // the key's and alice's
  EXPECT_EQ(Verify(key_.Press()).status, 200);
  EXPECT_EQ(SqlScalar(db, "SELECT count(*) FROM failure_counters"), "0");
  EXPECT_EQ(Verify(key_.Press()).status, 200);
  // Two more failures: below the third that starts a wait, so the real key still gets in.
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Verify(impostor.Press()).json()["code"], "otp_invalid");
  EXPECT_EQ(Verify(key_.Press()).status, 200);
  EXPECT_EQ(SqlScalar(db, "SELECT count(*) FROM failure_counters"), "0");
}

TEST_F(YubiOtpHttp, Y05_Y06_TamperedAndMalformedOtps) {
  std::string otp = key_.Press();
  std::string tampered = otp;
  tampered.back() = tampered.back() == 'c' ? 'b' : 'c';
  EXPECT_EQ(Verify(tampered).json()["code"], "otp_invalid");
  for (const std::string& bad : {otp.substr(0, 31), otp + "c", std::string(49, 'c'), otp.substr(0, 43) + "x",
                                 std::string("' OR 1=1 --") + otp.substr(11)}) {
    HttpResult r = Verify(bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.json()["code"], "otp_format") << bad;
  }
  SoftYubiKey stranger;
  stranger.public_id = "vvccccfhcccc";
  EXPECT_EQ(Verify(stranger.Press()).json()["code"], "otp_invalid");
  EXPECT_EQ(Verify(otp).status, 200);  // the untouched OTP still works
}

TEST_F(YubiOtpHttp, RevokedKeysAreRefusedAndMayBeRegisteredAgainWhenReprogrammed) {
  ASSERT_EQ(server_.Authctl({"credential", "revoke", "alice", credential_id_}).exit_code, 0);
  EXPECT_EQ(Verify(key_.Press()).json()["code"], "credential_revoked");
  // Reprogrammed with new secrets under the same public id: registered again, old OTPs dead.
  SoftYubiKey reprogrammed;
  reprogrammed.public_id = key_.public_id;
  HttpResult again = server_.PostJson("/v1/admin/users/alice/yubiotp", reprogrammed.Registration(), enroller_);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_NE(again.json()["credential"]["id"], credential_id_);
  EXPECT_EQ(Verify(key_.Press()).json()["code"], "otp_invalid");
  EXPECT_EQ(Verify(reprogrammed.Press()).status, 200);
}

TEST_F(YubiOtpHttp, AReprogrammedKeyReplacesItsOwnersLiveRegistrationOnlyWhenAsked) {
  HttpResult first = Verify(key_.Press());
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string old_token = first.json()["access_token"];
  SoftYubiKey reprogrammed;
  reprogrammed.public_id = key_.public_id;
  Json reg = reprogrammed.Registration();
  // Without replace, a live registration of the public id refuses, and so does a replace that is
  // not a boolean; another user's live registration refuses even with replace.
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", reg, enroller_).json()["code"], "credential_exists");
  reg["replace"] = "yes";
  EXPECT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", reg, enroller_).status, 400);
  ASSERT_EQ(server_.Authctl({"user", "add", "bob"}).exit_code, 0);
  reg["replace"] = true;
  HttpResult other = server_.PostJson("/v1/admin/users/bob/yubiotp", reg, enroller_);
  EXPECT_EQ(other.json()["code"], "credential_exists");
  EXPECT_NE(other.json()["detail"].get<std::string>().find("another user"), std::string::npos) << other.body;
  EXPECT_EQ(Verify(key_.Press()).status, 200);  // nothing changed

  HttpResult replaced = server_.PostJson("/v1/admin/users/alice/yubiotp", reg, enroller_);
  ASSERT_EQ(replaced.status, 201) << replaced.body;
  const std::string new_id = replaced.json()["credential"]["id"];
  EXPECT_NE(new_id, credential_id_);
  // The old secret and the tokens it won are dead; the new secret logs in.
  EXPECT_EQ(Verify(key_.Press()).json()["code"], "otp_invalid");
  HttpResult ok = Verify(reprogrammed.Press());
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.json()["credential_id"], new_id);
  Json app = server_.Client("app", {"--scope", "introspect"});
  auto active = [&](const std::string& token) {
    return server_.Request("POST", "/v1/tokens/introspect", "token=" + token,
                           {{"Content-Type", "application/x-www-form-urlencoded"},
                            {"Authorization", BasicAuth(app["client_id"], app["client_secret"])}})
        .json()["active"];
  };
  EXPECT_EQ(active(old_token), false);
  EXPECT_EQ(active(ok.json()["access_token"]), true);
  const std::string auditor = server_.TokenFor("aud", {"auditor"});
  const Json user = server_.Get("/v1/admin/users/alice", {{"Authorization", "Bearer " + auditor}}).json();
  int live = 0;
  for (const auto& c : user["user"]["credentials"]) {
    if (c["type"] != "yubiotp") continue;
    if (c["id"] == credential_id_) {
      EXPECT_EQ(c["status"], "revoked");
    }
    if (c["status"] == "active") ++live;
  }
  EXPECT_EQ(live, 1) << user.dump();
  // Both halves are audited: the revocation (reason "replaced") and the registration naming it.
  const Json audit = server_.Get("/v1/admin/audit?limit=20", {{"Authorization", "Bearer " + auditor}}).json();
  bool revoke_seen = false, register_seen = false;
  for (const auto& e : audit["events"]) {
    if (e["action"] == "credential.revoke" && e["target"] == "credential:" + credential_id_) {
      revoke_seen = e["reason"] == "replaced";
    }
    if (e["action"] == "yubiotp.register" && e.contains("detail") &&
        e["detail"].value("replaced", "") == credential_id_) {
      register_seen = true;
    }
  }
  EXPECT_TRUE(revoke_seen) << audit.dump();
  EXPECT_TRUE(register_seen) << audit.dump();
}

// --- the Yubico validation protocol, through Debian's ykclient and by hand ---

class Ykval : public YubiOtpHttp {
 protected:
  explicit Ykval(std::map<std::string, std::string> env = {}) : YubiOtpHttp(std::move(env)) {}
  void SetUp() override {
    YubiOtpHttp::SetUp();
    client_ = server_.Client("radius", {"--scope", "ykval"});
  }
  CommandResult Ykclient(const std::string& otp, const std::string& key) {
    return RunCommand({"/usr/bin/ykclient", "--url", "http://127.0.0.1:" + std::to_string(server_.port()) + "/wsapi/2.0/verify",
                       "--apikey", key, std::to_string(client_["ykval_id"].get<int64_t>()), otp},
                      {}, "/tmp", 20);
  }
  std::map<std::string, std::string> Query(std::map<std::string, std::string> params, bool sign = true) {
    HttpResult r = server_.Get("/wsapi/2.0/verify" + QueryString(std::move(params), sign));
    EXPECT_EQ(r.status, 200);
    return Fields(r.body);
  }
  std::string QueryString(std::map<std::string, std::string> params, bool sign = true) {
    if (sign) params["h"] = domain::otp::YkvalSignature(params, *Base64Decode(client_["ykval_key"].get<std::string>()));
    std::string q;
    for (const auto& [k, v] : params) {
      std::string enc;
      for (char c : v) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
          enc.push_back(c);
        } else {
          char buf[4];
          std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
          enc += buf;
        }
      }
      q += (q.empty() ? "?" : "&") + k + "=" + enc;
    }
    return q;
  }
  static std::map<std::string, std::string> Fields(const std::string& body) {
    std::map<std::string, std::string> out;
    size_t pos = 0;
    while (pos < body.size()) {
      size_t end = body.find("\r\n", pos);
      if (end == std::string::npos) end = body.size();
      std::string line = body.substr(pos, end - pos);
      if (auto eq = line.find('='); eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
      pos = end + 2;
    }
    return out;
  }
  std::string Id() const { return std::to_string(client_["ykval_id"].get<int64_t>()); }
  Json client_;
};

TEST_F(Ykval, YkclientVerifiesRealOtpsAndSeesReplays) {
  const std::string otp = key_.Press();
  CommandResult ok = Ykclient(otp, client_["ykval_key"]);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  CommandResult replay = Ykclient(otp, client_["ykval_key"]);
  EXPECT_EQ(replay.exit_code, 2) << replay.out << replay.err;  // ykclient: "OTP was replayed"
  // A client holding the wrong key cannot verify anything, and is told so.
  CommandResult wrong_key = Ykclient(key_.Press(), Base64Encode(RandomBytes(20)));
  EXPECT_NE(wrong_key.exit_code, 0);
}

TEST_F(Ykval, ResponsesAreSignedAndStatusesFollowTheProtocol) {
  const std::string nonce = "aBcDeFgHiJkLmNoPqRsT";
  const std::string otp = key_.Press();
  auto ok = Query({{"id", Id()}, {"otp", otp}, {"nonce", nonce}, {"timestamp", "1"}});
  EXPECT_EQ(ok["status"], "OK");
  EXPECT_EQ(ok["otp"], otp);
  EXPECT_EQ(ok["nonce"], nonce);
  EXPECT_EQ(ok["sessionuse"], "0");
  // The response's h verifies with the client's key over every other pair.
  std::map<std::string, std::string> signed_pairs = ok;
  const std::string h = signed_pairs["h"];
  EXPECT_EQ(domain::otp::YkvalSignature(signed_pairs, *Base64Decode(client_["ykval_key"].get<std::string>())), h);
  // Y02: the same request again; Y01: the same OTP with a new nonce.
  EXPECT_EQ(Query({{"id", Id()}, {"otp", otp}, {"nonce", nonce}})["status"], "REPLAYED_REQUEST");
  EXPECT_EQ(Query({{"id", Id()}, {"otp", otp}, {"nonce", nonce + "x"}})["status"], "REPLAYED_OTP");
  // Y07: nonce too short, too long, not alphanumeric; no id.
  for (const std::string& n : {std::string(15, 'a'), std::string(41, 'a'), std::string("abcdefghijklmnop-")}) {
    EXPECT_EQ(Query({{"id", Id()}, {"otp", key_.Press()}, {"nonce", n}})["status"], "MISSING_PARAMETER") << n;
  }
  EXPECT_EQ(Query({{"otp", key_.Press()}, {"nonce", nonce}}, false)["status"], "MISSING_PARAMETER");
  // Y08: unsigned, wrongly signed, unknown client.
  EXPECT_EQ(Query({{"id", Id()}, {"otp", key_.Press()}, {"nonce", nonce}}, false)["status"], "BAD_SIGNATURE");
  auto forged = Query({{"id", Id()}, {"otp", key_.Press()}, {"nonce", nonce}, {"h", "AAAA"}}, false);
  EXPECT_EQ(forged["status"], "BAD_SIGNATURE");
  EXPECT_EQ(Query({{"id", "99999"}, {"otp", key_.Press()}, {"nonce", nonce}}, false)["status"], "NO_SUCH_CLIENT");
  // Y05/Y06: BAD_OTP for a tampered or malformed OTP.
  std::string bad = key_.Press();
  bad.back() = bad.back() == 'c' ? 'b' : 'c';
  EXPECT_EQ(Query({{"id", Id()}, {"otp", bad}, {"nonce", nonce}})["status"], "BAD_OTP");
  EXPECT_EQ(Query({{"id", Id()}, {"otp", "' OR 1=1 --"}, {"nonce", nonce}})["status"], "BAD_OTP");
}

int ConnectTo(uint16_t port) { return ConnectLoopback(port); }

// Requests sent back to back on one connection (HTTP/1.1 pipelining) are each answered once, in
// the order they were sent, although their answers are made after their commits; a replay
// among them is refused in its place.
TEST_F(Ykval, PipelinedRequestsAreAnsweredInOrderOnce) {
  constexpr int kRequests = 40, kReplayAt = 17;
  std::string wire;
  std::vector<std::string> nonces, otps, expected;
  for (int i = 0; i < kRequests; ++i) {
    const std::string otp = i == kReplayAt ? otps[3] : key_.Press();
    const std::string nonce = "pipelinednonce" + std::to_string(1000 + i);
    nonces.push_back(nonce);
    otps.push_back(otp);
    expected.push_back(i == kReplayAt ? "REPLAYED_OTP" : "OK");
    wire += "GET /wsapi/2.0/verify" + QueryString({{"id", Id()}, {"otp", otp}, {"nonce", nonce}}) +
            " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  const int fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, wire.data(), wire.size(), MSG_NOSIGNAL), static_cast<ssize_t>(wire.size()));
  shutdown(fd, SHUT_WR);  // the server closes once it has answered: nothing more may follow
  std::vector<std::string> bodies = ReadAnswers(fd, kRequests + 1);
  close(fd);
  ASSERT_EQ(bodies.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) {
    auto f = Fields(bodies[static_cast<size_t>(i)]);
    EXPECT_EQ(f["nonce"], nonces[static_cast<size_t>(i)]) << "answer " << i << " is not its request's";
    EXPECT_EQ(f["otp"], otps[static_cast<size_t>(i)]);
    EXPECT_EQ(f["status"], expected[static_cast<size_t>(i)]) << "answer " << i;
  }
}

// A client that pipelines requests and never reads its answers holds up nobody else: the
// store's writer, which sends deferred answers, never waits for a client, so the writes of other
// clients go on while this one's answers back up, and it still gets every answer, in order, once
// it reads.
class YkvalUnlimited : public Ykval {
 protected:
  YkvalUnlimited() : Ykval({{"AUTHD_RATE_LIMIT", "0"}}) {}
};

TEST_F(YkvalUnlimited, AClientThatDoesNotReadItsAnswersHoldsUpNobody) {
  const int fd = ConnectLoopback(server_.port(), 16384);  // a small window: its answers back up early
  ASSERT_GE(fd, 0);
  constexpr int kRequests = 600;
  std::string wire;
  std::vector<std::string> nonces;
  for (int i = 0; i < kRequests; ++i) {
    if (i % 200 == 199) key_.Replug();  // the use counter is one byte
    nonces.push_back("stalledclientnonce" + std::to_string(100000 + i));
    wire += "GET /wsapi/2.0/verify" + QueryString({{"id", Id()}, {"otp", key_.Press()}, {"nonce", nonces.back()}}) +
            " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  std::thread sender([&] {
    (void)send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
  });
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // Meanwhile another client's OTPs verify, each a durable write, and are answered promptly.
  SoftYubiKey other;
  other.public_id = "vvccccfhcbcc";
  ASSERT_EQ(server_.PostJson("/v1/admin/users/alice/yubiotp", other.Registration(), enroller_).status, 201);
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(Query({{"id", Id()}, {"otp", other.Press()}, {"nonce", "othernonce" + std::to_string(100000 + i)}})["status"],
              "OK");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  }
  std::vector<std::string> bodies = ReadAnswers(fd, kRequests + 1);
  sender.join();
  close(fd);
  ASSERT_EQ(bodies.size(), static_cast<size_t>(kRequests));
  int wrong = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto f = Fields(bodies[static_cast<size_t>(i)]);
    if (f["status"] != "OK" || f["nonce"] != nonces[static_cast<size_t>(i)]) {
      if (wrong++ == 0) ADD_FAILURE() << "answer " << i << ": " << bodies[static_cast<size_t>(i)];
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(server_.Get("/healthz").status, 200);
}

TEST_F(Ykval, ClientsWithoutTheScopeAreNotAllowed) {
  Json other = server_.Client("introspector", {"--scope", "introspect"});
  std::map<std::string, std::string> p = {{"id", std::to_string(other["ykval_id"].get<int64_t>())},
                                          {"otp", key_.Press()},
                                          {"nonce", "aBcDeFgHiJkLmNoPqRsT"}};
  p["h"] = domain::otp::YkvalSignature(p, *Base64Decode(other["ykval_key"].get<std::string>()));
  std::string q = "?id=" + p["id"] + "&otp=" + p["otp"] + "&nonce=" + p["nonce"] + "&h=";
  for (char c : p["h"]) {
    if (c == '+') q += "%2B";
    else if (c == '/') q += "%2F";
    else if (c == '=') q += "%3D";
    else q.push_back(c);
  }
  HttpResult r = server_.Get("/wsapi/2.0/verify" + q);
  EXPECT_NE(r.body.find("status=OPERATION_NOT_ALLOWED"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace authd::testing
