// Replaying a recorded run in a new home, every model call answered from the record (orchestrator/replay.h).
#include "orchestrator/replay.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "archive/journal.h"
#include "base/files.h"
#include "base/unique_fd.h"
#include "llm/gateway.h"
#include "orchestrator/child_source.h"
#include "orchestrator/evolution.h"
#include "orchestrator/run_services.h"
#include "orchestrator/runs.h"

namespace lineage {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Where two texts part, with some context from each.
std::string Diff(const std::string& recorded, const std::string& now) {
  std::size_t at = 0;
  while (at < recorded.size() && at < now.size() && recorded[at] == now[at]) ++at;
  const std::size_t from = at > 200 ? at - 200 : 0;
  return "first difference at byte " + std::to_string(at) + "\n--- recorded\n" + recorded.substr(from, 500) +
         "\n+++ replayed\n" + now.substr(from, 500);
}

// A run's agents that were made, in id order: failed ones (a commit a crash cut short) never were.
Result<std::vector<Agent>> Made(Archive& archive, RunId run) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive.ListAgents(run));
  std::erase_if(agents, [](const Agent& a) { return a.state == AgentState::kFailed || a.state == AgentState::kPending; });
  return agents;
}

llm::ErrorKind KindNamed(const std::string& name) {
  for (int k = 0; k <= static_cast<int>(llm::ErrorKind::kNotRecorded); ++k) {
    if (name == llm::ErrorKindName(static_cast<llm::ErrorKind>(k))) return static_cast<llm::ErrorKind>(k);
  }
  return llm::ErrorKind::kServer;
}

// The recorded run's calls, answered in the order the replay asks for them at each place in the run.
class RecordedRun : public llm::CallReplayer {
 public:
  RecordedRun(Archive& source, std::vector<AgentId> source_agents, Archive& replay, RunId replay_run,
              std::atomic<bool>* stop)
      : source_(source), source_agents_(std::move(source_agents)), replay_(replay), replay_run_(replay_run), stop_(stop) {}

  Status Load(RunId run) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<ModelCall> calls, source_.ListRunModelCalls(run));
    for (ModelCall& c : calls) calls_[{c.agent_id.value_or(0), c.purpose, c.task_id}].push_back(std::move(c));
    return Status::OK();
  }

  llm::ReplayedCall Answer(const llm::Attribution& who, const std::string& api, const std::string& request_body) override {
    std::lock_guard lock(mu_);
    llm::ReplayedCall out;
    if (!divergence_.empty()) return Refused("the replay has stopped at an earlier divergence");
    const AgentId agent = who.agent_id ? SourceAgent(*who.agent_id) : 0;
    const Key key{agent, who.purpose, who.task_id};
    const std::size_t index = next_[key]++;
    const std::string place = "agent " + (agent ? "#" + std::to_string(agent) : std::string("none")) + ", purpose " +
                              who.purpose + ", task " + who.task_id + ", call " + std::to_string(index + 1);
    auto it = calls_.find(key);
    if (it == calls_.end() || index >= it->second.size()) {
      return Diverge(place + ": the recorded run made no such call (it made " +
                     std::to_string(it == calls_.end() ? 0 : it->second.size()) + " there)");
    }
    const ModelCall& recorded = it->second[index];
    if (api == "responses") return Diverge(place + ": a Responses API call, whose recorded answer the replay cannot read back");
    auto request = source_.GetBlob(recorded.request_blob);
    if (!request.ok()) return Diverge(place + ": its recorded request is unreadable: " + request.status().message());
    // A refused or failed call's record keeps only the start of its request (llm/gateway.h).
    const bool answered = recorded.outcome == "ok" || recorded.outcome == "replayed";
    const std::string asked = answered ? request_body : ClipText(request_body, llm::kMaxRefusedRecordBytes);
    if (*request != asked) {
      // What may differ between a run and its replay without meaning anything: clock times, durations,
      // temporary paths and process ids that tools print.
      const std::string a = Unvarying(*request), b = Unvarying(asked);
      if (a != b) return Diverge(place + ": the request differs from the recorded one\n" + Diff(*request, asked));
      notes_.push_back(place + ": differs only in what varies from run to run");
    }
    ++answered_;
    out.provider = recorded.provider;
    out.model = recorded.model;
    if (!answered) {
      out.error = {KindNamed(recorded.outcome), 0, "replayed: " + recorded.error};
      return out;
    }
    auto response = source_.GetBlob(recorded.response_blob);
    if (!response.ok()) return Diverge(place + ": its recorded response is unreadable: " + response.status().message());
    out.response_body = *response;
    out.usage.input = recorded.input_tokens;
    out.usage.output = recorded.output_tokens;
    out.usage.cache_read = recorded.cache_read_tokens;
    out.usage.cache_write = recorded.cache_write_tokens;
    out.cost_usd = recorded.cost_usd;
    return out;
  }

  std::string divergence() {
    std::lock_guard lock(mu_);
    return divergence_;
  }
  std::vector<std::string> notes() {
    std::lock_guard lock(mu_);
    return notes_;
  }
  std::int64_t answered() {
    std::lock_guard lock(mu_);
    return answered_;
  }
  // Recorded calls the replay never asked for.
  std::int64_t unasked() {
    std::lock_guard lock(mu_);
    std::int64_t n = 0;
    for (const auto& [key, calls] : calls_) {
      auto it = next_.find(key);
      const std::size_t asked = it == next_.end() ? 0 : it->second;
      if (asked < calls.size()) n += static_cast<std::int64_t>(calls.size() - asked);
    }
    return n;
  }

 private:
  using Key = std::tuple<AgentId, std::string, std::string>;

  // The recorded agent in the replayed one's place: the k-th agent of the replay is the k-th of the record.
  // Read from the replay's archive only for an agent not seen before: every call of every gateway asks.
  AgentId SourceAgent(AgentId replayed) {
    if (auto it = mapped_.find(replayed); it != mapped_.end()) return it->second;
    auto agents = Made(replay_, replay_run_);
    if (!agents.ok()) return 0;
    for (std::size_t k = 0; k < agents->size() && k < source_agents_.size(); ++k) mapped_[(*agents)[k].id] = source_agents_[k];
    auto it = mapped_.find(replayed);
    return it == mapped_.end() ? 0 : it->second;
  }

  // After a divergence nothing the agents do says anything: their calls fail as the world's fault would,
  // so no task run is scored on them, while the run stops.
  llm::ReplayedCall Refused(const std::string& why) {
    llm::ReplayedCall out;
    out.error = {llm::ErrorKind::kUnreachable, 0, "replay: " + why};
    return out;
  }

  llm::ReplayedCall Diverge(const std::string& report) {
    if (divergence_.empty()) divergence_ = report;
    if (stop_) *stop_ = true;
    return Refused(report.substr(0, report.find('\n')));
  }

  Archive& source_;
  const std::vector<AgentId> source_agents_;
  Archive& replay_;
  const RunId replay_run_;
  std::atomic<bool>* stop_;
  std::mutex mu_;
  std::map<Key, std::vector<ModelCall>> calls_;
  std::map<Key, std::size_t> next_;
  std::map<AgentId, AgentId> mapped_;  // replayed agent -> recorded agent
  std::string divergence_;
  std::vector<std::string> notes_;
  std::int64_t answered_ = 0;
};

std::string Describe(const Agent& a) {
  return std::string(StateName(a.state)) + (a.reason.empty() ? "" : " (" + a.reason + ")") + ", score " +
         (a.score ? std::to_string(*a.score) : "-");
}

// Each recorded agent against its replayed counterpart, in order: parents, states, reasons, scores, trees.
Result<std::vector<std::string>> Compare(Archive& source, const std::vector<Agent>& recorded, Archive& replay,
                                         const std::vector<Agent>& replayed) {
  std::vector<std::string> out;
  std::map<AgentId, std::size_t> rank_recorded, rank_replayed;
  for (std::size_t k = 0; k < recorded.size(); ++k) rank_recorded[recorded[k].id] = k;
  for (std::size_t k = 0; k < replayed.size(); ++k) rank_replayed[replayed[k].id] = k;
  if (recorded.size() != replayed.size()) {
    out.push_back("the record has " + std::to_string(recorded.size()) + " agents, the replay " + std::to_string(replayed.size()));
  }
  for (std::size_t k = 0; k < std::min(recorded.size(), replayed.size()); ++k) {
    const Agent& a = recorded[k];
    const Agent& b = replayed[k];
    const std::string name = "agent #" + std::to_string(a.id) + (a.id == b.id ? "" : " (replayed as #" + std::to_string(b.id) + ")");
    auto rank = [](const std::map<AgentId, std::size_t>& ranks, const std::optional<AgentId>& parent) {
      return parent && ranks.count(*parent) ? static_cast<long>(ranks.at(*parent)) : -1L;
    };
    if (k > 0 && rank(rank_recorded, a.parent_id) != rank(rank_replayed, b.parent_id)) out.push_back(name + ": another parent");
    if (a.state != b.state || a.reason != b.reason || a.score != b.score) {
      out.push_back(name + ": recorded " + Describe(a) + ", replayed " + Describe(b));
    }
    if (!a.commit.empty() && !b.commit.empty()) {
      LINEAGE_ASSIGN_OR_RETURN(std::string ta, source.TreeId(a.id));
      LINEAGE_ASSIGN_OR_RETURN(std::string tb, replay.TreeId(b.id));
      if (ta != tb) out.push_back(name + ": another source tree (" + ta.substr(0, 12) + " recorded, " + tb.substr(0, 12) + " replayed)");
    }
  }
  return out;
}

// What the record says each slot's child was made from, in the record's ids and ranks: the parent's rank among the run's agents, what it learnt from, and when it was committed.
struct RecordedChild {
  std::size_t parent_rank = 0;
  std::string task;
  std::size_t commit_turn = 0;
  bool committed = false, diagnosed = false;  // runs recorded before diagnoses named their slot have none
};

Result<std::map<std::string, RecordedChild>> RecordedChildren(Archive& source, RunId run, const std::vector<Agent>& recorded) {
  std::map<AgentId, std::size_t> rank;
  for (std::size_t k = 0; k < recorded.size(); ++k) rank[recorded[k].id] = k;
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Event> events, source.ListEvents(run));
  std::map<std::string, RecordedChild> out;
  for (const Event& e : events) {
    if (auto d = journal::Diagnosis::Decode(e); d && rank.count(d->parent)) {
      RecordedChild& child = out[d->calls_task];
      child.parent_rank = rank[d->parent];  // the last diagnosis is the one that made it
      child.task = d->task;
      child.diagnosed = true;
    } else if (auto made = journal::ChildMade::Decode(e); made && e.agent_id && rank.count(*e.agent_id)) {
      RecordedChild& child = out[made->calls_task];
      child.commit_turn = rank[*e.agent_id];
      child.committed = true;
    }
  }
  std::erase_if(out, [](const auto& entry) { return !entry.second.committed || !entry.second.diagnosed; });
  return out;
}

// The record's choices (child_source.h): the child of a slot the record made is made from the parent of the
// same rank, learning from the same task, and commits at the same turn. A slot the record holds no child
// for chooses as a live run would.
class RecordedChoices : public ChildSource {
 public:
  explicit RecordedChoices(std::map<std::string, RecordedChild> children)
      : children_(std::move(children)), live_(LiveChildSource()) {}

  Result<ChildOrigin> Choose(RunServices& run, int slot, std::optional<AgentId> chosen, std::mt19937_64& rng) override {
    auto it = children_.find(SlotTag(slot));
    if (it == children_.end()) return live_->Choose(run, slot, chosen, rng);
    const RecordedChild& recorded = it->second;
    // The record chose a judged parent: a concurrent replay waits until it is judged here too, so that what
    // the child learns from is read from the same results.
    // A stopping process, or an archive it cannot read, chooses as a live run would.
    std::optional<AgentId> parent;
    bool unreadable = false;
    const bool judged = !run.StopRequested() && run.AwaitAgents([&] {
      auto agents = Made(run.archive, run.run.id);
      if (!agents.ok()) return unreadable = true;
      if (recorded.parent_rank >= agents->size()) return false;
      const Agent& a = (*agents)[recorded.parent_rank];
      if (a.state != AgentState::kAdmitted && !IsFinal(a.state) && a.state != AgentState::kRejected) return false;
      parent = a.id;
      return true;
    }, 10 * 60 * 1000);
    if (!judged || unreadable) return live_->Choose(run, slot, chosen, rng);
    ChildOrigin origin;
    origin.parent = *parent;
    LINEAGE_ASSIGN_OR_RETURN(origin.problem, ChooseProblem(run.archive, origin.parent, rng, recorded.task));
    origin.commit_turn = recorded.commit_turn;
    return origin;
  }

 private:
  const std::map<std::string, RecordedChild> children_;
  const std::unique_ptr<ChildSource> live_;
};

// An exec suite's program runs on the host, outside any sandbox, to list and prepare its tasks: a replayed
// archive is someone else's, and its stored configuration may name any program. Only the caller's explicit
// word lets one run.
Status RefuseExecSuites(const RunConfig& config, RunId id) {
  std::vector<std::string> named;
  for (const StageSpec& stage : config.evaluation.stages) named.push_back(stage.suite);
  for (const FinalSpec& final : config.evaluation.finals) named.push_back(final.tasks.suite);
  for (const std::string& name : named) {
    auto suite = ResolveSuite(name, &config.evaluation);
    if (!suite.ok() || suite->kind != "exec") continue;
    return Status::FailedPrecondition(
        "run " + std::to_string(id) + "'s configuration names the exec suite '" + name + "' (" + suite->path.string() +
        "), a program lineage runs on this host outside any sandbox; a replay runs no program an archive names "
        "unless you trust it: pass --allow-exec to run it");
  }
  return Status::OK();
}

// A replay never goes on (it would call providers live), so one cut short is not left running: diverged, it
// failed; interrupted, it stopped.
Status EndCutShort(Archive& replay, ReplayReport& report) {
  const bool diverged = !report.divergence.empty();
  const std::string why = json{{"reason", diverged ? "the replay diverged from its record: " +
                                                         report.divergence.substr(0, report.divergence.find('\n'))
                                                   : std::string("the replay was interrupted")}}.dump();
  auto move = [&](RunState to) {
    Status moved = replay.SetRunState(report.run, to, why);
    if (moved.ok()) report.state = to;
    return moved;
  };
  if (diverged && MayFollow(report.state, RunState::kFailed)) return move(RunState::kFailed);
  if (MayFollow(report.state, RunState::kStopping)) LINEAGE_RETURN_IF_ERROR(move(RunState::kStopping));
  return move(RunState::kStopped);
}

}  // namespace

Result<ReplayReport> ReplayRun(Archive& source, RunId id, const ReplayOptions& options) {
  if (!options.sandbox) return Status::Internal("no sandbox to run in");
  LINEAGE_ASSIGN_OR_RETURN(Run run, source.GetRun(id));
  if (!run.seed_agent_id) return Status::Corruption("run " + std::to_string(id) + " has no seed agent");
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, StoredRunConfig(run));
  if (!options.allow_exec) LINEAGE_RETURN_IF_ERROR(RefuseExecSuites(config, id));
  const fs::path to = fs::absolute(options.to);
  if (fs::equivalent(to, source.home())) return Status::InvalidArgument("--to must be another home than the run's");
  LINEAGE_ASSIGN_OR_RETURN(auto replay, Archive::Init(to));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Run> existing, replay->ListRuns());
  if (!existing.empty()) {
    return Status::FailedPrecondition("--to " + to.string() + " holds runs already; a replay goes into a new home");
  }
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> recorded, Made(source, id));
  // Held before the run exists, so that no daemon of the new home can take it up without its record.
  LINEAGE_ASSIGN_OR_RETURN(UniqueFd lock, LockHomeForRuns(to, "the replay of run " + std::to_string(id)));

  // The seed, as the record has it, is the replay's root.
  const fs::path seed_dir = to / "runs" / "replay-seed";
  std::error_code ec;
  fs::remove_all(seed_dir, ec);
  LINEAGE_RETURN_IF_ERROR(source.Materialize(*run.seed_agent_id, seed_dir));
  config.seed_agent = seed_dir.string();
  config.origin = {journal::RunOrigin::Kind::kReplay, id, 0, source.home().string()};
  auto created = CreateRun(*replay, config);
  fs::remove_all(seed_dir, ec);
  LINEAGE_ASSIGN_OR_RETURN(RunId replay_run, std::move(created));

  std::vector<AgentId> source_agents;
  for (const Agent& a : recorded) source_agents.push_back(a.id);
  std::atomic<bool> own_stop{false};
  std::atomic<bool>* stop = options.stop ? options.stop : &own_stop;  // a divergence must be able to stop the run
  auto replayer = std::make_shared<RecordedRun>(source, source_agents, *replay, replay_run, stop);
  LINEAGE_RETURN_IF_ERROR(replayer->Load(id));

  EvolutionOptions evolution;
  evolution.home = replay->home();
  evolution.sandbox = options.sandbox;
  evolution.stop = stop;
  evolution.draws_as_run = id;  // the draws of the recorded run, whatever id the replay has
  evolution.on_progress = options.on_progress;
  evolution.replayer = replayer;
  LINEAGE_ASSIGN_OR_RETURN(auto children, RecordedChildren(source, id, recorded));
  evolution.child_source = std::make_shared<RecordedChoices>(std::move(children));
  Result<RunState> ended = RunEvolution(*replay, replay_run, evolution);

  ReplayReport report;
  report.run = replay_run;
  report.divergence = replayer->divergence();
  report.notes = replayer->notes();
  report.calls = replayer->answered();
  if (!ended.ok() && report.divergence.empty()) return ended.status();
  report.state = ended.ok() ? *ended : RunState::kFailed;
  if (!HasEnded(report.state)) LINEAGE_RETURN_IF_ERROR(EndCutShort(*replay, report));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> replayed, Made(*replay, replay_run));
  LINEAGE_ASSIGN_OR_RETURN(report.differences, Compare(source, recorded, *replay, replayed));
  if (const std::int64_t unasked = replayer->unasked(); unasked > 0 && report.divergence.empty()) {
    report.differences.push_back(std::to_string(unasked) + " recorded model call(s) were never asked for");
  }
  report.agents = static_cast<int>(std::min(recorded.size(), replayed.size()));
  return report;
}

}  // namespace lineage
