// Layout presets generated for the people present, as SPEC contents.
// Mirrors cloudrec/layouts.py's rules; pure functions.

const even = (v) => Math.floor(v / 2) * 2;
const camera = (user, left, top, width, height) =>
  ({ type: 0, left, top, width, height, keepAspectRatio: 1, param: { camid: `${user}.-1` } });

export function grid(users, w, h) {
  if (!users.length) return [];
  const cols = Math.ceil(Math.sqrt(users.length));
  const rows = Math.ceil(users.length / cols);
  const tw = even(w / cols), th = even(h / rows);
  return users.map((u, i) => {
    const row = Math.floor(i / cols), col = i % cols;
    const inRow = Math.min(cols, users.length - row * cols);
    return camera(u, even((w - inRow * tw) / 2) + col * tw, row * th, tw, th);
  });
}

/** ``content`` takes the stage (three quarters of the width); cameras in a column beside it. */
function onStage(content, users, w, h) {
  const stage = even(w * 0.75);
  const out = [{ ...content, left: 0, top: 0, width: stage, height: h, keepAspectRatio: 1 }];
  const th = users.length ? Math.min(even(h / users.length), even((w - stage) * 9 / 16)) : 0;
  users.forEach((u, i) => out.push(camera(u, stage, i * th, w - stage, th)));
  return out;
}

export const PRESETS = {
  single: { label: "Single speaker", build: (users, w, h) => users.slice(0, 1).map((u) => camera(u, 0, 0, w, h)) },
  side: { label: "Side by side", build: (users, w, h) =>
    users.slice(0, 2).map((u, i) => camera(u, i * even(w / 2), 0, even(w / 2), h)) },
  grid: { label: "2×2 grid", build: (users, w, h) => grid(users.slice(0, 4), w, h) },
  speaker: { label: "Speaker + thumbnails", build: (users, w, h) => {
    const stripH = even(h / 5), out = users.slice(0, 1).map((u) => camera(u, 0, 0, w, h - stripH));
    const rest = users.slice(1), tw = rest.length ? even(w / rest.length) : 0;
    rest.forEach((u, i) => out.push(camera(u, i * tw, h - stripH, tw, stripH)));
    return out;
  } },
  pip: { label: "Picture in picture", build: (users, w, h) => {
    const out = users.slice(0, 1).map((u) => camera(u, 0, 0, w, h));
    if (users[1]) out.push(camera(users[1], even(w * 0.7), even(h * 0.68), even(w * 0.28), even(h * 0.28)));
    return out;
  } },
  board: { label: "Whiteboard + cameras", build: (users, w, h) => onStage({ type: 6 }, users, w, h) },
  media: { label: "Shared media focus", build: (users, w, h) => onStage({ type: 3 }, users, w, h) },
  screen: { label: "Screen-share focus", build: (users, w, h) => onStage({ type: 5 }, users, w, h) },
};
