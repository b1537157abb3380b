// The search page: search as you type, the query in the URL, result cards with related reading,
// and the topic map. Every piece of data reaches the page through textContent or a checked URL,
// never as HTML, so a title such as "<img onerror=…>" is shown as the text it is.
"use strict";

const DEBOUNCE_MS = 150;
const INDEX_CHECK_MS = 10000;  // how often the page asks which version of the index answers
const FILTERS = ["topic", "kind", "year", "collection", "tag"];
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const $ = (id) => document.getElementById(id);
const state = { map: null, hits: [], cursor: -1, hover: -1, pending: null, timer: null, includeWeak: false, version: null };
const LABELLED_GROUPS = 12;  // the largest groups get their name on the map and a line in the legend
// Debounce-to-results times (ms) of the searches so far: read by the browser tests.
window.refsearchTimings = [];

function clean(text) {
  return String(text ?? "").replace(UNSAFE, "");
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = clean(value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

async function api(path, params = {}, signal = undefined) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString();
  const response = await fetch(path + (query ? "?" + query : ""), { signal });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showStatus(text, isError = false) {
  $("status").textContent = clean(text);
  $("status").classList.toggle("error", isError);
}

// --- search ------------------------------------------------------------------------------------

function formValues() {
  const values = { q: $("q").value.trim() };
  for (const name of FILTERS) values[name] = $(name).value.trim();
  return values;
}

function keepInUrl(values) {
  const params = new URLSearchParams(Object.entries(values).filter(([, v]) => v)).toString();
  const url = params ? "/?" + params : "/";
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}

function scheduleSearch() {
  clearTimeout(state.timer);
  state.timer = setTimeout(runSearch, DEBOUNCE_MS);
}

async function runSearch() {
  clearTimeout(state.timer);
  const started = performance.now();
  const values = formValues();
  keepInUrl(values);
  if (state.pending) state.pending.abort();
  if (!values.q) {
    state.hits = [];
    $("results").replaceChildren();
    showStatus("");
    drawMap();
    return;
  }
  const controller = new AbortController();
  state.pending = controller;
  try {
    const data = await api("/api/search", { query: values.q, k: 10, topic: values.topic, kind: values.kind,
                                             year: values.year, collection: values.collection, tag: values.tag,
                                             include_weak: state.includeWeak || "" },
                           controller.signal);
    renderResults(data);
    await new Promise(requestAnimationFrame);  // until the cards are laid out for the next paint
    window.refsearchTimings.push({ query: values.q, ms: performance.now() - started });
  } catch (error) {
    if (error.name !== "AbortError") showStatus(error.message, true);
  }
}

function renderResults(data) {
  state.hits = data.results;
  state.cursor = -1;
  const count = data.results.length;
  showStatus(count ? `${count} reference${count > 1 ? "s" : ""} for “${clean(data.query)}”`
                   : `No references match “${clean(data.query)}”.`);
  const cards = data.results.map((hit) => card(hit, hit.rank));
  if (data.weak_cut) {  // results far below the best: left out, one click away
    const more = el("button", { type: "button", class: "weak-toggle",
                                text: `Show ${data.weak_cut} weak match${data.weak_cut > 1 ? "es" : ""}` });
    more.addEventListener("click", () => { state.includeWeak = true; runSearch(); });
    cards.push(el("p", { class: "weak-note", text: "Weaker matches, far below the best for this query, are left out. " },
                  more));
  }
  $("results").replaceChildren(...cards);
  drawMap();
}

function card(ref, rank) {
  const url = safeUrl(ref.url);
  const title = url ? el("a", { href: url, rel: "noopener noreferrer", target: "_blank", text: ref.title })
                    : el("span", { text: ref.title });
  const heading = el("h3", {}, rank ? el("span", { class: "rank", text: `${rank}.` }) : null, title);
  const authors = (ref.authors || []).slice(0, 3).join(", ") + ((ref.authors || []).length > 3 ? " et al." : "");
  const facts = [ref.year, ref.kind, authors, ref.venue].filter(Boolean).join(" · ");
  const crumb = [ref.page, ref.topic].filter(Boolean).join(" › ") + (ref.topic_en ? ` (${ref.topic_en})` : "")
                + (ref.topic_source === "derived" ? " · derived topic" : "");
  const node = el("article", { class: ref.weak ? "card weak" : "card", tabindex: "-1", "data-id": ref.id }, heading,
    ref.weak ? el("p", { class: "weak-label", text: "weak match: far below the best for this query" }) : null,
    facts ? el("p", { class: "facts", text: facts }) : null,
    el("p", { class: "crumb", text: crumb }),
    ref.note ? el("p", { class: "note", text: ref.note })
             : ref.snippet ? el("p", { class: "snippet", text: ref.snippet }) : null,
    ref.note_en ? el("p", { class: "gloss", lang: "en", text: ref.note_en }) : null,
    ref.fulltext ? el("p", { class: "snippet fulltext", text: `full text: ${ref.fulltext}` }) : null);
  const related = el("button", { type: "button", "aria-expanded": "false", text: "Related reading" });
  related.addEventListener("click", () => toggleRelated(node, ref, related));
  const locate = el("button", { type: "button", text: "Show on map" });
  locate.addEventListener("click", () => pointAt(ref.id));
  node.append(related, locate);
  return node;
}

async function toggleRelated(node, ref, button) {
  const shown = node.querySelector(".related");
  if (shown) {
    shown.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  button.disabled = true;
  try {
    const data = await api("/api/related", { ref: ref.id, k: 5 });
    const list = el("ol", { class: "related", "aria-label": `Related reading after ${clean(ref.title)}` },
      ...data.related.map((item) => {
        const open = el("button", { type: "button", text: item.title });
        open.addEventListener("click", () => openReference(item.id));
        return el("li", {}, open, el("span", { class: "reasons", text: item.reasons.join(" · ") }));
      }));
    node.append(list);
    button.setAttribute("aria-expanded", "true");
  } catch (error) {
    showStatus(error.message, true);
  } finally {
    button.disabled = false;
  }
}

async function openReference(id) {
  try {
    const ref = await api("/api/show/" + id.split("/").map(encodeURIComponent).join("/"));
    const node = card(ref, null);
    node.classList.add("picked");
    $("selected").replaceChildren(node);
    $("selected").hidden = false;
    node.scrollIntoView({ block: "nearest" });
    node.focus();
    pointAt(id);
  } catch (error) {
    showStatus(error.message, true);
  }
}

// --- the topic map -----------------------------------------------------------------------------

async function loadMap() {
  try {
    const data = await api("/api/map");
    // a colour per group (the server's: the heading level that splits each page, or a derived
    // topic), largest first; the largest get their name at the middle of their points
    data.groups.forEach((group, i) => { group.colour = `hsl(${(i * 137.508) % 360} 62% ${i % 2 ? 38 : 52}%)`; });
    data.group = data.topics.map((topic) => data.groups[topic.group]);
    placeLabels(data);
    data.index = new Map(data.points.id.map((id, row) => [id, row]));
    state.map = data;
    fillFilters(data);
    renderLegend(data.groups);
    $("map-note").textContent = `${data.count.toLocaleString()} references`;
    drawMap();
  } catch (error) {
    $("map-note").textContent = clean(error.message);
  }
}

// --- when the index last changed -----------------------------------------------------------------
// The server rebuilds its index when the sources change; the page says when it last did, and
// draws the map again when a new version answers.

async function watchIndex() {
  try {
    const data = await api("/api/index");
    const when = new Date(data.created);
    $("changed").textContent = `index changed ${isNaN(when) ? clean(data.created) : when.toLocaleString()} · ` +
      `${data.references.toLocaleString()} references`;
    if (state.version && state.version !== data.created + data.generation) loadMap();
    state.version = data.created + data.generation;
  } catch (error) {
    $("changed").textContent = clean(error.message);
  }
  setTimeout(watchIndex, INDEX_CHECK_MS);
}

function fillFilters(data) {
  const kinds = new Map();
  for (const kind of data.points.kind) if (kind) kinds.set(kind, (kinds.get(kind) || 0) + 1);
  const chosen = $("kind").value;
  const names = [...kinds].sort((a, b) => b[1] - a[1]).map(([kind]) => kind);
  if (chosen && !names.includes(chosen)) names.push(chosen);
  $("kind").replaceChildren(el("option", { value: "", text: "any" }),
                            ...names.map((kind) => el("option", { value: kind, text: kind })));
  $("kind").value = chosen;
  const topics = new Set(data.topics.flatMap((t) => [...t.topic_path, ...(t.topic_en ? [t.topic_en] : [])]));
  $("topics").replaceChildren(...[...topics].slice(0, 500).map((t) => el("option", { value: t })));
  const collections = new Set(data.topics.map((t) => t.topic_path.join("/")).filter(Boolean));
  $("collections").replaceChildren(...[...collections].sort().slice(0, 500).map((c) => el("option", { value: c })));
}

function renderLegend(groups) {
  const shown = groups.slice(0, LABELLED_GROUPS).map((group) => {
    const swatch = el("span");
    swatch.style.background = group.colour;
    return el("li", {}, swatch, document.createTextNode(clean(`${group.name} (${group.count})`)));
  });
  if (groups.length > LABELLED_GROUPS) shown.push(el("li", { text: `… ${groups.length - LABELLED_GROUPS} more topics` }));
  $("legend").replaceChildren(...shown);
}

function placeLabels(data) {
  // each labelled group's name goes at the median of its points (robust to a few strays)
  const members = new Map();
  data.points.topic.forEach((topic, row) => {
    if (data.topics[topic].group >= LABELLED_GROUPS) return;
    const group = data.group[topic];
    if (!members.has(group)) members.set(group, []);
    members.get(group).push(row);
  });
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  for (const [group, rows] of members) {
    group.at = [median(rows.map((row) => data.points.x[row])), median(rows.map((row) => data.points.y[row]))];
  }
}

function canvasSize() {
  const canvas = $("map");
  const ratio = window.devicePixelRatio || 1;
  const side = canvas.clientWidth;
  if (canvas.width !== Math.round(side * ratio)) {
    canvas.width = canvas.height = Math.round(side * ratio);
  }
  return { canvas, side, ratio };
}

const PAD = 10;
function position(row, side) {
  const map = state.map;
  return [PAD + map.points.x[row] * (side - 2 * PAD), PAD + (1 - map.points.y[row]) * (side - 2 * PAD)];
}

function drawMap() {
  const map = state.map;
  if (!map) return;
  const { canvas, side, ratio } = canvasSize();
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, side, side);
  const hits = new Set(state.hits.map((hit) => map.index.get(hit.id)));
  ctx.globalAlpha = hits.size ? 0.35 : 0.8;
  const radius = map.count > 2000 ? 1.8 : 3.5;
  for (let row = 0; row < map.count; row++) {
    const [x, y] = position(row, side);
    ctx.fillStyle = map.group[map.points.topic[row]].colour;
    ctx.fillRect(x - radius, y - radius, 2 * radius, 2 * radius);
  }
  ctx.globalAlpha = 1;
  drawLabels(ctx, side);
  state.hits.forEach((hit, i) => ring(ctx, map.index.get(hit.id), side, i === state.cursor ? "#f0a020" : "#1d2329"));
  if (state.hover >= 0) ring(ctx, state.hover, side, "#0b5cad");
}

function drawLabels(ctx, side) {
  // canvas text (never markup) with a light halo, largest groups first; a label that would cover
  // one already drawn is left out (the legend names every group), none runs off the map
  ctx.font = "600 12px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.85)";
  const placed = [];
  for (const group of state.map.groups.slice(0, LABELLED_GROUPS)) {
    if (!group.at) continue;
    const name = clean(group.name).length > 28 ? clean(group.name).slice(0, 27) + "…" : clean(group.name);
    const half = ctx.measureText(name).width / 2 + 2;
    const x = Math.min(Math.max(PAD + group.at[0] * (side - 2 * PAD), half), side - half);
    const y = Math.min(Math.max(PAD + (1 - group.at[1]) * (side - 2 * PAD), 14), side - 4);
    const box = [x - half, y - 12, x + half, y + 3];
    if (placed.some((o) => box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3])) continue;
    placed.push(box);
    ctx.strokeText(name, x, y);
    ctx.fillStyle = "#1d2329";
    ctx.fillText(name, x, y);
  }
}

function ring(ctx, row, side, colour) {
  if (row === undefined) return;
  const [x, y] = position(row, side);
  ctx.beginPath();
  ctx.arc(x, y, 6, 0, 2 * Math.PI);
  ctx.fillStyle = state.map.group[state.map.points.topic[row]].colour;
  ctx.fill();
  ctx.lineWidth = 2.5;
  ctx.strokeStyle = colour;
  ctx.stroke();
}

function nearestPoint(event) {
  const map = state.map;
  if (!map) return -1;
  const rect = $("map").getBoundingClientRect();
  const mx = event.clientX - rect.left, my = event.clientY - rect.top;
  let best = -1, bestDistance = 64;  // within 8 px
  for (let row = 0; row < map.count; row++) {
    const [x, y] = position(row, rect.width);
    const distance = (x - mx) ** 2 + (y - my) ** 2;
    if (distance < bestDistance) { best = row; bestDistance = distance; }
  }
  return best;
}

function showTooltip(row) {
  const tip = $("tooltip");
  if (row < 0) { tip.hidden = true; return; }
  const map = state.map;
  const topic = map.topics[map.points.topic[row]];
  tip.replaceChildren(el("strong", { text: map.points.title[row] }), el("br"),
                      document.createTextNode(clean([topic.page, topic.topic].filter(Boolean).join(" › "))));
  const side = $("map").clientWidth;
  const [x, y] = position(row, side);
  tip.style.left = `${Math.min(x + 10, side - 200)}px`;
  tip.style.top = `${y + 12}px`;
  tip.hidden = false;
}

function pointAt(id) {
  const row = state.map?.index.get(id);
  if (row === undefined) return;
  state.hover = row;
  drawMap();
  showTooltip(row);
}

function bindMap() {
  const canvas = $("map");
  canvas.addEventListener("mousemove", (event) => {
    const row = nearestPoint(event);
    if (row === state.hover) return;
    state.hover = row;
    canvas.style.cursor = row >= 0 ? "pointer" : "crosshair";
    showTooltip(row);
    drawMap();
  });
  canvas.addEventListener("mouseleave", () => { state.hover = -1; showTooltip(-1); drawMap(); });
  canvas.addEventListener("click", (event) => {
    const row = nearestPoint(event);
    if (row >= 0) openReference(state.map.points.id[row]);
  });
  canvas.addEventListener("keydown", (event) => {
    if (!state.hits.length || !state.map) return;
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const step = event.key === "ArrowRight" ? 1 : -1;
      state.cursor = (state.cursor + step + state.hits.length) % state.hits.length;
      pointAt(state.hits[state.cursor].id);
      event.preventDefault();
    } else if (event.key === "Enter" && state.cursor >= 0) {
      openReference(state.hits[state.cursor].id);
    }
  });
  new ResizeObserver(() => drawMap()).observe(canvas);
}

// --- start ---------------------------------------------------------------------------------------

function start() {
  const params = new URLSearchParams(location.search);
  $("q").value = params.get("q") || "";
  for (const name of FILTERS) {
    const value = params.get(name) || "";
    if (name === "kind" && value) $("kind").append(el("option", { value, text: value }));
    $(name).value = value;
  }
  $("search").addEventListener("submit", (event) => { event.preventDefault(); runSearch(); });
  $("q").addEventListener("input", () => { state.includeWeak = false; scheduleSearch(); });
  for (const name of FILTERS) $(name).addEventListener(name === "kind" ? "change" : "input", scheduleSearch);
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement.tagName !== "INPUT") { event.preventDefault(); $("q").focus(); }
  });
  bindMap();
  loadMap();
  watchIndex();
  if ($("q").value) runSearch();
}

start();
