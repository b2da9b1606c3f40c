// The operator console: state and commands over /ws/operator (session cookie, same
// origin), venue pictures over one monitor peer connection (receive-only video slots).

const $ = (id) => document.getElementById(id);
const el = (tag, { dataset, ...props } = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  if (dataset) Object.assign(node.dataset, dataset);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};
const PAGE_SIZE = 8;
const SLOTS = 2 + PAGE_SIZE;  // program, preview, one page of the wall

const ui = {
  ws: null, state: null, stateAt: 0, clockOffset: 0, pc: null, videos: [], assigned: [], page: 0, refs: 0,
  pending: new Map(), listed: false,
};
window.consoleUi = ui;

// ---------------------------------------------------------------- commands

function command(cmd) {
  const ref = String(++ui.refs);
  ui.pending.set(ref, cmd);
  ui.ws.send(JSON.stringify({ type: "command", command: cmd, ref }));
}

// Messages follow orchestrator/protocol.py: a command_result carries the status of
// POST /api/commands and its events, or the refusal's sentence (`error`), `code` and `params`.
function onResult(msg) {
  const cmd = ui.pending.get(msg.ref);
  ui.pending.delete(msg.ref);
  if (msg.status === 200) return;
  if (msg.code === "link_poor_needs_confirm" && cmd && (cmd.type === "take" || cmd.type === "grant_floor")) {
    if (confirm(`${msg.error}\n\nPut it on air anyway?`)) command({ ...cmd, confirm: true });
    return;
  }
  showError(msg.error);
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
  ws.onopen = () => { setLink("connected", "green"); startMonitor(); };
  ws.onclose = () => {
    setLink("reconnecting…", "red");
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
    else if (msg.type === "error") showError(msg.message);
  };
}

function setLink(text, colour) {
  $("link-status").textContent = text;
  $("link-status").className = `badge ${colour}`;
  document.body.dataset.link = text;
}

async function startMonitor() {
  const pc = new RTCPeerConnection({ iceServers: [] });
  ui.pc = pc;
  ui.monitorReady = false;
  ui.assigned = new Array(SLOTS).fill(undefined);
  const transceivers = Array.from({ length: SLOTS }, () => pc.addTransceiver("video", { direction: "recvonly" }));
  pc.ontrack = (event) => {
    const slot = transceivers.indexOf(event.transceiver);
    ui.videos[slot] = new MediaStream([event.track]);
    attachVideos();
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
    setTimeout(resolve, 2000);
  });
  ui.ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }));
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
const timeIn = (epoch, tz) => new Date(epoch * 1000).toLocaleTimeString("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit" });
const venueName = (id) => (ui.state && ui.state.venues[id] ? ui.state.venues[id].name : id);

function previewVenue(state) {
  const i = state.segments.findIndex((s) => s.id === state.segment);
  const next = state.segments[i + 1] || state.segments[0];
  return next ? next.venue : state.conference.main_venue;
}

function badgeOf(v) {
  if (v.connected) return ["connected", "green"];
  return v.joined_at ? ["reconnecting", "amber"] : ["absent", "grey"];
}

function linkOf(v) {
  const link = v.link || {};
  if (!v.connected) return ["–", "grey"];
  const loss = link.loss_pct ?? 0, rtt = link.rtt_ms ?? 0, kbps = link.bitrate_in_kbps ?? 0;
  const colour = link.quality === "poor" ? "red" : (loss > 2 || rtt > 300 ? "amber" : "green");
  return [`${loss.toFixed(1)}% loss · ${Math.round(rtt)} ms · ${Math.round(kbps)} kb/s`, colour];
}

function render(state) {
  ui.state = state;
  ui.stateAt = Date.now() / 1000;
  ui.clockOffset = state.timing.now - ui.stateAt;
  if (!ui.listed) { ui.listed = true; listRollCalls(); }
  const tz = state.conference.timezone;
  $("conference").textContent = state.conference.title;
  $("phase").textContent = state.phase;
  $("projected-end").textContent = `${timeIn(state.timing.projected_end, tz)} (planned ${timeIn(state.timing.planned_end, tz)})`;
  document.body.dataset.phase = state.phase;
  document.body.dataset.onAir = state.on_air;

  $("segments").replaceChildren(...state.segments.map((s) => {
    const go = el("button", { textContent: "Go", className: "small", onclick: () => command({ type: "goto_segment", segment: s.id }) });
    const started = s.started_at ? timeIn(s.started_at, tz) : "";
    return el("li", { className: `segment ${s.status} ${s.id === state.segment ? "current" : ""}`, id: `segment-${s.id}` },
      el("span", { className: "title", textContent: s.title }),
      el("span", { className: "times", textContent: `${fmt(s.planned_s)} planned${s.elapsed_s ? ` · ${fmt(s.elapsed_s)} actual` : ""}${started ? ` · from ${started}` : ""}` }),
      el("span", { className: "venue", textContent: venueName(s.venue) }), go);
  }));

  $("program-name").textContent = venueName(state.on_air) + (state.fallback_from ? ` (fallback from ${venueName(state.fallback_from)})` : "");
  const preview = previewVenue(state);
  $("preview-name").textContent = venueName(preview);
  $("take-preview").onclick = () => command({ type: "take", venue: preview });
  assignSlots();

  const caption = state.caption;
  $("caption-preview").hidden = !caption;
  $("caption-preview-category").textContent = caption && caption.kind === "award" ? caption.category : "";
  $("caption-preview-text").textContent = caption ? (caption.kind === "award" ? caption.recipient : caption.text) : "";

  renderRecording(state);
  renderWall(state);
  renderRollCall(state);
  renderPolling(state);
  renderReturn(state);
  renderAwards(state);
  $("floor-queue").replaceChildren(...state.floor_queue.map((r) => el("li", { className: "request", dataset: { venue: r.venue } },
    el("span", { textContent: `${venueName(r.venue)} · ${timeIn(r.at, tz)}` }),
    el("button", { textContent: "Grant", className: "grant", onclick: () => command({ type: "grant_floor", venue: r.venue }) }),
    el("button", { textContent: "Dismiss", onclick: () => command({ type: "dismiss_hand", venue: r.venue }) }))));
  tick();
}

function assignSlots() {
  const state = ui.state;
  if (!state || !ui.pc || !ui.monitorReady) return;
  assign(0, state.on_air);
  assign(1, previewVenue(state));
  const ids = Object.keys(state.venues);
  for (let i = 0; i < PAGE_SIZE; i++) assign(2 + i, ids[ui.page * PAGE_SIZE + i] ?? null);
}

function renderWall(state) {
  const ids = Object.keys(state.venues);
  const pages = Math.max(1, Math.ceil(ids.length / PAGE_SIZE));
  ui.page = Math.min(ui.page, pages - 1);
  $("page-label").textContent = `page ${ui.page + 1} of ${pages}`;
  const shown = ids.slice(ui.page * PAGE_SIZE, (ui.page + 1) * PAGE_SIZE);
  const tiles = shown.map((id, i) => {
    const v = state.venues[id];
    const [badge, badgeColour] = badgeOf(v);
    const [link, linkColour] = linkOf(v);
    let tile = document.getElementById(`tile-${id}`);
    if (!tile) {
      tile = el("div", { id: `tile-${id}`, className: "tile" },
        el("video", { autoplay: true, muted: true, playsInline: true, dataset: { slot: String(2 + i) } }),
        el("div", { className: "tile-info" }));
    }
    tile.querySelector("video").dataset.slot = String(2 + i);
    tile.dataset.venue = id;
    tile.dataset.status = badge;
    tile.classList.toggle("on-air", state.on_air === id);
    tile.querySelector(".tile-info").replaceChildren(...[
      el("strong", { textContent: v.name }),
      el("span", { className: `badge ${badgeColour} status`, textContent: badge }),
      state.on_air === id ? el("span", { className: "badge red", textContent: "ON AIR" }) : null,
      v.muted ? el("span", { className: "badge grey muted-mark", textContent: "muted" }) : null,
      v.hand_raised ? el("span", { className: "badge amber", textContent: "✋" }) : null,
      el("span", { className: `link ${linkColour}`, textContent: link }),
      el("span", { className: "tile-buttons" },
        el("button", { textContent: "Take", className: "take", onclick: () => command({ type: "take", venue: id }) }),
        el("button", { textContent: v.muted ? "Unmute" : "Mute", className: "mute", onclick: () => command({ type: v.muted ? "unmute_venue" : "mute_venue", venue: id }) }),
        el("button", { textContent: "Revoke link", className: "revoke small", onclick: () => {
          if (confirm(`Revoke the join links of ${v.name}? It is cut off now; only links issued afterwards will work.`)) command({ type: "revoke_link", venue: id });
        } })),
    ].filter(Boolean));
    return tile;
  });
  $("tiles").replaceChildren(...tiles);
  attachVideos();
}

const serverNow = () => Date.now() / 1000 + ui.clockOffset;
const secondsTo = (t) => Math.max(0, Math.ceil(t - serverNow()));
const STATUS_WORDS = { waiting: "waiting", pending: "pending", present: "present", absent: "absent", no_answer: "no answer" };
// The recording's switch in the top bar, and a warning when the recorder stopped by itself.
const RECORDING_STOPS = { disk_full: "the disk is full", unwritable: "the recording folder cannot be written", error: "the recorder failed" };
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
  button.textContent = on ? "● REC · stop recording" : "Start recording";
  button.disabled = state.phase !== "running";
  const failed = rec && !rec.active && RECORDING_STOPS[rec.stop_reason];
  $("recording-warning").hidden = !failed;
  $("recording-warning").textContent = failed ? `Recording stopped at ${timeIn(rec.stopped_at, state.conference.timezone)}: ${failed} (${rec.detail}). The session goes on.` : "";
}

function renderRollCall(state) {
  const rc = state.roll_call;
  const called = !!rc && rc.mode === "called";
  const running = !!rc && rc.phase === "running";
  $("roll-call-mode").hidden = !rc;
  $("roll-call-mode").textContent = rc ? (called ? "called 点名" : "self-check") : "";
  $("roll-call-counts").textContent = rc
    ? `${Object.entries(rc.counts).map(([status, n]) => `${n} ${STATUS_WORDS[status] || status}`).join(" · ")} (${rc.phase})` : "";
  document.body.dataset.calling = running && rc.calling ? rc.calling : "";
  $("calling").hidden = !(called && running);
  $("pause-roll-call").textContent = rc && rc.paused ? "Resume" : "Pause";
  $("pause-roll-call").disabled = !(called && running);
  $("skip-roll-call").disabled = !(called && running && rc.calling && !rc.paused);
  $("export-csv").href = rc ? `/api/roll-call.csv?segment=${encodeURIComponent(rc.segment)}` : "/api/roll-call.csv";
  countdowns();
  const rows = rc ? Object.entries(rc.venues) : [];
  const recall = called ? "Recall" : "Retry";
  $("roll-call-rows").replaceChildren(...rows.map(([id, e]) => el("tr", {
    id: `rc-${id}`, className: `${e.status}${running && rc.calling === id ? " calling-row" : ""}`, dataset: { status: e.status } },
    el("td", { textContent: venueName(id) }),
    el("td", { className: "rc-status", textContent: (STATUS_WORDS[e.status] || e.status)
      + (running && rc.calling === id ? " (being called)" : "") + (e.note ? ` (${e.note})` : "") }),
    el("td", { className: "rc-picture", textContent: e.picture_ok === null ? "" : (e.picture_ok ? "OK" : "no") }),
    el("td", { className: "rc-sound", textContent: e.sound_ok === null ? "" : (e.sound_ok ? "OK" : "no") }),
    el("td", { textContent: e.at ? `${timeIn(e.at, state.conference.timezone)}${e.by ? ` · ${e.by}` : ""}` : "" }),
    el("td", {},
      el("button", { textContent: "Present", className: "small", onclick: () => command({ type: "mark_roll_call", venue: id, status: "present" }) }),
      el("button", { textContent: "Absent", className: "small", onclick: () => command({ type: "mark_roll_call", venue: id, status: "absent" }) }),
      el("button", { textContent: recall, className: "small recall", onclick: () => command({ type: "retry_roll_call", venue: id }) })))));
}

// Every roll call run, each with its own CSV export.
async function listRollCalls() {
  const response = await fetch("/api/roll-calls", { credentials: "same-origin" });
  if (!response.ok) return;
  const rollCalls = await response.json();
  const links = Object.values(rollCalls).map((rc) => el("li", {}, el("a", {
    href: `/api/roll-call.csv?segment=${encodeURIComponent(rc.segment)}`, download: `roll-call-${rc.segment}.csv`,
    textContent: `${rc.segment} (${rc.mode}, ${rc.phase}) CSV` })));
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
  const target = polling && (polling.target === "program" ? "program" : "main venue's return");
  $("polling-status").textContent = polling ? (polling.paused ? "paused" : "running") : "off";
  $("polling-status").className = `badge ${polling ? (polling.paused ? "amber" : "green") : "grey"}`;
  $("polling-line").textContent = polling
    ? `On the ${target}: ${polling.current ? venueName(polling.current) : "no venue connected"} · every ${polling.dwell} s` : "Not polling.";
  document.body.dataset.polling = polling ? polling.current || "" : "";
  $("pause-polling").textContent = polling && polling.paused ? "Resume" : "Pause";
  $("pause-polling").disabled = $("stop-polling").disabled = !polling;
  $("start-polling").disabled = !!polling;
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
  $("return-status").textContent = mr.mode;
  $("return-status").className = `badge ${mr.mode === "program" ? "grey" : "green"}`;
  document.body.dataset.mainReturn = mr.shows;
  $("return-line").textContent = {
    program: `The main venue sees the program (${venueName(state.on_air)}).`,
    single: `The main venue sees ${venueName(mr.venue)}${mr.mode === "polling" ? " (polling)" : ""}.`,
    wall: `A ${mr.layout} wall, page ${mr.page + 1} of ${mr.pages}: ${mr.tiles.map(venueName).join(", ")}.`,
  }[mr.shows] + (mr.mode !== "program" && mr.shows === "program" ? ` (set to ${mr.mode}: nothing to show now)` : "");
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
    $("calling-name").textContent = rc.paused ? "Paused" : (rc.calling ? `Calling: ${venueName(rc.calling)}` : "Calling: nobody");
    $("calling-countdown").textContent = rc.call_deadline && !rc.paused ? `${secondsTo(rc.call_deadline)} s` : "";
  }
  const polling = state && state.polling;
  if (polling) {
    const next = nextPolled(state, polling);
    const when = polling.paused ? `paused (${Math.ceil(polling.left || 0)} s left)` : `in ${secondsTo(polling.next_at)} s`;
    $("polling-next").textContent = `Next: ${next ? venueName(next) : "–"} ${when}`;
  } else {
    $("polling-next").textContent = "";
  }
}

function renderAwards(state) {
  const a = state.awards;
  const line = (step) => (step ? `${step.category}: ${step.recipient}${step.venue ? ` (${venueName(step.venue)})` : ""}` : "–");
  $("award-current").textContent = a ? line(a.current) : "–";
  $("award-next").textContent = a ? line(a.next) : "–";
  $("next-award").disabled = !a || !a.next;
}

function tick() {
  const state = ui.state;
  if (state) countdowns();
  $("clock").textContent = new Date().toLocaleTimeString("en-GB", { timeZone: state ? state.conference.timezone : undefined });
  const seg = state && state.segments.find((s) => s.id === state.segment);
  const timer = $("segment-timer");
  if (!seg) { timer.textContent = "–"; timer.className = ""; return; }
  const elapsed = seg.elapsed_s + (Date.now() / 1000 - ui.stateAt);
  timer.textContent = `${seg.title}: ${fmt(elapsed)} / ${fmt(seg.planned_s)}`;
  timer.className = elapsed > seg.planned_s ? "red" : (elapsed >= 0.8 * seg.planned_s ? "amber" : "green");
}

function logEvent(event) {
  const details = Object.entries(event).filter(([k]) => !["type", "at"].includes(k))
    .map(([k, v]) => `${k}=${typeof v === "object" && v !== null ? (v.text || JSON.stringify(v)) : v}`).join(" ");
  const time = new Date(event.at * 1000).toLocaleTimeString("en-GB");
  $("events").prepend(el("li", { className: `event ${event.type}`, textContent: `${time} ${event.type} ${details}` }));
  while ($("events").children.length > 300) $("events").lastChild.remove();
}

// ---------------------------------------------------------------- controls

$("start-session").onclick = () => command({ type: "start_session" });
$("end-session").onclick = () => { if (confirm("End the session?")) command({ type: "end_session" }); };
$("next").onclick = () => command({ type: "next_segment" });
$("previous").onclick = () => command({ type: "previous_segment" });
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
$("page-prev").onclick = () => { ui.page = Math.max(0, ui.page - 1); render(ui.state); };
$("page-next").onclick = () => { ui.page += 1; render(ui.state); };
setInterval(tick, 250);
connect();
