#include "base/environment.h"

#include <mutex>

namespace lineage {
namespace {

std::mutex mu;
std::string owner;  // guarded by mu

std::string Owner() {
  std::lock_guard<std::mutex> lock(mu);
  return owner;
}

}  // namespace

void SetEnvironmentOwner(std::string who) {
  std::lock_guard<std::mutex> lock(mu);
  owner = std::move(who);
}

std::string VariableMissing(const std::string& name) {
  const std::string who = Owner();
  if (who.empty()) return "the environment variable " + name + " is not set";
  return who + " lacks the environment variable " + name + " (it keeps the environment it started with)";
}

std::string HowToSetVariable(const std::string& name, const std::string& example) {
  const std::string who = Owner();
  if (who.empty()) return "export " + name + (example.empty() ? "" : "=" + example);
  return "restart " + who + " with " + name + " exported";
}

}  // namespace lineage
