#include "base/environment.h"

#include <mutex>

namespace lineage {
namespace {

std::mutex mu;
std::string owner;  // guarded by mu

}  // namespace

void SetEnvironmentOwner(std::string who) {
  std::lock_guard<std::mutex> lock(mu);
  owner = std::move(who);
}

std::string EnvironmentOwner() {
  std::lock_guard<std::mutex> lock(mu);
  return owner;
}

std::string MissingVariable(const std::string& name, const std::string& in_shell) {
  const std::string who = EnvironmentOwner();
  if (who.empty()) return in_shell;
  return who + " lacks the environment variable " + name + " (it keeps the environment it started with); restart " +
         who + " with " + name + " exported";
}

}  // namespace lineage
