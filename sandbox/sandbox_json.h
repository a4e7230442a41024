// The JSON form of the sandbox's types (sandbox/sandbox.h), decided once. Whatever carries a whole spec or
// result as JSON uses it: the Slurm executor's job files, spec.json and result.json, which take a run to a
// cluster node and back (docs/slurm.md), and `lineage sandbox run --json`.
//
// A field added to SandboxMount, SandboxLimits, SandboxSpec or SandboxResult cannot be dropped on the way
// unnoticed: each mapping in sandbox_json.cc takes its struct apart with a structured binding, which must
// name every field, so the new field stops the build there until it is mapped both ways; and
// tests/sandbox/sandbox_json_test.cc round-trips values with every field set apart from its default.
//
// The layout. Keys are the fields' names except where noted; every key is always written.
//   limits  {"wall_ms", "cpu_seconds", "memory_bytes", "pids", "file_size_bytes", "open_files",
//            "output_bytes", "tmp_bytes", "disk_bytes", "disk_entries"}: integers
//   mount   {"kind": 0 read-only, 1 read-write, 2 scratch, 3 tmpfs; "host", "inside": strings;
//            "tmpfs_bytes": integer}
//   spec    {"argv": [string], "workdir": string, "mounts": [mount], "env": {NAME: VALUE}, "limits": limits,
//            "stdin": stdin_data, "socket_host", "socket_inside", "socket_tcp", "tag": strings,
//            "hidden": [string], "run_id", "agent_id": integer or null}
//   result  {"exit_code", "signal": integer or null; "limit": a SandboxLimit's number (0 wall, 1 cpu,
//            2 memory, 3 pids, 4 output, 5 file_size, 6 disk) or null; "stdout", "stderr": base64, since a
//            program's output is bytes, not always UTF-8; "stdout_truncated", "stderr_truncated": booleans;
//            "wall_ms", "cpu_ms", "peak_memory_bytes": integers}
// Enums travel as their numbers, so a new enumerator goes at the end of its enum. A node may run another
// build of lineage than the host that submitted the job: readers ignore keys they do not know, and accept a
// spec without the keys older builds did not write ("socket_tcp", "tag", "hidden", "run_id", "agent_id").
//
// Readers refuse anything else that is missing, of the wrong type or out of range with Corruption, naming
// the key by its path ("'mounts[1].kind' is 9, not a mount kind this build knows"); callers add which document.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "base/status.h"
#include "sandbox/sandbox.h"

namespace lineage {

nlohmann::json SandboxLimitsToJson(const SandboxLimits& limits);
Result<SandboxLimits> SandboxLimitsFromJson(const nlohmann::json& json);

nlohmann::json SandboxSpecToJson(const SandboxSpec& spec);
Result<SandboxSpec> SandboxSpecFromJson(const nlohmann::json& json);

nlohmann::json SandboxResultToJson(const SandboxResult& result);
Result<SandboxResult> SandboxResultFromJson(const nlohmann::json& json);

}  // namespace lineage
