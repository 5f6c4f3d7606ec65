// A visual editor for a layout: each rectangle is a box on a scaled canvas,
// moved by dragging or the arrow keys, resized by its corner handle or
// Shift + arrow keys. Coordinates stay in canvas pixels, even-aligned.
const STEP = 8;
const NAMES = { 0: "camera", 1: "picture", 2: "screen", 3: "media", 5: "screen share", 6: "whiteboard", 7: "text" };

export class LayoutEditor {
  constructor(root) {
    this.root = root;
    this.width = 1280;
    this.height = 720;
    this.contents = [];
  }

  set(contents, width, height) {
    this.contents = contents.map((c) => ({ ...c, param: { ...(c.param || {}) } }));
    this.width = width;
    this.height = height;
    this.render();
  }

  render() {
    this.root.style.aspectRatio = `${this.width} / ${this.height}`;
    this.root.replaceChildren(...this.contents.map((c, i) => this._box(c, i)));
  }

  _box(content, index) {
    const box = document.createElement("div");
    box.className = "box";
    box.tabIndex = 0;
    const name = content.param.camid || content.param.userid || NAMES[content.type] || "content";
    box.textContent = name;
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", `${name}: arrows move, Shift+arrows resize`);
    const handle = Object.assign(document.createElement("span"), { className: "handle" });
    box.append(handle);
    this._place(box, content);
    box.addEventListener("keydown", (e) => this._key(e, content, box));
    box.addEventListener("pointerdown", (e) => this._drag(e, content, box, e.target === handle));
    box.dataset.index = index;
    return box;
  }

  _place(box, c) {
    Object.assign(box.style, {
      left: `${(100 * c.left) / this.width}%`, top: `${(100 * c.top) / this.height}%`,
      width: `${(100 * c.width) / this.width}%`, height: `${(100 * c.height) / this.height}%`,
    });
  }

  _clamp(c) {
    const even = (v) => Math.round(v / 2) * 2;
    c.width = even(Math.max(16, Math.min(c.width, this.width)));
    c.height = even(Math.max(16, Math.min(c.height, this.height)));
    c.left = even(Math.max(0, Math.min(c.left, this.width - c.width)));
    c.top = even(Math.max(0, Math.min(c.top, this.height - c.height)));
  }

  _key(e, c, box) {
    const dx = { ArrowLeft: -STEP, ArrowRight: STEP }[e.key] || 0;
    const dy = { ArrowUp: -STEP, ArrowDown: STEP }[e.key] || 0;
    if (!dx && !dy) return;
    e.preventDefault();
    if (e.shiftKey) { c.width += dx; c.height += dy; } else { c.left += dx; c.top += dy; }
    this._clamp(c);
    this._place(box, c);
  }

  _drag(e, c, box, resizing) {
    e.preventDefault();
    box.setPointerCapture(e.pointerId);
    const scale = this.width / this.root.clientWidth;
    const start = { x: e.clientX, y: e.clientY, c: { ...c } };
    const move = (m) => {
      const dx = (m.clientX - start.x) * scale, dy = (m.clientY - start.y) * scale;
      if (resizing) { c.width = start.c.width + dx; c.height = start.c.height + dy; }
      else { c.left = start.c.left + dx; c.top = start.c.top + dy; }
      this._clamp(c);
      this._place(box, c);
    };
    box.addEventListener("pointermove", move);
    box.addEventListener("pointerup", () => box.removeEventListener("pointermove", move), { once: true });
  }
}
