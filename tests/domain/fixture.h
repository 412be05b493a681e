// A Core over a real SQLite file in a temporary folder, with a clock the test controls.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <utility>

#include "authd/base/crypto.h"
#include "authd/domain/core.h"
#include "authd/store/sqlite_store.h"
#include "util/temp_dir.h"

namespace authd::domain {

// The real store, with the read transactions made through it counted (a service's reads are a
// cost the tests hold it to), and a change that a test makes between a service's read and its
// write (BeforeNextWrite).
class CountingStore final : public Store {
 public:
  explicit CountingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}
  Status Read(const std::function<Status(ReadTx&)>& fn) override {
    ++reads_;
    return inner_->Read(fn);
  }
  Status Write(const std::function<Status(WriteTx&)>& fn) override {
    if (auto change = std::exchange(before_next_write_, nullptr)) change();
    return inner_->Write(fn);
  }
  // `change` runs once, just before the next write made through this store.
  void BeforeNextWrite(std::function<void()> change) { before_next_write_ = std::move(change); }
  void WriteThen(std::function<Status(WriteTx&)> fn, std::function<void(Status)> then, bool defer) override {
    inner_->WriteThen(std::move(fn), std::move(then), defer);
  }
  Status Ping() override { return inner_->Ping(); }
  Result<Bytes> Snapshot() override { return inner_->Snapshot(); }
  std::string Describe() const override { return inner_->Describe(); }
  StoreStats Stats() const override { return inner_->Stats(); }
  uint64_t CacheStamp() const override { return inner_->CacheStamp(); }
  int64_t reads() const { return reads_.load(); }

 private:
  std::unique_ptr<Store> inner_;
  std::atomic<int64_t> reads_{0};
  std::function<void()> before_next_write_;
};

class CoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(dir_.File("authd.db"));
    ASSERT_TRUE(s) << s.error().detail;
    auto counting = std::make_unique<CountingStore>(std::move(s.value()));
    counting_ = counting.get();
    store_ = std::move(counting);
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

  // The newest audit event (an empty one, and a failure, when there is none).
  AuditEvent NewestAudit() {
    auto events = core_->ListAudit(0, 0, 1);  // the newest first
    EXPECT_TRUE(events && !events->empty());
    return events && !events->empty() ? events->front() : AuditEvent{};
  }

  // The newest audit event is a refused `action`, for `reason`.
  void ExpectNewestRefusal(const std::string& action, const std::string& reason) {
    const AuditEvent e = NewestAudit();
    EXPECT_EQ(e.action, action);
    EXPECT_EQ(e.outcome, "failure");
    EXPECT_EQ(e.reason, reason);
  }

  testing::TempDir dir_;
  ManualClock clock_;
  SecretBytes master_;
  std::unique_ptr<Store> store_;
  CountingStore* counting_ = nullptr;  // store_, its reads counted
  std::unique_ptr<Keyring> keyring_;
  std::unique_ptr<Core> core_;
};

}  // namespace authd::domain
