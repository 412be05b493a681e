// A Core over a real SQLite file in a temporary folder, with a clock the test controls.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "authd/base/crypto.h"
#include "authd/domain/core.h"
#include "authd/store/sqlite_store.h"
#include "util/temp_dir.h"

namespace authd::domain {

class CoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(dir_.File("authd.db"));
    ASSERT_TRUE(s) << s.error().detail;
    store_ = std::move(s.value());
    master_ = RandomSecret(kMasterKeySize);
    keyring_ = std::make_unique<Keyring>(master_);
    CoreOptions o;
    o.tokens.issuer = "https://auth.example.org";
    o.tokens.default_audience = "https://auth.example.org";
    o.tokens.ttl_seconds = 300;
    core_ = std::make_unique<Core>(*store_, *keyring_, clock_, o);
    ASSERT_TRUE(core_->Init());
  }

  Principal Operator() {
    Principal p;
    p.operator_cli = true;
    return p;
  }
  AuditContext Ctx(std::string actor = "authctl:test") { return {std::move(actor), "127.0.0.1", "req-1"}; }

  User MakeUser(const std::string& name, std::vector<std::string> roles = {}) {
    auto u = core_->CreateUser(Operator(), Ctx(), {name, "", std::move(roles)});
    EXPECT_TRUE(u) << (u ? "" : u.error().detail);
    return u ? u.value() : User{};
  }

  Principal As(const User& u) { return Principal{u, "jti", false}; }

  testing::TempDir dir_;
  ManualClock clock_;
  SecretBytes master_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Keyring> keyring_;
  std::unique_ptr<Core> core_;
};

}  // namespace authd::domain
