// The Slurm executor: each sandboxed run is one Slurm job that runs the same bubblewrap sandbox, with the
// same limits, on a compute node (docs/slurm.md).
//
// Run(spec) writes the spec to a job directory under `shared_dir` (a directory every node sees at the same
// path), submits `lineage sandbox exec JOBDIR` with sbatch, its Slurm limits taken from the sandbox's
// (time: the wall limit plus `time_margin_s`; memory; one CPU), and waits for the job's result, which the
// node writes atomically to JOBDIR/result.json. A job that ends without a result -- the node lost,
// preempted, cancelled by an administrator or by scancel -- is the cluster's fault, never the command's:
// Run() returns Unavailable, and the caller redoes the work. A job Slurm ended for outgrowing what it asked
// for (OUT_OF_MEMORY, TIMEOUT) is reported as the command's memory or wall limit.
//
// Every job is named PREFIX-..., so that a restarted lineage finds the jobs a killed one left
// (ListSlurmJobs) and cancels them (CancelSlurmJobs) before redoing their work: no result of a job
// submitted before the restart is ever used. Its comment says whom it serves by ids alone (SlurmJobComment).
//
// The paths a spec mounts must be the same on the nodes: on a cluster, keep the lineage home and the
// suites under `shared_dir`'s file system. The gateway's socket is reached at the path the spec names.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace lineage {

struct SlurmOptions {
  std::string partition, account, qos;  // empty: the cluster's default
  int time_margin_s = 60;               // Slurm's time limit is the sandbox's wall limit plus this
  std::vector<std::string> sbatch_args;  // passed as they are, before the command
  std::filesystem::path shared_dir;      // required: job files live in shared_dir/jobs/
  std::string job_prefix = "lineage";    // job names: PREFIX-<unique>
  std::string lineage_binary;            // what the nodes run; empty: this process's own executable
};

// An executor that runs each spec as a Slurm job. Fails with FailedPrecondition (naming the fix) when
// sbatch is missing or the shared directory is not usable.
Result<std::unique_ptr<Sandbox>> CreateSlurmSandbox(const SlurmOptions& options);

// The node's side of a job (`lineage sandbox exec JOBDIR`): runs JOBDIR/spec.json in a local bubblewrap
// sandbox and writes JOBDIR/result.json atomically.
Status RunSandboxJob(const std::filesystem::path& job_dir);

// The comment of the job that runs `spec` ("lineage run 3 agent 7"). Every user of the cluster sees it
// (squeue), so it is made of ids alone: no task's name, which may be held out, nor anything else from the
// spec's free text.
std::string SlurmJobComment(const SandboxSpec& spec);

struct SlurmJob {
  std::string id, name, state, reason;  // state: PENDING, RUNNING, ...; reason: Slurm's, for a pending job
  std::string comment;                  // SlurmJobComment
};
// The jobs in the queue whose names start with `prefix`.
Result<std::vector<SlurmJob>> ListSlurmJobs(const std::string& prefix);
// Cancels every job whose name starts with `prefix`; returns how many there were.
Result<int> CancelSlurmJobs(const std::string& prefix);

}  // namespace lineage
