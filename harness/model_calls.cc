#include "harness/harness.h"

namespace lineage {

llm::CallRecorder ArchiveCallRecorder(Archive& archive) {
  return [&archive](const llm::CallRecord& call) {
    ModelCall row;
    row.run_id = call.who.run_id;
    row.agent_id = call.who.agent_id;
    row.task_id = call.who.task_id;
    row.purpose = call.who.purpose;
    row.label = call.who.label;
    row.provider = call.provider;
    row.model = call.model.empty() ? call.alias : call.model;
    row.input_tokens = call.usage.input;
    row.output_tokens = call.usage.output;
    row.cache_read_tokens = call.usage.cache_read;
    row.cache_write_tokens = call.usage.cache_write;
    row.cost_usd = call.cost_usd;
    row.latency_ms = call.latency_ms;
    row.outcome = call.replayed && call.outcome == "ok" ? "replayed" : call.outcome;
    row.error = call.error;
    return archive.RecordModelCall(row, call.request_body, call.response_body).status();
  };
}

}  // namespace lineage
