// cloudrec browser client: join a room, publish to the room's recorder, and
// drive the server-side mixer with the SDK's names. No build step, no deps.
//
//   import { CloudrecClient } from "/web/cloudrec.js";
//   const client = new CloudrecClient();
//   await client.join("demo", "alice", token);
//   await client.publish(await navigator.mediaDevices.getUserMedia({video: true, audio: true}));
//   client.on("svrMixerStateChanged", (e) => console.log(e.state));
//   const err = await client.startSvrMixer(cfgs, contents, outputs); // 0 or a SPEC code
//
// The mixer calls resolve to a SPEC error code (0 = success), like the SDK;
// client.lastError holds the code and the server's message of the last one.

const EVENTS = ["svrMixerStateChanged", "svrMixerOutputInfo", "svrMixerCfgChanged", "recording"];
const REQUEST_TIMEOUT_MS = 20000;

export const MixerState = Object.freeze({ NULL: 0, STARTING: 1, RUNNING: 2, PAUSED: 3, STOPPING: 4 });

/** The participant list after one presence message: a join's later parts
 *  ("list"), or one participant who joined, left or changed tracks. */
function followPresence(participants, msg) {
  if (msg.event === "list") return [...participants, ...(msg.participants || [])];
  const who = msg.user || {};
  const others = participants.filter((p) => p.userID !== who.userID);
  if (msg.event === "leave") return others;
  const at = participants.findIndex((p) => p.userID === who.userID);
  return at < 0 ? [...participants, who] : participants.map((p, i) => (i === at ? who : p));
}

export class CloudrecClient {
  constructor(server = location.origin) {
    this.server = server.replace(/\/$/, "");
    this.room = null;
    this.user = null;
    this.participants = [];
    this.lastError = { code: 0, message: "" };
    this._ws = null;
    this._rid = 0;
    this._pending = new Map();
    this._handlers = new Map();
    this._stream = null;
    this._screen = null;
    this._media = null;
    this._pcs = new Map(); // to the recorder
    this._mesh = new Map(); // to each other participant
    this._preview = null; // from the recorder: the mix
    this._offers = 0; // answers name the offer they answer; stale ones are dropped
  }

  // -- room ------------------------------------------------------------------

  async join(room, user, token = "") {
    const url = this.server.replace(/^http/, "ws") + "/ws";
    this._ws = new WebSocket(url);
    this._ws.addEventListener("message", (m) => this._dispatch(JSON.parse(m.data)));
    this._ws.addEventListener("close", () => this._failPending("connection closed"));
    await new Promise((resolve, reject) => {
      this._ws.addEventListener("open", resolve, { once: true });
      this._ws.addEventListener("error", () => reject(new Error("cannot reach " + url)), { once: true });
    });
    const reply = await this._request({ type: "join", room, user, ...(token ? { token } : {}) });
    if (reply.err) throw new CloudrecError(reply.err, reply.message);
    this.room = room;
    this.user = user;
    this.participants = reply.participants || [];
    this._emit("participants", this.participants);
    this._emit("wb", { op: "load", state: reply.whiteboard });
    this.recording = reply.recording || { active: false };
    this._emit("recording", this.recording);
  }

  async leave() {
    for (const pc of [...this._pcs.values(), ...this._mesh.values()]) pc.close();
    this._pcs.clear();
    this._mesh.clear();
    if (this._ws) {
      try { await this._request({ type: "leave" }); } catch { /* leaving anyway */ }
      this._ws.close();
    }
    this._ws = null;
  }

  /** Sends a camera-and-microphone MediaStream, and a screen share if given, to
   *  the recorder and to the other participants. Calling it again replaces what
   *  is sent (a share starts or stops by renegotiating). */
  async publish(stream, screen = null, media = null) {
    const first = this._stream === null;
    this._stream = stream;
    this._screen = screen;
    this._media = media;
    const reply = await this._request({ type: "tracks", tracks: this._sending().map(([, info]) => info) });
    if (reply.err) throw new CloudrecError(reply.err, reply.message);
    for (const p of this.participants) {
      if (p.role === "recorder") await this._offerTo(p.userID);
      // On the first publish the lower ID offers; a change is offered by whoever made it.
      else if (p.userID !== this.user && (!first || this.user < p.userID)) await this._meshOffer(p.userID);
    }
  }

  _sending() {
    const out = (this._stream?.getTracks() || []).map((t) => [t, this._stream,
      t.kind === "video" ? { kind: "video", source: "camera", camId: 0 } : { kind: "audio", source: "mic" }]);
    for (const t of this._screen?.getVideoTracks() || []) {
      out.push([t, this._screen, { kind: "video", source: "screen" }]);
    }
    for (const t of this._media?.getTracks() || []) {
      out.push([t, this._media, { kind: t.kind, source: "media" }]);
    }
    return out.map(([t, s, info]) => [t, info, s]);
  }

  // -- the SDK's mixer calls --------------------------------------------------------

  startSvrMixer(cfgs, contents, outputs) {
    return this._call({ type: "startSvrMixer", cfgs, contents, outputs });
  }

  updateSvrMixerContent(contents) {
    return this._call({ type: "updateSvrMixerContent", contents });
  }

  async getSvrMixerState() {
    const reply = await this._request({ type: "getSvrMixerState" });
    return reply.err ? MixerState.NULL : reply.state;
  }

  stopSvrMixer() {
    return this._call({ type: "stopSvrMixer" });
  }

  /** Nothing of the room is recorded until resumed (state 3, MIXER_PAUSED). */
  pauseSvrMixer() {
    return this._call({ type: "pauseSvrMixer" });
  }

  resumeSvrMixer() {
    return this._call({ type: "resumeSvrMixer" });
  }

  /** The mix as it is recorded, sent back by the recorder: resolves to a MediaStream. */
  async startPreview() {
    const recorder = this.participants.find((p) => p.role === "recorder");
    if (!recorder) throw new CloudrecError(5, "nothing is being recorded in this room");
    this.stopPreview();
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.offerId = ++this._offers;
    this._preview = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    const stream = new Promise((resolve) =>
      pc.addEventListener("track", (e) => resolve(new MediaStream([e.track]))));
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    await this._request({ type: "signal", to: recorder.userID,
                          data: { preview: true, offer: pc.offerId,
                                  sdp: { type: "offer", sdp: pc.localDescription.sdp } } });
    return stream;
  }

  stopPreview() {
    this._preview?.close();
    this._preview = null;
  }

  /** Draws on the room's whiteboard: {op: "stroke", stroke}, {op: "erase", id}, {op: "clear"}
   *  or {op: "undo"}. Its effect arrives as a "wb" event here as everywhere else. */
  async whiteboard(op) {
    const err = await this._call({ type: "wb", ...op }, (reply) => {
      const { type, rid, err: _err, message, ...effect } = reply;
      this._emit("wb", effect);
    });
    return err;
  }

  on(event, handler) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(handler);
  }

  off(event, handler) {
    this._handlers.get(event)?.delete(handler);
  }

  // -- protocol ---------------------------------------------------------------------

  async _call(message, onSuccess = null) {
    let reply;
    try {
      reply = await this._request(message);
    } catch (e) {
      reply = { err: 8, message: String(e.message || e) };
    }
    this.lastError = { code: reply.err || 0, message: reply.message || "" };
    if (!reply.err && onSuccess) onSuccess(reply);
    return reply.err || 0;
  }

  _request(message) {
    if (!this._ws || this._ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("not connected"));
    }
    const rid = ++this._rid;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(rid);
        reject(new Error(message.type + " timed out"));
      }, REQUEST_TIMEOUT_MS);
      this._pending.set(rid, (reply) => { clearTimeout(timer); resolve(reply); });
      this._ws.send(JSON.stringify({ ...message, rid }));
    });
  }

  _failPending(reason) {
    for (const [rid, done] of this._pending) done({ rid, err: 8, message: reason });
    this._pending.clear();
  }

  _dispatch(msg) {
    if (msg.type === "reply") {
      const done = this._pending.get(msg.rid);
      if (done) { this._pending.delete(msg.rid); done(msg); }
    } else if (msg.type === "event" && EVENTS.includes(msg.name)) {
      if (msg.name === "recording") this.recording = msg.data;
      this._emit(msg.name, msg.data);
    } else if (msg.type === "presence") {
      this.participants = followPresence(this.participants, msg);
      this._emit("participants", this.participants);
      if (msg.event === "list") return;
      const who = msg.user || {};
      if (who.role === "recorder" && msg.event === "join" && this._stream) this._offerTo(who.userID);
      if (who.role === "recorder" && msg.event === "leave") this._pcs.get(who.userID)?.close();
      if (who.role === "participant" && who.userID !== this.user) {
        // The lower user ID offers, so two newcomers never offer to each other at once.
        if (msg.event === "join" && this._stream && this.user < who.userID) this._meshOffer(who.userID);
        if (msg.event === "leave") {
          this._mesh.get(who.userID)?.close();
          this._mesh.delete(who.userID);
          this._emit("remoteleft", { user: who.userID });
        }
      }
    } else if (msg.type === "signal") {
      const data = msg.data || {};
      if (data.mesh) {
        this._meshSignal(msg.from, data);
      } else if (data.sdp && data.sdp.type === "answer") {
        const pc = data.preview ? this._preview : this._pcs.get(msg.from);
        if (pc && pc.offerId === data.offer) pc.setRemoteDescription(data.sdp);
      } else if (Array.isArray(data.video)) {
        const pc = this._pcs.get(msg.from);
        if (pc) fitSenders(pc, data.video).catch((e) => console.error(e));
      }
    } else if (msg.type === "wb") {
      this._emit("wb", msg);
    }
  }

  _emit(event, data) {
    for (const handler of this._handlers.get(event) || []) {
      try { handler(data); } catch (e) { console.error(e); }
    }
  }

  _meshPeer(user) {
    this._mesh.get(user)?.close();
    const pc = new RTCPeerConnection({ iceServers: [] });
    this._mesh.set(user, pc);
    pc.addEventListener("track", (e) => this._emit("remotestream", { user, stream: e.streams[0] }));
    for (const [track, , stream] of this._sending()) pc.addTrack(track, stream);
    return pc;
  }

  async _meshOffer(user) {
    const pc = this._meshPeer(user);
    pc.offerId = ++this._offers;
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    await this._request({ type: "signal", to: user, data: {
      mesh: true, offer: pc.offerId, sdp: { type: "offer", sdp: pc.localDescription.sdp } } });
  }

  async _meshSignal(user, data) {
    const sdp = data.sdp;
    if (!sdp) return;
    if (sdp.type === "offer") {
      const pc = this._meshPeer(user);
      await pc.setRemoteDescription(sdp);
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      await this._request({ type: "signal", to: user, data: {
        mesh: true, offer: data.offer, sdp: { type: "answer", sdp: pc.localDescription.sdp } } });
    } else {
      const pc = this._mesh.get(user);
      if (pc && pc.offerId === data.offer) await pc.setRemoteDescription(sdp);
    }
  }

  async _offerTo(recorder) {
    this._pcs.get(recorder)?.close();
    // No ICE servers: the recorder is reached directly (loopback or the LAN).
    const pc = new RTCPeerConnection({ iceServers: [] });
    this._pcs.set(recorder, pc);
    pc.offerId = ++this._offers;
    const meta = this._sending().map(([track, info, stream]) =>
      [pc.addTransceiver(track, { direction: "sendonly", streams: [stream] }), info]);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const tracks = meta.map(([t, info]) => ({ ...info, mid: t.mid }));
    await this._request({ type: "signal", to: recorder, data: {
      offer: pc.offerId, sdp: { type: "offer", sdp: pc.localDescription.sdp }, tracks } });
  }
}

// A recorder's size request (docs/protocol.md): each video is sent scaled down
// to the smallest size that still covers the box the recording shows it in, and
// no faster than the recording's frame rate; a video it does not show, as is.
async function fitSenders(pc, video) {
  for (const entry of video) {
    const sender = pc.getTransceivers().find((t) => t.mid === entry.mid)?.sender;
    if (!sender?.track) continue;
    const { width, height } = sender.track.getSettings();
    const params = sender.getParameters();
    if (!params.encodings?.length) continue;
    const [encoding] = params.encodings;
    const shown = entry.width > 0 && entry.height > 0 && width > 0 && height > 0;
    encoding.scaleResolutionDownBy = shown
      ? Math.max(1, Math.min(width / entry.width, height / entry.height)) : 1;
    if (entry.frameRate > 0) encoding.maxFramerate = entry.frameRate;
    else delete encoding.maxFramerate;
    await sender.setParameters(params);
  }
}

// Offers and answers go out complete rather than with trickled candidates:
// the recorder takes them that way, and on a LAN gathering takes milliseconds.
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

export class CloudrecError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
