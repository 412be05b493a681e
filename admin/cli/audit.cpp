// authctl audit tail | verify

#include <chrono>
#include <thread>

#include "cli.h"

namespace authctl {

void RegisterAuditCommands(CLI::App& app, Context& ctx) {
  auto* audit = app.add_subcommand("audit", "read and check the audit log");
  audit->require_subcommand(1);
  {
    auto* tail = audit->add_subcommand("tail", "print the newest events, oldest first, one JSON object per line");
    auto limit = std::make_shared<int>(20);
    auto follow = std::make_shared<bool>(false);
    tail->add_option("-n,--lines", *limit, "how many events")->check(CLI::Range(1, 1000));
    tail->add_flag("-f,--follow", *follow, "keep printing new events until interrupted");
    tail->callback([&ctx, limit, follow] {
      auto events = Check(ctx.Core().ListAudit(0, 0, *limit));
      int64_t last = 0;
      for (auto it = events.rbegin(); it != events.rend(); ++it) {
        PrintJson(authd::domain::AuditLog::ToJson(*it));
        last = it->seq;
      }
      std::fflush(stdout);
      while (*follow) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        auto fresh = Check(ctx.Core().ListAudit(0, 0, 1000));
        for (auto it = fresh.rbegin(); it != fresh.rend(); ++it) {
          if (it->seq <= last) continue;
          PrintJson(authd::domain::AuditLog::ToJson(*it));
          last = it->seq;
        }
        std::fflush(stdout);
      }
    });
  }
  {
    auto* verify = audit->add_subcommand("verify", "check the audit log's MAC chain; exit 1 if it was tampered with");
    verify->callback([&ctx] {
      auto& core = ctx.Core();
      auto report = Check(core.audit().Verify(core.store()));
      if (!report.intact) {
        throw Failure{"audit log damaged at event " + std::to_string(report.first_bad_seq) + ": " + report.problem};
      }
      std::printf("audit log intact: %lld events\n", static_cast<long long>(report.events));
    });
  }
}

}  // namespace authctl
