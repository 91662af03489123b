"""The report page's fixed parts: style, the trajectory viewer's script, and safe JSON embedding.

The viewer is vanilla JavaScript with no external resource. It reads the episodes from a
``<script type="application/json" id="episode-data">`` block and builds every element with
``textContent``, so nothing in an episode is ever parsed as HTML. :func:`embed_json` escapes
``<``, ``>``, ``&`` and the two JavaScript line separators, so no text inside an episode
(``</script>``, ``<!--``) can end the data block early.
"""

from __future__ import annotations

from typing import Any

import orjson

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_TABLE = str.maketrans(_ESCAPES)


def embed_json(value: Any) -> str:
    """JSON text safe to place inside a ``<script>`` element (see the module docstring).

    Serialised by ``orjson`` (non-finite numbers become ``null``; other objects their ``str``).
    """
    text = orjson.dumps(value, default=str).decode("utf-8")
    return text.translate(_TABLE)


STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: 0.85em; max-width: 70em; }
img.plot { max-width: 100%; border: 1px solid #eee; margin: 0.4em 0; }
#viewer-controls select, #viewer-controls input { margin: 0 0.6em 0.4em 0.2em; font-size: 0.9em; }
#episode-select { max-width: 60em; }
.turn { border: 1px solid #ccc; border-radius: 4px; padding: 0.5em 0.8em; margin: 0.6em 0; }
.turn h4 { margin: 0 0 0.3em 0; }
.msg { margin: 0.3em 0; padding: 0.3em 0.5em; border-left: 4px solid #bbb; background: #fafafa; }
.msg.role-system { border-color: #999; } .msg.role-user { border-color: #4a7fd4; }
.msg.role-assistant { border-color: #3a9a4a; } .msg.role-tool { border-color: #c98a1c; }
.role { font-weight: bold; font-size: 0.8em; color: #555; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0.2em 0; font-size: 0.85em; }
.kv { display: inline-block; margin-right: 1em; font-size: 0.85em; }
.credit { background: #fff6d6; }
.bad { color: #b00020; } .good { color: #1b7a2b; }
"""

VIEWER_JS = r"""
(function () {
  "use strict";
  var episodes = JSON.parse(document.getElementById("episode-data").textContent);
  var CREDIT = ["belief_gain", "info_gain", "advantage", "advantages", "step_advantage",
                "episode_advantage", "clip_range"];
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function show(value) {
    if (value === null || value === undefined) { return "-"; }
    if (typeof value === "number") { return Number.isInteger(value) ? String(value) : value.toFixed(4); }
    if (typeof value === "string") { return value; }
    return JSON.stringify(value);
  }
  function message(msg) {
    var role = (msg && msg.role) ? String(msg.role) : "?";
    var box = el("div", "msg role-" + role.replace(/[^a-z_]/gi, ""));
    box.appendChild(el("div", "role", role + (msg && msg.name ? " (" + msg.name + ")" : "")));
    var content = msg ? msg.content : "";
    var text = typeof content === "string" ? content : JSON.stringify(content, null, 1);
    box.appendChild(el("pre", "content", text));
    if (msg && msg.tool_calls) {
      box.appendChild(el("pre", "tool-calls", JSON.stringify(msg.tool_calls, null, 1)));
    }
    return box;
  }
  function table(obj, highlight) {
    var t = el("table", "kv-table");
    var head = el("tr");
    var body = el("tr");
    Object.keys(obj).forEach(function (key) {
      var th = el("th", highlight && highlight.indexOf(key) >= 0 ? "credit" : "", key);
      var td = el("td", "num" + (highlight && highlight.indexOf(key) >= 0 ? " credit" : ""), show(obj[key]));
      head.appendChild(th); body.appendChild(td);
    });
    t.appendChild(head); t.appendChild(body);
    return t;
  }
  function render(ep) {
    var view = document.getElementById("episode-view");
    view.textContent = "";
    var head = el("div", "episode-head");
    [["episode", ep.id], ["run", ep.run], ["env", ep.env], ["agent", ep.agent], ["task", ep.task],
     ["seed", ep.seed], ["step", ep.step], ["status", ep.status], ["outcome", ep.outcome],
     ["turns", ep.turns.length]].forEach(function (pair) {
      var always = pair[0] === "outcome" || pair[0] === "status";
      if (!always && (pair[1] === null || pair[1] === undefined)) { return; }
      var kv = el("span", "kv");
      kv.appendChild(el("b", "", pair[0] + ": "));
      var cls = pair[0] === "status" ? (pair[1] === "ok" ? "good" : "bad") : "";
      kv.appendChild(el("span", cls, show(pair[1])));
      head.appendChild(kv);
    });
    view.appendChild(head);
    if (ep.error) { view.appendChild(el("pre", "bad", "error: " + ep.error)); }
    if (ep.opening && ep.opening.length) {
      var opening = el("div", "opening");
      opening.appendChild(el("h4", "", "Opening"));
      ep.opening.forEach(function (m) { opening.appendChild(message(m)); });
      view.appendChild(opening);
    }
    ep.turns.forEach(function (turn) {
      var box = el("div", "turn");
      box.appendChild(el("h4", "", "Turn " + turn.i + "  ·  reward " + show(turn.reward) +
        (turn.term ? "  ·  terminated" : "") + (turn.trunc ? "  ·  truncated" : "") +
        (turn.tokens ? "  ·  " + turn.tokens + " action tokens" : "")));
      var action = el("div", "msg role-assistant action");
      action.appendChild(el("div", "role", "action"));
      action.appendChild(el("pre", "action-text", turn.action));
      if (turn.message && turn.message.tool_calls) {
        action.appendChild(el("pre", "tool-calls", JSON.stringify(turn.message.tool_calls, null, 1)));
      }
      box.appendChild(action);
      (turn.obs || []).forEach(function (m) { box.appendChild(message(m)); });
      if (turn.signals && Object.keys(turn.signals).length) {
        box.appendChild(el("div", "role", "signals"));
        box.appendChild(table(turn.signals));
      }
      if (turn.info && Object.keys(turn.info).length) {
        box.appendChild(el("div", "role", "turn info (training credit highlighted)"));
        box.appendChild(table(turn.info, CREDIT));
      }
      view.appendChild(box);
    });
  }
  var select = document.getElementById("episode-select");
  var groupSelect = document.getElementById("group-filter");
  var statusSelect = document.getElementById("status-filter");
  var search = document.getElementById("task-filter");
  var count = document.getElementById("episode-count");
  var groups = [];
  episodes.forEach(function (ep) {
    var key = ep.run + " | " + ep.env + " | " + ep.agent;
    if (groups.indexOf(key) < 0) { groups.push(key); }
  });
  groups.forEach(function (key) { groupSelect.appendChild(el("option", "", key)); });
  function label(ep) {
    var step = ep.step !== null && ep.step !== undefined ? "  step " + ep.step : "";
    return ep.task + "  seed " + show(ep.seed) + step + "  ·  outcome " + show(ep.outcome) +
      "  ·  " + ep.status + "  ·  " + ep.agent + "  ·  " + ep.env;
  }
  function refill() {
    var group = groupSelect.value, status = statusSelect.value, text = search.value.toLowerCase();
    select.textContent = "";
    var shown = 0;
    episodes.forEach(function (ep, index) {
      if (group !== "all" && ep.run + " | " + ep.env + " | " + ep.agent !== group) { return; }
      if (status === "success" && !(ep.success)) { return; }
      if (status === "unsuccessful" && ep.success) { return; }
      if (status === "failed" && ep.status === "ok") { return; }
      var task = ep.task.toLowerCase(), id = ep.id.toLowerCase();
      if (text && task.indexOf(text) < 0 && id.indexOf(text) < 0) { return; }
      var option = el("option", "", label(ep));
      option.value = String(index);
      select.appendChild(option);
      shown += 1;
    });
    count.textContent = shown + " of " + episodes.length + " embedded episodes";
    if (shown) { select.selectedIndex = 0; render(episodes[Number(select.value)]); }
    else { document.getElementById("episode-view").textContent = "No embedded episode matches."; }
  }
  select.addEventListener("change", function () { render(episodes[Number(select.value)]); });
  [groupSelect, statusSelect].forEach(function (s) { s.addEventListener("change", refill); });
  search.addEventListener("input", refill);
  if (episodes.length) { refill(); }
  else { document.getElementById("episode-view").textContent = "No episodes stored in these runs."; }
  // A link to one episode: report.html#episode=<episode id> opens it.
  var wanted = decodeURIComponent((window.location.hash.match(/episode=([^&]*)/) || [])[1] || "");
  if (wanted) {
    for (var i = 0; i < select.options.length; i += 1) {
      if (episodes[Number(select.options[i].value)].id === wanted) {
        select.selectedIndex = i;
        render(episodes[Number(select.value)]);
        document.getElementById("trajectories").scrollIntoView();
        break;
      }
    }
  }
  document.body.setAttribute("data-viewer", "ready");
})();
"""
