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

// The tree is laid out on a grid of cells, generations going down. Two rules keep a large tree near the
// panel's shape, so that fitted to it the labels stay readable:
// - 3 or more childless children of one parent are stacked in columns under it, each hanging from a rail
//   at its column's left (a seed with 60 children takes 8 columns, not 60: the shape of DGM's runs);
// - children wider together than the target width wrap into bands, one under another, hanging from a rail
//   that runs down from their parent, as lines of text wrap.
const CELL_X = 64, CELL_Y = 78, STACK_Y = 0.6, BAND_GAP = 0.4, PAD = 40, RADIUS = 15;

// A subtree in a box of cells: `at` lists [id, place] with the root first; a place is relative to the box's
// top-left: {x, y} and, for a child, the `bus` row its edge from the parent runs along, and the `rail`
// column a stacked child hangs from.
function layoutBox(id, kids, target) {
  const children = kids.get(id) || [];
  if (children.length === 0) return { w: 1, h: 0, heads: [], at: [[id, { x: 0, y: 0 }]] };
  const leaves = children.filter((c) => !kids.has(c));
  const stacked = leaves.length >= 3 ? new Set(leaves) : new Set();
  const items = children.filter((c) => !stacked.has(c)).map((c) => {
    const box = layoutBox(c, kids, target);
    return { ...box, heads: [c] };
  });
  if (stacked.size) items.push(leafBlock([...stacked]));
  const bands = [];
  for (const item of items) {
    const band = bands[bands.length - 1];
    if (band && band.w + item.w <= target) {
      band.items.push(item);
      band.w += item.w;
      band.h = Math.max(band.h, item.h);
    } else bands.push({ items: [item], w: item.w, h: item.h });
  }
  const wrapped = bands.length > 1;
  const left = wrapped ? 1 : 0;  // wrapped bands leave the parent's column to its rail
  const at = [];
  const headXs = [];
  let top = 1;
  for (const band of bands) {
    let x = left;
    for (const item of band.items) {
      const heads = new Set(item.heads);
      for (const [cid, p] of item.at) {
        const q = { x: p.x + x, y: p.y + top };
        if (p.bus != null) q.bus = p.bus + top;
        if (p.rail != null) q.rail = p.rail + x;
        if (heads.has(cid)) {
          q.bus = top - 0.5;
          headXs.push(q.x);
        }
        at.push([cid, q]);
      }
      x += item.w;
    }
    top += band.h + 1 + BAND_GAP;
  }
  const rootX = wrapped ? 0 : (Math.min(...headXs) + Math.max(...headXs)) / 2;
  const w = Math.max(...bands.map((b) => b.w)) + left;
  return { w, h: top - 1 - BAND_GAP, heads: [], at: [[id, { x: rootX, y: 0 }], ...at] };
}

// Childless siblings stacked column by column, about as many rows as columns.
function leafBlock(ids) {
  const rows = Math.ceil(Math.sqrt(ids.length));
  const at = ids.map((id, i) => {
    const col = Math.floor(i / rows);
    return [id, { x: col, y: (i % rows) * STACK_Y, rail: col - 0.5 }];
  });
  return { w: Math.ceil(ids.length / rows), h: (rows - 1) * STACK_Y, heads: ids, at };
}

// Places every agent: roots side by side, each subtree wrapped to `target` columns.
function layoutTree(agents, target) {
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
  let x = 0, right = 0, bottom = 0;
  for (const root of roots) {
    const box = layoutBox(root, kids, target);
    for (const [id, p] of box.at) {
      const q = { ...p, x: p.x + x };
      if (p.rail != null) q.rail = p.rail + x;
      pos.set(id, q);
      right = Math.max(right, q.x);
      bottom = Math.max(bottom, q.y);
    }
    x += box.w;
  }
  return { pos, width: 2 * PAD + right * CELL_X, height: 2 * PAD + bottom * CELL_Y };
}

// Elbow edges: down from the parent to the bus, along it, down to the child; a stacked child hangs from its
// rail. No edge crosses a node.
function edgePath(p, c) {
  const X = (x) => PAD + x * CELL_X, Y = (y) => PAD + y * CELL_Y;
  const head = `M${X(p.x)} ${Y(p.y) + RADIUS}V${Y(c.bus)}`;
  if (c.rail == null) return `${head}H${X(c.x)}V${Y(c.y) - RADIUS}`;
  return `${head}H${X(c.rail)}V${Y(c.y)}H${X(c.x) - RADIUS}`;
}

// The panel the tree is fitted to, in pixels (initTree measures it; this is its estimate before drawing).
function panelSize() {
  return { w: Math.min(1200, document.documentElement.clientWidth) - 50, h: Math.max(320, innerHeight * 0.7) };
}
function fitScale(width, height, panel) { return Math.min(1, panel.w / width, panel.h / height); }

// The layout that fits the panel at the largest scale, over a range of widths to wrap at (in columns).
function bestLayout(agents) {
  const panel = panelSize();
  const guess = Math.sqrt(agents.length * 2 * (panel.w / panel.h) * (CELL_Y / CELL_X));
  let best = null;
  for (const f of [0.5, 0.7, 1, 1.4, 2, 2.8, 4]) {
    const layout = layoutTree(agents, Math.max(6, Math.round(guess * f)));
    if (!best || fitScale(layout.width, layout.height, panel) > fitScale(best.width, best.height, panel)) best = layout;
  }
  return best;
}

function treeSvg(agents, bestLineage) {
  const { pos, width, height } = bestLayout(agents);
  const best = new Set(bestLineage);
  const onBest = (a) => best.has(a.id) && best.has(a.parent);
  // The best lineage's edges last, so they are drawn over the others.
  const linked = agents.filter((a) => a.parent != null && pos.has(a.parent));
  const edges = [...linked.filter((a) => !onBest(a)), ...linked.filter(onBest)].map((a) =>
    `<path class="edge${onBest(a) ? " best" : ""}" d="${edgePath(pos.get(a.parent), pos.get(a.id))}"/>`);
  const nodes = agents.map((a) => {
    const p = pos.get(a.id), x = PAD + p.x * CELL_X, y = PAD + p.y * CELL_Y;
    const cls = `node ${esc(a.status)}${best.has(a.id) ? " best" : ""}`;
    const tip = `#${a.id} ${a.status}${a.reason ? ": " + a.reason : ""} — score ${score(a.score)}, stage ${a.stage_reached}`;
    return `<a href="#/agent/${a.id}" class="${cls}" data-id="${a.id}"><title>${esc(tip)}</title>
      <circle cx="${x}" cy="${y}" r="${RADIUS}" fill="${scoreColor(a.score)}"/>
      <text class="id" x="${x}" y="${y + 4}">#${a.id}</text>
      <text class="stage" x="${x}" y="${y + 27}">${a.stage_reached ? "s" + a.stage_reached : ""}</text></a>`;
  });
  return `<div class="tree-bar"><button data-tree="in" title="zoom in">+</button><button data-tree="out" title="zoom out">−</button>
    <button data-tree="fit" title="the whole tree">fit</button><button data-tree="left" title="pan left">←</button>
    <button data-tree="right" title="pan right">→</button><button data-tree="up" title="pan up">↑</button>
    <button data-tree="down" title="pan down">↓</button><span id="tree-status"></span></div>
    <svg id="tree" data-w="${width}" data-h="${height}" data-n="${agents.length}" viewBox="0 0 ${width} ${height}">${edges.join("")}${nodes.join("")}</svg>`;
}

// The tree's view: the whole tree fitted to the panel at first; zoomed and panned with the buttons, the wheel
// and dragging. What the user chose survives the live page's redraws.
const treeView = { run: null, chosen: false, scale: 1, cx: 0, cy: 0, dragging: false };

function initTree(run) {
  const svg = document.getElementById("tree");
  if (!svg) return;
  const W = +svg.dataset.w, H = +svg.dataset.h, n = +svg.dataset.n;
  const elW = svg.parentElement.clientWidth - 16;  // the panel's padding
  const fit = fitScale(W, H, { w: elW, h: panelSize().h });
  const elH = Math.max(160, H * fit);
  svg.style.height = elH + "px";
  if (treeView.run !== run || !treeView.chosen) Object.assign(treeView, { run, chosen: false, scale: fit, cx: W / 2, cy: H / 2 });
  const status = document.getElementById("tree-status");

  const apply = () => {
    const s = treeView.scale;
    svg.setAttribute("viewBox", `${treeView.cx - elW / 2 / s} ${treeView.cy - elH / 2 / s} ${elW / s} ${elH / s}`);
    // Labels too small to read are hidden (the tooltip and the agents' table still name every node), but the
    // best lineage keeps its labels at a readable size; nodes keep a visible size however far out.
    const label = Math.max(11, 9 / s);  // at least 9 px on screen; wider than a cell, it is hidden
    svg.classList.toggle("labels-off", label > 24);
    svg.classList.toggle("stages-off", CELL_X * s < 44);
    svg.style.setProperty("--label", Math.min(label, 24) + "px");
    svg.style.setProperty("--best-label", Math.max(11, 12 / s) + "px");
    svg.style.setProperty("--r", Math.min(22, Math.max(RADIUS, 4 / s)) + "px");
    const box = svg.getBoundingClientRect();
    const left = Math.max(box.left, 0), right = Math.min(box.right, document.documentElement.clientWidth);
    let inView = 0;
    for (const c of svg.querySelectorAll(".node circle")) {
      const r = c.getBoundingClientRect();
      inView += r.left >= left - 0.5 && r.right <= right + 0.5 && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5;
    }
    status.textContent = `${Math.round(s * 100)}% · ${inView === n ? `all ${n}` : `${inView} of ${n}`} agents in view` +
      " · drag to pan, wheel to zoom";
  };
  const zoom = (factor, px = elW / 2, py = elH / 2) => {
    // The point under (px, py) stays put.
    const s = Math.min(3, Math.max(fit / 2, treeView.scale * factor));
    const ux = treeView.cx + (px - elW / 2) / treeView.scale, uy = treeView.cy + (py - elH / 2) / treeView.scale;
    Object.assign(treeView, { chosen: true, scale: s, cx: ux - (px - elW / 2) / s, cy: uy - (py - elH / 2) / s });
    apply();
  };
  const pan = (dx, dy) => {
    Object.assign(treeView, { chosen: true, cx: treeView.cx + dx / treeView.scale, cy: treeView.cy + dy / treeView.scale });
    apply();
  };
  const actions = {
    in: () => zoom(1.5), out: () => zoom(1 / 1.5),
    fit: () => { Object.assign(treeView, { chosen: false, scale: fit, cx: W / 2, cy: H / 2 }); apply(); },
    left: () => pan(-elW / 3, 0), right: () => pan(elW / 3, 0), up: () => pan(0, -elH / 3), down: () => pan(0, elH / 3),
  };
  for (const b of document.querySelectorAll("[data-tree]")) b.addEventListener("click", actions[b.dataset.tree]);
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = svg.getBoundingClientRect();
    if (e.deltaX && !e.deltaY) pan(e.deltaX, 0);
    else zoom(Math.exp(-e.deltaY * (e.deltaMode ? 0.05 : 0.002)), e.clientX - box.left, e.clientY - box.top);
  }, { passive: false });
  // Dragging pans; a press that barely moved is a click on the node under it.
  let start = null, moved = false;
  svg.addEventListener("pointerdown", (e) => { start = { x: e.clientX, y: e.clientY, cx: treeView.cx, cy: treeView.cy }; moved = false; });
  svg.addEventListener("pointermove", (e) => {
    if (!start) return;
    const dx = e.clientX - start.x, dy = e.clientY - start.y;
    if (!moved && Math.hypot(dx, dy) < 4) return;
    if (!moved) svg.setPointerCapture(e.pointerId);
    moved = treeView.dragging = true;
    Object.assign(treeView, { chosen: true, cx: start.cx - dx / treeView.scale, cy: start.cy - dy / treeView.scale });
    apply();
  });
  const end = () => { start = null; treeView.dragging = false; };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  svg.addEventListener("click", (e) => { if (moved) { e.preventDefault(); moved = false; } }, true);
  svg.addEventListener("dragstart", (e) => e.preventDefault());  // a node is a link: pan, do not drag it away
  apply();
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
    gold: the best agent's lineage; s<i>N</i>: stage reached. Three or more childless children are stacked in
    columns, and a family too wide wraps into bands under a rail from its parent. Click a node for the agent.</p>
    <div class="panel tree">${treeSvg(data.agents, data.best_lineage)}</div>
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
    if ((m = hash.match(/^#\/run\/(\d+)$/))) {
      app.innerHTML = runPage(await get("/runs/" + m[1]));
      initTree(m[1]);
    }
    else if ((m = hash.match(/^#\/agent\/(\d+)$/))) app.innerHTML = agentPage(await get("/agents/" + m[1]));
    else app.innerHTML = runsPage(await get("/runs"));
  } catch (error) {
    app.innerHTML = `<p class="error">${esc(error.message)}</p>`;
  }
}

document.getElementById("mode").textContent = STATIC ? "static report, " + STATIC.generated_at : "live";
window.addEventListener("hashchange", route);
// The tree is fitted to the window it is drawn in: draw it again for a new size.
let resized = null;
window.addEventListener("resize", () => {
  clearTimeout(resized);
  resized = setTimeout(() => { if (document.getElementById("tree")) route(); }, 200);
});
route();
// Live: redraw the runs and run pages while the daemon works (agent pages stay put while being read).
if (!STATIC) setInterval(() => { if (!/#\/agent\//.test(location.hash) && !treeView.dragging) route(); }, 3000);
