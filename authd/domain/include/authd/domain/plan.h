#pragma once
// What a service call leaves to do once its checks have passed: the durable write that records
// it, and what follows the write (its answer, or the refusal when the write failed). A plan is
// carried out on the caller's thread (RunNow) or, when the caller can answer from another thread,
// handed to the store's writer (Carry): the answer is then made right after the commit, there.

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "authd/base/result.h"
#include "authd/domain/audit.h"
#include "authd/domain/store.h"

namespace authd::domain {

template <class T>
struct Plan {
  // Empty when nothing is to be written. It may run on the store's writer thread after the call
  // returned: it captures what it needs by value.
  std::function<Status(WriteTx&)> write;
  // Given the write's result (Ok when there was none); runs once, after the commit.
  std::function<Result<T>(Status)> finish;

  // A plan whose answer is known already.
  static Plan Now(T value) {
    Plan p;
    p.finish = [v = std::move(value)](Status) mutable -> Result<T> { return std::move(v); };
    return p;
  }
};

// What a plan's write and answer keep of the call that made it (they may outlive it): its audit
// target and context and its time. A service's own state for a plan derives from it.
struct PlanCall {
  std::string target;
  int64_t now = 0;
  AuditContext ctx;
};

// A plan's finish: when the write failed, `refuse(*state, error)` audits the refusal and the
// error is the answer; otherwise the answer is the state's member `answer`, moved out.
template <class T, class S, class R>
std::function<Result<T>(Status)> AnswerOrRefuse(std::shared_ptr<S> state, T S::*answer, R refuse) {
  return [state, answer, refuse](Status s) -> Result<T> {
    if (!s) {
      refuse(*state, s.error());
      return s.error();
    }
    return std::move((*state).*answer);
  };
}

template <class T>
Result<T> RunNow(Store& store, Plan<T> plan) {
  if (!plan.write) return plan.finish(Ok());
  return plan.finish(store.Write(plan.write));
}

template <class T>
Result<T> RunNow(Store& store, Result<Plan<T>> plan) {
  if (!plan) return plan.error();
  return RunNow(store, std::move(plan.value()));
}

// `done` gets the answer: before Carry returns, or with `defer` on the store's writer thread
// right after the commit that holds the write.
template <class T>
void Carry(Store& store, Plan<T> plan, std::function<void(Result<T>)> done, bool defer) {
  if (!plan.write) {
    done(plan.finish(Ok()));
    return;
  }
  store.WriteThen(
      std::move(plan.write),
      [finish = std::move(plan.finish), done = std::move(done)](Status s) {
        // `done` is called whatever happens: a caller waiting for its answer must get one.
        std::optional<Result<T>> r;
        try {
          r.emplace(finish(std::move(s)));
        } catch (const std::exception&) {
          r.emplace(Err(ErrorCode::kInternal, "the answer could not be made"));
        }
        done(std::move(*r));
      },
      defer);
}

template <class T>
void Carry(Store& store, Result<Plan<T>> plan, std::function<void(Result<T>)> done, bool defer) {
  if (!plan) {
    done(plan.error());
    return;
  }
  Carry(store, std::move(plan.value()), std::move(done), defer);
}

}  // namespace authd::domain
