// The venue page: camera and microphone up, the program down, over WebRTC.
// The join token is in the URL fragment (never sent to the server by the browser);
// it goes to the server in the first WebSocket message. The main venue's page also
// offers the wall slots the server names (receive-only video) and lays the wall out
// with each venue's name; nothing is composed on the server. Its words are in the
// reader's language (i18n.js); its clock shows the conference's time zone.

import { languageSwitch, t, timeOfDay, translateDocument } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.hash.slice(1));
const BACKOFF_START = 500, BACKOFF_MAX = 8000;
const CLOSE_REPLACED = 4002;  // messages and close codes follow orchestrator/protocol.py

const page = {
  ws: null, pc: null, downlinkPc: null, downlink: "same_peer", stream: null, heartbeat: null, backoff: BACKOFF_START,
  retryTimer: null, stopped: false, everConnected: false, venue: null,
  view: {}, iceServers: [], audio: null, analyser: null,
  wallSlots: 0, wall: [], wallStreams: [], clockOffset: 0, mainReturn: null, timeZone: null,
};
window.venuePage = page;  // for people debugging a venue, and for the browser tests

function setConnection(status, text) {
  document.body.dataset.connection = status;
  const box = $("connection");
  box.hidden = status === "connected";
  box.textContent = text || "";
}

function notice(text, ms = 5000) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, ms);
}

function refuse(message) {
  page.stopped = true;
  document.body.dataset.connection = "refused";
  $("setup").hidden = true;
  $("stage").hidden = true;
  $("refused").hidden = false;
  $("refused-message").textContent = message;
}

// ---------------------------------------------------------------- devices

async function openDevices() {
  const constraints = {
    video: $("camera").value ? { deviceId: { exact: $("camera").value } } : { width: 640, height: 360 },
    audio: $("microphone").value ? { deviceId: { exact: $("microphone").value } } : true,
  };
  const stream = await navigator.mediaDevices.getUserMedia(constraints);
  if (page.stream) page.stream.getTracks().forEach((t) => t.stop());
  page.stream = stream;
  $("preview").srcObject = stream;
  $("self-view").srcObject = stream;
  watchLevel(stream);
  if (page.pc) {  // switch devices without reconnecting
    const senders = page.pc.getSenders();
    for (const track of stream.getTracks()) {
      const sender = senders.find((s) => s.track && s.track.kind === track.kind);
      if (sender) await sender.replaceTrack(track);
    }
  }
  return stream;
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind] of [[$("camera"), "videoinput"], [$("microphone"), "audioinput"]]) {
    const current = select.value;
    select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => {
      const option = new Option(d.label || (kind === "videoinput" ? t("Camera {n}", { n: i + 1 }) : t("Microphone {n}", { n: i + 1 })), d.deviceId);
      return option;
    }));
    if (current) select.value = current;
  }
}

function watchLevel(stream) {
  page.audio = page.audio || new AudioContext();
  const source = page.audio.createMediaStreamSource(stream);
  page.analyser = page.audio.createAnalyser();
  page.analyser.fftSize = 1024;
  source.connect(page.analyser);
}

function currentLevel() {
  if (!page.analyser) return 0;
  const data = new Float32Array(page.analyser.fftSize);
  page.analyser.getFloatTimeDomainData(data);
  let sum = 0;
  for (const x of data) sum += x * x;
  return Math.sqrt(sum / data.length);
}

setInterval(() => { $("level").style.width = `${Math.min(100, currentLevel() * 400)}%`; }, 100);

// Roll-call checks: frames arriving from the camera, sound from the microphone.
async function checkPictureAndSound(seconds = 1.5) {
  const video = $("self-view");
  let frames = 0;
  let last = video.currentTime;
  let peak = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    if (video.currentTime !== last) { frames += 1; last = video.currentTime; }
    peak = Math.max(peak, currentLevel());
  }
  const track = page.stream && page.stream.getVideoTracks()[0];
  return { picture_ok: frames >= 3 && !!track && track.readyState === "live", sound_ok: peak > 0.01 };
}

// ---------------------------------------------------------------- signalling

function wsUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/venue`;
}

function send(message) {
  if (page.ws && page.ws.readyState === WebSocket.OPEN) page.ws.send(JSON.stringify(message));
}

function connect() {
  if (page.stopped) return;
  clearTimeout(page.retryTimer);
  setConnection(page.everConnected ? "reconnecting" : "connecting", page.everConnected ? t("Reconnecting…") : t("Connecting…"));
  const ws = new WebSocket(wsUrl());
  page.ws = ws;
  ws.onopen = () => send({ type: "hello", token, client: "browser" });
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (page.ws !== ws) return;
    if (event.code === CLOSE_REPLACED) replaced();
    else lost(t("the connection to the server was lost"));
  };
}

// Opened elsewhere (another window or a venue agent on this link): stop, do not take it back.
function replaced() {
  page.stopped = true;
  lost(t("replaced"));
  setConnection("replaced", t("This venue was opened in another window; this one has stopped."));
}

function lost(why) {
  clearInterval(page.heartbeat);
  if (page.pc) { page.pc.close(); page.pc = null; }
  if (page.downlinkPc) { page.downlinkPc.close(); page.downlinkPc = null; }
  if (page.ws) { const ws = page.ws; page.ws = null; ws.onclose = null; ws.close(); }
  if (page.stopped) return;
  // exponential backoff with jitter, so venues do not all come back at the same instant
  const delay = page.backoff / 2 + Math.random() * page.backoff / 2;
  page.backoff = Math.min(page.backoff * 2, BACKOFF_MAX);
  setConnection("reconnecting", t("Connection lost: {why}. Reconnecting in {seconds} s…", { why, seconds: (delay / 1000).toFixed(1) }));
  page.retryTimer = setTimeout(connect, delay);
}

async function onMessage(msg) {
  switch (msg.type) {
    case "welcome":
      page.venue = msg.venue;
      page.iceServers = msg.ice_servers || [];
      page.wallSlots = msg.wall_slots || 0;
      page.downlink = msg.downlink || "same_peer";
      page.clockOffset = msg.server_time ? msg.server_time - Date.now() / 1000 : 0;
      page.timeZone = msg.conference.timezone;
      showClock();
      document.title = `${msg.venue.name} — ${msg.conference.title}`;
      $("venue-name").textContent = msg.venue.name;
      $("conference-title").textContent = msg.conference.title;
      clearInterval(page.heartbeat);
      page.heartbeat = setInterval(() => send({ type: "heartbeat" }), (msg.heartbeat_s || 1) * 1000);
      await startPeer();
      break;
    case "answer":
      await page.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      break;
    case "downlink_offer":
      await answerDownlink(msg.sdp);
      break;
    case "state":
      showState(msg);
      break;
    case "roll_call_prompt":
      rollCall(msg);
      break;
    case "roll_call_recorded":
      $("roll-call").hidden = true;
      notice(t("Your venue is recorded present."));
      break;
    case "main_return":
      showReturn(msg);
      break;
    case "replaced":
      replaced();
      break;
    case "restarting":
      notice(t("The server is restarting; reconnecting…"));
      break;
    case "error":
      if (msg.code === "refused") refuse(msg.message);
      else notice(msg.message, 8000);
      break;
  }
}

// The program comes down on this peer ("same_peer"), or on a second one the server offers
// ("server_offer": this peer only sends). Either way the receiving m-lines are, in order:
// the program video, the program audio, the main venue's audio, then the wall slots.
async function startPeer() {
  const pc = new RTCPeerConnection({ iceServers: page.iceServers });
  page.pc = pc;
  const separate = page.downlink === "server_offer";
  const [video] = page.stream.getVideoTracks();
  const [audio] = page.stream.getAudioTracks();
  const direction = separate ? "sendonly" : "sendrecv";
  const videoT = pc.addTransceiver(video, { direction, streams: [page.stream] });
  const audioT = pc.addTransceiver(audio, { direction, streams: [page.stream] });
  page.micSender = audioT.sender;
  const vp8 = (RTCRtpReceiver.getCapabilities("video")?.codecs || []).filter((c) => /vp8|rtx/i.test(c.mimeType));
  let receiving = [];
  if (!separate) {
    const mainT = pc.addTransceiver("audio", { direction: "recvonly" });
    // the main venue's wall: one receive-only video slot each, in this order
    const wallT = Array.from({ length: page.wallSlots }, () => pc.addTransceiver("video", { direction: "recvonly" }));
    receiving = [videoT, audioT, mainT, ...wallT];
  }
  for (const t of [videoT, ...receiving.slice(3)]) if (vp8.length && t.setCodecPreferences) t.setCodecPreferences(vp8);
  page.wallStreams = [];
  pc.ontrack = (event) => showTrack(event.track, receiving.indexOf(event.transceiver));
  pc.onconnectionstatechange = () => {
    if (page.pc !== pc) return;
    if (pc.connectionState === "connected") {
      page.everConnected = true;
      page.backoff = BACKOFF_START;
      setConnection("connected");
      $("setup").hidden = true;
      $("stage").hidden = false;
    } else if (pc.connectionState === "failed") {
      lost(t("the media connection failed"));
    }
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  send({ type: "offer", sdp: pc.localDescription.sdp });
}

function gathered(pc) {  // one description with every candidate: no trickle
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 2000);
  });
}

// index: the track's place among the receiving m-lines (program video, program audio,
// main venue's audio, wall slots)
function showTrack(track, index) {
  if (index >= 3) {
    page.wallStreams[index - 3] = new MediaStream([track]);
    attachWall();
    return;
  }
  const target = index === 0 ? $("program") : (index === 2 ? $("main-audio") : $("program-audio"));
  target.srcObject = new MediaStream([track]);
  target.play().catch(() => {});
}

// The server's offer of the downlink peer: the first makes it, later ones renegotiate it.
async function answerDownlink(sdp) {
  if (!page.downlinkPc) {
    const pc = new RTCPeerConnection({ iceServers: page.iceServers });
    page.downlinkPc = pc;
    pc.ontrack = (event) => showTrack(event.track, pc.getTransceivers().indexOf(event.transceiver));
    pc.onconnectionstatechange = () => {
      if (page.downlinkPc === pc && pc.connectionState === "failed") lost(t("the program's connection failed"));
    };
  }
  const pc = page.downlinkPc;
  await pc.setRemoteDescription({ type: "offer", sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  send({ type: "downlink_answer", sdp: pc.localDescription.sdp });
}

// ---------------------------------------------------------------- the session

function showState(view) {
  page.view = view;
  $("segment-title").textContent = view.segment ? view.segment.title
    : (view.phase === "ended" ? t("The meeting has ended") : t("The meeting has not started"));
  $("on-air-name").textContent = view.you_are_on_air ? "" : t("On air: {venue}", { venue: view.on_air_name });
  $("badge-on-air").hidden = !view.you_are_on_air;
  $("badge-muted").hidden = !view.muted;
  document.body.dataset.onAir = view.you_are_on_air ? "yes" : "no";
  document.body.dataset.muted = view.muted ? "yes" : "no";
  muteAtSource(view.muted);
  const caption = view.caption;
  $("lower-third").hidden = !caption;
  $("lower-third").dataset.kind = caption ? caption.kind : "";
  $("caption-category").textContent = caption && caption.kind === "award" ? caption.category : "";
  $("caption-text").textContent = caption ? (caption.kind === "award" ? caption.recipient : caption.text) : "";
  $("hand").textContent = view.hand_raised ? t("Lower hand") : t("Raise hand");
  $("hand").dataset.raised = view.hand_raised ? "yes" : "no";
  if (view.roll_call !== "pending") $("roll-call").hidden = true;
  const call = view.roll_call_call;
  document.body.dataset.rollCall = !call ? "" : (page.venue && call.calling === page.venue.id ? "called" : "waiting");
  rollCallLine();
}

// ---------------------------------------------------------------- called roll call

const serverNow = () => Date.now() / 1000 + page.clockOffset;
const secondsLeft = (deadline) => Math.max(0, Math.ceil(deadline - serverNow()));

// Everyone's line while a called roll call runs: who is being called, and this venue's own turn.
function rollCallLine() {
  const call = page.view.roll_call_call;
  const line = $("roll-call-line");
  const mine = call && page.venue && call.calling === page.venue.id;
  line.hidden = !call || mine;
  if (!call || mine) return;
  const own = { waiting: t("waiting for your turn"), present: t("you are recorded present"),
    absent: t("you are recorded absent"), no_answer: t("you did not answer in time") }[page.view.roll_call] || "";
  const being = call.deadline ? t("Being called: {venue} · {seconds} s", { venue: call.calling_name, seconds: secondsLeft(call.deadline) })
    : t("Being called: {venue}", { venue: call.calling_name });
  const now = call.paused ? t("Roll call paused") : (call.calling ? being : t("Roll call"));
  line.textContent = own ? `${now} — ${own}` : now;
}

function rollCallCountdown() {
  const call = page.view.roll_call_call;
  const box = $("roll-call-countdown");
  const mine = call && page.venue && call.calling === page.venue.id;
  box.hidden = !mine || !call.deadline;
  if (!box.hidden) box.textContent = t("{seconds} s left to answer", { seconds: secondsLeft(call.deadline) });
}

setInterval(() => { rollCallLine(); rollCallCountdown(); }, 250);

// ---------------------------------------------------------------- the main venue's return

function showReturn(shown) {
  page.mainReturn = shown;
  document.body.dataset.return = shown.shows;
  const label = $("return-name");
  label.hidden = shown.shows !== "single";
  label.textContent = shown.shows !== "single" ? ""
    : (shown.mode === "polling" ? t("Polling: {venue}", { venue: shown.name }) : t("Showing: {venue}", { venue: shown.name }));
  const wall = $("wall");
  wall.hidden = shown.shows !== "wall";
  if (shown.shows !== "wall") return;
  wall.dataset.layout = shown.layout;
  const size = { "2x2": 4, "3x3": 9, "4x4": 16 }[shown.layout] || 16;
  const tiles = [];
  for (let slot = 0; slot < size; slot++) {
    const tile = shown.tiles.find((t) => t.slot === slot);
    let box = page.wall[slot];
    if (!box) {
      box = document.createElement("div");
      box.className = "wall-tile";
      const video = Object.assign(document.createElement("video"), { autoplay: true, muted: true, playsInline: true });
      video.dataset.slot = String(slot);
      const name = Object.assign(document.createElement("span"), { className: "wall-name" });
      box.append(video, name);
      page.wall[slot] = box;
    }
    box.dataset.venue = tile ? tile.venue : "";
    box.classList.toggle("empty", !tile);
    box.querySelector(".wall-name").textContent = tile ? tile.name : "";
    tiles.push(box);
  }
  wall.replaceChildren(...tiles);
  if (shown.pages > 1) {
    wall.append(Object.assign(document.createElement("span"), {
      className: "wall-page", textContent: t("page {page} of {pages}", { page: shown.page + 1, pages: shown.pages }) }));
  }
  attachWall();
}

function attachWall() {
  page.wall.forEach((box, slot) => {
    const video = box.querySelector("video");
    const stream = page.wallStreams[slot];
    if (stream && video.srcObject !== stream) {
      video.srcObject = stream;
      video.play().catch(() => {});
    }
  });
}

// A muted venue stops sending its microphone (the server would drop it anyway).
function muteAtSource(muted) {
  if (!page.pc || !page.stream) return;
  const [mic] = page.stream.getAudioTracks();
  const sender = page.pc.getSenders().find((s) => s === page.micSender);
  if (sender) sender.replaceTrack(muted ? null : mic).catch(() => {});
}

// The prompt: at once for everyone (a check roll call), or when this venue is called, on air.
async function rollCall(prompt = {}) {
  const called = prompt.mode === "called";
  $("roll-call").hidden = false;
  $("roll-call").dataset.mode = called ? "called" : "check";
  $("roll-call-prompt").textContent = called
    ? t("{venue}, you are being called: you are on air. Answer \"Present\".", { venue: page.venue ? page.venue.name : t("Your venue") })
    : t("Please confirm that your venue is present.");
  rollCallCountdown();
  $("present").disabled = true;
  $("check-picture").textContent = $("check-sound").textContent = t("checking…");
  const result = await checkPictureAndSound();
  $("check-picture").textContent = result.picture_ok ? t("OK") : t("no picture");
  $("check-sound").textContent = result.sound_ok ? t("OK") : t("no sound");
  $("present").disabled = false;
  $("present").onclick = () => send({ type: "roll_call_answer", ...result });
}

$("hand").onclick = () => send({ type: page.view.hand_raised ? "lower_hand" : "raise_hand" });
$("camera").onchange = $("microphone").onchange = () => openDevices().catch((e) => notice(t("Device error: {error}", { error: e.message })));

// The time of day in the conference's time zone (the server's clock), not the browser's.
function showClock() {
  if (page.timeZone) $("clock").textContent = timeOfDay(serverNow(), page.timeZone, { seconds: true });
}
setInterval(showClock, 1000);

async function start() {
  translateDocument();
  languageSwitch($("language"));
  if (!token) return refuse(t("This link has no token. Open the full link you were given (it ends with #…)."));
  try {
    await openDevices();
    await listDevices();
    $("setup-status").textContent = t("Camera and microphone ready. Connecting…");
  } catch (error) {
    $("setup-status").textContent = t("Camera or microphone unavailable: {error}. Allow them and reload.", { error: error.message });
    return;
  }
  connect();
}

start();
