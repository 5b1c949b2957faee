// irqa web page: ask, read cited answers, open the cited filing at the quoted passage.
// Plain DOM, no framework and no network beyond this server. Text from the server is always
// set with textContent, never parsed as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { companies: [], filings: [], openFiling: null, lastTrigger: null, highlight: null };

// ---------------------------------------------------------------------------------------------
// helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function badge(text, kind) {
  return el("span", { class: `badge badge-${kind}`, text });
}

function badges(item) {
  const frag = document.createDocumentFragment();
  if (item.company) frag.append(badge(item.company, "company"));
  if (item.code) frag.append(badge(item.code, "code"));
  if (item.record_no) frag.append(badge(`编号 ${item.record_no}`, "record"));
  if (item.date) frag.append(badge(item.date, "date"));
  return frag;
}

async function api(path, options = {}) {
  const res = await fetch(path, options);
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const err = new Error(body?.error?.message || `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.code = body?.error?.code;
    throw err;
  }
  return body;
}

function ms(t) {
  return t >= 1000 ? `${(t / 1000).toFixed(1)} s` : `${Math.round(t)} ms`;
}

// ---------------------------------------------------------------------------------------------
// status, companies, filings

const STAGES = {
  starting: "starting",
  building: "building it from the sample filings",
  parse: "parsing filings",
  embed: "embedding passages",
  loading: "loading it",
};

/** "/readyz" while the index is built: the stage in words, with its count and percentage. */
function stageText(body) {
  let text = STAGES[body.stage] || body.stage;
  const p = body.progress;
  if (p && p.total) {
    text += ` ${p.done}/${p.total}`;
    if (body.stage === "parse" && p.done === p.total) text += ", then loading the embedding model";
    else if (p.total > 10) text += ` (${Math.floor((100 * p.done) / p.total)}%)`;
  }
  return text;
}

async function waitReady() {
  const status = $("#status");
  for (;;) {
    try {
      const res = await fetch("/readyz");
      const body = await res.json();
      if (res.ok) {
        status.textContent = `${body.filings} filings · ${body.passages} passages indexed`;
        status.className = "status ok";
        return;
      }
      status.textContent = body.error ? `Index error: ${body.error}` : `Preparing the index: ${stageText(body)}…`;
      status.className = body.error ? "status bad" : "status busy";
    } catch {
      status.textContent = "Server unreachable; retrying…";
      status.className = "status bad";
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
}

async function refreshStatus() {
  try {
    const body = await api("/readyz");
    $("#status").textContent = `${body.filings} filings · ${body.passages} passages indexed`;
  } catch {
    /* the next call will say */
  }
}

async function loadCompanies() {
  const { companies } = await api("/v1/companies");
  state.companies = companies;
  const select = $("#company");
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: "All companies" }));
  for (const c of companies) {
    const label = `${c.short_name || c.company} · ${c.code}` + (c.filings > 1 ? ` (${c.filings})` : "");
    select.append(el("option", { value: c.code, text: label }));
  }
  select.value = companies.some((c) => c.code === current) ? current : "";
}

async function loadFilings() {
  const { filings } = await api("/v1/filings");
  state.filings = filings;
  $("#filings-count").textContent = `(${filings.length})`;
  const list = $("#filings");
  list.replaceChildren();
  if (!filings.length) list.append(el("li", { class: "hint", text: "No filings yet: upload one below." }));
  for (const f of filings) {
    const open = (ev) => openFiling(f.id, null, ev.currentTarget);
    list.append(
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "filing-item",
            "data-id": f.id,
            "aria-label": `Open filing ${f.company} ${f.code} ${f.record_no} ${f.date || ""}`,
            onclick: open,
          },
          el("span", { class: "filing-name", text: f.company || f.full_name || f.source }),
          el("span", { class: "filing-meta", text: [f.code, f.record_no, f.date].filter(Boolean).join(" · ") }),
          el("span", { class: "filing-sub", text: `${f.questions} Q&A · ${f.passages} passages` }),
        ),
      ),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// asking

function filters() {
  return {
    company: $("#company").value || null,
    date_from: $("#date-from").value || null,
    date_to: $("#date-to").value || null,
  };
}

async function ask(question) {
  question = question.trim();
  if (!question) {
    $("#question").focus();
    return;
  }
  const f = filters();
  const btn = $("#ask-btn");
  btn.disabled = true;
  btn.textContent = "Asking…";
  $("#empty").hidden = true;
  const pending = el("div", { class: "answer pending", role: "status", text: `Searching the filings for “${question}”…` });
  $("#answers").prepend(pending);
  // A generated answer arrives sentence by sentence, each after it passed the grounding check:
  // it is drawn as it grows. A quoted (extractive) answer is drawn once, when it is complete.
  let card = pending;
  const a = { question, answer: "", abstained: false, citations: [], passages: [] };
  const show = (streaming) => {
    const node = renderAnswer(a, f, streaming);
    card.replaceWith(node);
    card = node;
  };
  try {
    let finished = false;
    await askStream({ question, ...f }, (name, data) => {
      if (name === "citations") Object.assign(a, data);
      else if (name === "delta") a.answer += data.text;
      else if (name === "done") {
        Object.assign(a, data);
        finished = true;
      }
      if (finished) show(false);
      else if (a.mode === "generative") show(true);
    });
    if (!finished) throw new Error("the answer stream ended early");
  } catch (err) {
    card.replaceWith(el("div", { class: "answer error", role: "alert", text: `Could not answer: ${err.message}` }));
  } finally {
    btn.disabled = false;
    btn.textContent = "Ask";
  }
}

// POST /v1/ask with stream: true; calls onEvent(name, data) for each server-sent event
async function askStream(body, onEvent) {
  const res = await fetch("/v1/ask", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (!res.ok) {
    let err = null;
    try {
      err = await res.json();
    } catch {
      err = null;
    }
    throw new Error(err?.error?.message || `${res.status} ${res.statusText}`);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  const dispatch = (block) => {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trim());
    }
    if (data.length) onEvent(name, JSON.parse(data.join("\n")));
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      dispatch(buf.slice(0, i));
      buf = buf.slice(i + 2);
    }
  }
  if (buf.trim()) dispatch(buf);
}

function companyName(code) {
  const c = state.companies.find((x) => x.code === code);
  return c ? c.short_name || c.company : code;
}

function renderAnswer(a, f, streaming = false) {
  const node = $("#answer-tpl").content.firstElementChild.cloneNode(true);
  node.querySelector(".asked").textContent = a.question;
  const scope = [];
  if (f.company) scope.push(companyName(f.company));
  if (f.date_from || f.date_to) scope.push(`${f.date_from || "…"} – ${f.date_to || "…"}`);
  node.querySelector(".scope").textContent = scope.length ? `Filtered: ${scope.join(" · ")}` : "";

  const text = node.querySelector(".answer-text");
  const cites = node.querySelector(".citations");
  if (a.abstained) {
    node.classList.add("abstained");
    const verdict = node.querySelector(".verdict");
    verdict.hidden = false;
    verdict.append(el("strong", { text: "No answer in the indexed filings." }), " ", a.answer);
    text.remove();
    const near = node.querySelector(".nearest");
    node.querySelector(".nearest-h").hidden = !a.passages.length;
    for (const p of a.passages.slice(0, 5)) near.append(renderPassage(p));
  } else {
    renderMarked(text, a.answer, (n, trigger) => {
      const c = a.citations.find((x) => x.n === n);
      if (c) {
        focusCitation(cites, n);
        openFiling(c.filing_id, { start: c.start, end: c.end, label: `[${n}]` }, trigger);
      }
    });
    node.querySelector(".sources-h").hidden = !a.citations.length;
    for (const c of a.citations) cites.append(renderCitation(c));
  }
  renderProvenance(node, a, streaming);
  const t = a.timings_ms || {};
  node.querySelector(".timing").textContent = streaming
    ? "Writing… each sentence appears once the cited passages are found to hold it."
    : t.total
      ? `Answered in ${ms(t.total)}`
      : "";
  return node;
}

// how the answer was made: generated and checked, or quoted; a warning; sentences held back
function renderProvenance(node, a, streaming) {
  const mode = node.querySelector(".mode");
  if (a.mode === "generative") {
    node.classList.add("generative");
    mode.hidden = false;
    mode.textContent = "Written by a language model from the cited passages; every sentence shown was checked against them (numbers and names included).";
  }
  const warning = node.querySelector(".warning");
  if (a.warning) {
    warning.hidden = false;
    warning.textContent = `Note: ${a.warning}.`;
  }
  const held = (a.grounding && a.grounding.unsupported) || [];
  const box = node.querySelector(".unsupported");
  if (held.length && !streaming) {
    box.hidden = false;
    const n = held.length;
    box.querySelector("summary").textContent = `${n} generated sentence${n > 1 ? "s" : ""} not shown: the cited passages do not hold ${n > 1 ? "them" : "it"}`;
    const list = box.querySelector("ul");
    for (const s of held) list.append(el("li", { text: s }));
  }
}

// answer text with [n] markers turned into buttons
function renderMarked(container, text, onMarker) {
  const re = /\[(\d+)\]/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) container.append(text.slice(last, m.index));
    const n = Number(m[1]);
    container.append(
      el("button", {
        type: "button",
        class: "marker",
        text: `[${n}]`,
        "aria-label": `Citation ${n}: open the quoted passage`,
        onclick: (ev) => onMarker(n, ev.currentTarget),
      }),
    );
    last = re.lastIndex;
  }
  if (last < text.length) container.append(text.slice(last));
}

function focusCitation(list, n) {
  for (const li of list.children) li.classList.toggle("active", li.dataset.n === String(n));
}

function renderCitation(c) {
  const open = (ev) => {
    focusCitation(ev.currentTarget.closest("ol"), c.n);
    openFiling(c.filing_id, { start: c.start, end: c.end, label: `[${c.n}]` }, ev.currentTarget);
  };
  return el(
    "li",
    { class: "citation", "data-n": String(c.n), id: null },
    el(
      "div",
      { class: "cite-head" },
      el("span", { class: "cite-n", text: `[${c.n}]` }),
      el("span", { class: "badges" }, badges(c)),
    ),
    c.question ? el("p", { class: "cite-q" }, el("span", { class: "q-label", text: "问" }), c.question) : null,
    el("blockquote", { class: "quote", text: c.quote }),
    el("button", {
      type: "button",
      class: "link open-cite",
      text: "Open in filing →",
      "aria-label": `Open citation ${c.n} in ${c.company} filing ${c.record_no}`,
      onclick: open,
    }),
  );
}

function renderPassage(p) {
  return el(
    "li",
    { class: "citation passage" },
    el("div", { class: "cite-head" }, el("span", { class: "badges" }, badges(p))),
    p.question ? el("p", { class: "cite-q" }, el("span", { class: "q-label", text: "问" }), p.question) : null,
    el("blockquote", { class: "quote", text: p.text.length > 240 ? `${p.text.slice(0, 240)}…` : p.text }),
    el("button", {
      type: "button",
      class: "link",
      text: "Open in filing →",
      onclick: (ev) => openFiling(p.filing_id, { start: p.start, end: p.end, label: "passage" }, ev.currentTarget),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// timeline: what the chosen company said about a topic in each of its records (GET /v1/timeline)

async function showTimeline(topic) {
  const f = filters();
  const hint = $("#timeline-hint");
  topic = topic.trim();
  if (!f.company || !topic) {
    hint.textContent = "Choose a company in Filters and type a topic.";
    return;
  }
  hint.textContent = "Reading every record…";
  const params = new URLSearchParams({ company: f.company, topic });
  if (f.date_from) params.set("date_from", f.date_from);
  if (f.date_to) params.set("date_to", f.date_to);
  try {
    const t = await api(`/v1/timeline?${params}`);
    hint.textContent = "";
    $("#empty").hidden = true;
    $("#answers").prepend(renderTimeline(t));
  } catch (err) {
    hint.textContent = `Could not build the timeline: ${err.message}`;
  }
}

function renderTimeline(t) {
  const list = el("ol", { class: "timeline-list" });
  for (const e of t.entries) {
    const c = e.citation;
    const changes = (e.changes || []).map((x) => (x.kind === "changed" ? `${x.previous} → ${x.value}` : `new ${x.value}`));
    if (e.tone === "more confident" || e.tone === "less confident") changes.push(`wording ${e.tone}`);
    list.append(
      el(
        "li",
        { class: `timeline-entry${e.discussed ? "" : " silent"}`, "data-filing": e.filing_id },
        el("div", { class: "cite-head" }, el("span", { class: "badges" }, badges({ record_no: e.record_no, date: e.date }))),
        e.discussed && e.question ? el("p", { class: "cite-q" }, el("span", { class: "q-label", text: "问" }), e.question) : null,
        e.discussed ? el("blockquote", { class: "quote", text: e.quote }) : el("p", { class: "hint", text: "not discussed" }),
        changes.length ? el("p", { class: "timeline-changes", text: changes.join(" · ") }) : null,
        c
          ? el("button", {
              type: "button",
              class: "link open-cite",
              text: "Open in filing →",
              "aria-label": `Open the quote of ${t.company} record ${e.record_no || e.filing_id}`,
              onclick: (ev) => openFiling(c.filing_id, { start: c.start, end: c.end, label: `[${c.n}]` }, ev.currentTarget),
            })
          : null,
      ),
    );
  }
  return el(
    "article",
    { class: "answer timeline", tabindex: "-1" },
    el("header", { class: "answer-head" }, el("h3", { class: "asked", text: `${t.company} on ${t.topic}` }),
      el("div", { class: "scope", text: `Discussed in ${t.discussed} of ${t.records} records` })),
    list,
  );
}

// ---------------------------------------------------------------------------------------------
// the filing panel

async function openFiling(id, span, trigger) {
  state.lastTrigger = trigger || document.activeElement;
  const panel = $("#panel");
  panel.hidden = false;
  document.body.classList.add("panel-open");
  if (!state.openFiling || state.openFiling.id !== id) {
    $("#panel-title").textContent = "Loading…";
    $("#panel-text").replaceChildren();
    try {
      state.openFiling = await api(`/v1/filings/${encodeURIComponent(id)}`);
    } catch (err) {
      state.openFiling = null;
      $("#panel-title").textContent = `Could not open ${id}: ${err.message}`;
      return;
    }
  }
  renderFiling(state.openFiling, span);
  $("#panel-close").focus({ preventScroll: true });
}

function fact(dl, term, value) {
  if (!value || (Array.isArray(value) && !value.length)) return;
  dl.append(el("dt", { text: term }), el("dd", { text: Array.isArray(value) ? value.join("、") : value }));
}

function renderFiling(f, span) {
  $("#panel-title").textContent = f.header.company || f.company;
  const b = $("#panel-badges");
  b.replaceChildren(badges(f));
  const facts = $("#panel-facts");
  facts.replaceChildren();
  const h = f.header;
  fact(facts, "活动类别", h.activity_types);
  fact(facts, "时间", h.activity_dates);
  fact(facts, "地点", h.place);
  fact(facts, "参与单位", h.participants);
  fact(facts, "接待人员", h.reception_staff);
  fact(facts, "文件", f.source);

  const box = $("#panel-text");
  box.replaceChildren();
  state.highlight = null;
  const text = f.text;
  const ok = span && span.start >= 0 && span.end > span.start && span.end <= text.length;
  if (ok) {
    const mark = el("mark", { class: "hl", id: "hl", tabindex: "-1" }, text.slice(span.start, span.end));
    box.append(text.slice(0, span.start), mark, text.slice(span.end));
    state.highlight = mark;
    $("#panel-where").textContent = `Highlighted: citation ${span.label}`;
    $("#panel-nav").hidden = false;
    requestAnimationFrame(() => mark.scrollIntoView({ block: "center" }));
  } else {
    box.append(text);
    $("#panel-nav").hidden = true;
    box.scrollTop = 0;
  }
}

function closePanel() {
  const panel = $("#panel");
  if (panel.hidden) return;
  panel.hidden = true;
  document.body.classList.remove("panel-open");
  const back = state.lastTrigger;
  if (back && document.contains(back)) back.focus();
  else $("#question").focus();
}

// ---------------------------------------------------------------------------------------------
// upload

function showUploadResult(kind, parts) {
  const box = $("#upload-result");
  box.className = `upload-result ${kind}`;
  box.replaceChildren(...parts);
  box.scrollIntoView({ block: "nearest" });
}

async function waitForJob(job) {
  // A long ingest answers 202 with a job; poll it until it is done (or failed).
  for (;;) {
    if (job.status === "done") return job.result;
    if (job.status === "failed" || job.status === "cancelled") {
      const err = new Error(job.error?.message || `the upload was ${job.status}`);
      err.code = job.error?.code;
      err.status = job.error?.status;
      throw err;
    }
    showUploadResult("busy", [`Still embedding new passages (${job.status})…`]);
    await new Promise((r) => setTimeout(r, 1000));
    job = await api(job.url);
  }
}

async function upload(files) {
  if (!files.length) {
    showUploadResult("bad", ["Choose a .txt, .pdf or .docx filing first."]);
    return;
  }
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const headers = {};
  const key = $("#api-key").value || sessionStorage.getItem("irqa-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  const btn = $("#upload-btn");
  btn.disabled = true;
  btn.textContent = "Indexing…";
  showUploadResult("busy", [`Uploading ${files.length} file(s) and embedding new passages…`]);
  try {
    let report = await api("/v1/filings", { method: "POST", body: form, headers });
    if (report?.url && report?.status) report = await waitForJob(report); // 202: still ingesting
    if (key) sessionStorage.setItem("irqa-key", key);
    const lines = [];
    const fresh = [...report.added, ...report.updated];
    for (const id of report.added) lines.push(el("div", { text: `Added ${id}` }));
    for (const id of report.updated) lines.push(el("div", { text: `Updated ${id}` }));
    for (const id of report.skipped) lines.push(el("div", { text: `Unchanged ${id}` }));
    for (const x of report.failed) lines.push(el("div", { class: "bad", text: `${x.source}: ${x.error}` }));
    await Promise.all([loadFilings(), loadCompanies(), refreshStatus()]);
    for (const id of fresh) {
      const f = state.filings.find((x) => x.id === id);
      if (!f) continue;
      lines.push(
        el("button", {
          type: "button",
          class: "chip",
          text: `Ask about ${f.company}`,
          onclick: () => {
            $("#company").value = f.code;
            $("#question").value = `${f.company}在本次活动中介绍了哪些情况？`;
            $("#question").focus();
          },
        }),
      );
    }
    showUploadResult(report.failed.length && !fresh.length ? "bad" : "ok", lines);
    $("#upload-files").value = "";
    $("#drop .drop-title").textContent = "Choose or drop files";
  } catch (err) {
    if (err.status === 401) {
      $("#api-key-row").hidden = false;
      $("#api-key").focus();
    }
    showUploadResult("bad", [`Upload refused: ${err.message}`]);
  } finally {
    btn.disabled = false;
    btn.textContent = "Upload and index";
  }
}

// ---------------------------------------------------------------------------------------------
// wiring

function wire() {
  const q = $("#question");
  $("#ask-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    ask(q.value);
  });
  q.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      ask(q.value);
    }
  });
  for (const chip of document.querySelectorAll(".examples .chip")) {
    chip.addEventListener("click", () => {
      q.value = chip.textContent;
      ask(q.value);
    });
  }
  $("#clear-filters").addEventListener("click", () => {
    $("#company").value = "";
    $("#date-from").value = "";
    $("#date-to").value = "";
  });
  $("#timeline-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    showTimeline($("#timeline-topic").value);
  });
  $("#panel-close").addEventListener("click", closePanel);
  $("#panel-jump").addEventListener("click", () => {
    if (state.highlight) {
      state.highlight.scrollIntoView({ block: "center" });
      state.highlight.focus({ preventScroll: true });
    }
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") closePanel();
  });

  const input = $("#upload-files");
  const title = $("#drop .drop-title");
  input.addEventListener("change", () => {
    title.textContent = input.files.length ? [...input.files].map((f) => f.name).join(", ") : "Choose or drop files";
  });
  $("#upload-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    upload([...input.files]);
  });
  const drop = $("#drop");
  drop.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    upload([...ev.dataTransfer.files]);
  });
}

async function main() {
  wire();
  await waitReady();
  try {
    await Promise.all([loadCompanies(), loadFilings()]);
  } catch (err) {
    $("#status").textContent = `Could not load the index: ${err.message}`;
  }
  document.body.dataset.ready = "1";
}

main();
