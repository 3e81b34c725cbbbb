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
function showErrors(form, fields, answer, pluginList) {
  const inputs = $$("[data-path]", form);
  let first = null;
  const problems = fields.length ? fields : [{ path: "", message: describe(answer) }];
  for (const problem of problems) {
    // A route's plugin errors go next to the plugin they name.
    const shown = pluginList ? pluginList.showError(problem) : null;
    if (shown) {
      first = first || shown;
      continue;
    }
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
  const pluginList = initPluginList(form, () => entity, showRaw);
  const load = await api("GET", url);
  $("#form-loading").hidden = true;
  if (load.status !== 200) {
    $("#form-error").textContent = "Could not load: " + describe(load);
    $("#form-error").hidden = false;
    return;
  }
  entity = load.body || {};
  for (const input of inputs) writeField(input, entity);
  if (pluginList) pluginList.render();
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
      if (pluginList) pluginList.render();
    } catch (e) {
      rawSlot.textContent = "Not valid JSON: " + e.message;
      rawSlot.hidden = false;
      raw.setAttribute("aria-invalid", "true");
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    // A plugin config that does not parse is not in the raw JSON: saving
    // would silently send its previous value.
    const badConfig = pluginList && pluginList.checkConfigs();
    if (badConfig) {
      const general = $("#form-error", form);
      general.textContent = "Not saved: a plugin's config is not valid JSON.";
      general.hidden = false;
      badConfig.focus();
      return;
    }
    // Fields and raw JSON are kept in step as they change: what is sent is
    // the raw JSON, so values no field can hold are sent as they are.
    try {
      entity = JSON.parse(raw.value);
      // The list edits the plugin objects of the entity it was given.
      if (pluginList) pluginList.render();
    } catch (e) {
      showErrors(
        form,
        [{ path: "", message: "Not valid JSON: " + e.message }],
        { status: 400, body: { error_description: "the raw JSON does not parse" } },
        null,
      );
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
    showErrors(form, (answer.body && answer.body.fields) || [], answer, pluginList);
  });
}

// ---------- the route editor's plugin list ----------

// The route's `plugins` array as a list of items, in run order: enabled,
// include / exclude, config as JSON, move up / down, remove, and "add" from
// the registry rendered into the page's select. Field edits change the
// entity in place (the raw JSON follows); moves, additions and removals
// render the list again and put the focus back where the keyboard was.
function initPluginList(form, getEntity, changed) {
  const list = $("#plugin-list", form);
  const template = $("#plugin-item-template", form);
  if (!list || !template) return null;
  const empty = $("#plugin-list-empty", form);
  const select = $("#plugin-add", form);
  const addButton = $("#plugin-add-button", form);
  const addHelp = $("#plugin-add-help", form);
  const status = $("#plugin-status", form);
  const registry = new Map(
    $$("option", select).map((o) => [o.value, { name: o.dataset.name, description: o.dataset.description, defaults: o.dataset.default }]),
  );
  // Config text that does not parse, by plugin object: kept across renders
  // so that moving an item does not lose what is being typed.
  const drafts = new WeakMap();

  const plugins = () => {
    const entity = getEntity();
    if (!Array.isArray(entity.plugins)) entity.plugins = [];
    return entity.plugins;
  };
  const shortName = (id) => String(id || "").split(".").pop() || String(id);
  const announce = (text) => {
    status.textContent = text;
  };
  const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

  function showJsonError(item, textarea, message) {
    const slot = $(".plugin-json-error", item);
    slot.textContent = message;
    slot.hidden = !message;
    if (message) textarea.setAttribute("aria-invalid", "true");
    else textarea.removeAttribute("aria-invalid");
  }

  // Parses a config textarea into its plugin; false (and a message next to
  // it) when it is not a JSON object.
  function readConfig(item, textarea, plugin) {
    let value;
    try {
      value = JSON.parse(textarea.value);
    } catch (e) {
      drafts.set(plugin, textarea.value);
      showJsonError(item, textarea, "Not valid JSON: " + e.message);
      return false;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      drafts.set(plugin, textarea.value);
      showJsonError(item, textarea, "The config must be a JSON object, e.g. {}.");
      return false;
    }
    drafts.delete(plugin);
    showJsonError(item, textarea, "");
    plugin.config = value;
    return true;
  }

  function renderItem(plugin, index, count) {
    const item = template.content.firstElementChild.cloneNode(true);
    const short = shortName(plugin.plugin);
    const known = registry.get(plugin.plugin);
    const base = "plugin-" + index;
    item.dataset.plugin = plugin.plugin;
    item.dataset.index = String(index);
    item.setAttribute("aria-label", short + ", plugin " + (index + 1) + " of " + count);
    $(".plugin-position", item).textContent = String(index + 1);
    $(".plugin-name", item).textContent = short;
    $(".plugin-id", item).textContent = plugin.plugin;
    $(".plugin-description", item).textContent = known
      ? known.description
      : "Not implemented by komainu: kept as written, and refused if enabled.";
    const bind = (selector, labelSelector, suffix, label) => {
      const control = $(selector, item);
      control.id = base + "-" + suffix;
      const labelEl = $(labelSelector, item);
      labelEl.htmlFor = control.id;
      if (label) labelEl.textContent = label;
      return control;
    };
    const enabled = bind(".plugin-enabled", ".plugin-enabled-label", "enabled", "Enabled");
    enabled.checked = plugin.enabled !== false;
    enabled.addEventListener("change", () => {
      plugin.enabled = enabled.checked;
      changed();
    });
    for (const side of ["include", "exclude"]) {
      const area = bind(".plugin-" + side, ".plugin-" + side + "-label", side);
      area.value = Array.isArray(plugin[side]) ? plugin[side].join("\n") : "";
      area.addEventListener("input", () => {
        plugin[side] = lines(area.value);
        changed();
      });
    }
    const config = bind(".plugin-config", ".plugin-config-label", "config", "Config of " + short + " (JSON)");
    // Both messages about the config, the browser's parse and the API's
    // check, are read with it.
    $(".plugin-json-error", item).id = base + "-config-error";
    $(".plugin-api-error", item).id = base + "-error";
    config.setAttribute("aria-describedby", base + "-config-error " + base + "-error");
    if (drafts.has(plugin)) {
      config.value = drafts.get(plugin);
      readConfig(item, config, plugin);
    } else {
      config.value = plugin.config === undefined ? "{}" : JSON.stringify(plugin.config, null, 2);
    }
    config.addEventListener("input", () => {
      if (readConfig(item, config, plugin)) changed();
    });
    $(".plugin-api-error", item).dataset.for = "plugins[" + index + "]";

    const up = $(".plugin-up", item);
    const down = $(".plugin-down", item);
    const remove = $(".plugin-remove", item);
    up.disabled = index === 0;
    down.disabled = index === count - 1;
    up.setAttribute("aria-label", "Move " + short + " up");
    down.setAttribute("aria-label", "Move " + short + " down");
    remove.setAttribute("aria-label", "Remove " + short);
    up.addEventListener("click", () => move(index, -1, "up"));
    down.addEventListener("click", () => move(index, 1, "down"));
    remove.addEventListener("click", () => removeAt(index));
    return item;
  }

  function render() {
    const all = plugins();
    list.replaceChildren(...all.map((p, i) => renderItem(p, i, all.length)));
    empty.hidden = all.length > 0;
  }

  const itemAt = (index) => list.children[index] || null;

  function move(index, by, direction) {
    const all = plugins();
    const to = index + by;
    if (to < 0 || to >= all.length) return;
    const [plugin] = all.splice(index, 1);
    all.splice(to, 0, plugin);
    render();
    changed();
    // The keyboard stays on the moved item: the same button, or the other
    // one once it has reached an end of the list.
    const item = itemAt(to);
    const same = $(direction === "up" ? ".plugin-up" : ".plugin-down", item);
    (same.disabled ? $(direction === "up" ? ".plugin-down" : ".plugin-up", item) : same).focus();
    announce(shortName(plugin.plugin) + " moved to position " + (to + 1) + " of " + all.length + ".");
  }

  function removeAt(index) {
    const all = plugins();
    const [plugin] = all.splice(index, 1);
    drafts.delete(plugin);
    render();
    changed();
    const next = itemAt(Math.min(index, all.length - 1));
    (next ? $(".plugin-remove", next) : select).focus();
    announce(shortName(plugin.plugin) + " removed; saving the route applies it.");
  }

  function add() {
    const id = select.value;
    const known = registry.get(id);
    if (!known) return;
    let config = {};
    try {
      config = JSON.parse(known.defaults || "{}");
    } catch (_) {
      config = {};
    }
    const all = plugins();
    all.push({ enabled: true, plugin: id, include: [], exclude: [], config });
    render();
    changed();
    const item = itemAt(all.length - 1);
    $(".plugin-config", item).focus();
    announce(shortName(id) + " added at position " + all.length + ", with its default config.");
  }

  const describeChoice = () => {
    const known = registry.get(select.value);
    addHelp.textContent = known ? known.description : "";
  };
  select.addEventListener("change", describeChoice);
  addButton.addEventListener("click", add);
  describeChoice();

  return {
    render,
    // The first config textarea that does not parse (its message shown).
    checkConfigs() {
      let bad = null;
      plugins().forEach((plugin, i) => {
        const item = itemAt(i);
        const area = item && $(".plugin-config", item);
        if (area && !readConfig(item, area, plugin)) bad = bad || area;
      });
      if (!bad) changed();
      return bad;
    },
    // Shows an API error about plugin N next to it (`plugins[1].config.max_age`);
    // returns the control to focus, or null when the error is not one of a
    // plugin shown here.
    showError(problem) {
      const path = String(problem.path || "");
      if (path === "plugins") {
        const slot = $$(".field-error", form).find((s) => s.dataset.for === "plugins");
        slot.textContent = problem.message;
        slot.hidden = false;
        return select;
      }
      const m = /^plugins\[(\d+)\](?:\.(.*))?$/.exec(path);
      const item = m && itemAt(Number(m[1]));
      if (!item) return null;
      const rest = m[2] || "";
      const slot = $(".plugin-api-error", item);
      const text = (rest ? rest + ": " : "") + problem.message;
      slot.textContent = slot.textContent ? slot.textContent + " · " + text : text;
      slot.hidden = false;
      const field = rest.split(/[.[]/)[0];
      const control =
        field === "config" ? $(".plugin-config", item)
        : field === "include" ? $(".plugin-include", item)
        : field === "exclude" ? $(".plugin-exclude", item)
        : field === "enabled" ? $(".plugin-enabled", item)
        : $(".plugin-remove", item);
      control.setAttribute("aria-invalid", "true");
      return control;
    },
  };
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
    // On a leader the same answer carries the whole cluster's figures.
    if (f.cluster) showCluster(f);
  };
  tick();
  setInterval(tick, 2000);
}

// The cluster row's figures: Otoroshi's /api/live fields, cluster-wide on a leader.
function showCluster(f) {
  const root = $("#cluster-tiles");
  if (!root) return;
  setTile(root, "cluster-rps", fmtNumber(f.rate));
  setTile(root, "cluster-latency", f.rate > 0 ? fmtMs(f.duration) : "–");
  setTile(root, "cluster-data-in", fmtBytes(f.dataInRate) + "/s");
  setTile(root, "cluster-data-out", fmtBytes(f.dataOutRate) + "/s");
  for (const figure of $$("#cluster-charts [data-chart]")) {
    drawChart(figure, f.cluster.history || [], figure.dataset.chart);
  }
}

// The time axis spans the history the leader has, from one minute (a young
// leader's few points still make a line) to its ten.
const CHART_MIN_SPAN_MS = 60 * 1000;
const CHART_MAX_SPAN_MS = 10 * 60 * 1000;

// A line (and the area under it) of one field over the leader's history, in
// the SVG's 0..100 × 0..30 box, scaled to the peak; time runs left to right.
function drawChart(figure, history, field) {
  const points = history.filter((p) => typeof p[field] === "number" && typeof p.at === "number");
  const end = points.length ? points[points.length - 1].at : Date.now();
  const first = points.length ? points[0].at : end;
  const span = Math.min(CHART_MAX_SPAN_MS, Math.max(CHART_MIN_SPAN_MS, end - first));
  const peak = points.reduce((max, p) => Math.max(max, p[field]), 0);
  const xy = points.map((p) => {
    const x = Math.max(0, 100 - ((end - p.at) / span) * 100);
    const y = peak > 0 ? 29 - (p[field] / peak) * 27 : 29;
    return x.toFixed(2) + "," + y.toFixed(2);
  });
  $(".chart-line", figure).setAttribute("points", xy.join(" "));
  const area = xy.length ? [xy[0].split(",")[0] + ",30", ...xy, xy[xy.length - 1].split(",")[0] + ",30"] : [];
  $(".chart-area", figure).setAttribute("points", area.join(" "));
  const text = field === "duration" ? fmtMs(peak) : field === "rate" ? fmtNumber(peak) : fmtBytes(peak) + "/s";
  $(".chart-peak", figure).textContent = points.length ? text : "–";
  figure.dataset.points = String(points.length);
  figure.dataset.peak = String(peak);
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
