// The meeting's stage: a tile per video (the name on it, a ring while its
// sound is heard), laid out in a grid that grows with the number of people.

// RMS of the sound above which a tile shows its speaker as speaking; a quiet
// room's noise floor reads below 0.01, speech and the fake device's beeps above.
const SPEAKING_LEVEL = 0.02;
// How long the ring stays after the sound falls away, so it does not flicker
// between words.
const SPEAKING_HOLD_MS = 400;
const LISTEN_MS = 100;

let audio = null;
const listeners = new Map();  // tile -> {analyser, data, heardAt}

function audioContext() {
  audio ??= new AudioContext();
  return audio;
}

/** Columns for ``count`` tiles: as square a grid as fits, at most 2 on a phone. */
function columns(count) {
  const square = Math.ceil(Math.sqrt(Math.max(count, 1)));
  return window.matchMedia("(max-width: 40rem)").matches ? Math.min(square, 2) : square;
}

export function relayout(stage) {
  const count = stage.querySelectorAll(".tile").length;
  stage.style.setProperty("--cols", String(columns(count)));
  stage.dataset.count = String(count);
}

/** A tile for ``video`` named ``name``; its sound (if ``stream`` has any) is listened to. */
export function addTile(stage, video, name, stream) {
  const tile = Object.assign(document.createElement("figure"), { className: "tile" });
  const caption = document.createElement("figcaption");
  caption.textContent = name;
  tile.append(video, caption);
  stage.append(tile);
  listen(tile, stream);
  relayout(stage);
  return tile;
}

export function removeTile(stage, tile) {
  listeners.delete(tile);
  tile.remove();
  relayout(stage);
}

/** Follows ``stream``'s sound on ``tile`` (again, when the stream changes). */
export function listen(tile, stream) {
  listeners.delete(tile);
  if (!stream || !stream.getAudioTracks().length) return;
  const context = audioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  listeners.set(tile, { analyser, data: new Float32Array(analyser.fftSize), heardAt: 0 });
}

function level({ analyser, data }) {
  analyser.getFloatTimeDomainData(data);
  let sum = 0;
  for (const v of data) sum += v * v;
  return Math.sqrt(sum / data.length);
}

setInterval(() => {
  if (audio?.state === "suspended") audio.resume();
  const now = performance.now();
  for (const [tile, listener] of listeners) {
    if (!tile.isConnected) {
      listeners.delete(tile);
      continue;
    }
    if (level(listener) > SPEAKING_LEVEL) listener.heardAt = now;
    tile.classList.toggle("speaking", now - listener.heardAt < SPEAKING_HOLD_MS);
  }
}, LISTEN_MS);

window.addEventListener("resize", () => document.querySelectorAll(".stage").forEach(relayout));
