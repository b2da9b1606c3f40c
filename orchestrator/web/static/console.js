// The operator console: state and commands over /ws/operator (session cookie, same
// origin), venue pictures over one monitor peer connection (receive-only video slots).
//
// One control-room screen: program and preview at the top, the wall of venues under
// them, the agenda on the left and one context panel on the right that shows what the
// current segment needs (the roll call, the awards, or the floor and the microphones).
// Keyboard: Space/Enter take the preview, a tile's key puts its venue in preview,
// ←/→ previous/next segment, N the next award, M mutes all but on air, Esc cancels a
// pending confirmation, Page Up/Down turn the wall's pages.

import { t, setLanguage, language, languages, timeOfDay, translateDocument } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const el = (tag, { dataset, ...props } = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  if (dataset) Object.assign(node.dataset, dataset);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};
const PAGE_SIZE = 16;
const SLOTS = 2 + PAGE_SIZE;  // program, preview, one page of the wall
// The keys that put a wall tile's venue in preview, in the page's order: N and M are taken.
const TILE_KEYS = [..."123456789abcdefghijklopqrstuvwxyz"];
const LANGUAGE_NAMES = { "zh-CN": "中文", en: "English" };

const ui = {
  ws: null, state: null, stateAt: 0, clockOffset: 0, pc: null, videos: [], assigned: [], page: 0, refs: 0,
  pending: new Map(), listed: false, chosenPreview: null, chosenFor: null, tab: null, tabFor: null, confirming: null,
};
window.consoleUi = ui;

translateDocument();
$("language").replaceChildren(...languages.map((lang) => new Option(LANGUAGE_NAMES[lang] || lang, lang)));
$("language").value = language;
$("language").onchange = () => setLanguage($("language").value);
$("take-preview").textContent = t("Take preview");
$("confirm-yes").textContent = t("Put it on air anyway");
$("next-award").textContent = t("Present next award");
$("mute-all").textContent = t("Mute all but on air");

// ---------------------------------------------------------------- commands

function command(cmd) {
  if (!ui.ws || ui.ws.readyState !== WebSocket.OPEN) return showError(t("Not connected to the server."));
  const ref = String(++ui.refs);
  ui.pending.set(ref, cmd);
  ui.ws.send(JSON.stringify({ type: "command", command: cmd, ref }));
}

// Messages follow orchestrator/protocol.py: a command_result carries the status of
// POST /api/commands and its events, or the refusal's sentence (`error`, already in the
// reader's language), `code` and `params`.
function onResult(msg) {
  const cmd = ui.pending.get(msg.ref);
  ui.pending.delete(msg.ref);
  if (msg.status === 200) {
    if (cmd && cmd.type === "take" && cmd.venue === ui.chosenPreview) ui.chosenPreview = null;
    return;
  }
  if (msg.code === "link_poor_needs_confirm" && cmd && (cmd.type === "take" || cmd.type === "grant_floor")) {
    askToConfirm(msg.error, { ...cmd, confirm: true });
    return;
  }
  showError(msg.error);
}

// A take on a poor link is put on air only when the operator says so again (Enter), or not (Esc).
function askToConfirm(text, cmd) {
  ui.confirming = cmd;
  $("confirm-text").textContent = text;
  $("confirm").hidden = false;
  document.body.dataset.confirming = cmd.venue;
}

function closeConfirm(accept) {
  const cmd = ui.confirming;
  ui.confirming = null;
  $("confirm").hidden = true;
  document.body.dataset.confirming = "";
  if (accept && cmd) command(cmd);
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

// ---------------------------------------------------------------- socket

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/operator`);
  ui.ws = ws;
  ws.onopen = () => { setLink(t("connected"), "green", "connected"); startMonitor(); };
  ws.onclose = () => {
    setLink(t("reconnecting…"), "red", "reconnecting");
    if (ui.pc) { ui.pc.close(); ui.pc = null; }
    setTimeout(connect, 1000 + Math.random() * 1000);
  };
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "state") render(msg.state);
    else if (msg.type === "events") {
      msg.events.forEach(logEvent);
      if (msg.events.some((e) => e.type.startsWith("roll_call_"))) listRollCalls();
    }
    else if (msg.type === "command_result") onResult(msg);
    else if (msg.type === "answer") ui.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp }).then(() => { ui.monitorReady = true; assignSlots(); });
    else if (msg.type === "downlink_offer") answerMonitor(msg.sdp);
    else if (msg.type === "error") showError(msg.message);
  };
}

function setLink(text, colour, status) {
  $("link-status").textContent = text;
  $("link-status").className = `badge ${colour}`;
  document.body.dataset.link = status;
}

async function startMonitor() {
  const pc = new RTCPeerConnection({ iceServers: [] });
  ui.pc = pc;
  ui.monitorReady = false;
  ui.assigned = new Array(SLOTS).fill(undefined);
  const transceivers = Array.from({ length: SLOTS }, () => pc.addTransceiver("video", { direction: "recvonly" }));
  // VP8 only (all the server answers with): the offer of 18 slots stays well under the socket's message limit
  const vp8 = (RTCRtpReceiver.getCapabilities("video")?.codecs || []).filter((codec) => codec.mimeType.toLowerCase() === "video/vp8");
  if (vp8.length && transceivers[0].setCodecPreferences) transceivers.forEach((tr) => tr.setCodecPreferences(vp8));
  pc.ontrack = (event) => {
    const slot = transceivers.indexOf(event.transceiver);
    ui.videos[slot] = new MediaStream([event.track]);
    attachVideos();
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  ui.ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }));
}

// Where the media plane offers the monitor's peer itself (Janus), the console's offer is
// answered with the server's offer of as many slots: a peer that answers replaces it.
async function answerMonitor(sdp) {
  if (!ui.pc || !ui.pc.answering) {
    if (ui.pc) ui.pc.close();
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.answering = true;
    pc.ontrack = (event) => {
      ui.videos[pc.getTransceivers().indexOf(event.transceiver)] = new MediaStream([event.track]);
      attachVideos();
    };
    ui.pc = pc;
  }
  const pc = ui.pc;
  await pc.setRemoteDescription({ type: "offer", sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  ui.ws.send(JSON.stringify({ type: "downlink_answer", sdp: pc.localDescription.sdp }));
  ui.monitorReady = true;
  assignSlots();
}

function gathered(pc) {  // one description with every candidate: no trickle
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
    setTimeout(resolve, 2000);
  });
}

function assign(slot, venue) {
  if (ui.assigned[slot] === venue || !ui.ws || ui.ws.readyState !== WebSocket.OPEN) return;
  ui.assigned[slot] = venue;
  ui.ws.send(JSON.stringify({ type: "monitor", slot, venue }));
}

function attachVideos() {
  const set = (video, slot) => { if (video && ui.videos[slot] && video.srcObject !== ui.videos[slot]) video.srcObject = ui.videos[slot]; };
  set($("program-video"), 0);
  set($("preview-video"), 1);
  document.querySelectorAll(".tile video").forEach((video) => set(video, Number(video.dataset.slot)));
}

// ---------------------------------------------------------------- rendering

const fmt = (s) => {
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return (h ? `${h}:${String(m).padStart(2, "0")}` : `${m}`) + `:${String(sec).padStart(2, "0")}`;
};
const timeIn = (epoch, tz) => timeOfDay(epoch, tz);
const venueName = (id) => (ui.state && ui.state.venues[id] ? ui.state.venues[id].name : id);
const currentSegment = (state) => state.segments.find((s) => s.id === state.segment);

// The venue in preview: the one the operator chose in this segment, else the next segment's.
function previewVenue(state) {
  if (ui.chosenPreview && ui.chosenFor === state.segment && state.venues[ui.chosenPreview]) return ui.chosenPreview;
  const i = state.segments.findIndex((s) => s.id === state.segment);
  const next = state.segments[i + 1] || state.segments[0];
  return next ? next.venue : state.conference.main_venue;
}

function choosePreview(venue) {
  if (!ui.state || !ui.state.venues[venue]) return;
  ui.chosenPreview = venue;
  ui.chosenFor = ui.state.segment;
  render(ui.state);
}

function takePreview() {
  if (ui.state) command({ type: "take", venue: previewVenue(ui.state) });
}

const STATUS_WORDS = {
  waiting: t("waiting"), pending: t("pending"), present: t("present"), absent: t("absent"), no_answer: t("no answer"),
};
const PHASE_WORDS = {
  scheduled: t("scheduled"), running: t("running"), ended: t("ended"), finished: t("finished"),
};
const phaseWord = (phase) => PHASE_WORDS[phase] || phase;

function badgeOf(v) {
  if (v.connected) return ["connected", t("connected"), "green"];
  return v.joined_at ? ["reconnecting", t("reconnecting"), "amber"] : ["absent", t("absent"), "grey"];
}

function linkOf(v) {
  const link = v.link || {};
  if (!v.connected) return ["–", "grey"];
  const loss = link.loss_pct ?? 0, rtt = link.rtt_ms ?? 0, kbps = link.bitrate_in_kbps ?? 0;
  const colour = link.quality === "poor" ? "red" : (loss > 2 || rtt > 300 ? "amber" : "green");
  return [t("{loss}% loss · {rtt} ms · {kbps} kb/s", { loss: loss.toFixed(1), rtt: Math.round(rtt), kbps: Math.round(kbps) }), colour];
}

function render(state) {
  ui.state = state;
  ui.stateAt = Date.now() / 1000;
  ui.clockOffset = state.timing.now - ui.stateAt;
  if (!ui.listed) { ui.listed = true; listRollCalls(); }
  const tz = state.conference.timezone;
  $("conference").textContent = state.conference.title;
  $("conference").title = state.conference.title;
  $("phase").textContent = phaseWord(state.phase);
  $("projected-end").textContent = t("{time} (planned {planned})", { time: timeIn(state.timing.projected_end, tz), planned: timeIn(state.timing.planned_end, tz) });
  document.body.dataset.phase = state.phase;
  document.body.dataset.onAir = state.on_air;
  document.body.dataset.segment = state.segment || "";

  renderAgenda(state);
  const fallback = state.fallback_from ? t(" (fallback from {venue})", { venue: venueName(state.fallback_from) }) : "";
  $("program-name").textContent = venueName(state.on_air) + fallback;
  const preview = previewVenue(state);
  $("preview-name").textContent = venueName(preview);
  document.body.dataset.preview = preview;
  assignSlots();

  const caption = state.caption;
  $("caption-preview").hidden = !caption;
  $("caption-preview-category").textContent = caption && caption.kind === "award" ? caption.category : "";
  $("caption-preview-text").textContent = caption ? (caption.kind === "award" ? caption.recipient : caption.text) : "";

  renderRecording(state);
  renderMediaNodes(state);
  renderMediaNodeNotes(state);
  renderWall(state);
  renderContext(state);
  renderRollCall(state);
  renderPolling(state);
  renderReturn(state);
  renderAwards(state);
  renderFloor(state);
  tick();
}

function renderAgenda(state) {
  const tz = state.conference.timezone;
  $("segments").replaceChildren(...state.segments.map((s) => {
    const go = el("button", { textContent: t("Go"), className: "small", onclick: () => command({ type: "goto_segment", segment: s.id }) });
    const started = s.started_at ? timeIn(s.started_at, tz) : "";
    const times = [t("{duration} planned", { duration: fmt(s.planned_s) })];
    if (s.elapsed_s) times.push(t("{duration} actual", { duration: fmt(s.elapsed_s) }));
    if (started) times.push(t("from {time}", { time: started }));
    return el("li", { className: `segment ${s.status} ${s.id === state.segment ? "current" : ""}`, id: `segment-${s.id}` },
      el("span", { className: "title", textContent: s.title, title: s.title }), go,
      el("span", { className: "times", textContent: `${venueName(s.venue)} · ${times.join(" · ")}` }));
  }));
  const current = $(`segment-${state.segment}`);
  if (current && ui.scrolledTo !== state.segment) {
    ui.scrolledTo = state.segment;
    const list = $("segments");
    list.scrollTop = current.offsetTop - list.offsetTop - list.clientHeight / 3;
  }
}

function assignSlots() {
  const state = ui.state;
  if (!state || !ui.pc || !ui.monitorReady) return;
  assign(0, state.on_air);
  assign(1, previewVenue(state));
  const ids = Object.keys(state.venues);
  for (let i = 0; i < PAGE_SIZE; i++) assign(2 + i, ids[ui.page * PAGE_SIZE + i] ?? null);
}

// The venues of the wall's current page, with the key of each.
function pageVenues(state) {
  const ids = Object.keys(state.venues);
  return ids.slice(ui.page * PAGE_SIZE, (ui.page + 1) * PAGE_SIZE);
}

function renderWall(state) {
  const ids = Object.keys(state.venues);
  const pages = Math.max(1, Math.ceil(ids.length / PAGE_SIZE));
  ui.page = Math.max(0, Math.min(ui.page, pages - 1));
  $("page-label").textContent = t("page {page} of {pages}", { page: ui.page + 1, pages });
  $("page-prev").disabled = ui.page === 0;
  $("page-next").disabled = ui.page >= pages - 1;
  const shown = pageVenues(state);
  const columns = shown.length <= 4 ? 2 : shown.length <= 9 ? 3 : 4;
  $("tiles").style.setProperty("--columns", columns);
  $("tiles").style.setProperty("--rows", Math.max(1, Math.ceil(shown.length / columns)));
  const preview = previewVenue(state);
  const tiles = shown.map((id, i) => {
    const v = state.venues[id];
    const [status, statusWord] = badgeOf(v);
    const [link, linkColour] = linkOf(v);
    let tile = document.getElementById(`tile-${id}`);
    if (!tile) {
      tile = el("div", { id: `tile-${id}`, className: "tile", onclick: (event) => { if (!event.target.closest("button")) choosePreview(id); } },
        el("div", { className: "tile-screen" },
          el("video", { autoplay: true, muted: true, playsInline: true, dataset: { slot: String(2 + i) } }),
          el("div", { className: "no-signal" }),
          el("span", { className: "tile-key" }),
          el("div", { className: "tile-tags" })),
        el("div", { className: "tile-info" }));
    }
    tile.querySelector("video").dataset.slot = String(2 + i);
    tile.dataset.venue = id;
    tile.dataset.status = status;
    tile.dataset.key = TILE_KEYS[i];
    tile.classList.toggle("on-air", state.on_air === id);
    tile.classList.toggle("preview", preview === id);
    tile.classList.toggle("no-signal-tile", !v.connected);
    tile.title = t("{venue}: key {key} puts it in preview", { venue: v.name, key: TILE_KEYS[i].toUpperCase() });
    tile.querySelector(".tile-key").textContent = TILE_KEYS[i].toUpperCase();
    tile.querySelector(".no-signal").replaceChildren(el("strong", { textContent: t("NO SIGNAL") }), el("span", { textContent: statusWord }));
    tile.querySelector(".tile-tags").replaceChildren(...[
      state.on_air === id ? el("span", { className: "tally red", textContent: t("ON AIR") }) : null,
      preview === id ? el("span", { className: "tally green", textContent: t("PREVIEW") }) : null,
      v.hand_raised ? el("span", { className: "badge amber hand", textContent: t("hand raised") }) : null,
      v.muted ? el("span", { className: "badge grey muted-mark", textContent: t("muted") }) : null,
      v.media_node ? el("span", { className: "badge grey node-mark", textContent: t("node {node}", { node: v.media_node }),
                                  title: t("Its media goes through media node {node}", { node: v.media_node }) }) : null,
    ].filter(Boolean));
    tile.querySelector(".tile-info").replaceChildren(
      el("strong", { className: "tile-name", textContent: v.name, title: v.name }),
      el("span", { className: "tile-line" },
        el("span", { className: `link ${linkColour}`, textContent: v.connected ? link : statusWord, title: v.connected ? link : statusWord }),
        el("span", { className: "tile-buttons" },
          el("button", { textContent: t("Take"), className: "take small", onclick: () => command({ type: "take", venue: id }) }),
          el("button", { textContent: v.muted ? t("Unmute") : t("Mute"), className: "mute small", onclick: () => command({ type: v.muted ? "unmute_venue" : "mute_venue", venue: id }) }),
          el("button", { textContent: "⊘", title: t("Revoke link"), className: "revoke small", onclick: () => {
            if (confirm(t("Revoke the join links of {venue}? It is cut off now; only links issued afterwards will work.", { venue: v.name }))) command({ type: "revoke_link", venue: id });
          } }))));
    return tile;
  });
  $("tiles").replaceChildren(...tiles);
  attachVideos();
}

// ---------------------------------------------------------------- the context panel

// The tab the current segment needs; the operator may open another until the segment changes.
function neededTab(state) {
  const seg = currentSegment(state);
  if (state.roll_call && state.roll_call.phase === "running") return "roll-call";
  if (!seg) return "floor";
  if (seg.kind === "roll_call") return "roll-call";
  if (seg.kind === "award_presentation") return "awards";
  return "floor";
}

function renderContext(state) {
  if (ui.tabFor !== (state.segment || "")) { ui.tab = null; ui.tabFor = state.segment || ""; }
  const tab = ui.tab || neededTab(state);
  document.body.dataset.context = tab;
  document.querySelectorAll(".tabs .tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  document.querySelectorAll(".ctx").forEach((panel) => { panel.hidden = panel.dataset.tab !== tab; });
}

function showTab(tab) {
  if (!ui.state) return;
  ui.tab = tab;
  ui.tabFor = ui.state.segment || "";
  renderContext(ui.state);
}

const serverNow = () => Date.now() / 1000 + ui.clockOffset;
const secondsTo = (epoch) => Math.max(0, Math.ceil(epoch - serverNow()));
// The recording's switch in the top bar, and a warning when the recorder stopped by itself.
const RECORDING_STOPS = { disk_full: t("the disk is full"), unwritable: t("the recording folder cannot be written"), error: t("the recorder failed") };
function renderRecording(state) {
  const rec = state.recording, on = Boolean(rec && rec.active);
  let button = $("recording");
  if (!button) {
    button = el("button", { id: "recording", onclick: () => command({ type: button.dataset.on === "true" ? "stop_recording" : "start_recording" }) });
    $("link-status").before(button);
    $("error").after(el("div", { id: "recording-warning", className: "error-banner", role: "alert", hidden: true }));
  }
  button.dataset.on = String(on);
  button.className = on ? "badge red" : "";
  button.textContent = on ? t("● REC · stop recording") : t("Start recording");
  button.disabled = state.phase !== "running";
  const failed = rec && !rec.active && RECORDING_STOPS[rec.stop_reason];
  $("recording-warning").hidden = !failed;
  $("recording-warning").textContent = failed ? t("Recording stopped at {time}: {reason} ({detail}). The session goes on.", {
    time: timeIn(rec.stopped_at, state.conference.timezone), reason: failed, detail: rec.detail }) : "";
}

// The media nodes (Janus) in the top bar: each one's venues, and whether it answers; none for one-process media.
function renderMediaNodes(state) {
  let list = $("media-nodes");
  if (!list) {
    list = el("span", { id: "media-nodes", className: "media-nodes" });
    $("link-status").before(list);
  }
  const nodes = state.media_nodes || [];
  list.hidden = nodes.length === 0;
  list.replaceChildren(...nodes.map((n) => {
    const [colour, said] = n.alive === false ? ["red", t("not answering")] : n.alive ? ["green", t("answering")] : ["grey", t("not used yet")];
    return el("span", { className: `badge ${colour} media-node`, dataset: { node: n.id, alive: String(n.alive) },
                        textContent: t("node {node}: {venues}", { node: n.id, venues: n.venues }),
                        title: t("Media node {node} at {host}, {state}; venues on it: {venues}", { node: n.id, host: n.host, state: said, venues: n.venues }) });
  }));
}

// A banner per media node lost and not back (the server's sentence); one that is back says so for a while.
const NODE_BACK_SHOWN_S = 120;
function renderMediaNodeNotes(state) {
  const tz = state.conference.timezone;
  const shown = (state.media_node_notes || []).filter((n) => n.back_at === null || serverNow() - n.back_at < NODE_BACK_SHOWN_S);
  $("media-node-notes").replaceChildren(...shown.map((n) => el("div", {
    className: n.back_at === null ? "error-banner media-node-lost" : "info-banner media-node-back",
    dataset: { node: n.node }, textContent: `${timeIn(n.back_at === null ? n.lost_at : n.back_at, tz)} ${n.text}` })));
}

function renderRollCall(state) {
  const rc = state.roll_call;
  const called = !!rc && rc.mode === "called";
  const running = !!rc && rc.phase === "running";
  $("roll-call-mode").hidden = !rc;
  $("roll-call-mode").textContent = rc ? (called ? t("called") : t("self-check")) : "";
  $("roll-call-counts").textContent = rc
    ? `${Object.entries(rc.counts).map(([status, n]) => `${n} ${STATUS_WORDS[status] || status}`).join(" · ")} (${phaseWord(rc.phase)})`
    : t("No roll call in this segment yet.");
  document.body.dataset.calling = running && rc.calling ? rc.calling : "";
  $("calling").hidden = !(called && running);
  $("pause-roll-call").textContent = rc && rc.paused ? t("Resume") : t("Pause");
  $("pause-roll-call").disabled = !(called && running);
  $("skip-roll-call").disabled = !(called && running && rc.calling && !rc.paused);
  $("export-csv").href = rc ? `/api/roll-call.csv?segment=${encodeURIComponent(rc.segment)}` : "/api/roll-call.csv";
  countdowns();
  const rows = rc ? Object.entries(rc.venues) : [];
  const recall = called ? t("Recall") : t("Retry");
  const mark = (ok) => (ok === null ? "" : (ok ? t("OK") : t("no")));
  $("roll-call-rows").replaceChildren(...rows.map(([id, e]) => el("tr", {
    id: `rc-${id}`, className: `${e.status}${running && rc.calling === id ? " calling-row" : ""}`, dataset: { status: e.status },
    title: e.at ? `${timeIn(e.at, state.conference.timezone)}${e.by ? ` · ${e.by}` : ""}` : "" },
    el("td", { className: "rc-venue", textContent: venueName(id), title: venueName(id) }),
    el("td", { className: "rc-status", title: e.note },
      (STATUS_WORDS[e.status] || e.status) + (running && rc.calling === id ? t(" (being called)") : ""),
      e.note ? el("small", { className: "note", textContent: ` (${e.note})` }) : null),
    el("td", { className: "rc-picture", textContent: mark(e.picture_ok) }),
    el("td", { className: "rc-sound", textContent: mark(e.sound_ok) }),
    el("td", { className: "rc-at", textContent: e.at ? timeIn(e.at, state.conference.timezone) : "", title: e.by || "" }),
    el("td", { className: "rc-buttons" },
      el("button", { textContent: "✓", title: t("Present"), className: "small present", onclick: () => command({ type: "mark_roll_call", venue: id, status: "present" }) }),
      el("button", { textContent: "✗", title: t("Absent"), className: "small absent", onclick: () => command({ type: "mark_roll_call", venue: id, status: "absent" }) }),
      el("button", { textContent: "↻", title: recall, className: "small recall", onclick: () => command({ type: "retry_roll_call", venue: id }) })))));
  const calling = running && rc.calling && $(`rc-${rc.calling}`);
  if (calling && ui.scrolledToCall !== rc.calling) {  // the called venue's row stays in sight
    ui.scrolledToCall = rc.calling;
    const box = $("roll-call-scroll");
    box.scrollTop = calling.offsetTop - box.clientHeight / 2;
  }
}

// Every roll call run, each with its own CSV export.
async function listRollCalls() {
  const response = await fetch("/api/roll-calls", { credentials: "same-origin" });
  if (!response.ok) return;
  const rollCalls = await response.json();
  const links = Object.values(rollCalls).map((rc) => el("li", {}, el("a", {
    href: `/api/roll-call.csv?segment=${encodeURIComponent(rc.segment)}`, download: `roll-call-${rc.segment}.csv`,
    textContent: t("{segment} ({mode}, {phase}) CSV", { segment: rc.segment, mode: rc.mode === "called" ? t("called") : t("self-check"), phase: phaseWord(rc.phase) }) })));
  $("roll-call-exports").replaceChildren(...links);
}

// The next connected venue the polling will show (the rotation skips venues not connected).
function nextPolled(state, polling) {
  const n = polling.venues.length;
  for (let k = 1; k <= n; k++) {
    const venue = polling.venues[(polling.index + k) % n];
    if (state.venues[venue] && state.venues[venue].connected) return venue;
  }
  return null;
}

function renderPolling(state) {
  const polling = state.polling;
  $("polling-status").textContent = polling ? (polling.paused ? t("paused") : t("running")) : t("off");
  $("polling-status").className = `badge ${polling ? (polling.paused ? "amber" : "green") : "grey"}`;
  const shown = polling && (polling.current ? venueName(polling.current) : t("no venue connected"));
  $("polling-line").textContent = !polling ? t("Not polling.") : (polling.target === "program"
    ? t("On the program: {venue} · every {seconds} s", { venue: shown, seconds: polling.dwell })
    : t("On the main venue's return: {venue} · every {seconds} s", { venue: shown, seconds: polling.dwell }));
  document.body.dataset.polling = polling ? polling.current || "" : "";
  $("pause-polling").textContent = polling && polling.paused ? t("Resume") : t("Pause");
  $("pause-polling").disabled = $("stop-polling").disabled = !polling;
  $("start-polling").disabled = !!polling;
  $("tab-polling").classList.toggle("lit", !!polling);
  countdowns();
  const picks = $("polling-venues");
  const branches = Object.entries(state.venues).filter(([, v]) => v.role === "branch");
  if (picks.children.length !== branches.length) {
    picks.replaceChildren(...branches.map(([id, v]) => el("label", {},
      el("input", { type: "checkbox", value: id, checked: true }), ` ${v.name}`)));
  }
}

function renderReturn(state) {
  const mr = state.main_return;
  $("return-status").textContent = { program: t("program"), single: t("single"), wall: t("wall"), polling: t("polling") }[mr.mode] || mr.mode;
  $("return-status").className = `badge ${mr.mode === "program" ? "grey" : "green"}`;
  $("tab-return").classList.toggle("lit", mr.mode !== "program");
  document.body.dataset.mainReturn = mr.shows;
  let line;
  if (mr.shows === "program") line = t("The main venue sees the program ({venue}).", { venue: venueName(state.on_air) });
  else if (mr.shows === "single") {
    line = mr.mode === "polling" ? t("The main venue sees {venue} (polling).", { venue: venueName(mr.venue) })
      : t("The main venue sees {venue}.", { venue: venueName(mr.venue) });
  } else {
    line = t("A {layout} wall, page {page} of {pages}: {venues}.", { layout: mr.layout, page: mr.page + 1, pages: mr.pages, venues: mr.tiles.map(venueName).join(", ") });
  }
  if (mr.mode !== "program" && mr.shows === "program") line += " " + t("(set to {mode}: nothing to show now)", { mode: mr.mode });
  $("return-line").textContent = line;
  const select = $("return-venue");
  const branches = Object.entries(state.venues).filter(([, v]) => v.role === "branch");
  if (select.options.length !== branches.length) {
    select.replaceChildren(...branches.map(([id, v]) => new Option(v.name, id)));
  }
}

// The called venue's time and the next polling step, counted down between state pushes.
function countdowns() {
  const state = ui.state;
  const rc = state && state.roll_call;
  if (rc && rc.mode === "called" && rc.phase === "running") {
    $("calling-name").textContent = rc.paused ? t("Paused") : (rc.calling ? t("Calling: {venue}", { venue: venueName(rc.calling) }) : t("Calling: nobody"));
    $("calling-countdown").textContent = rc.call_deadline && !rc.paused ? t("{seconds} s", { seconds: secondsTo(rc.call_deadline) }) : "";
  }
  const polling = state && state.polling;
  if (polling) {
    const next = nextPolled(state, polling);
    const venue = next ? venueName(next) : "–";
    $("polling-next").textContent = polling.paused
      ? t("Next: {venue} paused ({seconds} s left)", { venue, seconds: Math.ceil(polling.left || 0) })
      : t("Next: {venue} in {seconds} s", { venue, seconds: secondsTo(polling.next_at) });
  } else {
    $("polling-next").textContent = "";
  }
}

function renderAwards(state) {
  const a = state.awards;
  const line = (step) => (step ? `${step.category}: ${step.recipient}${step.venue ? ` (${venueName(step.venue)})` : ""}` : "–");
  $("award-current").textContent = a ? line(a.current) : "–";
  $("award-next").textContent = a ? line(a.next) : "–";
  $("award-progress").textContent = a ? t("{done} of {total}", { done: a.index + 1, total: a.total }) : "";
  $("next-award").disabled = !a || !a.next;
  const steps = a ? a.steps : [];
  $("award-steps").replaceChildren(...steps.map((step, i) => el("li", {
    className: i < a.index ? "done" : (i === a.index ? "current" : (i === a.index + 1 ? "next" : "")) },
    el("span", { className: "recipient", textContent: step.recipient }),
    step.venue ? el("span", { className: "muted", textContent: ` · ${venueName(step.venue)}` }) : null)));
  const current = $("award-steps").querySelector(".current, .next");
  const step = a ? `${a.segment}:${a.index}` : "";
  if (current && ui.scrolledToAward !== step) {  // the current award stays in sight; the operator may scroll between
    ui.scrolledToAward = step;
    $("award-scroll").scrollTop = current.offsetTop - $("award-scroll").offsetTop - 40;
  }
}

function renderFloor(state) {
  const tz = state.conference.timezone;
  $("floor-queue").replaceChildren(...state.floor_queue.map((r) => el("li", { className: "request", dataset: { venue: r.venue } },
    el("span", { className: "who", textContent: `${venueName(r.venue)} · ${timeIn(r.at, tz)}` }),
    el("button", { textContent: t("Grant"), className: "grant small", onclick: () => command({ type: "grant_floor", venue: r.venue }) }),
    el("button", { textContent: t("Dismiss"), className: "small", onclick: () => command({ type: "dismiss_hand", venue: r.venue }) }))));
  $("floor-empty").hidden = state.floor_queue.length > 0;
  $("floor-count").hidden = state.floor_queue.length === 0;
  $("floor-count").textContent = String(state.floor_queue.length);
  const open = Object.entries(state.venues).filter(([, v]) => v.connected && !v.muted).map(([id]) => venueName(id));
  $("microphones").textContent = open.length ? t("Open: {venues}", { venues: open.join(", ") }) : t("Every microphone is muted.");
}

function tick() {
  const state = ui.state;
  if (state) countdowns();
  $("clock").textContent = state ? timeOfDay(serverNow(), state.conference.timezone, { seconds: true }) : "";
  const seg = state && currentSegment(state);
  const timer = $("segment-timer");
  if (!seg) { timer.textContent = "–"; timer.className = ""; return; }
  const elapsed = seg.elapsed_s + (state.phase === "running" ? Date.now() / 1000 - ui.stateAt : 0);
  timer.replaceChildren(el("span", { className: "timer-title", textContent: `${seg.title}: ` }),
    el("span", { className: "timer-time", textContent: `${fmt(elapsed)} / ${fmt(seg.planned_s)}` }));
  timer.title = seg.title;
  timer.className = elapsed > seg.planned_s ? "red" : (elapsed >= 0.8 * seg.planned_s ? "amber" : "green");
}

function logEvent(event) {
  const details = Object.entries(event).filter(([k]) => !["type", "at"].includes(k))
    .map(([k, v]) => `${k}=${typeof v === "object" && v !== null ? (v.text || JSON.stringify(v)) : v}`).join(" ");
  const time = ui.state ? timeOfDay(event.at, ui.state.conference.timezone, { seconds: true }) : "";
  const text = `${time} ${event.type} ${details}`;
  $("events").prepend(el("li", { className: `event ${event.type}`, textContent: text }));
  $("last-event").textContent = text;
  while ($("events").children.length > 300) $("events").lastChild.remove();
}

// ---------------------------------------------------------------- controls

$("start-session").onclick = () => command({ type: "start_session" });
$("end-session").onclick = () => { if (confirm(t("End the session?"))) command({ type: "end_session" }); };
$("next").onclick = () => command({ type: "next_segment" });
$("previous").onclick = () => command({ type: "previous_segment" });
$("take-preview").onclick = takePreview;
$("confirm-yes").onclick = () => closeConfirm(true);
$("confirm-no").onclick = () => closeConfirm(false);
$("start-roll-call").onclick = () => command({ type: "start_roll_call" });
$("finish-roll-call").onclick = () => command({ type: "finish_roll_call" });
$("pause-roll-call").onclick = () => command({ type: ui.state.roll_call && ui.state.roll_call.paused ? "resume_roll_call" : "pause_roll_call" });
$("skip-roll-call").onclick = () => command({ type: "skip_roll_call_venue" });
$("pause-polling").onclick = () => command({ type: ui.state.polling && ui.state.polling.paused ? "resume_polling" : "pause_polling" });
$("stop-polling").onclick = () => command({ type: "stop_polling" });
$("polling-form").onsubmit = (event) => {
  event.preventDefault();
  const boxes = [...document.querySelectorAll("#polling-venues input")];
  const venues = boxes.filter((b) => b.checked).map((b) => b.value);
  command({ type: "start_polling", target: $("polling-target").value, dwell_s: Number($("polling-dwell").value),
    ...(venues.length === boxes.length ? {} : { venues }) });
};
$("return-program").onclick = () => command({ type: "set_main_return", mode: "program" });
$("return-single-form").onsubmit = (event) => {
  event.preventDefault();
  command({ type: "set_main_return", mode: "single", venue: $("return-venue").value });
};
$("return-wall-form").onsubmit = (event) => {
  event.preventDefault();
  command({ type: "set_main_return", mode: "wall", layout: $("return-layout").value, page_every_s: Number($("return-page-every").value) });
};
$("next-award").onclick = () => command({ type: "next_award" });
$("mute-all").onclick = () => command({ type: "mute_all_but_on_air" });
$("reset-caption").onclick = () => command({ type: "reset_caption" });
$("caption-form").onsubmit = (event) => {
  event.preventDefault();
  const text = $("caption-text").value.trim();
  if (text) command({ type: "set_caption", text });
};
const turnPage = (step) => { if (ui.state) { ui.page += step; render(ui.state); } };
$("page-prev").onclick = () => turnPage(-1);
$("page-next").onclick = () => turnPage(1);
document.querySelectorAll(".tabs .tab").forEach((b) => { b.onclick = () => showTab(b.dataset.tab); });

// A button clicked with the mouse gives the keyboard back to the shortcuts (Space would press it again).
document.addEventListener("click", (event) => {
  const pressed = event.target.closest("button, summary, a");
  if (pressed && event.detail > 0) pressed.blur();
});

const typing = (target) => Boolean(target.closest && target.closest("input, select, textarea, [contenteditable]"));

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  const key = event.key;
  if (ui.confirming) {  // a pending confirmation takes Enter (yes) and Esc (no), nothing else
    if (key === "Enter") closeConfirm(true);
    else if (key === "Escape") closeConfirm(false);
    else return;
    event.preventDefault();
    return;
  }
  const lower = key.length === 1 ? key.toLowerCase() : key;
  if (key === " " || key === "Enter") takePreview();
  else if (key === "ArrowRight") command({ type: "next_segment" });
  else if (key === "ArrowLeft") command({ type: "previous_segment" });
  else if (key === "PageDown") turnPage(1);
  else if (key === "PageUp") turnPage(-1);
  else if (key === "Escape") $("log").open = false;
  else if (lower === "n") command({ type: "next_award" });
  else if (lower === "m") command({ type: "mute_all_but_on_air" });
  else if (ui.state && TILE_KEYS.includes(lower)) {
    const venue = pageVenues(ui.state)[TILE_KEYS.indexOf(lower)];
    if (!venue) return;
    choosePreview(venue);
  } else return;
  event.preventDefault();
});
// Space presses a focused button on key up: the shortcut already took it.
document.addEventListener("keyup", (event) => {
  if (event.key === " " && !typing(event.target)) event.preventDefault();
});

setInterval(tick, 250);
connect();
