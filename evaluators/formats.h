// The built-in formats' constructors (internal to evaluators/; OpenEvaluator picks one by kind).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "evaluators/evaluator.h"

namespace lineage {

// What every built-in format keeps: its kind, its tasks by id (each `Task` has a TaskInfo `info`) and its
// subsets. Tasks are read when the suite opens and never change after.
template <typename Task>
class IndexedEvaluator : public Evaluator {
 public:
  const std::string& kind() const override { return kind_; }

  Result<std::vector<TaskInfo>> ListTasks() override {
    std::vector<TaskInfo> out;
    for (const auto& [id, task] : tasks_) out.push_back(task.info);
    return out;
  }

  Result<std::map<std::string, std::vector<std::string>>> Subsets() override { return subsets_; }
  std::map<std::string, std::vector<std::string>> MissingFromSubsets() override { return missing_; }

 protected:
  explicit IndexedEvaluator(std::string kind) : kind_(std::move(kind)) {}

  Result<const Task*> Find(const std::string& id) const {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return Status::NotFound("no task '" + id + "' in this " + kind_ + " suite");
    return &it->second;
  }

  std::map<std::string, Task> tasks_;
  std::map<std::string, std::vector<std::string>> subsets_;
  std::map<std::string, std::vector<std::string>> missing_;  // MissingFromSubsets()

 private:
  std::string kind_;
};

Result<std::unique_ptr<Evaluator>> OpenTaskDir(const SuiteSpec& spec);
Result<std::unique_ptr<Evaluator>> OpenPolyglot(const SuiteSpec& spec);
Result<std::unique_ptr<Evaluator>> OpenExec(const SuiteSpec& spec);
Result<std::unique_ptr<Evaluator>> OpenSweBench(const SuiteSpec& spec);

}  // namespace lineage
