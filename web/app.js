// The demo page: join, publish, record with a preset layout, follow the
// recording's state and outputs, and list, play, download and delete files.
import { CloudrecClient, MixerState } from "/web/cloudrec.js";
import { BoardView } from "/web/board.js";
import { LayoutEditor } from "/web/editor.js";
import { PRESETS } from "/web/presets.js";
import { addTile, listen, relayout, removeTile } from "/web/stage.js";

const $ = (id) => document.getElementById(id);
const STATES = { 0: "not recording", 1: "starting", 2: "recording", 3: "paused", 4: "stopping" };
let client = null;
let stream = null;
let screen = null;
let media = null;
let editor = null;
let lastPeople = null;
let token = new URLSearchParams(location.search).get("token") || "";
let mixerState = 0;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function auth() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function publishers() {
  const others = client.participants
    .filter((p) => p.role === "participant" && p.userID !== client.user)
    .filter((p) => p.tracks.some((t) => t.source === "camera"))
    .map((p) => p.userID);
  // The room tells the others what this page publishes, not this page itself.
  return stream?.getVideoTracks().length ? [client.user, ...others] : others;
}

/** The preset's rectangles for the people present, into the editor. */
function resetEditor() {
  const [w, h] = $("size").value.split("x").map(Number);
  editor.set(PRESETS[$("preset").value].build(publishers(), w, h), w, h);
}

function layout() {
  const [w, h] = $("size").value.split("x").map(Number);
  const content = editor.contents.map((c) => ({ ...c }));
  if ($("stamp").checked) content.push({ type: 4, left: 0, top: 0, width: 176, height: 32 });
  const text = $("text").value.trim();
  if (text) content.push({ type: 7, left: 10, top: h - 50, width: 0, height: 0, param: { text } });
  return { w, h, contents: [{ id: "1", content }] };
}

function fmtBytes(n) {
  return n > 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.round(n / 1024)} kB`;
}

async function start() {
  showError("");
  const { w, h, contents } = layout();
  const cfgs = [{ id: "1", streamTypes: 3, cfg: {
    width: w, height: h, frameRate: Number($("fps").value), bitRate: Number($("bitrate").value) * 1000 } }];
  const name = new Date().toISOString().replace(/[:.]/g, "-");
  const outputs = [{ id: "1", output: [{ type: 0, filename: `/${client.room}/${name}.mp4` }] }];
  const err = await client.startSvrMixer(cfgs, contents, outputs);
  if (err) showError(`Could not start: ${client.lastError.message} (error ${err})`);
}

async function update() {
  showError("");
  const err = await client.updateSvrMixerContent(layout().contents);
  if (err) showError(`Could not update: ${client.lastError.message} (error ${err})`);
}

async function stop() {
  const err = await client.stopSvrMixer();
  if (err) showError(`Could not stop: ${client.lastError.message} (error ${err})`);
  await refresh();
}

/** Pauses a running recording, or resumes a paused one. */
async function pauseOrResume() {
  const resuming = mixerState === MixerState.PAUSED;
  const err = await (resuming ? client.resumeSvrMixer() : client.pauseSvrMixer());
  if (err) {
    const what = resuming ? "resume" : "pause";
    showError(`Could not ${what}: ${client.lastError.message} (error ${err})`);
  }
}

function renderPeople(list) {
  const ul = $("people");
  ul.replaceChildren(...list.map((p) => {
    const li = document.createElement("li");
    // The room tells the others what this page publishes, not this page itself.
    const own = p.userID === client.user && stream;
    const mine = ["camera", "mic", ...(screen ? ["screen"] : []), ...(media ? ["media"] : [])];
    const sources = (own ? mine : p.tracks.map((t) => t.source))
      .join(", ") || "no media";
    li.textContent = `${p.userID}${p.role === "recorder" ? " (recorder)" : ""}: ${sources}`;
    return li;
  }));
}

function renderOutput(info) {
  const body = $("outputs").tBodies[0];
  let row = [...body.rows].find((r) => r.dataset.file === info.fileName);
  if (!row) {
    row = body.insertRow();
    row.dataset.file = info.fileName;
    for (let i = 0; i < 4; i++) row.insertCell();
  }
  const states = ["none", "created", "writing", "closed", "error", "uploading", "uploaded", "upload failed"];
  row.cells[0].textContent = info.fileName;
  row.cells[1].textContent = states[info.state] + (info.errCode ? ` (${info.errCode})` : "");
  row.cells[2].textContent = `${(info.duration / 1000).toFixed(1)} s`;
  row.cells[3].textContent = fmtBytes(info.fileSize);
}

/** A recording's poster frame (GET .../poster, with this page's credentials). */
async function showPoster(cell, rec) {
  const resp = await fetch(`/api/v1/recordings/${rec.id}/poster`, { headers: auth() });
  if (!resp.ok) return;  // none yet (still starting) or no video: the cell stays empty
  const img = Object.assign(document.createElement("img"), {
    src: URL.createObjectURL(await resp.blob()), className: "poster",
    alt: `A picture of ${rec.fileName}`,
  });
  cell.replaceChildren(img);
}

let refreshes = 0;

/** The room's recordings, listed afresh; only the latest of several refreshes
 *  under way fills the table, so no recording is listed twice. */
async function refresh() {
  const mine = ++refreshes;
  const resp = await fetch(`/api/v1/recordings?room=${encodeURIComponent(client.room)}&pageSize=50`,
                           { headers: auth() });
  const answer = await resp.json();
  if (mine !== refreshes) return;
  if (!resp.ok) {
    showError(`Could not list recordings: ${answer.message}`);
    return;
  }
  const body = $("recordings").tBodies[0];
  closePlayer();
  body.replaceChildren();
  for (const rec of answer.recordings) {
    const row = body.insertRow();
    row.dataset.id = rec.id;
    const picture = row.insertCell();
    if (rec.videoCodec) showPoster(picture, rec);
    row.insertCell().textContent = rec.fileName;
    row.insertCell().textContent = `${(rec.duration / 1000).toFixed(1)} s`;
    row.insertCell().textContent = fmtBytes(rec.fileSize);
    const actions = row.insertCell();
    const play = Object.assign(document.createElement("button"), { type: "button", textContent: "Play" });
    play.setAttribute("aria-label", `Play ${rec.fileName}`);
    play.addEventListener("click", () => playInPlace(row, rec));
    const download = Object.assign(document.createElement("a"),
      { href: rec.downUrl, textContent: "Download", download: rec.fileName.split("/").pop() });
    const del = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete" });
    del.addEventListener("click", async () => {
      const r = await fetch(`/api/v1/recordings/${rec.id}`, { method: "DELETE", headers: auth() });
      if (!r.ok) showError(`Could not delete: ${(await r.json()).message}`);
      await refresh();
    });
    actions.append(play, " ", download, " ", del);
  }
}

/** Plays a recording in the list, in a row under its own. */
function playInPlace(row, rec) {
  closePlayer();
  const playing = row.parentElement.insertRow(row.sectionRowIndex + 1);
  playing.className = "player-row";
  const cell = playing.insertCell();
  cell.colSpan = row.cells.length;
  const player = $("player");
  cell.append(player);
  player.src = rec.downUrl;
  player.setAttribute("aria-label", `Playing ${rec.fileName}`);
  player.play();
  player.focus();
}

/** The player goes back out of the list (which is about to change). */
function closePlayer() {
  const player = $("player");
  player.pause();
  const row = player.closest("tr");
  $("player-home").append(player);
  row?.remove();
}

let recordingTimer = null;

/** Everyone sees while the room is recorded, who started it, and for how long. */
function showRecording(status) {
  clearInterval(recordingTimer);
  const indicator = $("recording-indicator");
  indicator.hidden = !status.active;
  if (!status.active) return;
  const tick = () => {
    const s = Math.max(0, Math.floor((Date.now() - status.since) / 1000));
    const clock = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    const what = status.paused ? "Recording paused" : "Recording";
    indicator.textContent = `${what}, started by ${status.startedBy}, ${clock}`;
  };
  tick();
  recordingTimer = setInterval(tick, 1000);
}

async function join(event) {
  event.preventDefault();
  showError("");
  token = $("token").value.trim();
  client = new CloudrecClient();
  client.on("recording", showRecording);
  client.on("participants", (list) => {
    renderPeople(list);
    // Re-laid out only when who publishes changes, so edits survive other news.
    const people = publishers().join(",");
    if (people !== lastPeople) {
      lastPeople = people;
      resetEditor();
    }
  });
  client.on("svrMixerStateChanged", (e) => {
    showState(e.state);
    $("state").textContent = STATES[e.state] + (e.err ? ` (error ${e.err})` : "");
    if (e.state === 0) {
      client.stopPreview();
      $("preview").hidden = true;
      refresh();
    }
  });
  client.on("svrMixerOutputInfo", renderOutput);
  client.on("remotestream", ({ user, stream: remote }) => {
    const key = `${user}:${remote.id}`;
    let video = document.querySelector(`video[data-stream="${CSS.escape(key)}"]`);
    if (!video) {
      video = Object.assign(document.createElement("video"), { autoplay: true, playsInline: true });
      video.dataset.user = user;
      video.dataset.stream = key;
      video.setAttribute("aria-label", `${user}'s video`);
      addTile($("videos"), video, user, remote);
    } else {
      listen(video.closest(".tile"), remote);
    }
    video.srcObject = remote;
    remote.addEventListener("removetrack", () => {
      if (!remote.getTracks().length) removeTile($("videos"), video.closest(".tile"));
    });
  });
  client.on("remoteleft", ({ user }) => {
    document.querySelectorAll(`video[data-user="${CSS.escape(user)}"]`)
      .forEach((v) => removeTile($("videos"), v.closest(".tile")));
  });
  window.board = new BoardView($("board"), client, {
    color: $("wb-color"), width: $("wb-width"), erase: $("wb-erase"),
  });
  try {
    await client.join($("room").value.trim(), $("user").value.trim(), token);
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    $("local").srcObject = stream;
    $("local-name").textContent = `${client.user} (you)`;
    for (const [id, label] of [["mic", "Mute"], ["camera", "Stop camera"]]) {
      $(id).setAttribute("aria-pressed", "false");
      $(id).textContent = label;
    }
    listen($("local-tile"), stream);
    relayout($("videos"));
    await client.publish(stream);
    lastPeople = publishers().join(",");
    resetEditor();
  } catch (e) {
    showError(`Could not join: ${e.message}`);
    await client.leave();
    showRecording({ active: false });
    return;
  }
  $("join-panel").hidden = true;
  $("room-panel").hidden = false;
  showState(await client.getSvrMixerState());
  $("state").textContent = STATES[mixerState];
  await refresh();
}

async function toggleShare() {
  try {
    if (screen) {
      screen.getTracks().forEach((t) => t.stop());
      screen = null;
    } else {
      screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
      screen.getVideoTracks()[0].addEventListener("ended", () => { if (screen) toggleShare(); });
    }
    $("share").textContent = screen ? "Stop sharing" : "Share screen";
    $("share").setAttribute("aria-pressed", String(Boolean(screen)));
    await client.publish(stream, screen, media);
  } catch (e) {
    showError(`Could not share the screen: ${e.message}`);
  }
}

/** Plays a local file to the room: its picture and sound, as shared media. */
async function shareMedia() {
  const file = $("media-file").files[0];
  if (!file) return;
  try {
    $("media-player").src = URL.createObjectURL(file);
    await $("media-player").play();
    media = $("media-player").captureStream();
    $("media-stop").hidden = false;
    await client.publish(stream, screen, media);
  } catch (e) {
    showError(`Could not share the file: ${e.message}`);
  }
}

async function stopMedia() {
  $("media-player").pause();
  media = null;
  $("media-stop").hidden = true;
  $("media-file").value = "";
  await client.publish(stream, screen, media);
}

/** The toolbar's Record button follows the room's mixer. */
function showState(state) {
  mixerState = state;
  const on = state !== 0;
  $("record").setAttribute("aria-pressed", String(on));
  $("record").textContent = on ? "Stop recording" : "Record";
  const paused = state === MixerState.PAUSED;
  $("pause").hidden = state !== MixerState.RUNNING && !paused;
  $("pause").setAttribute("aria-pressed", String(paused));
  $("pause").textContent = paused ? "Resume" : "Pause";
}

/** Mutes or unmutes the microphone (or turns the camera off and on): the
 *  track stays published, sending silence or black. */
function toggleTrack(button, kind, offLabel, onLabel) {
  const track = kind === "audio" ? stream?.getAudioTracks()[0] : stream?.getVideoTracks()[0];
  if (!track) return;
  track.enabled = !track.enabled;
  button.setAttribute("aria-pressed", String(!track.enabled));
  button.textContent = track.enabled ? offLabel : onLabel;
}

async function leave() {
  await client.leave();
  showRecording({ active: false });
  stream?.getTracks().forEach((t) => t.stop());
  document.querySelectorAll("#videos .tile:not(#local-tile)")
    .forEach((tile) => removeTile($("videos"), tile));
  $("room-panel").hidden = true;
  $("join-panel").hidden = false;
}

/** What an access token says of its holder (read, not checked: the server checks). */
function tokenClaims(value) {
  try {
    const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

/** A token is for one user (and maybe one room): the form takes them from it. */
function fromToken() {
  const claims = tokenClaims($("token").value.trim());
  const bound = typeof claims?.sub === "string";
  const room = bound && typeof claims.room === "string" && claims.room !== "*";
  if (bound) $("user").value = claims.sub;
  if (room) $("room").value = claims.room;
  $("user").readOnly = bound;
  $("room").readOnly = room;
  $("user-hint").hidden = !bound;
  $("user-hint").textContent = room
    ? "Your name and room come from your access token."
    : "Your name comes from your access token.";
  if (!bound && !$("user").value) $("user").value = `guest-${Math.random().toString(36).slice(2, 6)}`;
}

async function init() {
  // The form takes what the token fixes before anything is awaited, so it is
  // settled by the time the page has loaded.
  $("token").value = token;
  fromToken();
  $("token").addEventListener("input", fromToken);
  for (const [key, preset] of Object.entries(PRESETS)) {
    $("preset").append(new Option(preset.label, key, key === "side", key === "side"));
  }
  editor = new LayoutEditor($("editor"));
  $("preset").addEventListener("change", resetEditor);
  $("size").addEventListener("change", resetEditor);
  $("join-form").addEventListener("submit", join);
  $("start").addEventListener("click", start);
  $("update").addEventListener("click", update);
  $("stop").addEventListener("click", stop);
  $("pause").addEventListener("click", pauseOrResume);
  $("refresh").addEventListener("click", refresh);
  $("preview-button").addEventListener("click", async () => {
    try {
      $("preview").srcObject = await client.startPreview();
      $("preview").hidden = false;
    } catch (e) {
      showError(`No preview: ${e.message}`);
    }
  });
  $("leave").addEventListener("click", leave);
  $("record").addEventListener("click", () => (mixerState === 0 ? start() : stop()));
  $("mic").addEventListener("click", (e) => toggleTrack(e.currentTarget, "audio", "Mute", "Unmute"));
  $("camera").addEventListener("click",
    (e) => toggleTrack(e.currentTarget, "video", "Stop camera", "Start camera"));
  $("share").addEventListener("click", toggleShare);
  $("media-file").addEventListener("change", shareMedia);
  $("media-stop").addEventListener("click", stopMedia);
  $("wb-undo").addEventListener("click", () => client.whiteboard({ op: "undo" }));
  $("wb-clear").addEventListener("click", () => client.whiteboard({ op: "clear" }));
  const info = await (await fetch("/api/info")).json();
  $("dev-banner").hidden = !info.dev;
}

init();
