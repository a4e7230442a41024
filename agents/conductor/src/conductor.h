// The conductor loop: one model plans and acts through tools, consults fresh-context experts, and
// finishes when the task is done and verified.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "model.h"

namespace conductor {

struct Settings {
  std::filesystem::path workspace;
  std::filesystem::path prompts;  // the prompt files
  std::string instruction;
  std::string conductor_model = "default", expert_model = "default";  // gateway aliases
  int max_rounds = 30;
  int bash_timeout_seconds = 120;
  size_t max_tool_output_bytes = 16000;
  bool meta_reasoning = false;
};

struct Outcome {
  std::string status;  // finished | round_cap | budget_exhausted | model_error
  std::string summary;
  int rounds = 0;
};

// Appends one JSON object per line to the trajectory file.
class Trajectory {
 public:
  explicit Trajectory(const std::filesystem::path& file) : out_(file, std::ios::app) {}
  void Add(nlohmann::json step);

 private:
  std::ofstream out_;
};

// Throws std::runtime_error when a prompt file is missing.
Outcome RunConductor(const Settings& settings, Model& model, Trajectory& trajectory);

}  // namespace conductor
