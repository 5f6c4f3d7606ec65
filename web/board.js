// The room's whiteboard on a canvas: a replica kept from the server's effects,
// drawn locally; strokes are sent when the pointer lifts.
export class BoardView {
  constructor(canvas, client, controls) {
    this.canvas = canvas;
    this.client = client;
    this.controls = controls;
    this.strokes = new Map();
    this.version = 0;
    this._current = null;
    canvas.addEventListener("pointerdown", (e) => this._down(e));
    canvas.addEventListener("pointermove", (e) => this._move(e));
    canvas.addEventListener("pointerup", () => this._up());
    client.on("wb", (effect) => this.apply(effect));
  }

  apply(effect) {
    if (effect.op === "load") {
      this.strokes = new Map((effect.state?.strokes || []).map((s) => [s.id, s]));
    } else if (effect.op === "stroke") {
      this.strokes.set(effect.stroke.id, effect.stroke);
    } else if (effect.op === "erase") {
      this.strokes.delete(effect.id);
    } else if (effect.op === "clear") {
      this.strokes.clear();
    } else if (effect.op === "restore") {
      for (const s of effect.strokes) this.strokes.set(s.id, s);
    }
    this.draw();
  }

  draw() {
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);
    ctx.lineCap = ctx.lineJoin = "round";
    const strokes = [...this.strokes.values()];
    if (this._current) strokes.push(this._current);
    for (const s of strokes) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width * width / 1600;
      ctx.beginPath();
      s.points.forEach(([x, y], i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x * width, y * height));
      if (s.points.length === 1) ctx.lineTo(s.points[0][0] * width + 0.1, s.points[0][1] * height);
      ctx.stroke();
    }
  }

  _point(e) {
    const r = this.canvas.getBoundingClientRect();
    // Four decimals are a sixth of a pixel of the 1600-wide board, and keep a
    // stroke a third of its size on the wire (the board is bounded in bytes).
    const at = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1e4) / 1e4;
    return [at((e.clientX - r.left) / r.width), at((e.clientY - r.top) / r.height)];
  }

  _down(e) {
    const point = this._point(e);
    if (this.controls.erase.checked) {
      const hit = [...this.strokes.values()].find((s) =>
        s.points.some(([x, y]) => Math.hypot(x - point[0], (y - point[1]) * 9 / 16) < 0.02));
      if (hit) this.client.whiteboard({ op: "erase", id: hit.id });
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    this._current = { id: crypto.randomUUID().slice(0, 16), color: this.controls.color.value,
                      width: Number(this.controls.width.value), points: [point] };
  }

  _move(e) {
    if (!this._current || this._current.points.length >= 2000) return;
    this._current.points.push(this._point(e));
    this.draw();
  }

  async _up() {
    const stroke = this._current;
    this._current = null;
    if (stroke) await this.client.whiteboard({ op: "stroke", stroke });
  }
}
