// komainu admin UI: the little script the server-rendered pages load.
// Every call goes to the admin API on this host (/api/...), authorised by
// the session cookie; writes carry the page's CSRF token. No framework, no
// build step: it runs as shipped.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

function csrfToken() {
  const meta = $('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// One admin API call. Resolves to {status, body}; a lost session sends the
// browser to the sign-in page and back here after it.
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return { status: 0, body: { error: "network", error_description: "The node did not answer: " + e.message } };
  }
  if (response.status === 401) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    return new Promise(() => {});
  }
  let parsed = null;
  const text = await response.text();
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (_) {
    parsed = { error: "bad_answer", error_description: text.slice(0, 200) };
  }
  return { status: response.status, body: parsed };
}

function describe(answer) {
  const body = answer.body || {};
  if (body.error === "csrf_token_invalid") {
    // Signed in again in another tab: this page holds the old session's token.
    return "this page is out of date (signed in again elsewhere?); reload it and retry";
  }
  return body.error_description || body.error || "HTTP " + answer.status;
}

function flash(text, kind = "ok") {
  const box = $("#flash");
  if (!box) return;
  box.textContent = text;
  box.className = "flash " + kind;
  box.hidden = false;
}

// ---------- formatting ----------

function fmtNumber(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString("en");
  return Number(n).toFixed(digits).replace(/\.0$/, "");
}

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms >= 1000) return fmtNumber(ms / 1000, 2) + " s";
  return fmtNumber(ms, ms < 10 ? 2 : 1) + " ms";
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return fmtNumber(n) + " " + units[i];
}

function fmtAge(ms) {
  if (ms === null || ms === undefined || ms < 0) return "–";
  const s = ms / 1000;
  if (s < 60) return fmtNumber(s) + " s";
  if (s < 3600) return fmtNumber(s / 60) + " min";
  if (s < 86400) return fmtNumber(s / 3600) + " h";
  return fmtNumber(s / 86400) + " d";
}

// ---------- JSON paths ----------

function getPath(object, path) {
  return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), object);
}

function setPath(object, path, value) {
  const keys = path.split(".");
  let node = object;
  for (const key of keys.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== "object") node[key] = {};
    node = node[key];
  }
  const last = keys[keys.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
}

// ---------- lists: search, enable/disable, delete ----------

function initSearch() {
  const input = $("#search");
  const rows = $$("tr[data-search]");
  if (!input || rows.length === 0) return;
  input.addEventListener("input", () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const row of rows) {
      row.hidden = !words.every((w) => row.dataset.search.includes(w));
    }
  });
}

function initToggles() {
  for (const button of $$("button.toggle")) {
    button.addEventListener("click", async () => {
      const enable = button.getAttribute("aria-pressed") !== "true";
      button.disabled = true;
      const answer = await api("PATCH", button.dataset.api, { enabled: enable });
      button.disabled = false;
      if (answer.status !== 200) {
        flash("Not changed: " + describe(answer), "error");
        return;
      }
      button.setAttribute("aria-pressed", String(enable));
      button.textContent = enable ? "Disable" : "Enable";
      const label = button.getAttribute("aria-label") || "";
      button.setAttribute("aria-label", (enable ? "Disable " : "Enable ") + label.replace(/^(Enable|Disable) /, ""));
      const badge = button.closest("tr").querySelector(".state .badge");
      if (badge) {
        badge.textContent = enable ? "enabled" : "disabled";
        badge.className = "badge " + (enable ? "ok" : "off");
      }
      flash(enable ? "Enabled." : "Disabled.");
    });
  }
}

function confirmDialog(text) {
  const dialog = $("#confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(text));
  $("#confirm-text", dialog).textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  $("#confirm-no", dialog).focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

function initDeletes() {
  for (const button of $$("button.delete")) {
    button.addEventListener("click", async () => {
      const label = button.dataset.label || "this entity";
      if (!(await confirmDialog("Delete " + label + "? This cannot be undone."))) {
        button.focus();
        return;
      }
      const answer = await api("DELETE", button.dataset.api);
      if (answer.status !== 200 && answer.status !== 204) {
        flash("Not deleted: " + describe(answer), "error");
        return;
      }
      const row = button.closest("tr");
      if (row) row.remove();
      flash("Deleted " + label + ".");
    });
  }
}

// ---------- the entity editor ----------

const TARGET_LINE = /^(?:(https?):\/\/)?(\[[^\]]+\]|[^:/\s]+)(?::([^/\s]*))?\/?$/i;

function targetLine(t) {
  // IPv6 addresses go in brackets, or their colons would read as the port's.
  const host = String(t.hostname || "").includes(":") ? "[" + t.hostname + "]" : t.hostname;
  return (t.tls ? "https://" : "") + host + ":" + t.port;
}

function targetsToLines(targets) {
  return (targets || []).map(targetLine).join("\n");
}

// Each line keeps the fields komainu has no input for (id, weight, backup,
// TLS settings) of the target it was: the one with the same host and port,
// else the one on the same line before.
function linesToTargets(text, previous) {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const before = previous || [];
  return lines.map((line, i) => {
    const same = before.find((t) => targetLine(t) === line || targetLine(Object.assign({}, t, { tls: false })) === line);
    const target = Object.assign({}, same || before[i] || { id: "target_" + (i + 1) });
    const m = TARGET_LINE.exec(line);
    if (!m) {
      target.hostname = line;
      return target;
    }
    const tls = (m[1] || "").toLowerCase() === "https";
    target.hostname = m[2].replace(/^\[|\]$/g, "");
    const port = m[3] === undefined || m[3] === "" ? (tls ? 443 : 80) : Number(m[3]);
    target.port = Number.isInteger(port) ? port : m[3];
    target.tls = tls;
    return target;
  });
}

function readField(input, entity) {
  const path = input.dataset.path;
  switch (input.dataset.type) {
    case "bool":
      setPath(entity, path, input.checked);
      break;
    case "number":
      setPath(entity, path, input.value === "" ? undefined : Number(input.value));
      break;
    case "lines":
      setPath(entity, path, input.value.split("\n").map((l) => l.trim()).filter(Boolean));
      break;
    case "targets":
      setPath(entity, path, linesToTargets(input.value, getPath(entity, path)));
      break;
    case "plugin": {
      // In place: the plugin keeps its position (the order plugins run in)
      // and its config; unticking disables it rather than deleting it.
      const plugin = input.dataset.plugin;
      const plugins = Array.isArray(entity.plugins) ? entity.plugins : [];
      const mine = plugins.filter((p) => p.plugin === plugin);
      if (mine.length === 0 && input.checked) {
        plugins.push({ enabled: true, plugin, include: [], exclude: [], config: {} });
      }
      for (const p of mine) p.enabled = input.checked;
      entity.plugins = plugins;
      break;
    }
    default:
      setPath(entity, path, input.value);
  }
}

function writeField(input, entity) {
  const value = getPath(entity, input.dataset.path);
  switch (input.dataset.type) {
    case "bool":
      input.checked = Boolean(value);
      break;
    case "lines":
      input.value = Array.isArray(value) ? value.join("\n") : "";
      break;
    case "targets":
      input.value = targetsToLines(value);
      break;
    case "plugin":
      input.checked = (entity.plugins || []).some((p) => p.plugin === input.dataset.plugin && p.enabled);
      break;
    default:
      input.value = value === undefined || value === null ? "" : String(value);
  }
}

function clearErrors(form) {
  for (const slot of $$(".field-error", form)) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
  const general = $("#form-error", form);
  general.hidden = true;
  general.textContent = "";
}

// Puts each message next to the field whose path is the longest prefix of
// the error's path (backend.targets[0].port → the targets field); what no
// field shows goes under the raw JSON.
function showErrors(form, fields, answer) {
  const inputs = $$("[data-path]", form).filter((i) => i.dataset.type !== "plugin");
  let first = null;
  const problems = fields.length ? fields : [{ path: "", message: describe(answer) }];
  for (const problem of problems) {
    const path = String(problem.path || "").replace(/\[\d+\]/g, "");
    let best = null;
    for (const input of inputs) {
      const p = input.dataset.path;
      if ((path === p || path.startsWith(p + ".")) && (!best || p.length > best.dataset.path.length)) best = input;
    }
    const slotPath = best ? best.dataset.path : "";
    const slot = $$(".field-error", form).find((s) => s.dataset.for === slotPath);
    if (slot) {
      const text = (best ? "" : problem.path ? problem.path + ": " : "") + problem.message;
      slot.textContent = slot.textContent ? slot.textContent + " · " + text : text;
      slot.hidden = false;
    }
    if (best) {
      best.setAttribute("aria-invalid", "true");
      first = first || best;
    } else {
      $("#raw").open = true;
      first = first || $("#raw-json");
    }
  }
  const general = $("#form-error", form);
  general.textContent = "Not saved: " + describe(answer);
  general.hidden = false;
  if (first) first.focus();
}

async function initEditor() {
  const form = $("#entity-form");
  if (!form) return;
  // Until the entity is loaded there is nothing to save; Enter must not send
  // the form the browser's way (as a GET, secrets in the URL).
  const save = $("#save");
  save.disabled = true;
  let ready = false;
  form.addEventListener("submit", (event) => {
    if (!ready) event.preventDefault();
  });
  const base = form.dataset.api;
  const id = form.dataset.id;
  const singleton = form.dataset.singleton === "true";
  const existing = Boolean(id) || singleton;
  const url = singleton ? base : id ? base + "/" + encodeURIComponent(id) : base + "/_template";
  const raw = $("#raw-json");
  const inputs = $$("[data-path]", form);
  let entity = {};

  const showRaw = () => {
    raw.value = JSON.stringify(entity, null, 2);
  };
  const load = await api("GET", url);
  $("#form-loading").hidden = true;
  if (load.status !== 200) {
    $("#form-error").textContent = "Could not load: " + describe(load);
    $("#form-error").hidden = false;
    return;
  }
  entity = load.body || {};
  for (const input of inputs) writeField(input, entity);
  showRaw();
  ready = true;
  save.disabled = document.body.dataset.readOnly === "true";

  for (const input of inputs) {
    input.addEventListener("input", () => {
      readField(input, entity);
      showRaw();
    });
    input.addEventListener("change", () => {
      readField(input, entity);
      showRaw();
    });
  }
  const rawSlot = $$(".field-error", form).find((s) => s.dataset.for === "");
  raw.addEventListener("change", () => {
    try {
      entity = JSON.parse(raw.value);
      rawSlot.hidden = true;
      raw.removeAttribute("aria-invalid");
      for (const input of inputs) writeField(input, entity);
    } catch (e) {
      rawSlot.textContent = "Not valid JSON: " + e.message;
      rawSlot.hidden = false;
      raw.setAttribute("aria-invalid", "true");
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    // Fields and raw JSON are kept in step as they change: what is sent is
    // the raw JSON, so values no field can hold are sent as they are.
    try {
      entity = JSON.parse(raw.value);
    } catch (e) {
      showErrors(form, [{ path: "", message: "Not valid JSON: " + e.message }], {
        status: 400,
        body: { error_description: "the raw JSON does not parse" },
      });
      return;
    }
    save.disabled = true;
    const idField = form.dataset.idField || "id";
    const target = singleton ? base : existing ? base + "/" + encodeURIComponent(id) : base;
    const answer = await api(existing ? "PUT" : "POST", target, entity);
    save.disabled = false;
    if (answer.status === 200 || answer.status === 201) {
      const saved = (answer.body && answer.body[idField]) || id || "";
      location.assign(form.dataset.back + "?saved=" + encodeURIComponent(saved));
      return;
    }
    showErrors(form, (answer.body && answer.body.fields) || [], answer);
  });
}

// ---------- quotas ----------

const QUOTA_FIELDS = {
  throttling: ["throttlingCallsPerWindow", "authorizedCallsPerWindow"],
  daily: ["currentCallsPerDay", "authorizedCallsPerDay"],
  monthly: ["currentCallsPerMonth", "authorizedCallsPerMonth"],
};
const UNLIMITED = 10000000;

async function refreshQuotas(box) {
  const answer = await api("GET", box.dataset.quotas);
  if (answer.status !== 200 || !answer.body) return;
  for (const [quota, [usedField, limitField]] of Object.entries(QUOTA_FIELDS)) {
    const used = Number(answer.body[usedField] || 0);
    const limit = Number(answer.body[limitField] || 0);
    const bar = $('.quota-bar[data-quota="' + quota + '"]', box);
    const text = $('.quota-text[data-quota="' + quota + '"]', box);
    if (bar) {
      bar.max = Math.max(limit, 1);
      bar.value = Math.min(used, bar.max);
      bar.dataset.used = String(used);
      bar.classList.toggle("full", used >= limit);
    }
    if (text) text.textContent = used.toLocaleString("en") + " / " + (limit >= UNLIMITED ? "unlimited" : limit.toLocaleString("en"));
  }
}

function initQuotas() {
  const boxes = $$("[data-quotas]").slice(0, 100);
  if (boxes.length === 0) return;
  // Only what is on show: not the rows a search hides, nothing in a tab in the background.
  const refresh = () => {
    if (document.hidden) return;
    boxes.filter((b) => !b.closest("tr[hidden]")).forEach(refreshQuotas);
  };
  refresh();
  setInterval(refresh, boxes.length === 1 || $("#quota-usage") ? 2000 : 5000);
  const reset = $("#reset-quotas");
  if (reset) {
    reset.addEventListener("click", async () => {
      reset.disabled = true;
      const answer = await api("DELETE", reset.dataset.api);
      reset.disabled = false;
      if (answer.status !== 200) {
        flash("Quotas not reset: " + describe(answer), "error");
        return;
      }
      flash("Quotas reset.");
      refresh();
    });
  }
}

// ---------- live tiles ----------

function setTile(root, name, text) {
  const value = $('[data-tile="' + name + '"] .tile-value', root);
  if (value) value.textContent = text;
}

function initNodeTiles() {
  const root = $("#node-tiles");
  if (!root) return;
  const tick = async () => {
    if (document.hidden) return;
    const answer = await api("GET", root.dataset.live);
    if (answer.status !== 200 || !answer.body) return;
    const f = answer.body;
    setTile(root, "rps", fmtNumber(f.requestsPerSec));
    // No request in the window: no latency to speak of.
    const idle = !(f.requestsPerSec > 0);
    setTile(root, "latency-p50", idle ? "–" : fmtMs(f.p50Ms));
    setTile(root, "latency-p99", idle ? "–" : fmtMs(f.p99Ms));
    setTile(root, "errors", fmtNumber(f.errorsPerSec));
    setTile(root, "data-in", fmtBytes(f.dataInPerSec) + "/s");
    setTile(root, "data-out", fmtBytes(f.dataOutPerSec) + "/s");
    setTile(root, "connections", fmtNumber(f.openConnections, 0));
    root.dataset.updated = String(Date.now());
  };
  tick();
  setInterval(tick, 2000);
}

// The leader's member stream: one listener per page, reconnecting by itself.
function memberStream(url, onMembers, onStatus) {
  const source = new EventSource(url);
  source.addEventListener("members", (event) => {
    try {
      onMembers(JSON.parse(event.data));
      onStatus("Live · updated " + new Date().toLocaleTimeString("en-GB"), false);
    } catch (_) {
      onStatus("Unreadable event from the leader", true);
    }
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused for good (signed out, session over): a plain call finds out
      // and sends the browser to the sign-in page if that is why.
      onStatus("The live stream stopped; reload the page to resume.", true);
      api("GET", "/api/infos");
    } else {
      onStatus("Connection to the leader lost; retrying…", true);
    }
  });
  window.addEventListener("pagehide", () => source.close());
}

function initClusterTiles() {
  const root = $("#cluster-tiles");
  if (!root) return;
  memberStream(
    root.dataset.live,
    (data) => {
      const members = data.members || [];
      const workers = members.filter((m) => m.type === "Worker");
      setTile(root, "workers-up", String(workers.filter((m) => m.health !== "red").length));
      setTile(root, "workers-in-sync", workers.filter((m) => m.inSync).length + " / " + workers.length);
      setTile(root, "leaders", String(members.filter((m) => m.type === "Leader").length));
      setTile(root, "state-version", data.revision === null || data.revision === undefined ? "–" : String(data.revision));
      setTile(root, "state-age", data.stateBuiltAt ? fmtAge(Date.now() - data.stateBuiltAt) : "–");
    },
    () => {},
  );
}

// ---------- Cluster View ----------

function memberCells(m) {
  const s = m.stats || {};
  const latency = !(s.rate > 0) ? "–" : s.p50 !== undefined ? fmtMs(s.p50) + " / " + fmtMs(s.p99) : fmtMs(s.duration);
  const state = m.inSync
    ? ["in sync", "ok"]
    : m.stateDigest
      ? ["behind" + (m.stateRevision !== null && m.stateRevision !== undefined ? " (rev " + m.stateRevision + ")" : ""), "warn"]
      : ["unknown", "off"];
  return [
    { cls: "name", text: m.name },
    { cls: "type", text: m.type },
    { cls: "location", text: m.location || "–" },
    { cls: "version", text: m.version || "–" },
    { cls: "last-seen", text: m.lastSeen ? fmtAge(Date.now() - m.lastSeen) + " ago" : "–" },
    { cls: "health", text: m.health, badge: m.health },
    { cls: "state", text: state[0], badge: state[1] },
    { cls: "rps", text: s.rate !== undefined ? fmtNumber(s.rate) : "–" },
    { cls: "latency", text: latency },
    { cls: "cpu", text: s.cpu_usage !== undefined ? fmtNumber(s.cpu_usage) + " %" : "–" },
    { cls: "memory", text: s.heap_used !== undefined ? fmtNumber(s.heap_used, 0) + " MB" : "–" },
  ];
}

function renderMembers(table, members) {
  const body = $("tbody", table);
  const seen = new Set();
  for (const m of members) {
    seen.add(m.id);
    let row = $$("tr", body).find((r) => r.dataset.memberId === m.id);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.memberId = m.id;
      body.appendChild(row);
    }
    row.dataset.health = m.health;
    row.dataset.inSync = String(Boolean(m.inSync));
    row.dataset.type = m.type;
    row.replaceChildren(
      ...memberCells(m).map((c) => {
        const td = document.createElement("td");
        td.className = c.cls;
        if (c.badge) {
          const span = document.createElement("span");
          span.className = "badge " + c.badge;
          span.textContent = c.text;
          td.appendChild(span);
        } else {
          td.textContent = c.text;
        }
        return td;
      }),
    );
  }
  for (const row of $$("tr", body)) if (!seen.has(row.dataset.memberId)) row.remove();
  const empty = $("#members-empty");
  if (empty) empty.hidden = members.some((m) => m.type === "Worker");
}

function initClusterView() {
  const table = $("#members-table");
  if (!table) return;
  const status = $("#cluster-status");
  memberStream(
    table.dataset.live,
    (data) => renderMembers(table, data.members || []),
    (text, bad) => {
      status.textContent = text;
      status.classList.toggle("error-text", bad);
    },
  );
}

// ---------- start ----------

// The Settings menu closes on a click elsewhere or on Escape.
function initMenu() {
  const menu = $("#settings-menu");
  if (!menu) return;
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      menu.open = false;
      $("summary", menu).focus();
    }
  });
}

function initSavedFlash() {
  const saved = new URLSearchParams(location.search).get("saved");
  if (saved !== null) {
    flash("Saved " + saved + ".");
    const row = $$("tr[data-id]").find((r) => r.dataset.id === saved);
    if (row) row.classList.add("highlight");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  initMenu();
  initSavedFlash();
  initSearch();
  initToggles();
  initDeletes();
  initEditor();
  initQuotas();
  initNodeTiles();
  initClusterTiles();
  initClusterView();
});
