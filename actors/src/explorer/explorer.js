// Strata explorer: a read-only page over this node's JSON API. Every value
// shown comes from the chain and is set as text, never as markup (object
// ids and records are anyone's bytes).
"use strict";

const main = document.getElementById("main");

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const why = body && body.error ? body.error.code + ": " + body.error.message : r.status + " " + r.statusText;
    const err = new Error(why);
    err.status = r.status;
    throw err;
  }
  return body;
}

const short = (h) => (typeof h === "string" && h.length > 16 ? h.slice(0, 12) + "…" : String(h));
const link = (href, text) => el("a", { href }, text);
const txLink = (h) => link("#/tx/" + encodeURIComponent(h), short(h));
const blockLink = (chain, h) => link("#/block/" + encodeURIComponent(chain) + "/" + h, String(h));
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace("Z", "") : "");

function table(headers, rows) {
  return el("table", {},
    el("tr", {}, headers.map((h) => el("th", {}, h))),
    rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c)))));
}

// A JSON value as nested key/value tables (a generic view for answers
// whose fields this page does not name one by one).
function kv(value, depth = 0) {
  if (value === null || typeof value !== "object") {
    const s = String(value);
    return /^[0-9a-f]{64}$/.test(s) ? el("code", { class: "hash" }, s) : s;
  }
  if (depth > 3) return el("code", {}, JSON.stringify(value).slice(0, 400));
  if (Array.isArray(value)) {
    if (value.length === 0) return el("span", { class: "muted" }, "none");
    return el("ol", {}, value.slice(0, 50).map((v) => el("li", {}, kv(v, depth + 1))),
      value.length > 50 ? el("li", { class: "muted" }, `… ${value.length - 50} more`) : null);
  }
  return el("table", {}, Object.entries(value).map(([k, v]) =>
    el("tr", {}, el("td", { class: "kv" }, k), el("td", {}, kv(v, depth + 1)))));
}

// The receipt check: strata-chains' Receipt::verify compiled to
// WebAssembly (/explorer/receipt.wasm), run here against the genesis this
// node serves. The module takes bytes in its memory and answers JSON.
let checker = null;

function hexBytes(h) {
  const b = new Uint8Array(h.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(h.substr(2 * i, 2), 16);
  return b;
}

function receiptChecker() {
  if (!checker) {
    checker = (async () => {
      const r = await fetch("/explorer/receipt.wasm");
      if (!r.ok) throw new Error("this node's build has no receipt check: " + (await r.text()));
      const [{ instance }, g] = await Promise.all([
        WebAssembly.instantiate(await r.arrayBuffer(), {}), api("/v1/genesis")]);
      return { x: instance.exports, genesis: hexBytes(g.state) };
    })();
    checker.catch(() => { checker = null; });
  }
  return checker;
}

// Checks a receipt (JSON text); the module's verdict.
async function verifyReceipt(text) {
  const c = await receiptChecker();
  const x = c.x;
  const put = (bytes) => {
    const p = x.strata_alloc(bytes.length);
    new Uint8Array(x.memory.buffer, p, bytes.length).set(bytes);
    return p;
  };
  const receipt = new TextEncoder().encode(text);
  const g = put(c.genesis);
  const r = put(receipt);
  try {
    const out = x.strata_verify(g, c.genesis.length, r, receipt.length);
    const bytes = new Uint8Array(x.memory.buffer, out, x.strata_result_len());
    return JSON.parse(new TextDecoder().decode(bytes));
  } finally {
    x.strata_free(g, c.genesis.length);
    x.strata_free(r, receipt.length);
  }
}

function verdictView(v) {
  if (v.verified) {
    const s = v.summary;
    return el("div", { id: "verdict", class: "verdict ok", "data-verified": "true" },
      el("strong", {}, "Receipt verified"),
      ` in this page: ${s.op} of ${JSON.stringify(s.object)} on ${s.chain} at height ${s.height}` +
      (s.anchored_height != null ? `, anchored at local height ${s.anchored_height}` : "") +
      (s.global_height != null ? `, global height ${s.global_height}` : "") +
      `; levels ${s.levels.join(", ")}. Checked against the genesis `,
      el("code", { class: "hash" }, v.genesis),
      " that this node serves: compare it with the one you trust.");
  }
  return el("div", { id: "verdict", class: "verdict bad", "data-verified": "false" },
    el("strong", {}, "Receipt not verified"), ": " + v.error);
}

function checkView(text) {
  const out = el("div", {}, el("p", { class: "muted" }, "Checking the receipt…"));
  verifyReceipt(text).then((v) => out.replaceChildren(verdictView(v)))
    .catch((e) => out.replaceChildren(el("p", { class: "error" }, "The receipt could not be checked: " + e.message)));
  return out;
}

function verifyPage() {
  const area = el("textarea", { id: "receipt-text", rows: "14", spellcheck: "false",
    placeholder: "A receipt as JSON: `strata receipt`, or GET /v1/tx/{hash}/receipt of any node" });
  const out = el("div", { id: "verify-out" });
  const form = el("form", { id: "verify-form" }, area, el("button", { type: "submit" }, "Verify"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    out.replaceChildren(checkView(area.value));
  });
  main.replaceChildren(el("h1", {}, "Verify a receipt"),
    el("p", { class: "muted" }, "Checked in this page, with the same code as `strata verify`, against the genesis this node serves."),
    form, out);
  return Promise.resolve();
}

function fail(e) {
  main.replaceChildren(el("p", { class: "error" }, e.message || String(e)));
}

async function home() {
  const s = await api("/v1/status");
  document.getElementById("node").textContent =
    `${s.node} · ${s.tier} · v${s.version} · network ${short(s.network)} · ${s.peers} peers`;
  const parts = [el("h1", {}, "Chains")];
  parts.push(table(
    ["chain", "protocol", "height", "executed", "epoch", "view", "leader", "committee", "transactions", "anchored", "state"],
    s.chains.map((c) => [c.chain, c.protocol, blockLink(c.chain, c.committed_height), c.executed_height,
      c.epoch, c.view, c.leader, c.committee, c.committed_transactions,
      c.anchored_height === undefined ? "" : c.anchored_height,
      c.catching_up ? el("span", { class: "badge bad" }, "catching up") : el("span", { class: "badge ok" }, "following")])));
  for (const c of s.chains) {
    parts.push(el("h2", {}, `${c.chain}: committee`));
    try {
      const k = await api(`/v1/committee/${encodeURIComponent(c.chain)}`);
      const cur = k.current || {};
      parts.push(el("p", { class: "muted" },
        `epoch ${cur.epoch ?? 0}, ${k.members ? k.members.length : "?"} members` +
        (cur.seed_source ? `, seed from ${cur.seed_source}` : "") +
        (cur.start !== undefined ? `, started at height ${cur.start}` : "")));
      parts.push(table(["position", "peer", "key"], (k.members || []).map((m) =>
        [m.position, el("code", {}, m.peer_id || ""), el("code", { class: "hash" }, short(m.key || ""))])));
    } catch (e) {
      parts.push(el("p", { class: "muted" }, e.status === 404 ? "a committee fixed at genesis" : e.message));
    }
    parts.push(el("h2", {}, `${c.chain}: recent blocks`));
    const rows = [];
    for (let h = c.executed_height; h > 0 && h > c.executed_height - 8; h--) {
      try {
        const b = await api(`/v1/block/${encodeURIComponent(c.chain)}/${h}`);
        rows.push([blockLink(c.chain, b.height), b.view, b.proposer, el("code", { class: "hash" }, short(b.hash)),
          (b.transactions || []).length, when(b.timestamp_ms)]);
      } catch (e) { break; }
    }
    parts.push(rows.length ? table(["height", "view", "proposer", "hash", "transactions", "proposed at (UTC)"], rows)
      : el("p", { class: "muted" }, "no executed block yet"));
  }
  main.replaceChildren(...parts);
}

async function block(chain, height) {
  const b = await api(`/v1/block/${encodeURIComponent(chain)}/${encodeURIComponent(height)}`);
  const txs = b.transactions || [];
  const { transactions, ...header } = b;
  const h = Number(b.height);
  main.replaceChildren(
    el("h1", {}, `${b.chain} block ${b.height}`),
    el("p", {}, h > 1 ? blockLink(b.chain, h - 1) : null, " ← → ", blockLink(b.chain, h + 1)),
    kv(header),
    el("h2", {}, `Transactions (${txs.length})`),
    txs.length ? table(["#", "transaction"], txs.map((t, i) =>
      [i, typeof t === "string" ? txLink(t) : (t.hash ? txLink(t.hash) : kv(t))])) : el("p", { class: "muted" }, "none"));
}

async function tx(hash) {
  const t = await api(`/v1/tx/${encodeURIComponent(hash)}`);
  const s = t.state || {};
  const parts = [el("h1", {}, "Record ", el("code", { class: "hash" }, hash)),
    el("p", {}, el("span", { class: s.status === "committed" ? "badge ok" : "badge" }, s.status || "unknown"),
      " · level ", t.level || "", s.refused ? el("span", { class: "badge bad" }, "refused: " + s.refused) : null)];
  if (s.chain && s.height !== undefined) {
    parts.push(el("p", {}, "In block ", blockLink(s.chain, s.height), ` of ${s.chain}, at index ${s.index}, committed ${when(s.committed_at_ms)}`));
  }
  parts.push(kv(t));
  if (s.status === "committed") {
    parts.push(el("h2", {}, "Receipt"));
    try {
      const r = await api(`/v1/tx/${encodeURIComponent(hash)}/receipt`);
      parts.push(checkView(JSON.stringify(r)),
        el("p", { class: "muted" },
          "The proof of this record through its chain (and the global chain once anchored), " +
          "checked above in this page; `strata verify` checks it offline against the genesis file."),
        el("details", {}, el("summary", {}, "the receipt as served"), kv(r)));
    } catch (e) {
      parts.push(el("p", { class: "muted" }, e.message));
    }
  }
  main.replaceChildren(...parts);
}

async function object(id) {
  const parts = [el("h1", {}, "Object ", el("code", {}, id))];
  const h = await api(`/v1/object/${encodeURIComponent(id)}/history`);
  parts.push(el("h2", {}, `History (${h.entries.length})`));
  parts.push(h.entries.length ? table(["chain", "record", "entry"], h.entries.map((e) =>
    [e.chain, e.tx ? txLink(e.tx) : (e.hash ? txLink(e.hash) : ""), kv(e)])) : el("p", { class: "muted" }, "no record of this object here"));
  parts.push(el("h2", {}, "Lineage"));
  try {
    parts.push(kv(await api(`/v1/object/${encodeURIComponent(id)}/lineage`)));
  } catch (e) {
    parts.push(el("p", { class: "muted" }, e.message));
  }
  main.replaceChildren(...parts);
}

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const go = {
    "": () => home(),
    block: () => block(parts[1], parts[2]),
    tx: () => tx(parts[1]),
    object: () => object(parts.slice(1).join("/")),
    verify: () => verifyPage(),
  }[parts[0]] || (() => home());
  go().catch(fail);
}

document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (!q) return;
  const blockRef = q.match(/^(global|local-\d+)\/(\d+)$/);
  if (/^[0-9a-fA-F]{64}$/.test(q)) location.hash = "#/tx/" + q.toLowerCase();
  else if (blockRef) location.hash = `#/block/${blockRef[1]}/${blockRef[2]}`;
  else location.hash = "#/object/" + encodeURIComponent(q);
});
window.addEventListener("hashchange", route);
if (!location.hash) api("/v1/status").then((s) => {
  document.getElementById("node").textContent = `${s.node} · ${s.tier} · v${s.version}`;
}).catch(() => {});
route();
