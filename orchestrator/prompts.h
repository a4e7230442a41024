// What the orchestrator says to models: its two prompt templates (prompts/diagnose.md, self_modify.md) and
// the text it fills them with — an agent's source, a task's log — and how it reads a diagnosis back.
//
// Everything here is a pure function of its inputs, so a prompt is the same whenever its inputs are: that is
// what makes a replay match its record and a provider's prompt cache hit.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"
#include "llm/llm.h"

namespace lineage {

inline constexpr std::size_t kMaxSourceBytes = 60 * 1024;  // of the agent's source, in the diagnosis prompt
inline constexpr std::size_t kMaxLogBytes = 40 * 1024;     // of the task log, in the diagnosis prompt

// The prompt templates, read once when a run starts: a missing file or placeholder fails the run then,
// never an empty prompt in the middle of it.
struct Prompts {
  std::string diagnose;     // {{agent_source}}, {{problem}}
  std::string self_modify;  // {{problem_statement}}
};

// The directory holding the templates (their placeholders are in docs/runs.md): $LINEAGE_PROMPTS, else
// DataDir()/prompts.
std::filesystem::path PromptsDir();
// Both templates; FailedPrecondition naming the one that is missing or lacks a placeholder.
Result<Prompts> LoadPrompts();
Status CheckPromptTemplates();

// The template with each {{key}} replaced, in one pass over the template only: a value that holds
// "{{problem}}" (an agent's source can) stays as it is. An unknown {{key}} is left as written.
std::string Fill(const std::string& text, const std::map<std::string, std::string>& values);

// The agent's source as the diagnosis model reads it: text files, small ones first, within kMaxSourceBytes;
// the files left out are named at the end.
std::string SourceListing(const std::vector<TreeEntry>& tree);

// A task run as the diagnosis model reads it, from its evaluation and its stored log (nullopt: none),
// within about kMaxLogBytes: what the agent said, its patch and the test output first (they show what went
// wrong), then the end of its trajectory in what room is left. Nothing volatile (times, /tmp paths, pids).
std::string TaskLog(const Evaluation& evaluation, const std::optional<std::string>& log);

// The diagnosis prompt, its source listing first: the part up to the problem is the same for every
// diagnosis of one parent, so it ends in a prompt-cache breakpoint (Anthropic) and is a stable prefix
// (OpenAI caches those by itself).
llm::Message DiagnosisPrompt(const Prompts& prompts, const std::string& source, const std::string& problem);

// DGM's diagnosis fields, each a string in the model's JSON answer.
inline constexpr const char* kDiagnosisFields[] = {"log_summarization", "potential_improvements",
                                                   "improvement_proposal", "implementation_suggestion",
                                                   "problem_description"};
// The first JSON object in a model's reply with every DGM field as a string, or why there is none (said
// back to the model when it is asked again).
Result<nlohmann::json> ParseDiagnosis(const std::string& reply);

}  // namespace lineage
