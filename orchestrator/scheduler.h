// How a run's slots choose their work: the one thing DGM's and HGM's loops differ in.
//   DGM (dgm_scheduler.h): each slot makes children, one after another, until the run has those it wants.
//   HGM (hgm_scheduler.h): each slot expands a node or runs one more task of one, as DecideHgm says.
// Both finish first the children an earlier process or the world left unfinished, share LoopState (slots,
// faults, why the run stops), and keep their own state behind their own mutex. evolution.cc runs Slots()
// threads of Work() and joins them.
#pragma once

#include <deque>
#include <memory>

#include "archive/archive.h"
#include "base/status.h"

namespace lineage {

class RunServices;  // orchestrator/run_services.h

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // After the seed's evaluation: takes up what an earlier process left.
  virtual Status Prepare() = 0;
  // How many slots work at once.
  virtual int Slots() const = 0;
  // One slot's work, until nothing is left or the run must stop (LoopState records why).
  virtual void Work() = 0;
  // After the slots stopped for a pause that was undone before it completed: whether work is left.
  virtual bool WorkLeft() = 0;
};

// The run's committed children not judged yet (committed, built, or `evaluating` too), in id order: a
// crash, a pause or an interruption left them, and they continue from their build.
Result<std::deque<Agent>> UnfinishedChildren(RunServices& run, bool evaluating);

}  // namespace lineage
