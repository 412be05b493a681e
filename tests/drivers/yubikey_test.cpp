// YubiKey programming: configurations built by libykpers' real code, written to the simulated
// key (soft:FILE), whose recorded bytes are then read back field by field, and an OTP made from
// them with libyubikey as the key's firmware would.

#include "authd/drivers/yubikey.h"

#include <ykdef.h>
#include <yubikey.h>

#include <gtest/gtest.h>

#include <cstring>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/files.h"
#include "authd/base/json.h"
#include "util/temp_dir.h"

namespace authd::drivers {
namespace {

ProgramOptions Opts(int slot, bool force = false, Bytes access = {}, Bytes new_access = {}) {
  ProgramOptions o;
  o.slot = slot;
  o.force = force;
  o.access_code = std::move(access);
  o.new_access_code = std::move(new_access);
  return o;
}

class YubiKeyTest : public ::testing::Test {
 protected:
  std::unique_ptr<YubiKeyPort> Open() {
    auto k = OpenYubiKey("soft:" + dir_.File("yk.json"));
    EXPECT_TRUE(k) << k.error().detail;
    return k ? std::move(k.value()) : nullptr;
  }
  // The 52 configuration bytes the key received for `slot`.
  config_st Recorded(int slot) {
    Json state = ParseJsonStrict(*ReadWholeFile(dir_.File("yk.json"))).value();
    Bytes wire = *HexDecode(state["slots"][std::to_string(slot)]["config"].get<std::string>());
    config_st cfg;
    EXPECT_EQ(wire.size(), sizeof cfg);
    std::memcpy(&cfg, wire.data(), sizeof cfg);
    EXPECT_EQ(yubikey_crc16(wire.data(), wire.size()), 0xf0b8);  // the CRC libykpers' port adds
    return cfg;
  }
  testing::TempDir dir_;
};

TEST_F(YubiKeyTest, ProgramsYubicoOtpWithFreshSecretsAndThePublicIdFromTheSerial) {
  auto key = Open();
  const uint32_t serial = key->ReadStatus()->serial;
  auto secrets = ProgramYubicoOtp(*key, {});
  ASSERT_TRUE(secrets) << secrets.error().detail;
  const uint8_t s[4] = {static_cast<uint8_t>(serial >> 24), static_cast<uint8_t>(serial >> 16),
                        static_cast<uint8_t>(serial >> 8), static_cast<uint8_t>(serial)};
  char expected[9] = {};
  yubikey_modhex_encode(expected, reinterpret_cast<const char*>(s), 4);
  EXPECT_EQ(secrets->public_id, "vvcc" + std::string(expected));
  EXPECT_EQ(secrets->private_id.size(), 6u);

  config_st cfg = Recorded(1);
  EXPECT_EQ(cfg.fixedSize, 6);
  EXPECT_EQ(0, std::memcmp(cfg.uid, secrets->private_id.data(), 6));
  EXPECT_EQ(0, std::memcmp(cfg.key, secrets->aes_key.view().data(), 16));
  EXPECT_NE(cfg.tktFlags & TKTFLAG_APPEND_CR, 0);
  EXPECT_EQ(cfg.tktFlags & TKTFLAG_CHAL_RESP, 0);
  EXPECT_TRUE(key->ReadStatus()->SlotConfigured(1));
  EXPECT_FALSE(key->ReadStatus()->SlotConfigured(2));

  // What the key types when touched: the fixed part, then the token under the recorded key.
  yubikey_token_st tok{};
  std::memcpy(tok.uid, cfg.uid, 6);
  tok.ctr = 1;
  tok.crc = static_cast<uint16_t>(~yubikey_crc16(reinterpret_cast<uint8_t*>(&tok), 14));
  char otp[33] = {};
  yubikey_generate(&tok, cfg.key, otp);
  char fixed[13] = {};
  yubikey_modhex_encode(fixed, reinterpret_cast<const char*>(cfg.fixed), cfg.fixedSize);
  EXPECT_EQ(std::string(fixed), secrets->public_id);
  // Two programmings never share secrets.
  auto again = ProgramYubicoOtp(*key, Opts(2));
  ASSERT_TRUE(again);
  EXPECT_NE(HexEncode(again->aes_key.view()), HexEncode(secrets->aes_key.view()));
  EXPECT_NE(again->private_id, secrets->private_id);
}

TEST_F(YubiKeyTest, ConfiguredSlotsNeedForceAndProtectedSlotsTheirAccessCode) {
  auto key = Open();
  ASSERT_TRUE(ProgramYubicoOtp(*key, Opts(1, false, {}, *HexDecode("010203040506"))));
  EXPECT_EQ(Recorded(1).accCode[5], 0x06);
  auto no_force = ProgramYubicoOtp(*key, Opts(1));
  EXPECT_EQ(no_force.code(), ErrorCode::kConflict);
  EXPECT_NE(no_force.error().detail.find("--force"), std::string::npos);
  auto no_code = ProgramYubicoOtp(*key, Opts(1, true));
  EXPECT_EQ(no_code.code(), ErrorCode::kForbidden);
  const int seq = key->ReadStatus()->pgm_seq;
  auto wrong_code = ProgramYubicoOtp(*key, Opts(1, true, *HexDecode("000000000001")));
  EXPECT_EQ(wrong_code.code(), ErrorCode::kForbidden);
  EXPECT_EQ(key->ReadStatus()->pgm_seq, seq);  // nothing was taken
  EXPECT_TRUE(ProgramYubicoOtp(*key, Opts(1, true, *HexDecode("010203040506"))));
  EXPECT_EQ(ProgramYubicoOtp(*key, Opts(3)).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ProgramYubicoOtp(*key, Opts(2, false, Bytes(5, 0))).code(), ErrorCode::kInvalidArgument);
}

TEST_F(YubiKeyTest, ChallengeResponseIsHmacSha1WithTheSecretInKeyAndUid) {
  auto key = Open();
  auto secret = ProgramChallengeResponse(*key, Opts(2));
  ASSERT_TRUE(secret) << secret.error().detail;
  config_st cfg = Recorded(2);
  EXPECT_NE(cfg.tktFlags & TKTFLAG_CHAL_RESP, 0);
  EXPECT_NE(cfg.cfgFlags & CFGFLAG_CHAL_HMAC, 0);
  EXPECT_NE(cfg.cfgFlags & CFGFLAG_HMAC_LT64, 0);
  // libykpers stores a 20-byte HMAC key as 16 bytes in `key` and 4 in `uid`.
  EXPECT_EQ(0, std::memcmp(cfg.key, secret->view().data(), 16));
  EXPECT_EQ(0, std::memcmp(cfg.uid, secret->view().data() + 16, 4));
}

TEST_F(YubiKeyTest, OldFirmwareCannotDoChallengeResponse) {
  // A YubiKey 2.0 (before challenge-response existed): libykpers refuses the flags.
  Json old = {{"serial", 1234567}, {"version", {2, 0, 2}}, {"pgm_seq", 0}, {"touch_level", 0},
              {"slots", Json::object()}};
  ASSERT_TRUE(WriteFileDurably(dir_.File("yk.json"), AsBytes(DumpJson(old))));
  auto key = Open();
  auto r = ProgramChallengeResponse(*key, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("firmware 2.2"), std::string::npos) << r.error().detail;
}

}  // namespace
}  // namespace authd::drivers
