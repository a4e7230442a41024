// Where the gateway's calls go: every call an agent or the orchestrator makes through the gateway is
// stored in the archive (the model_calls table; request and response bodies as blobs).
#pragma once

#include "archive/archive.h"
#include "llm/gateway.h"

namespace lineage {

// A recorder that stores each call in `archive`, which must outlive it. A call that cannot be stored is
// logged as an error; the agent's call itself still succeeds.
llm::CallRecorder ArchiveCallRecorder(Archive& archive);

}  // namespace lineage
