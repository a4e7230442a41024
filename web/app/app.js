// The lineage dashboard: one page, routed by the URL's hash. In a static report every view's data is
// embedded (window.LINEAGE_DATA); served by the daemon it is fetched from /api and refreshed while runs go on.
"use strict";

const STATIC = window.LINEAGE_DATA || null;
const app = document.getElementById("app");

async function get(path) {
  if (STATIC) {
    if (!(path in STATIC)) throw new Error("this report does not include " + path);
    return STATIC[path];
  }
  const token = new URLSearchParams(location.search).get("token");
  const response = await fetch("api" + path, { headers: token ? { Authorization: "Bearer " + token } : {} });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status + " " + (await response.text()));
  return response.json();
}

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function score(value) { return value == null ? "–" : value.toFixed(3); }
// The mean and its 95% interval over the tasks attempted: "0.600 [0.313, 0.832]".
function scoreRange(value, interval) {
  return value == null || interval == null ? score(value) : `${score(value)} <small>[${score(interval[0])}, ${score(interval[1])}]</small>`;
}
function money(value) { return value == null ? "–" : "$" + value.toFixed(4); }

// Red (0) to green (1); grey when there is no score.
function scoreColor(value) { return value == null ? "#c9ced6" : `hsl(${Math.round(120 * value)}, 62%, 48%)`; }

function runsPage(runs) {
  const rows = runs.map((r) => `<tr><td><a href="#/run/${r.id}">#${r.id}</a></td><td>${esc(r.name)}</td>
    <td class="status-${esc(r.status)}">${esc(r.status)}</td><td>${r.children}/${r.children_wanted ?? "?"}</td>
    <td>${r.admitted}</td><td>${scoreRange(r.best_score, r.best_interval)}</td><td>${r.model_calls ?? 0}</td><td>${money(r.cost_usd)}</td></tr>`);
  return `<h1>Runs</h1><table id="runs"><tr><th>run</th><th>name</th><th>status</th><th>children</th>
    <th>admitted</th><th>best score</th><th>model calls</th><th>cost</th></tr>${rows.join("")}</table>`;
}

// Layered layout: depth by generation, x by the order of leaves in a depth-first walk.
function treeSvg(agents, bestLineage) {
  const byId = new Map(agents.map((a) => [a.id, a]));
  const kids = new Map();
  const roots = [];
  for (const a of agents) {
    if (a.parent != null && byId.has(a.parent)) {
      if (!kids.has(a.parent)) kids.set(a.parent, []);
      kids.get(a.parent).push(a.id);
    } else roots.push(a.id);
  }
  const pos = new Map();
  let leaf = 0, maxDepth = 0;
  const place = (id, depth) => {
    maxDepth = Math.max(maxDepth, depth);
    const children = kids.get(id) || [];
    if (children.length === 0) pos.set(id, { x: leaf++, y: depth });
    else {
      children.forEach((c) => place(c, depth + 1));
      const xs = children.map((c) => pos.get(c).x);
      pos.set(id, { x: (Math.min(...xs) + Math.max(...xs)) / 2, y: depth });
    }
  };
  roots.forEach((r) => place(r, 0));
  const best = new Set(bestLineage);
  const X = (p) => 40 + p.x * 64, Y = (p) => 32 + p.y * 78;
  const width = Math.max(200, 80 + leaf * 64), height = 70 + maxDepth * 78;
  const edges = agents.filter((a) => a.parent != null && pos.has(a.parent)).map((a) => {
    const p = pos.get(a.parent), c = pos.get(a.id);
    const cls = best.has(a.id) && best.has(a.parent) ? "edge best" : "edge";
    return `<line class="${cls}" x1="${X(p)}" y1="${Y(p)}" x2="${X(c)}" y2="${Y(c)}"/>`;
  });
  const nodes = agents.map((a) => {
    const p = pos.get(a.id);
    const cls = `node ${esc(a.status)}${best.has(a.id) ? " best" : ""}`;
    const tip = `#${a.id} ${a.status}${a.reason ? ": " + a.reason : ""} — score ${score(a.score)}, stage ${a.stage_reached}`;
    return `<a href="#/agent/${a.id}" class="${cls}" data-id="${a.id}"><title>${esc(tip)}</title>
      <circle cx="${X(p)}" cy="${Y(p)}" r="15" fill="${scoreColor(a.score)}"/>
      <text x="${X(p)}" y="${Y(p) + 4}">#${a.id}</text>
      <text class="stage" x="${X(p)}" y="${Y(p) + 28}">${a.stage_reached ? "s" + a.stage_reached : ""}</text></a>`;
  });
  return `<svg id="tree" width="${width}" height="${height}">${edges.join("")}${nodes.join("")}</svg>`;
}

function scoreChart(series) {
  if (series.length === 0) return "<p>No admitted agent has a score yet.</p>";
  const w = 560, h = 180, pad = 30;
  const x = (i) => pad + (series.length === 1 ? 0 : (i * (w - 2 * pad)) / (series.length - 1));
  const y = (v) => h - pad - v * (h - 2 * pad);
  const line = (key) => series.map((s, i) => `${x(i)},${y(s[key])}`).join(" ");
  return `<svg id="scores" width="${w}" height="${h}">
    <line x1="${pad}" y1="${y(0)}" x2="${w - pad}" y2="${y(0)}" stroke="#ccc"/>
    <line x1="${pad}" y1="${y(1)}" x2="${w - pad}" y2="${y(1)}" stroke="#eee"/>
    <text x="2" y="${y(1) + 4}" font-size="10">1.0</text><text x="2" y="${y(0) + 4}" font-size="10">0.0</text>
    <polyline points="${line("best")}" fill="none" stroke="#1a7f37" stroke-width="2"/>
    <polyline points="${line("mean")}" fill="none" stroke="#3b6fd4" stroke-width="2" stroke-dasharray="4 3"/>
    <text x="${w - pad - 110}" y="14" font-size="11" fill="#1a7f37">best</text>
    <text x="${w - pad - 60}" y="14" font-size="11" fill="#3b6fd4">mean</text></svg>`;
}

function runPage(data) {
  const r = data.run;
  const rows = data.agents.map((a) => `<tr><td><a href="#/agent/${a.id}">#${a.id}</a></td><td>${a.parent == null ? "–" : "#" + a.parent}</td>
    <td class="status-${esc(a.status)}">${esc(a.status)}</td><td>${scoreRange(a.score, a.score_interval)}</td><td>${a.stage_reached}</td>
    <td>+${a.lines_added} −${a.lines_removed}</td><td>${esc(a.reason)}</td></tr>`);
  return `<h1>Run #${r.id}: ${esc(r.name)}</h1>
    <p class="facts"><span>status <b class="status-${esc(r.status)}">${esc(r.status)}</b></span>
    ${r.origin && r.origin.kind === "fork" ? `<span id="origin">fork of <a href="#/run/${r.origin.run}">run #${r.origin.run}</a> from <a href="#/agent/${r.origin.agent}">agent #${r.origin.agent}</a></span>` : ""}
    ${r.origin && r.origin.kind === "replay" ? `<span id="origin">replay of run #${r.origin.run} of ${esc(r.origin.home)}</span>` : ""}
    <span>children <b>${r.children}/${r.children_wanted ?? "?"}</b></span><span>admitted <b>${r.admitted}</b></span>
    <span>best score (by lower bound) <b id="best-score">${scoreRange(r.best_score, r.best_interval)}</b>${r.best_agent != null ? ` <a href="#/agent/${r.best_agent}">#${r.best_agent}</a>` : ""}</span>
    <span>model calls <b>${r.model_calls ?? 0}</b></span><span>tokens <b>${r.tokens ?? 0}</b></span>
    <span>cost <b>${money(r.cost_usd)}</b></span></p>
    <h2>Archive tree</h2><p class="legend">colour: score (red 0 → green 1, grey none); dashed: rejected;
    gold: the best agent's lineage; s<i>N</i>: stage reached. Click a node for the agent.</p>
    <div class="panel">${treeSvg(data.agents, data.best_lineage)}</div>
    <h2>Score over time</h2><div class="panel">${scoreChart(data.score_over_time)}</div>
    <h2>Agents</h2><table id="agents"><tr><th>agent</th><th>parent</th><th>status</th><th>score</th><th>stage</th>
    <th>change</th><th>reason</th></tr>${rows.join("")}</table>`;
}

function agentPage(data) {
  const a = data.agent;
  const d = data.diagnosis;
  const diagnosis = d && typeof d === "object"
    ? `<table id="diagnosis">${Object.entries(d).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>`
    : "<p>None: a seed or hand-made agent.</p>";
  // A run the world cut (faulted), a missing toolchain (skipped) or a spent budget says nothing of the agent.
  const notCounted = (e) => ["faulted", "skipped", "out_of_budget"].includes(e.outcome);
  const outcomeClass = (e) => (e.outcome === "solved" ? "admitted" : notCounted(e) ? "uncounted" : "rejected");
  const evalRow = (e) => `<tr><td>${esc(e.task)}</td><td>${e.held_out ? esc(e.suite) : e.stage}</td>
    <td class="status-${outcomeClass(e)}">${esc(e.outcome)}${notCounted(e) ? " (not counted)" : ""}</td><td>${score(e.score)}</td>
    <td>${(e.duration_ms / 1000).toFixed(1)} s</td><td><details><summary>log</summary><pre>${esc(e.log)}</pre></details></td></tr>`;
  const evals = data.evaluations.filter((e) => !e.held_out).map(evalRow);
  const heldOut = data.evaluations.filter((e) => e.held_out).map(evalRow);
  const runFact = data.run != null ? `<span>run <a href="#/run/${data.run}">#${data.run}</a></span>`
    : (data.seed_of || []).length ? `<span id="seed-of">seed of ${data.seed_of.map((r) => `<a href="#/run/${r}">run #${r}</a>`).join(", ")}</span>` : "";
  const calls = data.model_calls.map((c) => `<tr><td>${esc(c.purpose)}${c.label ? " · " + esc(c.label) : ""}</td><td>${esc(c.task)}</td><td>${esc(c.model)}</td>
    <td>${c.input_tokens}</td><td>${c.output_tokens}</td><td>${money(c.cost_usd)}</td><td>${c.latency_ms} ms</td><td>${esc(c.outcome)}</td></tr>`);
  return `<h1 id="agent-title">Agent #${a.id} <span class="status-${esc(a.status)}">${esc(a.status)}</span></h1>
    <p class="facts">${runFact}
    <span>parent ${a.parent == null ? "none" : `<a href="#/agent/${a.parent}">#${a.parent}</a>`}</span>
    <span>score <b id="agent-score">${scoreRange(a.score, a.score_interval)}</b> (${a.solved}/${a.attempted} tasks)</span><span>stage reached <b>${a.stage_reached}</b></span>
    ${data.paired ? `<span id="paired">beside its parent, on the ${data.paired.shared} tasks both ran: ${data.paired.child_only} solved only by it, ${data.paired.parent_only} only by the parent, ${data.paired.both_solved} by both, ${data.paired.neither} by neither</span>` : ""}
    <span>generation ${a.generation}</span><span>cost <b>${money(data.spend.cost_usd)}</b> (${data.spend.tokens} tokens)</span>
    ${Object.keys(data.cost || {}).length ? `<span id="made-cost">to make and judge: ${Object.entries(data.cost).map(([p, usd]) => `${esc(p)} <b>${money(usd)}</b>`).join(", ")}</span>` : ""}</p>
    ${a.reason ? `<p>reason: ${esc(a.reason)}</p>` : ""}
    ${data.build_log ? `<h2>Build log</h2><pre id="build-log">${esc(data.build_log)}</pre>` : ""}
    <h2>Problem statement</h2><pre>${esc(data.problem_statement || "(none)")}</pre>
    <h2>Diagnosis</h2>${diagnosis}
    <h2>Diff against its parent</h2><pre id="diff">${esc(data.diff || "(none)")}</pre>
    <h2>Evaluations</h2><table id="evaluations"><tr><th>task</th><th>stage</th><th>outcome</th><th>score</th><th>time</th><th></th></tr>${evals.join("")}</table>
    ${heldOut.length ? `<h2>Final: held-out evaluation</h2><p class="legend">The run's best agents on tasks kept out of the run (\`lineage run final\`, [[final]]): never part of the score.</p>
    <table id="final-evaluations"><tr><th>task</th><th>suite</th><th>outcome</th><th>score</th><th>time</th><th></th></tr>${heldOut.join("")}</table>` : ""}
    <h2>Model calls</h2><table id="calls"><tr><th>purpose</th><th>task</th><th>model</th><th>in</th><th>out</th><th>cost</th><th>latency</th><th>outcome</th></tr>${calls.join("")}</table>`;
}

async function route() {
  const hash = location.hash || (STATIC && STATIC.default_route) || "#/";
  let m;
  try {
    if ((m = hash.match(/^#\/run\/(\d+)$/))) app.innerHTML = runPage(await get("/runs/" + m[1]));
    else if ((m = hash.match(/^#\/agent\/(\d+)$/))) app.innerHTML = agentPage(await get("/agents/" + m[1]));
    else app.innerHTML = runsPage(await get("/runs"));
  } catch (error) {
    app.innerHTML = `<p class="error">${esc(error.message)}</p>`;
  }
}

document.getElementById("mode").textContent = STATIC ? "static report, " + STATIC.generated_at : "live";
window.addEventListener("hashchange", route);
route();
// Live: redraw the runs and run pages while the daemon works (agent pages stay put while being read).
if (!STATIC) setInterval(() => { if (!/#\/agent\//.test(location.hash)) route(); }, 3000);
